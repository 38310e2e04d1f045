"""The API's viewsets: groups, runs, pipelines, executions and dead letters.

Views stay thin. A group body goes through the YAML loader and the plan checks of
the definition layer and is saved by `storage.save_group`; runs are started,
cancelled, retried and replayed by the engine, and the engine's `describe_run`
and `describe_runs` say what each step is doing and why. Every error these raise
becomes a JSON answer in `exceptions.api_exception_handler`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ParseError
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from pipeline_groups import engine, storage
from pipeline_groups.api.exceptions import ApiError, from_spine_error
from pipeline_groups.api.filters import (
    DeadLetterFilter,
    ExecutionFilter,
    GroupFilter,
    GroupRunFilter,
)
from pipeline_groups.api.pagination import SpinePagination
from pipeline_groups.api.parsers import (
    StrictJSONParser,
    YAMLParser,
    YamlText,
    contains_nul,
)
from pipeline_groups.api.permissions import (
    ADD_GROUP,
    CHANGE_GROUP,
    DELETE_GROUP,
    RUN_PERMISSION,
    SpinePermission,
)
from pipeline_groups.api.renderers import YAMLRenderer
from pipeline_groups.api.serializers import (
    DeadLetterSerializer,
    ErrorSerializer,
    ExecutionSerializer,
    GroupDetailSerializer,
    GroupDocumentSerializer,
    GroupRunDetailSerializer,
    GroupRunSummarySerializer,
    GroupSummarySerializer,
    PipelineSerializer,
    PlanSerializer,
    RunRequestSerializer,
)
from pipeline_groups.exceptions import (
    DeadLetterNotFoundError,
    ExecutionNotFoundError,
    GroupNotFoundError,
    PlanResolutionError,
    RunNotFoundError,
)
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    Execution,
    GroupDefinition,
    GroupRun,
    GroupSource,
    TriggerSource,
)
from pipeline_groups.planner import PlanResolver, problems_as_issues
from pipeline_groups.registry import get_pipeline, list_pipelines
from pipeline_groups.spec import PipelineGroup
from pipeline_groups.yaml_spec import dump_group_yaml, load_group_yaml_with_lines

logger = logging.getLogger(__name__)

BODY_SOURCE = "request body"
# Query parameters of the plan endpoint that are not run params.
RESERVED_QUERY_PARAMS = frozenset({"format"})

_ERROR_TEXT = {
    400: "Invalid input; `errors` lists each field path or step parameter at fault.",
    401: "Not authenticated: log in or send `Authorization: Token <key>`.",
    403: "Authenticated, but without the permission this needs.",
    404: "No such object.",
    405: "Method not allowed on this path.",
    406: "The Accept header asks for a format this path does not serve.",
    409: "The request conflicts with the object's state.",
    415: "Unsupported Content-Type.",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """Document error statuses, each with the common JSON error body."""
    every = (400, 401, 403, 405, 406, *codes)
    return {
        code: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[code])
        for code in sorted(set(every))
    }


def api_url(route: str, **kwargs: str) -> str:
    """Return the canonical URL of an API object, with its final slash."""
    url = reverse(f"api:{route}", kwargs=kwargs)
    return url if url.endswith("/") else url + "/"


def _username(request: Request) -> str:
    user = request.user
    return user.get_username() if user and user.is_authenticated else ""


def _step_value(step: Any, name: str, default: Any = None) -> Any:
    if isinstance(step, dict):
        return step.get(name, default)
    return getattr(step, name, default)


def step_payload(step: Any) -> dict[str, Any]:
    """One step of the engine's view of a run, in the StepStatus shape."""
    return {
        "step_name": _step_value(step, "step_name"),
        "pipeline_name": _step_value(step, "pipeline_name"),
        "execution_id": _step_value(step, "execution_id"),
        "status": str(_step_value(step, "status")),
        "started_at": _step_value(step, "started_at"),
        "completed_at": _step_value(step, "completed_at"),
        "error": _step_value(step, "error") or None,
        "attempt": _step_value(step, "attempt") or 0,
        "duration_seconds": _step_value(step, "duration_seconds"),
        "reason": _step_value(step, "reason") or None,
        "depends_on": list(_step_value(step, "depends_on") or []),
        "param_sources": dict(_step_value(step, "param_sources") or {}),
    }


def run_payload(run: GroupRun, view: Any, *, detail: bool) -> dict[str, Any]:
    """Shape a run and the engine's view of it, as GroupRunSummary or GroupRunDetail."""
    steps = [step_payload(step) for step in _step_value(view, "steps", [])]
    counts: dict[str, int] = {}
    for step in steps:
        counts[step["status"]] = counts.get(step["status"], 0) + 1

    payload = {
        "id": run.id,
        "group_name": run.group_name,
        "group_version": run.group_version,
        "status": str(_step_value(view, "status", run.status) or run.status),
        "trigger_source": run.trigger_source,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "duration_seconds": run.duration_seconds,
        "created_at": run.created_at,
        "created_by": run.created_by,
        "step_count": len(steps),
        "step_counts": counts,
    }
    if detail:
        payload.update(
            params=run.params,
            batch_id=run.batch_id,
            backend=run.backend,
            cancel_requested_at=run.cancel_requested_at,
            error=run.error or None,
            steps=steps,
        )
    return payload


def describe_many(runs: Iterable[GroupRun]) -> list[dict[str, Any]]:
    """Summaries of many runs from one `describe_runs` call (fixed query count)."""
    runs = list(runs)
    views = engine.describe_runs(runs)
    if isinstance(views, dict):
        views = [views[run.id] for run in runs]
    return [
        run_payload(run, view, detail=False)
        for run, view in zip(runs, views, strict=True)
    ]


def run_detail(run: GroupRun) -> dict[str, Any]:
    """Return the detail of one run as the engine sees it now."""
    return run_payload(run, engine.describe_run(run), detail=True)


def _group_lookup_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "name",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$",
        description="Dotted group name, e.g. finra.weekly_refresh.",
    )


def _pipeline_lookup_parameter() -> OpenApiParameter:
    return OpenApiParameter(
        "name",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        pattern=r"^[^/]+$",
        description="Registered pipeline name, e.g. reference.exchange_calendar.sync.",
    )


def _id_parameter(what: str) -> OpenApiParameter:
    return OpenApiParameter(
        "id",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        pattern=r"^[0-9A-Za-z]+$",
        description=f"ULID of the {what}.",
    )


class SpineViewMixin:
    """What every API view shares: permissions, pagination and JSON parsing."""

    permission_classes = [SpinePermission]
    pagination_class = SpinePagination
    parser_classes = [StrictJSONParser]
    action_permissions: dict[str, list[str]] = {}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Refuse NUL characters in the path or query: no database stores them."""
        super().initial(request, *args, **kwargs)
        if "\x00" in request.path or contains_nul(dict(request.query_params.lists())):
            raise ParseError("The path and query may not contain NUL characters")


@extend_schema_view(
    list=extend_schema(
        summary="List groups",
        responses={200: GroupSummarySerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Show one group",
        description=(
            "The group with its whole document and steps. With "
            "`Accept: application/yaml` the answer is the document as a YAML file."
        ),
        parameters=[_group_lookup_parameter()],
        responses={
            (200, "application/json"): GroupDetailSerializer,
            (200, "application/yaml"): OpenApiTypes.STR,
            **error_responses(404),
        },
    ),
    create=extend_schema(
        summary="Create a group",
        description=(
            "The body is a whole group document, as JSON or as YAML "
            "(`Content-Type: application/yaml`), validated like a group file."
        ),
        request={
            "application/json": GroupDocumentSerializer,
            "application/yaml": OpenApiTypes.STR,
        },
        responses={201: GroupDetailSerializer, **error_responses(400, 409, 415)},
    ),
    update=extend_schema(
        summary="Update a group (a new version)",
        parameters=[_group_lookup_parameter()],
        request={
            "application/json": GroupDocumentSerializer,
            "application/yaml": OpenApiTypes.STR,
        },
        responses={200: GroupDetailSerializer, **error_responses(400, 404, 409, 415)},
    ),
    destroy=extend_schema(
        summary="Deactivate a group",
        parameters=[_group_lookup_parameter()],
        responses={204: None, **error_responses(404, 409)},
    ),
)
class GroupViewSet(
    SpineViewMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Groups: list, show, create, update (a new version) and deactivate."""

    queryset = GroupDefinition.objects.all()
    serializer_class = GroupDetailSerializer
    filterset_class = GroupFilter
    lookup_field = "name"
    lookup_value_regex = r"[^/]+?"
    parser_classes = [StrictJSONParser, YAMLParser]
    http_method_names = ["get", "post", "put", "delete", "head", "options"]
    action_permissions = {
        "create": [ADD_GROUP],
        "update": [CHANGE_GROUP],
        "destroy": [DELETE_GROUP],
        "run": [RUN_PERMISSION],
    }

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        """Mirror the group files first in yaml storage mode (once per process)."""
        super().initial(request, *args, **kwargs)
        storage.ensure_synced()

    def get_serializer_class(self) -> type[serializers.Serializer]:
        """Summaries in lists, the detail elsewhere."""
        if self.action == "list":
            return GroupSummarySerializer
        return GroupDetailSerializer

    def get_renderers(self) -> list[Any]:
        """Offer YAML on the detail of a group, JSON and HTML everywhere."""
        renderers = [JSONRenderer(), BrowsableAPIRenderer()]
        if getattr(self, "action", None) == "retrieve":
            renderers.append(YAMLRenderer())
        return renderers

    def get_object(self) -> GroupDefinition:
        """Return the group named in the path, or raise a 404 naming it."""
        name = self.kwargs[self.lookup_field]
        try:
            return self.get_queryset().get(name=name)
        except GroupDefinition.DoesNotExist:
            raise GroupNotFoundError(name) from None

    def retrieve(self, request: Request, name: str) -> Response:
        """Show one group, inactive ones included."""
        group = self.get_object()
        if request.accepted_renderer.format == YAMLRenderer.format:
            return Response(dump_group_yaml(storage.group_from_definition(group)))
        return Response(self.get_serializer(group).data)

    def create(self, request: Request) -> Response:
        """Validate a group document and save it as version 1."""
        storage.ensure_writable()
        group = self._group_from_body(request.data)
        if GroupDefinition.objects.filter(name=group.name).exists():
            raise ApiError(
                f"Group {group.name!r} already exists; PUT "
                f"/api/groups/{group.name}/ to change it",
                status_code=status.HTTP_409_CONFLICT,
                code="group_exists",
                errors=[
                    {
                        "path": "metadata.name",
                        "message": "a group of this name exists",
                        "line": None,
                    }
                ],
            )

        definition, _ = storage.save_group(
            group, source=GroupSource.API, created_by=_username(request)
        )
        location = api_url("groups-detail", name=definition.name)
        return Response(
            GroupDetailSerializer(definition).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": location},
        )

    def update(self, request: Request, name: str) -> Response:
        """Validate a changed document and save it as the next version."""
        storage.ensure_writable(name)
        self.get_object()
        group = self._group_from_body(request.data)
        if group.name != name:
            raise ApiError(
                f"metadata.name {group.name!r} does not match the group in the "
                f"path, {name!r}; a group cannot be renamed",
                status_code=status.HTTP_400_BAD_REQUEST,
                code="name_mismatch",
                errors=[
                    {
                        "path": "metadata.name",
                        "message": f"must be {name!r}",
                        "line": None,
                    }
                ],
            )

        definition, outcome = storage.save_group(
            group, source=GroupSource.API, created_by=_username(request)
        )
        logger.info("Group %s %s through the API", name, outcome)
        return Response(GroupDetailSerializer(definition).data)

    def destroy(self, request: Request, name: str) -> Response:
        """Deactivate the group: it stays readable, with its runs, but cannot run."""
        storage.ensure_writable(name)
        self.get_object()
        storage.deactivate_group(name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Run a group",
        description=(
            "Freeze the plan and queue the run; the answer is the run as it is "
            "now, its steps normally all pending. Poll /api/groups/runs/{id}/."
        ),
        parameters=[_group_lookup_parameter()],
        request=RunRequestSerializer,
        responses={
            202: GroupRunDetailSerializer,
            **error_responses(400, 404, 409, 415),
        },
    )
    @action(detail=True, methods=["post"], parser_classes=[StrictJSONParser])
    def run(self, request: Request, name: str) -> Response:
        """Start a run of the group with the given run params."""
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        run = engine.start_run(
            name,
            body.validated_data["params"],
            trigger_source=TriggerSource.API,
            created_by=_username(request),
            backend=Backend.DJANGO_Q,
        )
        location = api_url("runs-detail", pk=run.id)
        return Response(
            run_detail(run),
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    @extend_schema(
        summary="Resolve a group's plan (dry run)",
        description=(
            "Every query parameter is a run param (`?tier=NMS_TIER_1&week_ending="
            "2026-01-03`); a repeated one becomes a list. Nothing is run."
        ),
        parameters=[_group_lookup_parameter()],
        responses={200: PlanSerializer, **error_responses(400, 404)},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def plan(self, request: Request, name: str) -> Response:
        """Resolve the plan a run with these params would follow."""
        params: dict[str, Any] = {}
        for key, values in request.query_params.lists():
            if key in RESERVED_QUERY_PARAMS:
                continue
            params[key] = values[0] if len(values) == 1 else values

        group = storage.load_group(name)
        plan = PlanResolver().resolve(group, params)
        return Response(plan.to_json())

    def _group_from_body(self, data: Any) -> PipelineGroup:
        lines: dict[str, int] | None = None
        if isinstance(data, YamlText):
            group, lines = load_group_yaml_with_lines(str(data), source=BODY_SOURCE)
        elif isinstance(data, dict):
            group = PipelineGroup.from_document(data, source=BODY_SOURCE)
        else:
            raise ApiError(
                "The body must be a group document: a mapping with apiVersion, "
                "kind, metadata and spec",
                status_code=status.HTTP_400_BAD_REQUEST,
                code="invalid_document",
                errors=[{"path": "", "message": "expected a mapping", "line": None}],
            )
        problems = PlanResolver().problems(group)
        if problems:
            raise plan_problems_error(group, problems, lines)
        return group


def plan_problems_error(
    group: PipelineGroup,
    problems: list[PlanResolutionError],
    lines: dict[str, int] | None,
) -> ApiError:
    """Report every plan problem of a group body at once, as `groups validate` does.

    Each entry carries the document path (`spec.pipelines[1].pipeline`), the
    message and, for a YAML body, the line that `groups validate` shows for the
    same file. The code and the group, step and parameter keys are those of the
    first problem, so a body with one mistake reads like that mistake.
    """
    first = from_spine_error(problems[0])
    issues = problems_as_issues(group, problems, BODY_SOURCE, lines)
    detail = str(problems[0])
    if len(problems) > 1:
        detail = f"{len(problems)} problems in the group: " + "; ".join(
            str(problem) for problem in problems
        )
    return ApiError(
        detail,
        status_code=status.HTTP_400_BAD_REQUEST,
        code=first.error_code,
        errors=[
            {"path": issue.path, "message": issue.message, "line": issue.line}
            for issue in issues
        ],
        context=first.context,
    )


@extend_schema_view(
    list=extend_schema(
        summary="List group runs, newest first",
        responses={200: GroupRunSummarySerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Show one group run with its steps",
        parameters=[_id_parameter("run")],
        responses={200: GroupRunDetailSerializer, **error_responses(404)},
    ),
)
class GroupRunViewSet(SpineViewMixin, viewsets.GenericViewSet):
    """Group runs: list, show, cancel and retry."""

    queryset = GroupRun.objects.all()
    serializer_class = GroupRunDetailSerializer
    filterset_class = GroupRunFilter
    lookup_url_kwarg = "pk"
    action_permissions = {"cancel": [RUN_PERMISSION], "retry": [RUN_PERMISSION]}

    def get_serializer_class(self) -> type[serializers.Serializer]:
        """Summaries in lists, the detail elsewhere."""
        if self.action == "list":
            return GroupRunSummarySerializer
        return GroupRunDetailSerializer

    def get_object(self) -> GroupRun:
        """Return the run named in the path, or raise a 404 naming it."""
        run_id = self.kwargs["pk"]
        try:
            return self.get_queryset().get(pk=run_id)
        except GroupRun.DoesNotExist:
            raise RunNotFoundError(run_id) from None

    def list(self, request: Request) -> Response:
        """List runs newest first, each with its step counts from the engine."""
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(describe_many(page))

    def retrieve(self, request: Request, pk: str) -> Response:
        """One run, each step with its status, timing and reason."""
        return Response(run_detail(self.get_object()))

    @extend_schema(
        summary="Cancel a run (best effort)",
        parameters=[_id_parameter("run")],
        request=None,
        responses={202: GroupRunDetailSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str) -> Response:
        """Ask the run to stop: waiting steps cancel now, running ones soon."""
        run = engine.cancel_run(pk, requested_by=_username(request))
        return Response(run_detail(run), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Retry a finished, unsuccessful run",
        description="Failed, skipped and cancelled steps run again, completed not.",
        parameters=[_id_parameter("run")],
        request=None,
        responses={202: GroupRunDetailSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def retry(self, request: Request, pk: str) -> Response:
        """Resume the run from its failed, skipped and cancelled steps."""
        run = engine.retry_run(pk, requested_by=_username(request))
        return Response(run_detail(run), status=status.HTTP_202_ACCEPTED)


def pipeline_payload(info: Any) -> dict[str, Any]:
    """Describe a registered pipeline with its parameters and their defaults."""
    parameters = [
        {"name": name, "required": True, "default": None} for name in info.required
    ] + [
        {"name": name, "required": False, "default": _json_default(value)}
        for name, value in info.optional.items()
    ]
    return {
        "name": info.name,
        "description": info.description or "",
        "logical_key": info.logical_key,
        "accepts_any": info.accepts_any,
        "parameters": parameters,
    }


def _json_default(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, list | tuple) and all(
        isinstance(item, str | int | float | bool) for item in value
    ):
        return list(value)
    return repr(value)


@extend_schema_view(
    list=extend_schema(
        summary="List registered pipelines",
        responses={200: PipelineSerializer(many=True), **error_responses()},
    ),
    retrieve=extend_schema(
        summary="Show one registered pipeline",
        parameters=[_pipeline_lookup_parameter()],
        responses={200: PipelineSerializer, **error_responses(404)},
    ),
)
class PipelineViewSet(SpineViewMixin, viewsets.GenericViewSet):
    """The pipeline registry, and runs of one pipeline alone."""

    serializer_class = PipelineSerializer
    filter_backends: list[Any] = []
    lookup_field = "name"
    lookup_value_regex = r"[^/]+?"
    action_permissions = {"run": [RUN_PERMISSION]}

    def get_queryset(self) -> list[Any]:
        """Return the registry's pipelines by name: the collection of this view."""
        return list_pipelines()

    def list(self, request: Request) -> Response:
        """Every registered pipeline, by name, in the pagination envelope."""
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response([pipeline_payload(info) for info in page])

    def retrieve(self, request: Request, name: str) -> Response:
        """One pipeline and what its signature accepts."""
        return Response(pipeline_payload(get_pipeline(name)))

    @extend_schema(
        summary="Run one pipeline alone",
        parameters=[_pipeline_lookup_parameter()],
        request=RunRequestSerializer,
        responses={202: ExecutionSerializer, **error_responses(400, 404, 415)},
    )
    @action(detail=True, methods=["post"])
    def run(self, request: Request, name: str) -> Response:
        """Queue one execution of the pipeline with the given params."""
        get_pipeline(name)
        body = RunRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)

        execution = engine.run_pipeline(
            name,
            body.validated_data["params"],
            trigger_source=TriggerSource.API,
            created_by=_username(request),
            backend=Backend.DJANGO_Q,
        )
        execution = Execution.objects.prefetch_related("events").get(pk=execution.pk)
        location = api_url("executions-detail", pk=execution.pk)
        return Response(
            ExecutionSerializer(execution).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )


@extend_schema_view(
    list=extend_schema(
        summary="List executions, newest first",
        responses={200: ExecutionSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Show one execution with its events",
        parameters=[_id_parameter("execution")],
        responses={200: ExecutionSerializer, **error_responses(404)},
    ),
)
class ExecutionViewSet(
    SpineViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Executions of pipelines, each with its timeline."""

    queryset = Execution.objects.select_related("group_step").prefetch_related("events")
    serializer_class = ExecutionSerializer
    filterset_class = ExecutionFilter

    def get_object(self) -> Execution:
        """Return the execution named in the path, or raise a 404 naming it."""
        execution_id = self.kwargs["pk"]
        try:
            return self.get_queryset().get(pk=execution_id)
        except Execution.DoesNotExist:
            raise ExecutionNotFoundError(execution_id) from None


class ReplayResultSerializer(serializers.Serializer):
    """What a replay started: the run it resumed, or a new lone execution."""

    dead_letter = DeadLetterSerializer()
    run = GroupRunDetailSerializer(allow_null=True)
    execution = ExecutionSerializer(allow_null=True)


@extend_schema_view(
    list=extend_schema(
        summary="List the dead-letter queue, newest first",
        responses={200: DeadLetterSerializer(many=True), **error_responses(400)},
    ),
    retrieve=extend_schema(
        summary="Show one dead letter",
        parameters=[_id_parameter("dead letter")],
        responses={200: DeadLetterSerializer, **error_responses(404)},
    ),
)
class DeadLetterViewSet(
    SpineViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Failed executions waiting for a person, and their replay."""

    queryset = DeadLetter.objects.select_related("execution__group_step")
    serializer_class = DeadLetterSerializer
    filterset_class = DeadLetterFilter
    action_permissions = {"replay": [RUN_PERMISSION]}

    def get_object(self) -> DeadLetter:
        """Return the dead letter named in the path, or raise a 404 naming it."""
        letter_id = self.kwargs["pk"]
        try:
            return self.get_queryset().get(pk=letter_id)
        except DeadLetter.DoesNotExist:
            raise DeadLetterNotFoundError(letter_id) from None

    @extend_schema(
        summary="Replay a dead letter",
        description=(
            "A step of a run resumes that run (the answer carries the run); a lone "
            "execution replays as a new execution (the answer carries it)."
        ),
        parameters=[_id_parameter("dead letter")],
        request=None,
        responses={202: ReplayResultSerializer, **error_responses(404, 409)},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def replay(self, request: Request, pk: str) -> Response:
        """Replay the failed execution; answer with what now runs."""
        self.get_object()
        engine.replay_dead_letter(pk)
        letter = self.get_queryset().get(pk=pk)

        step = getattr(letter.execution, "group_step", None)
        run = None
        execution = None
        if step is not None:
            run = run_detail(GroupRun.objects.get(pk=step.group_run_id))
        elif letter.replay_execution_id:
            execution = ExecutionSerializer(
                Execution.objects.select_related("group_step")
                .prefetch_related("events")
                .get(pk=letter.replay_execution_id)
            ).data
        body = {
            "dead_letter": DeadLetterSerializer(letter).data,
            "run": run,
            "execution": execution,
        }
        return Response(body, status=status.HTTP_202_ACCEPTED)


class ApiNotFoundView(APIView):
    """Answer any unknown path under /api/ with a JSON 404."""

    permission_classes = [AllowAny]
    authentication_classes: list[Any] = []
    schema = None

    def _not_found(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raise NotFound(f"No API route matches {request.path!r}; see /api/docs/")

    get = post = put = patch = delete = head = options = _not_found

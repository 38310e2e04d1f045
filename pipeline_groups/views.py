"""The server-rendered pages: the Pipelines view, the run form and the run page.

`/` is the Pipelines view of RFC 3.6.1: a row per group with its latest run's
aggregated status, the steps nested under it, and the pipelines of no group
below. `/runs/<id>/` shows one run: its steps on a shared time axis, the DAG and
the errors. Both poll their live region every 2 s while something shown is
active, and the region they return stops the polling once all is idle.

Each page costs a fixed number of queries however many groups and runs exist:
latest runs come from one subquery, their steps from the engine's
`describe_runs`, and the last execution of each lone pipeline from one window
query. Starting, cancelling and retrying go through the engine's functions, the
same code the API calls.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.auth.views import redirect_to_login
from django.db.models import F, OuterRef, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from pipeline_groups import engine, storage
from pipeline_groups.dag import DagNode, render_svg, status_style
from pipeline_groups.exceptions import (
    GroupInactiveError,
    GroupNotFoundError,
    PlanResolutionError,
    RunFinishedError,
    RunNotFoundError,
    RunNotRetryableError,
)
from pipeline_groups.forms import NEVER_RUN, PipelineFilterForm, RunGroupForm
from pipeline_groups.models import (
    RUN_ACTIVE,
    RUN_TERMINAL,
    STEP_TERMINAL,
    Backend,
    Execution,
    GroupDefinition,
    GroupRun,
    RunStatus,
    StepStatus,
    TriggerSource,
)
from pipeline_groups.registry import list_pipelines

logger = logging.getLogger(__name__)

RUN_PERMISSION = "pipeline_groups.run_group"
POLL_SECONDS = 2
ROWS_COOKIE = "spine_rows"
# Steps that are not doing anything say why, in the engine's words.
EXPLAINED_STATUSES = frozenset(
    {StepStatus.PENDING, StepStatus.QUEUED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


# View models: what the templates show, computed here so templates stay plain.


@dataclass(frozen=True)
class Badge:
    """A status as a word, a symbol and a CSS class; readable without colour."""

    status: str
    label: str
    symbol: str

    @classmethod
    def of(cls, status: str) -> Badge:
        """Return the badge of a step or run status; empty means never run."""
        if not status:
            return cls(status="none", label="Never run", symbol="–")
        label = StepStatus(status).label if status in StepStatus.values else status
        return cls(status=status, label=label, symbol=status_style(status)[2])

    @property
    def html(self) -> str:
        """Return the badge markup (built here: an include per row is slow)."""
        return format_html(
            '<span class="status status-{}" data-status="{}">'
            '<span class="symbol" aria-hidden="true">{}</span> {}</span>',
            self.status,
            self.status,
            self.symbol,
            self.label,
        )


@dataclass
class StepRow:
    """One step of a run (or of a group never run) as a row."""

    step_name: str
    pipeline_name: str
    badge: Badge
    duration: str = ""
    reason: str = ""
    error_line: str = ""
    error: str = ""
    traceback: str = ""
    execution_id: str = ""
    attempt: int = 0
    depends_on: list[str] = field(default_factory=list)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_seconds: float | None = None
    bar_offset: float = 0.0
    bar_width: float = 0.0


@dataclass
class GroupRow:
    """A group with its latest run, as one expandable row of `/`."""

    definition: GroupDefinition
    run: GroupRun | None
    badge: Badge
    duration: str
    steps: list[StepRow]
    is_open: bool
    failing_step: str = ""
    error_line: str = ""

    @property
    def active(self) -> bool:
        """Whether the latest run can still change."""
        return self.run is not None and self.run.status in RUN_ACTIVE

    @property
    def ago(self) -> str:
        """When the latest run was created, as a person says it."""
        return format_ago(self.run.created_at if self.run else None)


@dataclass
class PipelineRow:
    """A pipeline of no group, with its last execution if it ever ran."""

    name: str
    description: str
    execution: Execution | None
    badge: Badge
    duration: str
    error_line: str = ""

    @property
    def active(self) -> bool:
        """Whether the last execution can still change."""
        return self.execution is not None and self.execution.status not in STEP_TERMINAL

    @property
    def ago(self) -> str:
        """When the last execution was created, as a person says it."""
        return format_ago(self.execution.created_at if self.execution else None)


# Small formatting helpers.


def format_duration(seconds: float | None) -> str:
    """Return a duration as a person reads it: 0.4s, 45s, 2m 34s, 1h 02m."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def format_ago(moment: datetime | None, now: datetime | None = None) -> str:
    """Return how long ago something happened: "just now", "5 minutes ago"."""
    if moment is None:
        return ""
    now = now or timezone.now()
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def first_line(text: str | None) -> str:
    """Return the first non-empty line of an error message."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def _open_groups(request: HttpRequest) -> tuple[bool, set[str]]:
    """Read the expansion cookie: ("all" or not, the group ids that differ)."""
    parts = request.COOKIES.get(ROWS_COOKIE, "none").split("~")
    return parts[0] == "all", {part for part in parts[1:] if part}


def _is_open(state: tuple[bool, set[str]], group_id: str) -> bool:
    all_open, exceptions = state
    return all_open != (group_id in exceptions)


def _step_rows(run_view: Any) -> list[StepRow]:
    """Turn the engine's description of a run into rows.

    A failed step shows its error; a step that waits, was skipped or was
    cancelled shows the engine's reason instead.
    """
    rows = []
    for step in run_view.steps:
        failed = step.status == StepStatus.FAILED
        explained = step.status in EXPLAINED_STATUSES
        rows.append(
            StepRow(
                step_name=step.step_name,
                pipeline_name=step.pipeline_name,
                badge=Badge.of(step.status),
                duration=format_duration(step.duration_seconds),
                reason=(step.reason or "") if explained else "",
                error_line=first_line(step.error) if failed else "",
                error=(step.error or "") if failed else "",
                execution_id=step.execution_id or "",
                attempt=step.attempt or 0,
                depends_on=list(step.depends_on or []),
                started_at=step.started_at,
                completed_at=step.completed_at,
                duration_seconds=step.duration_seconds,
            )
        )
    return rows


def _spec_step_rows(spec: dict[str, Any]) -> list[StepRow]:
    """Rows for a group never run: its steps as declared, without a status."""
    steps = (spec.get("spec") or {}).get("pipelines") or []
    return [
        StepRow(
            step_name=str(step.get("name", "")),
            pipeline_name=str(step.get("pipeline", "")),
            badge=Badge.of(""),
            depends_on=list(step.get("depends_on") or []),
        )
        for step in steps
        if isinstance(step, dict)
    ]


def _describe(runs: Sequence[GroupRun]) -> dict[str, list[StepRow]]:
    """Return the step rows of many runs, keyed by run id, in fixed queries."""
    if not runs:
        return {}
    views = engine.describe_runs(list(runs))
    return {view.run.pk: _step_rows(view) for view in views}


def live_login_required(
    view: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Require a logged-in user; a poll whose session ended sends its page to login.

    A plain redirect would be followed by htmx, which would then swap the whole
    login page into the polled region. Instead the poll answers with
    `HX-Redirect`, and the browser goes to the login page, coming back to the
    page that was polling once logged in.
    """
    guarded = login_required(view)

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated or not request.htmx:
            return guarded(request, *args, **kwargs)
        current = urlsplit(request.htmx.current_url or "")
        page = current.path or request.get_full_path()
        if current.path and current.query:
            page += f"?{current.query}"
        return HttpResponseClientRedirect(redirect_to_login(page).url)

    return wrapper


# The Pipelines view.


def _latest_runs() -> QuerySet[GroupRun]:
    return GroupRun.objects.filter(group_name=OuterRef("name")).order_by(
        "-created_at", "-id"
    )


def _group_rows(request: HttpRequest, form: PipelineFilterForm) -> list[GroupRow]:
    """Return the groups the filters keep, each with its latest run's steps."""
    groups = GroupDefinition.objects.annotate(
        latest_run_id=Subquery(_latest_runs().values("id")[:1]),
        latest_status=Subquery(_latest_runs().values("status")[:1]),
    ).order_by("name")
    if not form.value("inactive"):
        groups = groups.filter(is_active=True)
    if form.value("domain"):
        groups = groups.filter(domain=form.value("domain"))
    status = form.value("status")
    if status == NEVER_RUN:
        groups = groups.filter(latest_run_id__isnull=True)
    elif status:
        groups = groups.filter(latest_status=status)
    groups = list(groups)

    run_ids = [group.latest_run_id for group in groups if group.latest_run_id]
    runs = {run.pk: run for run in GroupRun.objects.filter(pk__in=run_ids)}
    steps = _describe([runs[run_id] for run_id in run_ids])

    state = _open_groups(request)
    return [
        _group_row(group, runs.get(group.latest_run_id), steps, state)
        for group in groups
    ]


def _group_row(
    group: GroupDefinition,
    run: GroupRun | None,
    steps: dict[str, list[StepRow]],
    state: tuple[bool, set[str]],
) -> GroupRow:
    if run is None:
        return GroupRow(
            definition=group,
            run=None,
            badge=Badge.of(""),
            duration="",
            steps=_spec_step_rows(group.spec),
            is_open=_is_open(state, group.pk),
        )

    step_rows = steps.get(run.pk, [])
    failing = next(
        (step for step in step_rows if step.badge.status == StepStatus.FAILED), None
    )
    return GroupRow(
        definition=group,
        run=run,
        badge=Badge.of(run.status),
        duration=format_duration(run.duration_seconds),
        steps=step_rows,
        is_open=_is_open(state, group.pk),
        failing_step=failing.step_name if failing else "",
        error_line=_failure_line(run, failing),
    )


def _failure_line(run: GroupRun, failing: StepRow | None) -> str:
    """Return the failing step's first error line, or a failed run's own error."""
    if failing is not None:
        return failing.error_line
    if run.status == RunStatus.FAILED:
        return first_line(run.error)
    return ""


def _lone_pipeline_rows(form: PipelineFilterForm) -> list[PipelineRow]:
    """Return the registered pipelines that no active group uses."""
    used: set[str] = set()
    for spec in GroupDefinition.objects.filter(is_active=True).values_list(
        "spec", flat=True
    ):
        for step in ((spec or {}).get("spec") or {}).get("pipelines") or []:
            if isinstance(step, dict):
                used.add(str(step.get("pipeline", "")))

    domain = form.value("domain")
    infos = [
        info
        for info in sorted(list_pipelines(), key=lambda info: info.name)
        if info.name not in used and (not domain or info.name.startswith(f"{domain}."))
    ]
    last = _last_executions([info.name for info in infos])

    rows = []
    status = form.value("status")
    for info in infos:
        execution = last.get(info.name)
        shown = execution.status if execution else NEVER_RUN
        if status and status != shown:
            continue
        rows.append(
            PipelineRow(
                name=info.name,
                description=info.description,
                execution=execution,
                badge=Badge.of(execution.status if execution else ""),
                duration=format_duration(
                    execution.duration_seconds if execution else None
                ),
                error_line=first_line(execution.error) if execution else "",
            )
        )
    return rows


def _last_executions(names: Iterable[str]) -> dict[str, Execution]:
    """Return the newest execution of each pipeline, in one query."""
    names = list(names)
    if not names:
        return {}
    newest = (
        Execution.objects.filter(pipeline_name__in=names)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("pipeline_name")],
                order_by=[F("created_at").desc(), F("id").desc()],
            )
        )
        .filter(rank=1)
        .defer("traceback", "result", "params")
    )
    return {execution.pipeline_name: execution for execution in newest}


def _pipelines_context(request: HttpRequest) -> dict[str, Any]:
    storage.ensure_synced()
    domains = (
        GroupDefinition.objects.order_by("domain")
        .values_list("domain", flat=True)
        .distinct()
    )
    form = PipelineFilterForm(request.GET or None, domains=list(domains))
    groups = _group_rows(request, form)
    pipelines = _lone_pipeline_rows(form)
    polling = any(row.active for row in groups) or any(row.active for row in pipelines)
    query = request.GET.urlencode()
    return {
        "form": form,
        "groups": groups,
        "pipelines": pipelines,
        "polling": polling,
        "poll_seconds": POLL_SECONDS,
        "rows_url": reverse("pipeline-rows") + (f"?{query}" if query else ""),
        "can_run": request.user.has_perm(RUN_PERMISSION),
        "filtered": bool(request.GET),
    }


@login_required
def pipelines(request: HttpRequest) -> HttpResponse:
    """Show every group with its latest run, and the pipelines of no group."""
    return render(request, "pipelines/index.html", _pipelines_context(request))


@live_login_required
def pipeline_rows(request: HttpRequest) -> HttpResponse:
    """Return the live region of `/`, which the page polls while a run is active."""
    return render(request, "pipelines/partials/rows.html", _pipelines_context(request))


# Starting a run.


@login_required
@permission_required(RUN_PERMISSION, raise_exception=True)
def run_group(request: HttpRequest, name: str) -> HttpResponse:
    """Ask for the run params a group's templates need, then start the run."""
    definition = get_object_or_404(GroupDefinition, name=name)
    group = storage.group_from_definition(definition)
    previous = (
        GroupRun.objects.filter(group_name=name)
        .order_by("-created_at", "-id")
        .values_list("params", flat=True)
        .first()
    )
    form = RunGroupForm(
        request.POST if request.method == "POST" else None,
        names=group.template_params(),
        initial=previous or {},
    )

    if request.method == "POST" and form.is_valid():
        try:
            run = engine.start_run(
                name,
                form.params(),
                trigger_source=TriggerSource.UI,
                created_by=request.user.get_username(),
                backend=Backend.DJANGO_Q,
            )
        except PlanResolutionError as error:
            form.add_plan_error(error)
        except (GroupInactiveError, GroupNotFoundError) as error:
            form.add_error(None, str(error))
        else:
            logger.info(
                "Run %s of group %s started from the status page by %s",
                run.pk,
                name,
                request.user.get_username(),
            )
            messages.success(request, f"Started run {run.pk} of {name}.")
            return _back_to_group(request, definition)

    return render(
        request,
        "pipelines/run_form.html",
        {"definition": definition, "group": group, "form": form},
    )


def _back_to_group(request: HttpRequest, definition: GroupDefinition) -> HttpResponse:
    """Redirect to `/` with the group's row open, where its new run shows."""
    response = redirect(f"{reverse('pipelines')}#group-{definition.pk}")
    all_open, exceptions = _open_groups(request)
    if all_open:
        exceptions.discard(definition.pk)
    else:
        exceptions.add(definition.pk)
    value = "~".join(["all" if all_open else "none", *sorted(exceptions)])
    response.set_cookie(
        ROWS_COOKIE, value, max_age=365 * 24 * 3600, samesite="Lax", httponly=False
    )
    return response


# One run.


def _time_axis(steps: list[StepRow], run: GroupRun) -> list[dict[str, Any]]:
    """Place each step's bar on one axis from the first start to the last end."""
    starts = [step.started_at for step in steps if step.started_at]
    if not starts:
        return []
    now = timezone.now()
    begin = min(starts)
    end = max(step.completed_at or now for step in steps if step.started_at)
    if run.completed_at:
        end = max(end, run.completed_at)
    span = max((end - begin).total_seconds(), 0.001)

    for step in steps:
        if step.started_at is None:
            continue
        finish = step.completed_at or now
        offset = (step.started_at - begin).total_seconds() / span * 100
        step.bar_offset = round(offset, 2)
        width = (finish - step.started_at).total_seconds() / span * 100
        step.bar_width = round(min(max(width, 0.5), 100 - step.bar_offset), 2)
    digits = 2 if span < 4 else 1 if span < 40 else 0
    return [
        {"percent": percent, "label": _axis_label(span * percent / 100, digits)}
        for percent in (0, 25, 50, 75, 100)
    ]


def _axis_label(seconds: float, digits: int) -> str:
    """Label a tick with enough digits that ticks of a short axis differ."""
    if seconds >= 60:
        return format_duration(seconds)
    return f"{seconds:.{digits}f}s"


def _run_context(request: HttpRequest, run_id: str) -> dict[str, Any]:
    run = get_object_or_404(GroupRun.objects.select_related("group"), pk=run_id)
    steps = _describe([run]).get(run.pk, [])

    # Tracebacks stay out of the engine's summary; fetch them in one query.
    execution_ids = [step.execution_id for step in steps if step.execution_id]
    tracebacks = dict(
        Execution.objects.filter(pk__in=execution_ids)
        .exclude(traceback="")
        .values_list("id", "traceback")
    )
    for step in steps:
        step.traceback = tracebacks.get(step.execution_id, "")

    axis = _time_axis(steps, run)
    dag = render_svg(
        DagNode(
            step_name=step.step_name,
            pipeline_name=step.pipeline_name,
            status=step.badge.status if step.badge.status != "none" else "",
            depends_on=step.depends_on,
        )
        for step in steps
    )
    can_run = request.user.has_perm(RUN_PERMISSION)
    return {
        "run": run,
        "badge": Badge.of(run.status),
        "duration": format_duration(run.duration_seconds),
        "steps": steps,
        "axis": axis,
        "dag": dag,
        "params_json": json.dumps(run.params, indent=2, sort_keys=True),
        "trigger": TriggerSource(run.trigger_source).label
        if run.trigger_source in TriggerSource.values
        else run.trigger_source,
        "polling": run.status in RUN_ACTIVE,
        "poll_seconds": POLL_SECONDS,
        "can_cancel": can_run and run.status not in RUN_TERMINAL,
        "can_retry": can_run
        and run.status in RUN_TERMINAL
        and run.status != RunStatus.COMPLETED,
    }


@login_required
def run_detail(request: HttpRequest, run_id: str) -> HttpResponse:
    """Show one run: its facts, its steps on a time axis, its DAG and errors."""
    return render(request, "pipelines/run_detail.html", _run_context(request, run_id))


@live_login_required
def run_live(request: HttpRequest, run_id: str) -> HttpResponse:
    """Return the live region of a run page, polled while the run is active."""
    return render(
        request, "pipelines/partials/run_live.html", _run_context(request, run_id)
    )


@require_POST
@login_required
@permission_required(RUN_PERMISSION, raise_exception=True)
def cancel_run(request: HttpRequest, run_id: str) -> HttpResponse:
    """Ask the engine to cancel a run, then show the run again."""
    try:
        engine.cancel_run(run_id, requested_by=request.user.get_username())
    except RunNotFoundError as error:
        raise Http404(str(error)) from error
    except RunFinishedError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Cancel requested for run {run_id}.")
    return redirect("run-detail", run_id=run_id)


@require_POST
@login_required
@permission_required(RUN_PERMISSION, raise_exception=True)
def retry_run(request: HttpRequest, run_id: str) -> HttpResponse:
    """Ask the engine to run a finished run's failed steps again."""
    try:
        engine.retry_run(run_id, requested_by=request.user.get_username())
    except RunNotFoundError as error:
        raise Http404(str(error)) from error
    except RunNotRetryableError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, f"Retrying the unfinished steps of run {run_id}.")
    return redirect("run-detail", run_id=run_id)

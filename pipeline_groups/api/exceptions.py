"""Every error under /api/ as JSON that says what is wrong and where.

The body is always `{"detail", "code", "errors"}`: a sentence, a stable code and a
list of `{path, message, line}` naming each offending field, spec path or step
parameter. Plan errors add the `group`, `step` and `parameter` they are about.
Spine's own errors map to a status by the builtin they derive from: a KeyError
(unknown group, run, execution, dead letter, pipeline) is 404, a ValueError (an
invalid spec, plan or parameter) is 400, and a RuntimeError or PermissionError
(a finished run, an inactive group, read-only storage) is 409. Anything else is
logged and answered with a JSON 500, never Django's HTML page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import set_rollback

from pipeline_groups.exceptions import SpineError

logger = logging.getLogger(__name__)

# Attributes of Spine errors copied into the body when present, under these keys.
_CONTEXT_ATTRIBUTES = {
    "group": "group",
    "step": "step",
    "parameter": "parameter",
    "param": "parameter",
}


class ApiError(exceptions.APIException):
    """An API error whose body carries field paths and the culprit's names."""

    def __init__(
        self,
        detail: str,
        *,
        status_code: int,
        code: str,
        errors: list[dict[str, Any]] | None = None,
        context: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status_code
        self.error_code = code
        self.errors = list(errors or [])
        self.context = dict(context or {})


def snake_code(exc: BaseException) -> str:
    """Return `group_not_found` for a GroupNotFoundError: a stable, readable code."""
    name = type(exc).__name__.removesuffix("Error")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def status_for(exc: SpineError) -> int:
    """Choose the HTTP status of a Spine error from the builtin it derives from."""
    if isinstance(exc, KeyError):
        return status.HTTP_404_NOT_FOUND
    if isinstance(exc, RuntimeError | PermissionError):
        return status.HTTP_409_CONFLICT
    return status.HTTP_400_BAD_REQUEST


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _step_prefix(step: Any) -> str:
    return f"steps.{step}." if step else ""


def spine_context(exc: BaseException) -> dict[str, Any]:
    """Copy the group, step and parameter an error is about, when it knows them."""
    context: dict[str, Any] = {}
    for attribute, key in _CONTEXT_ATTRIBUTES.items():
        value = getattr(exc, attribute, None)
        if value not in (None, "") and key not in context:
            context[key] = _plain(value)

    # Signature errors list their parameters instead of naming one.
    offenders = [
        *(getattr(exc, "missing", None) or []),
        *(getattr(exc, "unexpected", None) or []),
    ]
    if offenders and "parameter" not in context:
        context["parameter"] = ", ".join(str(name) for name in offenders)
    return context


def spine_issues(exc: BaseException) -> list[dict[str, Any]]:
    """Turn a spec error's issues into `{path, message, line}` entries."""
    issues = getattr(exc, "issues", None) or []
    return [
        {
            "path": str(getattr(issue, "path", "")),
            "message": str(getattr(issue, "message", issue)),
            "line": getattr(issue, "line", None),
        }
        for issue in issues
    ]


def plan_issues(exc: BaseException, context: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Point a plan or parameter error at the step parameter or run param at fault.

    Paths read `steps.<step>.params.<name>` for a step's merged params and
    `params.<name>` for a run parameter that a template needs and was not given.
    """
    message = str(exc)
    step = context.get("step")
    prefix = _step_prefix(step)
    entries = [
        {
            "path": f"{prefix}params.{name}",
            "message": f"missing required param {name!r}",
        }
        for name in getattr(exc, "missing", None) or []
    ] + [
        {"path": f"{prefix}params.{name}", "message": f"param {name!r} is not accepted"}
        for name in getattr(exc, "unexpected", None) or []
    ]
    run_param = getattr(exc, "name", None)
    if not entries and getattr(exc, "template", None) and run_param:
        entries = [{"path": f"params.{run_param}", "message": message}]
    if not entries and (step or context.get("parameter")):
        parameter = context.get("parameter")
        path = f"{prefix}params.{parameter}" if parameter else prefix.rstrip(".")
        entries = [{"path": path, "message": message}]
    return [{**entry, "line": None} for entry in entries]


def from_spine_error(exc: SpineError) -> ApiError:
    """Build the API error for one of Spine's own errors."""
    context = spine_context(exc)
    errors = spine_issues(exc) or plan_issues(exc, context)
    return ApiError(
        str(exc),
        status_code=status_for(exc),
        code=snake_code(exc),
        errors=errors,
        context=context,
    )


def flatten_detail(detail: Any, path: str = "") -> list[dict[str, Any]]:
    """Flatten DRF's nested validation detail into `{path, message}` entries."""
    if isinstance(detail, Mapping):
        entries = []
        for key, value in detail.items():
            child = f"{path}.{key}" if path else str(key)
            if key == "non_field_errors":
                child = path
            entries.extend(flatten_detail(value, child))
        return entries
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [
                {"path": path, "message": str(item), "line": None} for item in detail
            ]
        entries = []
        for index, value in enumerate(detail):
            entries.extend(flatten_detail(value, f"{path}[{index}]"))
        return entries
    return [{"path": path, "message": str(detail), "line": None}]


def _summary(errors: list[dict[str, Any]]) -> str:
    parts = [
        f"{error['path']}: {error['message']}" if error["path"] else error["message"]
        for error in errors[:5]
    ]
    more = len(errors) - len(parts)
    suffix = f" (and {more} more)" if more > 0 else ""
    return "; ".join(parts) + suffix


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    """Build the JSON body of an API exception: detail, code, errors and culprits."""
    if isinstance(exc, ApiError):
        return {
            "detail": str(exc.detail),
            "code": exc.error_code,
            "errors": exc.errors,
            **exc.context,
        }

    if isinstance(exc.detail, list | dict):
        errors = flatten_detail(exc.detail)
        return {
            "detail": _summary(errors) or "Invalid input.",
            "code": exc.default_code,
            "errors": errors,
        }
    return {
        "detail": str(exc.detail),
        "code": exc.detail.code or exc.default_code,
        "errors": [],
    }


def _force_json(context: Mapping[str, Any]) -> None:
    # Errors are JSON even when the client asked for YAML; a browser still gets
    # the browsable API page around the same JSON.
    request = context.get("request")
    renderer = getattr(request, "accepted_renderer", None)
    if request is not None and getattr(renderer, "format", None) not in {"json", "api"}:
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = JSONRenderer.media_type


def api_exception_handler(exc: Exception, context: Mapping[str, Any]) -> Response:
    """Answer any exception raised in an API view with a JSON error body."""
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*exc.args)
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, SpineError):
        exc = from_spine_error(exc)

    if not isinstance(exc, exceptions.APIException):
        view = context.get("view")
        logger.exception(
            "Unhandled error in API view %s", type(view).__name__ if view else "?"
        )
        exc = ApiError(
            "Internal server error; the failure has been logged.",
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            code="server_error",
        )

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"

    set_rollback()
    _force_json(context)
    return Response(error_body(exc), status=exc.status_code, headers=headers)

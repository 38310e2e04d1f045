"""The process-wide registry of pipelines and of groups defined in Python.

Pipelines register themselves with a decorator when their module is imported; the
app imports `domains` and the modules named in SPINE_PIPELINE_MODULES at start-up,
so every process (web, worker, command) sees the same registry. What a pipeline
accepts is read from its signature once, at registration, so plans can be checked
before anything runs.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline_groups.exceptions import (
    GroupAlreadyRegisteredError,
    GroupNotFoundError,
    PipelineAlreadyRegisteredError,
    PipelineNotFoundError,
    PipelineParameterError,
    closest_names,
)

if TYPE_CHECKING:
    from pipeline_groups.spec import PipelineGroup

PipelineFunction = Callable[..., Any]

_lock = threading.Lock()
_pipelines: dict[str, PipelineInfo] = {}
_groups: dict[str, PipelineGroup] = {}


@dataclass(frozen=True)
class PipelineInfo:
    """A registered pipeline and what its signature accepts."""

    name: str
    function: PipelineFunction = field(compare=False)
    required: tuple[str, ...]
    optional: Mapping[str, Any]
    accepts_any: bool
    logical_key: str | None = None
    description: str = ""

    @property
    def qualified_function(self) -> str:
        """Where the function lives, for messages about clashes."""
        return f"{self.function.__module__}.{self.function.__qualname__}"

    @property
    def parameters(self) -> list[str]:
        """Every named parameter, required ones first."""
        return [*self.required, *self.optional]

    def accepts(self, name: str) -> bool:
        """Whether a parameter of this name would reach the function."""
        return self.accepts_any or name in self.required or name in self.optional

    def select(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Keep the parameters the function accepts, dropping the others."""
        if self.accepts_any:
            return dict(params)
        return {key: value for key, value in params.items() if self.accepts(key)}

    def check(
        self, params: Mapping[str, Any], strict: Iterable[str] = ()
    ) -> PipelineParameterError | None:
        """Return what is wrong with calling the pipeline with `params`, if anything.

        `strict` names the parameters that must be accepted (those written in a
        step's own params, where a typo must not vanish); the others are simply
        not passed when the function does not take them.
        """
        missing = [name for name in self.required if name not in params]
        unexpected = [name for name in strict if not self.accepts(name)]
        if missing or unexpected:
            return PipelineParameterError(self.name, missing, unexpected)
        return None

    def call(self, context: Any, params: Mapping[str, Any]) -> Any:
        """Run the pipeline with the parameters its signature accepts."""
        return self.function(context, **self.select(params))


def _describe_signature(
    function: PipelineFunction,
) -> tuple[tuple[str, ...], dict[str, Any], bool]:
    parameters = list(inspect.signature(function).parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(
            f"{function.__qualname__} must take the execution context as its "
            "first positional parameter"
        )

    required: list[str] = []
    optional: dict[str, Any] = {}
    accepts_any = False
    for parameter in parameters[1:]:
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            accepts_any = True
        elif parameter.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.POSITIONAL_ONLY,
        ):
            raise TypeError(
                f"{function.__qualname__}: pipeline parameters are passed by "
                f"keyword, so {parameter.name!r} cannot be positional-only or *args"
            )
        elif parameter.default is inspect.Parameter.empty:
            required.append(parameter.name)
        else:
            optional[parameter.name] = parameter.default
    return tuple(required), optional, accepts_any


def register_pipeline(
    name: str, *, logical_key: str | None = None, description: str | None = None
) -> Callable[[PipelineFunction], PipelineFunction]:
    """Register the decorated function as the pipeline called `name`.

    `logical_key` is a `str.format` template over the pipeline's params (for
    example "{tier}:{week_ending}"); two executions whose keys render the same
    never run at the same time.
    """

    def decorate(function: PipelineFunction) -> PipelineFunction:
        required, optional, accepts_any = _describe_signature(function)
        summary = description or (inspect.getdoc(function) or "").split("\n")[0]
        info = PipelineInfo(
            name=name,
            function=function,
            required=required,
            optional=optional,
            accepts_any=accepts_any,
            logical_key=logical_key,
            description=summary,
        )

        with _lock:
            existing = _pipelines.get(name)
            # Re-importing a module (autoreload, tests) registers the same code again.
            if existing is not None and (
                existing.qualified_function != info.qualified_function
            ):
                raise PipelineAlreadyRegisteredError(
                    name, existing.qualified_function, info.qualified_function
                )
            _pipelines[name] = info
        return function

    return decorate


def get_pipeline(name: str) -> PipelineInfo:
    """Return the registered pipeline, or say which names come closest."""
    try:
        return _pipelines[name]
    except KeyError:
        raise PipelineNotFoundError(name, closest_names(name, _pipelines)) from None


def list_pipelines() -> list[PipelineInfo]:
    """Every registered pipeline, by name."""
    return [_pipelines[name] for name in sorted(_pipelines)]


def unregister_pipeline(name: str) -> None:
    """Forget a pipeline; for tests that register throwaway ones."""
    with _lock:
        _pipelines.pop(name, None)


def register_group(group: PipelineGroup) -> PipelineGroup:
    """Register a group defined in Python; the app mirrors it into the database."""
    with _lock:
        existing = _groups.get(group.name)
        if existing is not None and existing != group:
            raise GroupAlreadyRegisteredError(group.name)
        _groups[group.name] = group
    return group


def get_group(name: str) -> PipelineGroup:
    """Return a group registered in Python."""
    try:
        return _groups[name]
    except KeyError:
        raise GroupNotFoundError(name, closest_names(name, _groups)) from None


def list_groups() -> list[PipelineGroup]:
    """Every group registered in Python, by name."""
    return [_groups[name] for name in sorted(_groups)]


def unregister_group(name: str) -> None:
    """Forget a group; for tests that register throwaway ones."""
    with _lock:
        _groups.pop(name, None)

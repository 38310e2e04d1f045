"""Every error Spine raises on purpose, under one base class.

Each class also derives from the builtin closest to its meaning, so callers that
know nothing of Spine can still catch a `KeyError` or a `ValueError`. Messages are
built from the data the error carries, and that data stays on the instance as
attributes, so a test or an API view can read the culprit without parsing text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


class SpineError(Exception):
    """Root of every error Spine raises on purpose."""


def closest_names(name: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Return the registered names that look most like a mistyped one."""
    return difflib.get_close_matches(name, sorted(candidates), n=limit, cutoff=0.6)


def _suggestion(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    return "; did you mean " + ", ".join(repr(s) for s in suggestions) + "?"


class PipelineNotFoundError(SpineError, KeyError):
    """A pipeline name that nothing registered."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = list(suggestions or [])
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The sentence shown to a person."""
        return (
            f"Pipeline {self.name!r} is not registered{_suggestion(self.suggestions)}"
        )

    def __str__(self) -> str:
        # KeyError quotes its argument; a person wants the sentence.
        return self.message


class PipelineAlreadyRegisteredError(SpineError, ValueError):
    """A second, different function registered under a name already taken."""

    def __init__(self, name: str, existing: str, new: str) -> None:
        self.name = name
        self.existing = existing
        self.new = new
        super().__init__(
            f"Pipeline {name!r} is already registered by {existing}; "
            f"{new} cannot take the same name"
        )


class GroupNotFoundError(SpineError, KeyError):
    """A group name that no definition carries."""

    def __init__(self, name: str, suggestions: list[str] | None = None) -> None:
        self.name = name
        self.suggestions = list(suggestions or [])
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The sentence shown to a person."""
        return f"Group {self.name!r} does not exist{_suggestion(self.suggestions)}"

    def __str__(self) -> str:
        return self.message


class GroupAlreadyRegisteredError(SpineError, ValueError):
    """A second, different group registered in Python under a name already taken."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Group {name!r} is already registered with another spec")


class PipelineParameterError(SpineError, ValueError):
    """Parameters that do not fit a pipeline's signature."""

    def __init__(
        self,
        pipeline: str,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
    ) -> None:
        self.pipeline = pipeline
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        problems = []
        if self.missing:
            problems.append("missing required " + ", ".join(self.missing))
        if self.unexpected:
            problems.append("does not accept " + ", ".join(self.unexpected))
        super().__init__(f"Pipeline {pipeline!r}: " + "; ".join(problems))


class InputDataError(SpineError, ValueError):
    """A line of a pipeline's input file that cannot be loaded as it is."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}, line {line}"
        super().__init__(f"{where}: {reason}")


class MissingInputError(SpineError, LookupError):
    """Input a pipeline needs that is not there: a file, or an upstream step's rows."""

    def __init__(self, what: str, hint: str = "") -> None:
        self.what = what
        self.hint = hint
        super().__init__(f"{what} not found" + (f"; {hint}" if hint else ""))


# Group definitions (documents, plans, storage).


@dataclass(frozen=True)
class SpecIssue:
    """One thing wrong with a group document, located for the person fixing it."""

    path: str
    message: str
    line: int | None = None
    source: str = "<string>"

    def __str__(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        return f"{where}: {self.path or '<document>'}: {self.message}"


class GroupSpecError(SpineError, ValueError):
    """A group document that is not a valid group; `issues` lists every problem."""

    def __init__(self, issues: Iterable[SpecIssue], source: str = "<string>") -> None:
        self.issues = list(issues)
        self.source = source
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} {noun} in group document\n{lines}")


class PlanResolutionError(SpineError, ValueError):
    """A group that cannot be turned into an execution plan."""

    def __init__(
        self, message: str, *, group: str, step: str | None = None, value: Any = None
    ) -> None:
        self.group = group
        self.step = step
        self.value = value
        where = f"Group {group!r}"
        if step is not None:
            where += f", step {step!r}"
        super().__init__(f"{where}: {message}")


class UnknownPipelineError(PlanResolutionError):
    """A step whose pipeline nothing registered."""

    def __init__(
        self, *, group: str, step: str, pipeline: str, suggestions: list[str]
    ) -> None:
        self.pipeline = pipeline
        self.suggestions = list(suggestions)
        super().__init__(
            f"pipeline {pipeline!r} is not registered{_suggestion(self.suggestions)}",
            group=group,
            step=step,
            value=pipeline,
        )


class DuplicateStepError(PlanResolutionError):
    """Two steps of one group with the same name."""

    def __init__(self, *, group: str, step: str) -> None:
        super().__init__(
            "step name is declared more than once", group=group, step=step, value=step
        )


class UnknownDependencyError(PlanResolutionError):
    """A `depends_on` entry that names no step of the group."""

    def __init__(
        self, *, group: str, step: str, dependency: str, suggestions: list[str]
    ) -> None:
        self.dependency = dependency
        self.suggestions = list(suggestions)
        super().__init__(
            f"depends on {dependency!r}, which is not a step of the group"
            f"{_suggestion(self.suggestions)}",
            group=group,
            step=step,
            value=dependency,
        )


class CycleError(PlanResolutionError):
    """Steps that depend on each other in a circle; `cycle` is closed (a, b, a)."""

    def __init__(self, *, group: str, cycle: list[str]) -> None:
        self.cycle = list(cycle)
        super().__init__(
            "dependency cycle " + " -> ".join(self.cycle),
            group=group,
            step=self.cycle[0],
            value=self.cycle,
        )


class TemplateError(PlanResolutionError):
    """Text between `{{ }}` that is not `params.NAME`; it is never evaluated."""

    def __init__(
        self, *, group: str, step: str | None, parameter: str, template: str
    ) -> None:
        self.parameter = parameter
        self.template = template
        super().__init__(
            f"param {parameter!r} holds {template!r}; the only template form is "
            "'{{ params.NAME }}'",
            group=group,
            step=step,
            value=template,
        )


class MissingRunParameterError(PlanResolutionError):
    """A template that names a run parameter the run was not given."""

    def __init__(
        self, *, group: str, step: str, parameter: str, template: str, name: str
    ) -> None:
        self.parameter = parameter
        self.template = template
        self.name = name
        super().__init__(
            f"param {parameter!r} needs run parameter {name!r} (template "
            f"{template!r}), which was not given",
            group=group,
            step=step,
            value=name,
        )


class StepParameterError(PlanResolutionError):
    """A step's merged params that do not fit its pipeline's signature."""

    def __init__(
        self,
        *,
        group: str,
        step: str,
        pipeline: str,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
    ) -> None:
        self.pipeline = pipeline
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        problems = []
        if self.missing:
            problems.append("missing required param " + ", ".join(self.missing))
        if self.unexpected:
            problems.append(
                "step params not accepted by the pipeline: "
                + ", ".join(self.unexpected)
            )
        super().__init__(
            f"pipeline {pipeline!r}: " + "; ".join(problems),
            group=group,
            step=step,
            value=self.missing + self.unexpected,
        )


class GroupStorageReadOnlyError(SpineError, PermissionError):
    """A write to groups while the YAML files are their source of truth."""

    def __init__(self, name: str = "", path: str = "") -> None:
        self.name = name
        self.path = path
        subject = f"group {name!r}" if name else "groups"
        super().__init__(
            f"Cannot change {subject}: SPINE_GROUP_STORAGE is 'yaml', so the files "
            f"under {path or 'SPINE_GROUPS_PATH'} are the source of truth; edit the "
            "file and run `manage.py importgroups`"
        )


class GroupSourcePathError(SpineError, FileNotFoundError):
    """A path given to import groups from that does not exist."""

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__(
            f"{path!r} is neither a file nor a folder; give a group file or a "
            "folder of *.yaml files"
        )


# Group runs and executions (the engine).


class GroupInactiveError(SpineError, RuntimeError):
    """A group that was deactivated: it can be read but not run."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Group {name!r} is inactive; activate it before running it")


class RunNotFoundError(SpineError, KeyError):
    """A group run id that no run carries."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The sentence shown to a person."""
        return f"Group run {self.run_id!r} does not exist"

    def __str__(self) -> str:
        return self.message


class ExecutionNotFoundError(SpineError, KeyError):
    """An execution id that no execution carries."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The sentence shown to a person."""
        return f"Execution {self.execution_id!r} does not exist"

    def __str__(self) -> str:
        return self.message


class DeadLetterNotFoundError(SpineError, KeyError):
    """A dead-letter id that no dead letter carries."""

    def __init__(self, dead_letter_id: str) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The sentence shown to a person."""
        return f"Dead letter {self.dead_letter_id!r} does not exist"

    def __str__(self) -> str:
        return self.message


class RunFinishedError(SpineError, RuntimeError):
    """A cancel asked of a run that has already finished."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        super().__init__(
            f"Group run {run_id!r} has already finished ({status}); "
            "there is nothing to cancel"
        )


class RunNotRetryableError(SpineError, RuntimeError):
    """A retry asked of a run that is still active or that completed."""

    def __init__(self, run_id: str, status: str) -> None:
        self.run_id = run_id
        self.status = status
        why = (
            "it completed, so nothing needs to run again"
            if status == "completed"
            else "it has not finished yet"
        )
        super().__init__(f"Group run {run_id!r} cannot be retried: {why}")


class DeadLetterReplayedError(SpineError, RuntimeError):
    """A replay asked of a dead letter that was already replayed."""

    def __init__(self, dead_letter_id: str, replay_execution_id: str | None) -> None:
        self.dead_letter_id = dead_letter_id
        self.replay_execution_id = replay_execution_id
        super().__init__(
            f"Dead letter {dead_letter_id!r} was already replayed"
            + (f" as execution {replay_execution_id}" if replay_execution_id else "")
        )

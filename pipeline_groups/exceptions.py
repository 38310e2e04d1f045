"""Every error Spine raises on purpose, under one base class.

Each class also derives from the builtin closest to its meaning, so callers that
know nothing of Spine can still catch a `KeyError` or a `ValueError`. Messages are
built from the data the error carries, and that data stays on the instance as
attributes, so a test or an API view can read the culprit without parsing text.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


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

"""The one template form of group params: `{{ params.NAME }}`, never evaluated.

A group's defaults and step params may refer to the run's params. Only a bare
parameter name between double braces exists: no expressions, filters or
attribute access, so nothing a group author writes can run code. Text is matched
against a regular expression and replaced; nothing is parsed as a language.

A value that is one template and nothing else keeps the run parameter's type (a
list stays a list); a template inside longer text is replaced by the parameter's
text (a string as is, anything else as JSON).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_NAME = r"[A-Za-z][A-Za-z0-9_]*"
TEMPLATE = re.compile(r"\{\{\s*params\.(" + _NAME + r")\s*\}\}")
WHOLE_TEMPLATE = re.compile(r"\s*\{\{\s*params\.(" + _NAME + r")\s*\}\}\s*")


@dataclass(frozen=True)
class TemplateProblem:
    """A piece of text between braces that is not a template of the one form."""

    path: str
    text: str


class MissingParameter(LookupError):
    """Raised while rendering: the template names a run parameter not given."""

    def __init__(self, name: str, template: str) -> None:
        self.name = name
        self.template = template
        super().__init__(name)


class InvalidTemplate(ValueError):
    """Raised while rendering: braces hold something other than `params.NAME`."""

    def __init__(self, text: str) -> None:
        self.text = text
        super().__init__(text)


def _invalid_in(text: str) -> str | None:
    """Return the first `{{ ... }}` of the text that is not a valid template."""
    position = text.find("{{")
    while position != -1:
        match = TEMPLATE.match(text, position)
        if match is None:
            closing = text.find("}}", position)
            end = len(text) if closing == -1 else closing + 2
            return text[position:end]
        position = text.find("{{", match.end())
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Yield every string inside a JSON-like value with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def find_problems(value: Any, path: str = "") -> list[TemplateProblem]:
    """Return every malformed template inside a value, in document order."""
    problems = []
    for where, text in _walk(value, path):
        invalid = _invalid_in(text)
        if invalid is not None:
            problems.append(TemplateProblem(where, invalid))
    return problems


def referenced_params(value: Any) -> list[str]:
    """Return the run parameter names a value's templates use, first use first."""
    names: dict[str, None] = {}
    for _, text in _walk(value, ""):
        for match in TEMPLATE.finditer(text):
            names.setdefault(match.group(1), None)
    return list(names)


def has_template(value: Any) -> bool:
    """Whether rendering could change the value (it holds `{{` somewhere)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, Mapping):
        return any(has_template(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(has_template(item) for item in value)
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _render_text(text: str, params: Mapping[str, Any]) -> Any:
    invalid = _invalid_in(text)
    if invalid is not None:
        raise InvalidTemplate(invalid)

    whole = WHOLE_TEMPLATE.fullmatch(text)
    if whole is not None:
        name = whole.group(1)
        if name not in params:
            raise MissingParameter(name, text.strip())
        return params[name]

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise MissingParameter(name, match.group(0))
        return _as_text(params[name])

    return TEMPLATE.sub(substitute, text)


def render(value: Any, params: Mapping[str, Any]) -> Any:
    """Return the value with every template replaced from the run params.

    Raises `MissingParameter` or `InvalidTemplate`; the planner turns them into
    plan errors that name the group and the step.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        return _render_text(value, params)
    if isinstance(value, Mapping):
        return {key: render(item, params) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render(item, params) for item in value]
    return value

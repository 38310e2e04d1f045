"""Request bodies: strict JSON, and group documents sent as YAML.

JSON bodies refuse what no database column can store or no stack can parse:
NaN, infinities (`1e999` included), NUL characters (PostgreSQL stores none) and
nesting deep enough to exhaust Python's recursion limit are a 400, never a 500.

The YAML parser only decodes the body: the text goes to `yaml_spec.load_group_yaml`,
the loader the group files go through, which parses it safely (plain YAML types
only, a size bound, no alias bombs, no repeated keys) and reports every problem
with its line and path, the same messages a file gets.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text} is out of range")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON")


def contains_nul(value: Any) -> bool:
    """Whether a NUL character hides in any string or key of a parsed value."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(
            contains_nul(key) or contains_nul(item) for key, item in value.items()
        )
    if isinstance(value, list | tuple):
        return any(contains_nul(item) for item in value)
    return False


class StrictJSONParser(JSONParser):
    """Parse JSON bodies, refusing non-finite numbers and runaway nesting."""

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """Return the parsed body, or a 400 that says what is wrong with it."""
        context = parser_context or {}
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream else ""
            data = json.loads(
                text, parse_float=_finite_float, parse_constant=_no_constant
            )
            nul = contains_nul(data)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply") from None
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}") from error
        if nul:
            raise ParseError("JSON parse error - strings may not contain NUL (\\u0000)")
        return data


class YamlText(str):
    """The decoded text of a YAML request body, not yet parsed."""

    __slots__ = ()


class YAMLParser(BaseParser):
    """Accept `application/yaml` bodies as text for the group loader."""

    media_type = "application/yaml"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> YamlText:
        """Return the body as text, or refuse it with a 400 when it is not text."""
        context = parser_context or {}
        encoding = context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return YamlText(stream.read().decode(encoding) if stream else "")
        except UnicodeDecodeError as error:
            raise ParseError(f"YAML body is not valid {encoding}: {error}") from error

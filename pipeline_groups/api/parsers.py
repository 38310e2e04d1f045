"""Group documents sent as YAML (`Content-Type: application/yaml`).

The parser only decodes the body: the text goes to `yaml_spec.load_group_yaml`,
the loader the group files go through, which parses it safely (plain YAML types
only, a size bound, no alias bombs, no repeated keys) and reports every problem
with its line and path, the same messages a file gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser


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

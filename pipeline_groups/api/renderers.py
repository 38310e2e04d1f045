"""YAML responses (`Accept: application/yaml`) for group documents."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder


class YAMLRenderer(BaseRenderer):
    """Render YAML: text as it is, anything else through its JSON form."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        """Return the body; a view that already dumped a document passes text."""
        if data is None:
            return b""
        if isinstance(data, str):
            return data.encode(self.charset)

        # The JSON round trip turns ReturnDicts, dates and decimals into plain
        # values that the safe dumper accepts.
        plain = json.loads(json.dumps(data, cls=JSONEncoder))
        text = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
        return text.encode(self.charset)

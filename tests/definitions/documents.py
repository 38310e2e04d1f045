"""A valid group document to start tests from, as text and as a dict."""

from __future__ import annotations

import copy
from typing import Any

import yaml

VALID_YAML = """\
apiVersion: spine.io/v1
kind: PipelineGroup
metadata:
  name: demo.weekly
  domain: demo
  version: 1
  description: A small weekly group
  tags: [demo]
spec:
  defaults:
    tier: "{{ params.tier }}"
    week_ending: "{{ params.week_ending }}"
  pipelines:
    - name: ingest
      pipeline: t.ingest
      params:
        source_type: api
    - name: normalize
      pipeline: t.normalize
      depends_on: [ingest]
  policy:
    execution: parallel
    max_concurrency: 2
    on_failure: continue
    timeout_minutes: 1.5
"""


def valid_document() -> dict[str, Any]:
    """Return a fresh copy of the valid document as a dict."""
    return copy.deepcopy(yaml.safe_load(VALID_YAML))


def as_yaml(document: dict[str, Any]) -> str:
    """Write a document as block YAML, one key per line."""
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)

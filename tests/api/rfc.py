"""The bodies of RFC 3.5.3 as tables, for the answers and for the OpenAPI schema.

One table per model, so a field the RFC adds is written down once: the shape
tests check real answers against these Python types, the schema test maps them
to OpenAPI's kinds.
"""

from __future__ import annotations

import datetime as dt

# field: (type, nullable), as RFC 3.5.3 declares them.
GROUP_SUMMARY = {
    "name": (str, False),
    "domain": (str, False),
    "version": (int, False),
    "description": (str, True),
    "step_count": (int, False),
    "is_active": (bool, False),
}
GROUP_DETAIL = {
    **GROUP_SUMMARY,
    "spec": (dict, False),
    "created_at": (dt.datetime, False),
    "updated_at": (dt.datetime, False),
}
RUN_SUMMARY = {
    "id": (str, False),
    "group_name": (str, False),
    "status": (str, False),
    "trigger_source": (str, False),
    "started_at": (dt.datetime, True),
    "completed_at": (dt.datetime, True),
    "duration_seconds": (float, True),
}
RUN_DETAIL = {
    **RUN_SUMMARY,
    "group_version": (int, False),
    "params": (dict, False),
    "batch_id": (str, False),
    "steps": (list, False),
    "error": (str, True),
}
STEP_STATUS = {
    "step_name": (str, False),
    "pipeline_name": (str, False),
    "execution_id": (str, True),
    "status": (str, False),
    "started_at": (dt.datetime, True),
    "completed_at": (dt.datetime, True),
    "error": (str, True),
}

MODELS = {
    "GroupSummary": GROUP_SUMMARY,
    "GroupDetail": GROUP_DETAIL,
    "GroupRunSummary": RUN_SUMMARY,
    "GroupRunDetail": RUN_DETAIL,
    "StepStatus": STEP_STATUS,
}
# Fields whose values the RFC lists: an enum in the schema, a str in a body.
ENUM_FIELDS = {"status", "trigger_source"}

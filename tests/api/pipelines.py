"""Small pipelines the API tests run, importable by worker processes too.

They stand in for the FINRA pipelines of RFC appendix A.1 with the same step
shape (tier and week ending in, a row count out) and no data files, so a run
through the API finishes in milliseconds wherever it is executed.
"""

from __future__ import annotations

from typing import Any

from pipeline_groups.context import ExecutionContext
from pipeline_groups.registry import register_pipeline


@register_pipeline("apitest.ingest_week", logical_key="apitest:{tier}:{week_ending}")
def ingest_week(
    ctx: ExecutionContext, tier: str, week_ending: str, source_type: str = "file"
) -> dict[str, Any]:
    """Pretend to load a week of rows."""
    return {"rows_written": 10, "tier": tier, "week_ending": week_ending}


@register_pipeline("apitest.transform_week")
def transform_week(
    ctx: ExecutionContext, tier: str, week_ending: str
) -> dict[str, Any]:
    """Pretend to derive rows from the ingested week."""
    return {"rows_written": 5}


@register_pipeline("apitest.fail")
def fail(ctx: ExecutionContext, **params: Any) -> None:
    """Fail every time, so runs end failed and land in the dead-letter queue."""
    raise ValueError("apitest.fail always fails")

"""The functions django-q2 workers call: thin doors into the engine.

A task message only says "look at execution X" or "look at run Y"; the database
decides whether anything happens. So a task delivered twice, late, or after the
reaper already moved on is harmless: the engine's conditional updates turn it into
a no-op. Nothing here retries: django-q2 runs each task once (`max_attempts` 1)
and the engine records what a failure means.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline_groups.models import Backend, TriggerSource

logger = logging.getLogger(__name__)


def run_step(execution_id: str) -> None:
    """Claim, run and finish one step attempt, then advance its run."""
    from pipeline_groups import engine
    from pipeline_groups.backends import freeze_loaded_objects

    freeze_loaded_objects()
    engine.execute_step(execution_id)


def advance_run(run_id: str) -> None:
    """Dispatch whatever became ready in a run, or finish it; idempotent."""
    from pipeline_groups import engine

    engine.advance_run(run_id)


def reap_task() -> dict[str, Any]:
    """One reaper pass, for the django-q2 schedule; the result is kept by django-q2."""
    from pipeline_groups.reaper import reap

    return reap().as_dict()


def start_scheduled_run(group_name: str, params: dict[str, Any] | None = None) -> str:
    """Start a run of a group for its cron schedule, on the workers."""
    from pipeline_groups import engine

    try:
        run = engine.start_run(
            group_name,
            dict(params or {}),
            trigger_source=TriggerSource.SCHEDULER,
            created_by="scheduler",
            backend=Backend.DJANGO_Q,
        )
    except Exception:
        logger.exception("Scheduled run of group %s could not start", group_name)
        raise
    logger.info("Scheduled run %s of group %s started", run.id, group_name)
    return run.id

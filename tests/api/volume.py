"""Builders of large data sets for the query-count tests and bench/api.py.

Rows are bulk-inserted, so a 1,000-step run or 500 runs take a second to build;
the runs carry real plans from the planner, as the engine writes them.
"""

from __future__ import annotations

from django.utils import timezone

from pipeline_groups import engine, storage
from pipeline_groups.models import (
    Execution,
    ExecutionStatus,
    GroupDefinition,
    GroupRun,
    GroupRunExecution,
    GroupSource,
    TriggerSource,
    new_batch_id,
)
from pipeline_groups.spec import PipelineGroup
from tests.api import pipelines  # noqa: F401  (registers the test pipelines)

PARAMS = {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}


def wide_group(name: str, steps: int) -> GroupDefinition:
    """Save a group of `steps` steps: one ingest, the rest depending on it."""
    group = PipelineGroup(
        name=name,
        domain="bench",
        defaults={key: value for key, value in PARAMS.items()},
    )
    group.add("ingest", "apitest.ingest_week")
    for number in range(1, steps):
        group.add(f"step_{number:05d}", "apitest.transform_week", depends_on=["ingest"])
    definition, _ = storage.save_group(group, source=GroupSource.API)
    return definition


def run_with_executions(definition: GroupDefinition, finished: int) -> GroupRun:
    """Start a run of the group and record its first `finished` steps completed."""
    run = engine.start_run(
        definition.name, PARAMS, trigger_source=TriggerSource.API, backend="inline"
    )
    now = timezone.now()
    steps = run.plan["steps"][:finished]
    executions = Execution.objects.bulk_create(
        [
            Execution(
                pipeline_name=step["pipeline_name"],
                params=step["params"],
                status=ExecutionStatus.COMPLETED,
                trigger_source=TriggerSource.API,
                batch_id=run.batch_id,
                started_at=now,
                completed_at=now,
            )
            for step in steps
        ]
    )
    GroupRunExecution.objects.bulk_create(
        [
            GroupRunExecution(
                group_run=run,
                execution=execution,
                step_name=step["step_name"],
                sequence_order=step["sequence_order"],
            )
            for step, execution in zip(steps, executions, strict=True)
        ]
    )
    return run


def many_groups(count: int) -> None:
    """Insert `count` small groups."""
    document = wide_group("bench.template", 3).spec
    GroupDefinition.objects.bulk_create(
        [
            GroupDefinition(
                name=f"bench.group_{number:04d}",
                domain="bench",
                spec={**document, "metadata": {**document["metadata"]}},
            )
            for number in range(count)
        ]
    )


def many_runs(count: int, name: str = "bench.runs") -> None:
    """Insert `count` runs of a new small group, each with one step under way."""
    definition = wide_group(name, 3)
    template = run_with_executions(definition, 1)
    now = timezone.now()
    runs = GroupRun.objects.bulk_create(
        [
            GroupRun(
                group=definition,
                group_name=definition.name,
                group_version=definition.version,
                params=PARAMS,
                trigger_source=TriggerSource.API,
                batch_id=new_batch_id(f"group_{definition.name}_{number}"),
                plan=template.plan,
                created_at=now,
            )
            for number in range(count - 1)
        ]
    )
    executions = Execution.objects.bulk_create(
        [
            Execution(
                pipeline_name="apitest.ingest_week",
                params=PARAMS,
                status=ExecutionStatus.RUNNING,
                trigger_source=TriggerSource.API,
                batch_id=run.batch_id,
                started_at=now,
            )
            for run in runs
        ]
    )
    GroupRunExecution.objects.bulk_create(
        [
            GroupRunExecution(
                group_run=run, execution=execution, step_name="ingest", sequence_order=0
            )
            for run, execution in zip(runs, executions, strict=True)
        ]
    )

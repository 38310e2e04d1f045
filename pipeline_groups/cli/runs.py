"""`groups` actions for runs, status, cancel, retry and reap: what group runs do.

`groups retry` hands the resumed steps to the workers and returns once the run is
resumed (`--wait` follows it to its end, `--inline` runs it here instead), as
DESIGN.md section 6 says. An unknown run id is bad input (exit 2); cancelling a
finished run or retrying one that cannot be retried is a conflict (exit 1).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from pipeline_groups import engine, runner
from pipeline_groups.exceptions import (
    RunFinishedError,
    RunNotFoundError,
    RunNotRetryableError,
)
from pipeline_groups.models import Backend, GroupRun, RunStatus, StepStatus
from pipeline_groups.reaper import add_reap_subcommand

DEFAULT_RUNS_SHOWN = 20
# A fixed order: PostgreSQL's jsonb does not keep the plan's key order.
_POLICY_KEYS = ("execution", "max_concurrency", "on_failure", "timeout_minutes")


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Add this area's actions to `manage.py groups`."""
    runs = subparsers.add_parser("runs", help="List group runs, newest first.")
    runs.add_argument("--group", default="", help="Only runs of this group.")
    runs.add_argument(
        "--status",
        default="",
        choices=["", *RunStatus.values],
        help="Only this status.",
    )
    runs.add_argument(
        "--limit", type=int, default=DEFAULT_RUNS_SHOWN, help="How many runs to show."
    )
    runs.set_defaults(handler=handle_runs)

    status = subparsers.add_parser(
        "status", help="Show a run's steps, why each waits, and where params came from."
    )
    status.add_argument("run_id", metavar="RUN_ID")
    status.set_defaults(handler=handle_status)

    cancel = subparsers.add_parser("cancel", help="Ask a run to stop (best effort).")
    cancel.add_argument("run_id", metavar="RUN_ID")
    cancel.set_defaults(handler=handle_cancel)

    retry = subparsers.add_parser(
        "retry", help="Resume a failed or cancelled run: its unfinished steps again."
    )
    retry.add_argument("run_id", metavar="RUN_ID")
    runner.add_follow_arguments(retry)
    retry.set_defaults(handler=handle_retry)

    add_reap_subcommand(subparsers)


def _get_run(run_id: str) -> GroupRun:
    try:
        return GroupRun.objects.get(pk=run_id)
    except GroupRun.DoesNotExist:
        raise runner.bad_input(RunNotFoundError(run_id)) from None


def _when(value: Any) -> str:
    if value is None:
        return "-"
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")


# Handlers.


def handle_runs(
    command: BaseCommand,
    *,
    group: str = "",
    status: str = "",
    limit: int = DEFAULT_RUNS_SHOWN,
    **options: Any,
) -> None:
    """Print one line per run: id, group, status, progress, trigger, times."""
    if limit < 1:
        raise CommandError(
            f"--limit {limit} must be 1 or more", returncode=runner.EXIT_BAD_INPUT
        )
    runs = GroupRun.objects.order_by("-created_at", "-id")
    if group:
        runs = runs.filter(group_name=group)
    if status:
        runs = runs.filter(status=status)
    total = runs.count()
    views = engine.describe_runs(list(runs[:limit]))
    if not views:
        command.stdout.write("No runs")
        return

    width = max(len(view.run.group_name) for view in views)
    command.stdout.write(
        command.style.MIGRATE_HEADING(f"{len(views)} of {total} runs, newest first")
    )
    for view in views:
        run = view.run
        style = runner.status_style(command, run.status)
        duration = runner.format_duration(run.duration_seconds) or "-"
        command.stdout.write(
            f"  {run.id}  {run.group_name:<{width}}  v{run.group_version:<3} "
            f"{style(f'{run.status:<9}')}  {view.progress:>7} steps  "
            f"{run.trigger_source:<9}  {_when(run.created_at)}  {duration}"
        )


def handle_status(command: BaseCommand, *, run_id: str, **options: Any) -> None:
    """Print a run, then each step with its status, its reason and its params."""
    view = engine.describe_run(_get_run(run_id))
    run = view.run

    style = runner.status_style(command, run.status)
    command.stdout.write(
        command.style.MIGRATE_HEADING(f"Run {run.id}")
        + f"  {run.group_name} v{run.group_version}  {style(run.status)}"
        + f"  {view.progress} steps done"
    )
    policy = ", ".join(
        f"{key} {view.policy[key]}"
        for key in _POLICY_KEYS
        if view.policy.get(key) is not None
    )
    lines = [
        f"  trigger: {run.trigger_source}"
        + (f" by {run.created_by}" if run.created_by else ""),
        f"  batch: {run.batch_id}",
        f"  params: {json.dumps(run.params, sort_keys=True, ensure_ascii=False)}",
        f"  policy: {policy}",
        f"  created {_when(run.created_at)}, started {_when(run.started_at)}, "
        f"ended {_when(run.completed_at)}",
    ]
    if run.cancel_requested_at:
        lines.append(f"  cancel requested {_when(run.cancel_requested_at)}")
    if run.error:
        lines.append(f"  error: {run.error.splitlines()[0]}")
    for line in lines:
        command.stdout.write(line)

    width = max((len(step.step_name) for step in view.steps), default=0)
    command.stdout.write("  steps, in plan order:")
    for step in view.steps:
        style = runner.status_style(command, step.status)
        attempt = f"attempt {step.attempt}" if step.attempt > 1 else ""
        duration = runner.format_duration(step.duration_seconds)
        command.stdout.write(
            f"  {step.sequence_order + 1:>3}. {step.step_name:<{width}}  "
            f"{style(f'{step.status:<9}')}  {duration:>8}  {attempt}".rstrip()
        )
        command.stdout.write(f"       pipeline: {step.pipeline_name}")
        if step.status == StepStatus.FAILED and step.error:
            command.stdout.write(f"       error: {step.error.splitlines()[0]}")
        elif step.reason and step.status != StepStatus.COMPLETED:
            command.stdout.write(f"       why: {step.reason}")
        for name, value in step.params.items():
            source = step.param_sources.get(name, "?")
            shown = json.dumps(value, sort_keys=True, ensure_ascii=False)
            command.stdout.write(f"       {name} = {shown}  [{source}]")


def handle_cancel(command: BaseCommand, *, run_id: str, **options: Any) -> None:
    """Cancel a run; running steps stop when they next look."""
    try:
        run = engine.cancel_run(run_id, requested_by="cli")
    except RunNotFoundError as error:
        raise runner.bad_input(error) from None
    except RunFinishedError as error:
        raise CommandError(str(error), returncode=runner.EXIT_FAILED) from None

    view = engine.describe_run(run)
    running = [
        step.step_name for step in view.steps if step.status == StepStatus.RUNNING
    ]
    command.stdout.write(f"Run {run.id} cancel requested: {run.status}")
    if running:
        command.stdout.write(f"  still stopping: {', '.join(running)}")


def handle_retry(
    command: BaseCommand,
    *,
    run_id: str,
    wait: bool = False,
    inline: bool = False,
    **options: Any,
) -> None:
    """Resume a finished, unsuccessful run; completed steps are not run again."""
    backend = Backend.INLINE if inline else Backend.DJANGO_Q
    verbosity = options.get("verbosity", 1)
    with runner.quiet_engine_logs(verbosity):
        try:
            run = engine.retry_run(run_id, requested_by="cli", backend=backend)
        except RunNotFoundError as error:
            raise runner.bad_input(error) from None
        except RunNotRetryableError as error:
            raise CommandError(str(error), returncode=runner.EXIT_FAILED) from None

        again = engine.describe_run(run).counts.get(StepStatus.PENDING, 0)
        where = "here" if inline else "on the workers"
        command.stdout.write(f"Run {run.id} resumed {where}: {again} steps run again")
        if inline:
            runner.drive_inline(
                command,
                run,
                live=runner.is_terminal(command.stdout),
                verbosity=verbosity,
            )
        elif wait:
            runner.wait_for_run(command, run, verbosity=verbosity)

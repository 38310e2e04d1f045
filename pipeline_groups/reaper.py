"""Crash recovery: fail steps whose worker died, re-dispatch steps a broker lost.

A worker that dies mid-step leaves its execution `running` with a heartbeat that
stops moving; a broker can drop a task in flight (Redis keeps no receipt) and
leave a step `queued` with nobody to claim it, or drop the task that would have
advanced a run. One reaper pass finds each case and hands it to the engine, whose
conditional updates make every action safe to repeat, so any number of reapers
may run at once and no run stays active forever because a process died.

The pass runs three ways: `groups reap`; a django-q2 schedule, which has minute
granularity and is checked by the cluster about every 30 seconds; and a light
loop in every worker process at SPINE_REAPER_INTERVAL_SECONDS, which is what
makes a seconds-level interval possible.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import socket
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from pipeline_groups.models import (
    RUN_ACTIVE,
    STEP_ACTIVE,
    Backend,
    EventKind,
    Execution,
    ExecutionStatus,
    GroupRun,
)

logger = logging.getLogger(__name__)

WORKER_LOST = "worker lost"
REAPER_SCHEDULE_NAME = "spine.reaper"
REAPER_TASK_FUNC = "pipeline_groups.tasks.reap_task"


@dataclass
class ReapReport:
    """What one pass of the reaper did, by execution and run id."""

    reaped: list[str] = field(default_factory=list)
    redispatched: list[str] = field(default_factory=list)
    timed_out_runs: list[str] = field(default_factory=list)
    adopted_runs: list[str] = field(default_factory=list)
    advanced_runs: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        """How many things this pass changed."""
        return sum(len(ids) for ids in asdict(self).values())

    def as_dict(self) -> dict[str, list[str]]:
        """Return the report as plain data, for django-q2's result and for JSON."""
        return asdict(self)


def _seconds_ago(seconds: float) -> datetime:
    return timezone.now() - timedelta(seconds=seconds)


def reap() -> ReapReport:
    """Run one pass: reap, adopt, re-dispatch, time out and un-stall, in that order.

    Reaping comes first so that a run whose only running step died is advanced
    in the same pass; re-dispatching comes after adopting so an adopted inline
    run's queued steps reach the workers at once.
    """
    report = ReapReport()

    _reap_lost_workers(report)
    _adopt_orphaned_inline_runs(report)
    _redispatch_lost_steps(report)
    _advance_overdue_runs(report)
    _advance_stalled_runs(report)

    if report.total:
        logger.info(
            "Reaper pass: reaped %s, re-dispatched %s, timed out %s, adopted %s, "
            "advanced %s",
            report.reaped,
            report.redispatched,
            report.timed_out_runs,
            report.adopted_runs,
            report.advanced_runs,
        )
    return report


def _reap_lost_workers(report: ReapReport) -> None:
    """Fail running executions whose heartbeat is stale, or that never beat.

    A stale step of an inline run means the process driving the run is gone
    (its heartbeat thread beats for every step it runs), so the run is handed to
    the workers first and the advance that follows the failure reaches them.
    """
    from pipeline_groups import engine

    cutoff = _seconds_ago(settings.SPINE_HEARTBEAT_TIMEOUT_SECONDS)
    stale = (
        Execution.objects.filter(status=ExecutionStatus.RUNNING)
        .annotate(
            last_sign=Coalesce("heartbeat_at", "started_at", "queued_at", "created_at")
        )
        .filter(last_sign__lt=cutoff)
        .values_list("id", "group_step__group_run_id", "group_step__group_run__backend")
    )
    for execution_id, run_id, backend in list(stale):
        if backend == Backend.INLINE:
            _adopt(run_id, report)
        moved = engine.end_execution(
            execution_id,
            status=ExecutionStatus.FAILED,
            error=WORKER_LOST,
            event_kind=EventKind.REAPED,
            expected=ExecutionStatus.RUNNING,
        )
        if moved:
            logger.warning(
                "Run %s: execution %s reaped: %s (no heartbeat since before %s)",
                run_id or "-",
                execution_id,
                WORKER_LOST,
                cutoff.isoformat(timespec="seconds"),
            )
            report.reaped.append(execution_id)


def _adopt(run_id: str, report: ReapReport) -> bool:
    """Switch an inline run to the workers and hand them its queued steps."""
    from pipeline_groups import engine

    with transaction.atomic():
        adopted = GroupRun.objects.filter(
            pk=run_id, status__in=RUN_ACTIVE, backend=Backend.INLINE
        ).update(backend=Backend.DJANGO_Q)
        if not adopted:
            return False
        queued = Execution.objects.filter(
            group_step__group_run_id=run_id, status=ExecutionStatus.QUEUED
        ).values_list("id", flat=True)
        for execution_id in list(queued):
            engine.redispatch(execution_id)
    logger.warning(
        "Run %s: its inline process is gone; remaining steps go to the workers",
        run_id,
    )
    report.adopted_runs.append(run_id)
    return True


def _quiet_runs(backend: Backend, cutoff: datetime, *, idle: frozenset) -> list[str]:
    """Active runs of a backend with no step in `idle` and no change since `cutoff`."""
    runs = (
        GroupRun.objects.filter(
            status__in=RUN_ACTIVE, backend=backend, created_at__lt=cutoff
        )
        .annotate(
            busy=Count(
                "step_executions",
                filter=Q(step_executions__execution__status__in=idle),
            ),
            last_end=Max("step_executions__execution__completed_at"),
            last_queued=Max("step_executions__execution__queued_at"),
        )
        .filter(busy=0)
        .filter(Q(started_at__isnull=True) | Q(started_at__lt=cutoff))
        .filter(Q(last_end__isnull=True) | Q(last_end__lt=cutoff))
        .filter(Q(last_queued__isnull=True) | Q(last_queued__lt=cutoff))
    )
    return list(runs.values_list("id", flat=True))


def _process_gone(worker: str) -> bool:
    """Whether a `host:pid` worker name names a process known to be dead here.

    Only a process on this host can be checked; elsewhere the answer is no.
    """
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _adopt_orphaned_inline_runs(report: ReapReport) -> None:
    """Hand an inline run whose process died between steps to the workers.

    A run whose process died mid-step is adopted when that step is reaped. One
    that died between steps has nothing to reap: when none of its steps runs,
    nothing of it moved for a heartbeat timeout, and the process that ran its
    last step is known to be dead, the run switches to the django_q backend, its
    queued steps go to the workers, and an advance dispatches the rest.
    """
    from pipeline_groups import engine

    cutoff = _seconds_ago(settings.SPINE_HEARTBEAT_TIMEOUT_SECONDS)
    running = frozenset({ExecutionStatus.RUNNING})
    for run_id in _quiet_runs(Backend.INLINE, cutoff, idle=running):
        driver = (
            Execution.objects.filter(group_step__group_run_id=run_id)
            .exclude(worker="")
            .order_by("-started_at")
            .values_list("worker", flat=True)
            .first()
        )
        if driver and _process_gone(driver) and _adopt(run_id, report):
            engine.advance_run(run_id)


def _redispatch_lost_steps(report: ReapReport) -> None:
    """Enqueue again the worker steps that stayed queued and unclaimed too long.

    Moving `queued_at` forward with a conditional update lets exactly one of
    several concurrent reapers re-dispatch a step, once per period; a second
    delivery of the same step is harmless because only one claim can win.
    """
    from pipeline_groups import engine

    after = settings.SPINE_REDISPATCH_AFTER_SECONDS
    cutoff = _seconds_ago(after)
    lost = (
        Execution.objects.filter(
            status=ExecutionStatus.QUEUED,
            group_step__group_run__backend=Backend.DJANGO_Q,
        )
        .annotate(since=Coalesce("queued_at", "created_at"))
        .filter(since__lt=cutoff)
        .values_list("id", "since")
    )
    for execution_id, since in list(lost):
        with transaction.atomic():
            # Only the reaper whose update moves `queued_at` re-dispatches.
            won = (
                Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED)
                .filter(Q(queued_at=since) | Q(queued_at__isnull=True))
                .update(queued_at=timezone.now())
            )
            if not won or not engine.redispatch(execution_id):
                continue
        report.redispatched.append(execution_id)


def _advance_overdue_runs(report: ReapReport) -> None:
    """Advance active runs past their deadline, so the engine applies the timeout."""
    from pipeline_groups import engine

    overdue = GroupRun.objects.filter(
        status__in=RUN_ACTIVE, deadline_at__lt=timezone.now()
    ).values_list("id", flat=True)
    for run_id in list(overdue):
        engine.advance_run(run_id)
        report.timed_out_runs.append(run_id)


def _advance_stalled_runs(report: ReapReport) -> None:
    """Advance worker runs with nothing queued or running for a re-dispatch period.

    The task that would have advanced such a run was lost, or the run waited for
    a logical key that has since been released; advancing is idempotent, so a
    run that was merely quiet is left as it was.
    """
    from pipeline_groups import engine

    cutoff = _seconds_ago(settings.SPINE_REDISPATCH_AFTER_SECONDS)
    for run_id in _quiet_runs(Backend.DJANGO_Q, cutoff, idle=STEP_ACTIVE):
        if run_id in report.adopted_runs or run_id in report.timed_out_runs:
            continue
        engine.advance_run(run_id)
        report.advanced_runs.append(run_id)


def ensure_reaper_schedule() -> str:
    """Create or correct the django-q2 schedule that runs the reaper.

    django-q2 schedules count in whole minutes, so the interval is rounded up;
    the worker loop covers shorter intervals. Returns "created", "updated" or
    "unchanged"; a duplicate left by two processes racing is removed.
    """
    from django_q.models import Schedule

    minutes = max(1, math.ceil(settings.SPINE_REAPER_INTERVAL_SECONDS / 60))
    wanted = {"func": REAPER_TASK_FUNC, "schedule_type": Schedule.MINUTES}
    schedules = list(Schedule.objects.filter(name=REAPER_SCHEDULE_NAME).order_by("pk"))
    if not schedules:
        Schedule.objects.create(
            name=REAPER_SCHEDULE_NAME, minutes=minutes, repeats=-1, **wanted
        )
        return "created"

    keep, *duplicates = schedules
    if duplicates:
        Schedule.objects.filter(pk__in=[s.pk for s in duplicates]).delete()
    if (keep.func, keep.schedule_type, keep.minutes, keep.repeats) == (
        REAPER_TASK_FUNC,
        Schedule.MINUTES,
        minutes,
        -1,
    ):
        return "unchanged"
    Schedule.objects.filter(pk=keep.pk).update(minutes=minutes, repeats=-1, **wanted)
    return "updated"


class ReaperLoop(threading.Thread):
    """Run a reaper pass every SPINE_REAPER_INTERVAL_SECONDS inside a worker.

    A daemon thread, so it ends with its worker process; each pass uses the
    thread's own database connection and survives any error of a pass.
    """

    def __init__(self, interval: float) -> None:
        super().__init__(name="spine-reaper", daemon=True)
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        """Wait a jittered interval, reap, repeat until stopped."""
        # Workers start together; jitter keeps their passes apart.
        while not self.stopped.wait(self.interval * random.uniform(0.8, 1.2)):
            close_old_connections()
            try:
                reap()
            except Exception:
                logger.exception("Reaper pass failed; the next one will retry")

        close_old_connections()


_loop: ReaperLoop | None = None


def start_reaper_loop() -> ReaperLoop | None:
    """Start this process's reaper loop once; a zero interval disables it."""
    global _loop
    interval = float(settings.SPINE_REAPER_INTERVAL_SECONDS)
    if interval <= 0:
        return None
    if _loop is None or not _loop.is_alive():
        _loop = ReaperLoop(interval)
        _loop.start()
    return _loop


def _on_worker_spawn(sender: Any, proc_name: str = "", **kwargs: Any) -> None:
    """Ready a new django-q2 worker process: the schedule, then the loop."""
    try:
        ensure_reaper_schedule()
    except Exception:
        logger.exception("Worker %s could not ensure the reaper schedule", proc_name)
    start_reaper_loop()
    logger.info(
        "Worker %s ready; reaping every %gs",
        proc_name,
        settings.SPINE_REAPER_INTERVAL_SECONDS,
    )


def _on_post_migrate(sender: Any, using: str = "default", **kwargs: Any) -> None:
    """Create the reaper schedule once the tables exist, with no manual step."""
    from django.db import connections
    from django_q.models import Schedule

    if getattr(sender, "label", "") != "pipeline_groups":
        return
    # A partial migrate may run before django_q's own tables exist.
    if Schedule._meta.db_table not in connections[using].introspection.table_names():
        return
    ensure_reaper_schedule()


def connect_signals() -> None:
    """Connect the reaper to migrate and to every django-q2 worker's start."""
    from django.db.models.signals import post_migrate
    from django_q.signals import post_spawn

    post_migrate.connect(_on_post_migrate, dispatch_uid="spine-reaper-schedule")
    post_spawn.connect(_on_worker_spawn, dispatch_uid="spine-reaper-loop")


def _handle_reap(command: BaseCommand, **options: Any) -> None:
    """Run one reaper pass and say what it did."""
    report = reap()

    verbosity = options.get("verbosity", 1)
    if verbosity == 0:
        return
    lines = [
        ("reaped (worker lost)", report.reaped),
        ("re-dispatched", report.redispatched),
        ("runs past their deadline", report.timed_out_runs),
        ("inline runs adopted by workers", report.adopted_runs),
        ("stalled runs advanced", report.advanced_runs),
    ]
    command.stdout.write(command.style.MIGRATE_HEADING("Reaper pass:"))
    for label, ids in lines:
        style = command.style.WARNING if ids else command.style.SUCCESS
        command.stdout.write(f"  {label}: " + style(str(len(ids))))
        if verbosity > 1:
            for item in ids:
                command.stdout.write(f"    {item}")


def add_reap_subcommand(subparsers: argparse._SubParsersAction) -> None:
    """Add `groups reap` to `manage.py groups` (called by `cli/runs.py`)."""
    parser = subparsers.add_parser(
        "reap",
        help="Fail steps whose worker is gone and re-dispatch lost steps, once.",
    )
    parser.set_defaults(handler=_handle_reap)

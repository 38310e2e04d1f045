"""Group runs on real `qcluster` workers: policies, crashes, duplicates and load.

Every test starts its own clusters (see conftest) with short heartbeat, reaper and
re-dispatch intervals, runs groups of the throwaway pipelines in
`tests.workers.pipelines`, and checks the database and the bodies' own record of
what ran where and when.
"""

from __future__ import annotations

import io
import os
import signal
import time
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import Schedule
from django_q.scheduler import scheduler
from django_q.tasks import async_task

from pipeline_groups import backends, engine, tasks
from pipeline_groups.cli.schedules import SCHEDULED_RUN_FUNC
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    EventKind,
    ExecutionEvent,
    GroupRun,
    GroupRunExecution,
    RunStatus,
    StepStatus,
    TriggerSource,
)
from tests.workers.conftest import (
    FAST_SETTINGS,
    Workers,
    make_group,
    sleep,
    step_rows,
    wait_for,
    wait_for_run,
)

pytestmark = [pytest.mark.workers, pytest.mark.django_db(transaction=True)]


def failing(name: str, *after: str, seconds: float = 0.0) -> dict[str, Any]:
    """Return a step whose pipeline raises after `seconds`."""
    return {
        "name": name,
        "pipeline": "workers_test.fail",
        "depends_on": list(after),
        "params": {"label": name, "seconds": seconds},
    }


def start(group: str, params: dict[str, Any] | None = None) -> GroupRun:
    """Start a run on the workers, as the API and schedules do."""
    return engine.start_run(
        group, params or {}, trigger_source=TriggerSource.CLI, backend=Backend.DJANGO_Q
    )


def statuses(run: GroupRun) -> dict[str, str]:
    """Each step's status as the engine reports it."""
    return {step.step_name: step.status for step in engine.describe_run(run).steps}


def bodies(pool: Workers, event: str = "start") -> Counter:
    """How many times each step's body recorded `event`."""
    return Counter(line["label"] for line in pool.records() if line["event"] == event)


def started_label(pool: Workers, label: str) -> dict[str, Any] | None:
    """Return the first start record of a step, once its body has begun."""
    return next(
        (
            line
            for line in pool.records()
            if line["event"] == "start" and line.get("label") == label
        ),
        None,
    )


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Return the largest number of intervals open at one instant."""
    edges = sorted(
        [(begin, 1) for begin, _ in intervals] + [(end, -1) for _, end in intervals],
        key=lambda edge: (edge[0], edge[1]),
    )
    open_now = peak = 0
    for _, change in edges:
        open_now += change
        peak = max(peak, open_now)
    return peak


def body_intervals(pool: Workers) -> dict[str, tuple[float, float]]:
    """Each step's body from its start record to its end record."""
    begins: dict[str, float] = {}
    intervals: dict[str, tuple[float, float]] = {}
    for line in pool.records():
        if line["event"] == "start":
            begins[line["label"]] = line["time"]
        elif line["event"] == "end":
            intervals[line["label"]] = (begins[line["label"]], line["time"])
    return intervals


class TestAppendixA1:
    def test_two_workers_respect_max_concurrency_and_complete(
        self, workers: Workers
    ) -> None:
        r"""RFC appendix A.1, parallel with max_concurrency 2, on_failure continue.

        ingest -> normalize -> aggregate -> rolling
                           \-> venue_share
        """
        make_group(
            "workers_test.weekly_refresh",
            [
                sleep("ingest", 0.2),
                sleep("normalize", 0.2, "ingest"),
                sleep("aggregate", 1.0, "normalize"),
                sleep("rolling", 0.2, "aggregate"),
                sleep("venue_share", 1.0, "normalize"),
            ],
            max_concurrency=2,
            on_failure="continue",
        )
        # One cluster of two: a cluster prefetches a task into its own queue, so
        # with two one-worker clusters venue_share may wait behind aggregate
        # (README, limitations).
        workers.start(workers=2)

        run = wait_for_run(start("workers_test.weekly_refresh").id, workers)

        assert run.status == RunStatus.COMPLETED, workers.logs()
        assert set(statuses(run).values()) == {StepStatus.COMPLETED}
        assert bodies(workers) == dict.fromkeys(
            ["ingest", "normalize", "aggregate", "rolling", "venue_share"], 1
        )
        intervals = body_intervals(workers)
        assert max_overlap(list(intervals.values())) <= 2
        aggregate, venue_share = intervals["aggregate"], intervals["venue_share"]
        assert aggregate[0] < venue_share[1] and venue_share[0] < aggregate[1]
        recorded = [
            (
                row.execution.started_at.timestamp(),
                row.execution.completed_at.timestamp(),
            )
            for attempts in step_rows(run.id).values()
            for row in attempts
        ]
        assert max_overlap(recorded) <= 2
        assert len({line["pid"] for line in workers.records()}) >= 1


class TestFailurePolicies:
    def test_continue_skips_only_the_failed_branch(self, workers: Workers) -> None:
        """Steps a -> bad -> after_bad and a -> good -> after_good; continue."""
        make_group(
            "workers_test.continue",
            [
                sleep("a", 0.0),
                failing("bad", "a"),
                sleep("after_bad", 0.0, "bad"),
                sleep("good", 0.3, "a"),
                sleep("after_good", 0.0, "good"),
            ],
            max_concurrency=2,
            on_failure="continue",
        )
        workers.start(workers=2)

        run = wait_for_run(start("workers_test.continue").id, workers)

        assert run.status == RunStatus.FAILED
        assert statuses(run) == {
            "a": StepStatus.COMPLETED,
            "bad": StepStatus.FAILED,
            "after_bad": StepStatus.SKIPPED,
            "good": StepStatus.COMPLETED,
            "after_good": StepStatus.COMPLETED,
        }
        assert "after_bad" not in bodies(workers)
        assert DeadLetter.objects.filter(pipeline_name="workers_test.fail").count() == 1

    def test_stop_lets_running_steps_finish_and_skips_the_rest(
        self, workers: Workers
    ) -> None:
        """Steps a -> bad -> after_bad and a -> slow -> after_slow; stop."""
        make_group(
            "workers_test.stop",
            [
                sleep("a", 0.0),
                failing("bad", "a", seconds=0.2),
                sleep("slow", 1.5, "a"),
                sleep("after_bad", 0.0, "bad"),
                sleep("after_slow", 0.0, "slow"),
            ],
            max_concurrency=2,
            on_failure="stop",
        )
        workers.start(workers=2)

        run = wait_for_run(start("workers_test.stop").id, workers)

        assert run.status == RunStatus.FAILED
        assert statuses(run) == {
            "a": StepStatus.COMPLETED,
            "bad": StepStatus.FAILED,
            "slow": StepStatus.COMPLETED,
            "after_bad": StepStatus.SKIPPED,
            "after_slow": StepStatus.SKIPPED,
        }
        assert set(bodies(workers)) == {"a", "bad", "slow"}


class TestCrashRecovery:
    def test_sigkill_of_the_worker_reaps_the_step_as_failed(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.crash",
            [sleep("doomed", 60.0), sleep("after", 0.0, "doomed")],
        )
        workers.start(workers=2)
        run = start("workers_test.crash")
        body = wait_for(
            lambda: started_label(workers, "doomed"),
            20,
            "doomed starting",
            workers.logs,
        )

        os.kill(body["pid"], signal.SIGKILL)
        killed_at = time.monotonic()
        run = wait_for_run(run.id, workers, timeout=30)
        took = time.monotonic() - killed_at

        limit = (
            FAST_SETTINGS["SPINE_HEARTBEAT_TIMEOUT_SECONDS"]
            + FAST_SETTINGS["SPINE_REAPER_INTERVAL_SECONDS"]
            + 5
        )
        assert took <= limit, f"run ended {took:.1f}s after the kill"
        assert run.status == RunStatus.FAILED
        assert statuses(run) == {
            "doomed": StepStatus.FAILED,
            "after": StepStatus.SKIPPED,
        }
        (doomed,) = step_rows(run.id)["doomed"]
        assert doomed.execution.error == "worker lost"
        assert ExecutionEvent.objects.filter(
            execution=doomed.execution, kind=EventKind.REAPED
        ).exists()
        assert DeadLetter.objects.filter(execution=doomed.execution).exists()

    def test_cluster_killed_with_queued_steps_recovers_after_restart(
        self, workers: Workers
    ) -> None:
        """Four independent steps wait in a cluster's local queue when it dies."""
        make_group(
            "workers_test.lost_queue",
            [sleep(name, 0.1) for name in ("w", "x", "y", "z")],
            max_concurrency=4,
        )
        first = workers.start(workers=2)
        for _ in range(2):
            async_task("tests.workers.pipelines.block", 60)
        wait_for(
            lambda: sum(line["event"] == "block" for line in workers.records()) == 2,
            20,
            "both workers blocked",
            workers.logs,
        )
        run = start("workers_test.lost_queue")
        tasks.advance_run(run.id)
        wait_for(
            lambda: GroupRunExecution.objects.filter(group_run=run).count() == 4,
            20,
            "four steps queued",
            workers.logs,
        )
        time.sleep(0.5)

        first.kill()
        assert bodies(workers) == Counter()
        workers.start(workers=2)
        run = wait_for_run(run.id, workers, timeout=40)

        assert run.status == RunStatus.COMPLETED, workers.logs()
        assert bodies(workers) == dict.fromkeys("wxyz", 1)
        assert all(len(rows) == 1 for rows in step_rows(run.id).values())
        assert ExecutionEvent.objects.filter(
            execution__group_step__group_run=run, kind=EventKind.REDISPATCHED
        ).exists()

    def test_sigterm_to_the_main_process_lets_the_step_finish(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.graceful",
            [sleep("busy", 1.5), sleep("later", 0.0, "busy")],
        )
        cluster = workers.start(workers=1)
        run = start("workers_test.graceful")
        wait_for(
            lambda: started_label(workers, "busy"), 20, "busy starting", workers.logs
        )

        code = cluster.stop(signal.SIGTERM, timeout=30)

        assert code == 0
        assert bodies(workers, "end") == {"busy": 1}
        (busy,) = step_rows(run.id)["busy"]
        busy.execution.refresh_from_db()
        assert busy.execution.status == StepStatus.COMPLETED
        workers.start(workers=1)
        assert wait_for_run(run.id, workers).status == RunStatus.COMPLETED


class TestDuplicateDelivery:
    def test_the_same_step_task_twice_runs_the_body_once(
        self, workers: Workers
    ) -> None:
        make_group("workers_test.twice", [sleep("only", 1.0)])
        workers.start(workers=2)
        run = start("workers_test.twice")
        row = wait_for(
            lambda: GroupRunExecution.objects.filter(group_run=run).first(),
            20,
            "the step dispatched",
            workers.logs,
        )

        async_task("pipeline_groups.tasks.run_step", row.execution_id)
        async_task("pipeline_groups.tasks.run_step", row.execution_id)
        run = wait_for_run(run.id, workers)
        tasks.run_step(row.execution_id)

        assert run.status == RunStatus.COMPLETED
        assert bodies(workers) == {"only": 1}
        assert (
            ExecutionEvent.objects.filter(
                execution_id=row.execution_id, kind=EventKind.STARTED
            ).count()
            == 1
        )

    def test_branches_ending_together_run_the_join_once(self, workers: Workers) -> None:
        """Steps a -> (left, right) -> join; left and right end at one instant."""
        barrier = {"pipeline": "workers_test.barrier", "depends_on": ["a"]}
        make_group(
            "workers_test.join",
            [
                sleep("a", 0.0),
                {**barrier, "name": "left", "params": {"label": "left"}},
                {**barrier, "name": "right", "params": {"label": "right"}},
                sleep("join", 0.0, "left", "right"),
            ],
        )
        workers.start(workers=2)

        run = wait_for_run(start("workers_test.join").id, workers)

        assert run.status == RunStatus.COMPLETED
        ends = body_intervals(workers)
        assert abs(ends["left"][1] - ends["right"][1]) < 0.05
        assert bodies(workers)["join"] == 1
        assert len(step_rows(run.id)["join"]) == 1


class TestCancelAndTimeout:
    def test_cancel_during_a_running_step_ends_the_run_cancelled(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.cancel",
            [sleep("long", 60.0), sleep("downstream", 0.0, "long")],
        )
        workers.start(workers=2)
        run = start("workers_test.cancel")
        wait_for(
            lambda: started_label(workers, "long"), 20, "long starting", workers.logs
        )

        engine.cancel_run(run.id, requested_by="test")
        run = wait_for_run(run.id, workers, timeout=20)

        assert run.status == RunStatus.CANCELLED
        assert statuses(run) == {
            "long": StepStatus.CANCELLED,
            "downstream": StepStatus.CANCELLED,
        }
        assert "downstream" not in bodies(workers)

    def test_timeout_fails_the_run_and_cancels_what_is_left(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.timeout",
            [sleep("slow", 60.0), sleep("never", 0.0, "slow")],
            timeout_minutes=0.05,
        )
        workers.start(workers=2)

        run = wait_for_run(start("workers_test.timeout").id, workers, timeout=30)

        assert run.status == RunStatus.FAILED
        assert "timed out" in run.error or "timeout" in run.error
        view = {step.step_name: step for step in engine.describe_run(run).steps}
        assert view["slow"].status == StepStatus.CANCELLED
        assert view["never"].status == StepStatus.CANCELLED
        assert "timed out" in (view["never"].reason or view["never"].error or "")
        assert StepStatus.SKIPPED not in {step.status for step in view.values()}
        assert "never" not in bodies(workers)


class TestLoad:
    def test_a_hundred_runs_at_once_complete_with_each_step_once(
        self, workers: Workers
    ) -> None:
        make_group(
            "workers_test.many",
            [sleep("a", 0.0), sleep("b", 0.0, "a"), sleep("c", 0.0, "a")],
        )
        workers.start(workers=1, SPINE_REDISPATCH_AFTER_SECONDS=30)
        workers.start(workers=1, SPINE_REDISPATCH_AFTER_SECONDS=30)

        run_ids = [start("workers_test.many").id for _ in range(100)]
        wait_for(
            lambda: (
                not GroupRun.objects.filter(
                    pk__in=run_ids, status__in=[RunStatus.PENDING, RunStatus.RUNNING]
                ).exists()
            ),
            150,
            "all 100 runs finishing",
            workers.logs,
        )

        runs = GroupRun.objects.filter(pk__in=run_ids)
        assert Counter(run.status for run in runs) == {RunStatus.COMPLETED: 100}
        rows = GroupRunExecution.objects.filter(group_run_id__in=run_ids)
        assert rows.count() == 300
        assert (
            Counter((r.group_run_id, r.step_name) for r in rows).most_common(1)[0][1]
            == 1
        )
        starts = [line for line in workers.records() if line["event"] == "start"]
        assert len(starts) == 300
        assert len({line["execution_id"] for line in starts}) == 300


class TestSchedules:
    def test_a_due_cron_schedule_runs_the_group_on_the_workers(
        self, workers: Workers
    ) -> None:
        make_group("workers_test.cron", [sleep("tick", 0.0)])
        call_command(
            "groups", "schedule", "workers_test.cron", "--cron", "* * * * *",
            "--param", "note=hello", stdout=io.StringIO(),
        )  # fmt: skip
        Schedule.objects.filter(func=SCHEDULED_RUN_FUNC).update(
            next_run=timezone.now() - timedelta(seconds=1)
        )

        # What the cluster's guard does about every 30 seconds, done now.
        scheduler(broker=backends.broker())
        workers.start(workers=1)
        run = wait_for(
            lambda: GroupRun.objects.filter(group_name="workers_test.cron").first(),
            20,
            "the scheduled run",
            workers.logs,
        )
        run = wait_for_run(run.id, workers)

        assert run.trigger_source == TriggerSource.SCHEDULER
        assert run.params == {"note": "hello"}
        assert run.status == RunStatus.COMPLETED
        assert bodies(workers) == {"tick": 1}

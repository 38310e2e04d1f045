"""One reaper pass, in process: what it fails, re-dispatches, advances and adopts.

No worker runs here: each test puts rows in the state a crash or a lost task
leaves behind, runs `reap()` (or `groups reap`) and reads the outcome. Enqueued
tasks land in this session's queue, whose size tells what was re-dispatched.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.brokers import get_broker

from pipeline_groups import engine
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    EventKind,
    Execution,
    ExecutionEvent,
    GroupRun,
    RunStatus,
    StepStatus,
    TriggerSource,
)
from pipeline_groups.reaper import reap
from tests.workers.conftest import FAST_SETTINGS, make_group, step_rows

pytestmark = pytest.mark.django_db(transaction=True)

LONG_AGO = timedelta(minutes=10)


@pytest.fixture
def fast(settings: Any, worker_backend: dict[str, str]) -> None:
    """Short intervals, and this session's own queue for anything enqueued."""
    for key, value in FAST_SETTINGS.items():
        setattr(settings, key, value)
    get_broker().purge_queue()


@pytest.fixture
def chain() -> str:
    """Save the group first -> second -> third, sequential, on_failure stop."""
    make_group(
        "workers_test.chain",
        [
            {"name": "first", "pipeline": "workers_test.sleep"},
            {
                "name": "second",
                "pipeline": "workers_test.sleep",
                "depends_on": ["first"],
            },
            {
                "name": "third",
                "pipeline": "workers_test.sleep",
                "depends_on": ["second"],
            },
        ],
        execution="sequential",
    )
    return "workers_test.chain"


def started(group: str, backend: str = Backend.DJANGO_Q) -> GroupRun:
    """Start a run and dispatch its first step, as a worker's first task would."""
    run = engine.start_run(group, {}, trigger_source=TriggerSource.CLI, backend=backend)
    engine.advance_run(run.id)
    return run


def first_execution(run: GroupRun) -> Execution:
    (row,) = step_rows(run.id)["first"]
    return row.execution


def pretend_running(execution: Execution, *, beat: timedelta | None) -> None:
    """Leave an execution as a worker that died mid-step leaves it."""
    started_at = timezone.now() - LONG_AGO
    Execution.objects.filter(pk=execution.pk).update(
        status=StepStatus.RUNNING,
        started_at=started_at,
        heartbeat_at=None if beat is None else timezone.now() - beat,
    )


def queue_size() -> int:
    return get_broker().queue_size() or 0


class TestReapLostWorkers:
    def test_stale_heartbeat_fails_the_step_and_advances_the_run(
        self, fast: None, chain: str
    ) -> None:
        run = started(chain)
        execution = first_execution(run)
        pretend_running(execution, beat=timedelta(seconds=30))

        report = reap()

        execution.refresh_from_db()
        run.refresh_from_db()
        assert report.reaped == [execution.pk]
        assert execution.status == StepStatus.FAILED
        assert execution.error == "worker lost"
        assert ExecutionEvent.objects.filter(
            execution=execution, kind=EventKind.REAPED
        ).exists()
        assert DeadLetter.objects.get(execution=execution).error == "worker lost"
        assert run.status == RunStatus.FAILED
        assert {s.step_name: s.status for s in engine.describe_run(run).steps} == {
            "first": StepStatus.FAILED,
            "second": StepStatus.SKIPPED,
            "third": StepStatus.SKIPPED,
        }

    def test_an_execution_that_never_beat_is_stale_too(
        self, fast: None, chain: str
    ) -> None:
        run = started(chain)
        execution = first_execution(run)
        pretend_running(execution, beat=None)

        assert reap().reaped == [execution.pk]

    def test_a_fresh_heartbeat_is_left_alone(self, fast: None, chain: str) -> None:
        run = started(chain)
        execution = first_execution(run)
        pretend_running(execution, beat=timedelta(seconds=1))

        report = reap()

        execution.refresh_from_db()
        assert report.reaped == []
        assert execution.status == StepStatus.RUNNING

    def test_a_second_pass_changes_nothing(self, fast: None, chain: str) -> None:
        run = started(chain)
        pretend_running(first_execution(run), beat=timedelta(seconds=30))
        reap()
        events = ExecutionEvent.objects.count()

        report = reap()

        assert report.total == 0
        assert ExecutionEvent.objects.count() == events
        assert DeadLetter.objects.count() == 1


class TestRedispatch:
    def test_a_step_queued_too_long_is_enqueued_again_once(
        self, fast: None, chain: str
    ) -> None:
        run = started(chain)
        execution = first_execution(run)
        Execution.objects.filter(pk=execution.pk).update(
            queued_at=timezone.now() - LONG_AGO
        )
        get_broker().purge_queue()

        first = reap()
        second = reap()

        assert first.redispatched == [execution.pk]
        assert second.redispatched == []
        assert queue_size() == 1
        assert (
            ExecutionEvent.objects.filter(
                execution=execution, kind=EventKind.REDISPATCHED
            ).count()
            == 1
        )
        execution.refresh_from_db()
        assert execution.status == StepStatus.QUEUED

    def test_a_step_queued_recently_waits(self, fast: None, chain: str) -> None:
        started(chain)
        get_broker().purge_queue()

        assert reap().redispatched == []
        assert queue_size() == 0


class TestRunsWithoutProgress:
    def test_a_run_past_its_deadline_fails_with_pending_steps_cancelled(
        self, fast: None
    ) -> None:
        make_group(
            "workers_test.deadline",
            [
                {"name": "first", "pipeline": "workers_test.sleep"},
                {"name": "second", "pipeline": "workers_test.sleep"},
            ],
            execution="sequential",
            timeout_minutes=1,
        )
        run = started("workers_test.deadline")
        GroupRun.objects.filter(pk=run.pk).update(
            deadline_at=timezone.now() - timedelta(seconds=1)
        )

        report = reap()

        run.refresh_from_db()
        assert report.timed_out_runs == [run.pk]
        assert run.status == RunStatus.FAILED
        assert "timed out" in run.error
        steps = {s.step_name: s for s in engine.describe_run(run).steps}
        assert steps["first"].status == StepStatus.CANCELLED
        assert steps["second"].status == StepStatus.CANCELLED
        assert "timed out" in steps["second"].error

    def test_a_run_whose_first_advance_was_lost_is_advanced(
        self, fast: None, chain: str
    ) -> None:
        run = engine.start_run(
            chain, {}, trigger_source=TriggerSource.CLI, backend=Backend.DJANGO_Q
        )
        get_broker().purge_queue()
        GroupRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - LONG_AGO)

        report = reap()

        run.refresh_from_db()
        assert report.advanced_runs == [run.pk]
        assert run.status == RunStatus.RUNNING
        assert first_execution(run).status == StepStatus.QUEUED
        assert queue_size() == 1

    def test_an_inline_run_whose_process_died_goes_to_the_workers(
        self, fast: None
    ) -> None:
        """Independent steps first and other, on_failure continue, one at a time."""
        make_group(
            "workers_test.branches",
            [
                {"name": "first", "pipeline": "workers_test.sleep"},
                {"name": "other", "pipeline": "workers_test.sleep"},
            ],
            on_failure="continue",
            max_concurrency=1,
        )
        branches = started("workers_test.branches", backend=Backend.INLINE)
        lost = first_execution(branches)
        pretend_running(lost, beat=timedelta(seconds=30))
        Execution.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - LONG_AGO)
        GroupRun.objects.filter(pk=branches.pk).update(
            created_at=timezone.now() - LONG_AGO,
            started_at=timezone.now() - LONG_AGO,
        )
        get_broker().purge_queue()

        report = reap()

        branches.refresh_from_db()
        assert lost.pk in report.reaped
        assert report.adopted_runs == [branches.pk]
        assert branches.backend == Backend.DJANGO_Q
        assert branches.status == RunStatus.RUNNING
        (other,) = step_rows(branches.pk)["other"]
        assert other.execution.status == StepStatus.QUEUED
        assert queue_size() == 1


class TestInlineRunsBetweenSteps:
    @pytest.fixture
    def quiet_inline_run(self, fast: None, chain: str) -> GroupRun:
        """Return an inline run whose first step completed long ago, idle since."""
        run = started(chain, backend=Backend.INLINE)
        long_ago = timezone.now() - LONG_AGO
        Execution.objects.filter(pk=first_execution(run).pk).update(
            status=StepStatus.COMPLETED,
            queued_at=long_ago,
            started_at=long_ago,
            completed_at=long_ago,
        )
        GroupRun.objects.filter(pk=run.pk).update(
            created_at=long_ago, started_at=long_ago
        )
        get_broker().purge_queue()
        return run

    def ran_in(self, run: GroupRun, pid: int) -> None:
        Execution.objects.filter(pk=first_execution(run).pk).update(
            worker=f"{socket.gethostname()}:{pid}"
        )

    def test_a_run_whose_process_is_dead_goes_to_the_workers(
        self, quiet_inline_run: GroupRun
    ) -> None:
        self.ran_in(quiet_inline_run, _dead_pid())

        report = reap()

        quiet_inline_run.refresh_from_db()
        assert report.adopted_runs == [quiet_inline_run.pk]
        assert quiet_inline_run.backend == Backend.DJANGO_Q
        (second,) = step_rows(quiet_inline_run.pk)["second"]
        assert second.execution.status == StepStatus.QUEUED
        assert queue_size() == 1

    def test_a_run_whose_process_lives_is_left_to_it(
        self, quiet_inline_run: GroupRun
    ) -> None:
        self.ran_in(quiet_inline_run, os.getpid())

        report = reap()

        quiet_inline_run.refresh_from_db()
        assert report.adopted_runs == []
        assert quiet_inline_run.backend == Backend.INLINE
        assert queue_size() == 0


def _dead_pid() -> int:
    """Return the id of a process that has just exited."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


class TestReapCommand:
    def test_groups_reap_says_what_it_did(self, fast: None, chain: str) -> None:
        run = started(chain)
        pretend_running(first_execution(run), beat=timedelta(seconds=30))
        out = io.StringIO()

        call_command("groups", "reap", stdout=out, no_color=True)

        lines = out.getvalue().splitlines()
        assert lines[0] == "Reaper pass:"
        assert "  reaped (worker lost): 1" in lines
        assert "  re-dispatched: 0" in lines

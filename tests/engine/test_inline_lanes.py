"""The inline runner's shortcuts keep the record whole.

The first wave is claimed in the run's first transaction, and a step that a
finish dispatches is written running straight away for the finishing thread.
Neither may drop a transition from an execution's timeline, nor let a step with
a logical key past the key's check. On SQLite the lanes leave the log's
checkpoints to the calling thread. Ctrl-C while the first wave is handed over
still cancels the run, and the first run of a process sets aside what it loaded
from the garbage collector.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import connection

from pipeline_groups import engine
from pipeline_groups.models import (
    Backend,
    EventKind,
    Execution,
    GroupRunExecution,
    StepStatus,
    TriggerSource,
)
from pipeline_groups.registry import register_pipeline, unregister_pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def _start(name: str) -> str:
    run = engine.start_run(
        name, {}, trigger_source=TriggerSource.CLI, backend=Backend.INLINE
    )
    return run.id


def _links(run_id: str) -> dict[str, GroupRunExecution]:
    links = GroupRunExecution.objects.filter(group_run_id=run_id)
    return {link.step_name: link for link in links.select_related("execution")}


def _kinds(execution_id: str) -> list[str]:
    execution = Execution.objects.get(pk=execution_id)
    return list(execution.events.order_by("id").values_list("kind", flat=True))


class TestFirstWave:
    def test_claims_one_step_per_lane_and_leaves_the_rest_pending(self, make_group):
        name = make_group(
            [(f"s{i}", "t.work", [], {}) for i in range(3)],
            execution="parallel",
            max_concurrency=2,
        )
        run_id = _start(name)

        claims = engine.start_inline(run_id, lanes=2)

        assert [claim.step_name for claim in claims] == ["s0", "s1"]
        links = _links(run_id)
        assert set(links) == {"s0", "s1"}
        for claim in claims:
            execution = links[claim.step_name].execution
            assert execution.status == StepStatus.RUNNING
            assert execution.started_at is not None
            assert execution.heartbeat_at == execution.started_at
            assert execution.worker
            assert claim.execution_id == execution.pk
            assert claim.batch_id == execution.batch_id
            assert claim.params == execution.params == {"label": claim.step_name}
            assert claim.attempt == 1
            assert _kinds(execution.pk) == [EventKind.QUEUED, EventKind.STARTED]

    def test_fewer_lanes_than_dispatched_leaves_the_others_queued(self, make_group):
        name = make_group(
            [(f"s{i}", "t.work", [], {}) for i in range(3)],
            execution="parallel",
            max_concurrency=3,
        )
        run_id = _start(name)

        claims = engine.start_inline(run_id, lanes=1)

        assert [claim.step_name for claim in claims] == ["s0"]
        links = _links(run_id)
        assert links["s0"].execution.status == StepStatus.RUNNING
        assert links["s1"].execution.status == StepStatus.QUEUED
        assert links["s2"].execution.status == StepStatus.QUEUED
        assert _kinds(links["s1"].execution_id) == [EventKind.QUEUED]

    def test_a_keyed_step_is_claimed_through_the_key_check(self, make_group):
        """A step with a logical key goes through the claim statement's key check.

        Here its key is free, so it is claimed all the same.
        """
        name = make_group(
            [("k", "t.keyed", [], {"week": "w1"}), ("plain", "t.work", [], {})],
            execution="parallel",
            max_concurrency=2,
        )
        run_id = _start(name)

        claims = engine.start_inline(run_id, lanes=2)

        assert sorted(claim.step_name for claim in claims) == ["k", "plain"]
        keyed = next(claim for claim in claims if claim.step_name == "k")
        assert keyed.logical_key == "week:w1"
        assert _links(run_id)["k"].execution.status == StepStatus.RUNNING

    def test_a_step_whose_key_is_held_elsewhere_is_not_started(self, make_group):
        """Another execution runs with the key: the step waits, pending."""
        holder = Execution.objects.create(
            pipeline_name="t.keyed",
            status=StepStatus.RUNNING,
            trigger_source=TriggerSource.CLI,
            batch_id="elsewhere",
            logical_key="week:w1",
        )
        name = make_group(
            [("k", "t.keyed", [], {"week": "w1"}), ("plain", "t.work", [], {})],
            execution="parallel",
            max_concurrency=2,
        )
        run_id = _start(name)

        claims = engine.start_inline(run_id, lanes=2)

        assert [claim.step_name for claim in claims] == ["plain"]
        running_keyed = Execution.objects.filter(
            logical_key="week:w1", status=StepStatus.RUNNING
        )
        assert list(running_keyed.values_list("pk", flat=True)) == [holder.pk]
        assert "k" not in _links(run_id)


class TestTakeNext:
    def test_every_step_of_a_parallel_run_keeps_its_whole_timeline(
        self, make_group, run_group
    ):
        """Eight steps through two lanes: most are started by the finish before."""
        name = make_group(
            [(f"s{i}", "t.work", [], {"seconds": 0.01}) for i in range(8)],
            execution="parallel",
            max_concurrency=2,
        )

        run = run_group(name)

        assert run.status == "completed"
        for step, link in _links(run.id).items():
            execution = link.execution
            assert _kinds(execution.pk) == [
                EventKind.QUEUED,
                EventKind.STARTED,
                EventKind.COMPLETED,
            ], step
            assert execution.worker
            assert execution.queued_at <= execution.started_at
            assert execution.started_at <= execution.completed_at

    def test_a_chain_step_started_by_its_upstream_sees_the_run_deadline(
        self, make_group, run_group
    ):
        """The deadline is set when the run starts; each claim carries it."""
        seen: list[Any] = []

        def deadline(ctx: Any, label: str) -> None:
            row = Execution.objects.filter(pk=ctx.execution_id).values_list(
                "group_step__group_run__deadline_at", flat=True
            )
            seen.append(row.first())

        register_pipeline("t.deadline")(deadline)
        try:
            name = make_group(
                [("a", "t.deadline", [], {}), ("b", "t.deadline", ["a"], {})],
                timeout_minutes=5,
            )
            run = run_group(name)
        finally:
            unregister_pipeline("t.deadline")

        assert run.status == "completed"
        assert run.deadline_at is not None
        assert seen == [run.deadline_at, run.deadline_at]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's log only")
class TestCheckpoints:
    def test_lanes_never_checkpoint_and_the_caller_keeps_its_default(
        self, make_group, run_group
    ):
        pages: list[int] = []

        def autocheckpoint(ctx: Any, label: str) -> None:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_autocheckpoint")
                pages.append(cursor.fetchone()[0])

        register_pipeline("t.autocheckpoint")(autocheckpoint)
        try:
            name = make_group(
                [(f"s{i}", "t.autocheckpoint", [], {}) for i in range(3)],
                execution="parallel",
                max_concurrency=3,
            )
            run = run_group(name)
        finally:
            unregister_pipeline("t.autocheckpoint")

        assert run.status == "completed"
        assert pages == [0, 0, 0]
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_autocheckpoint")
            assert cursor.fetchone()[0] == 1000

    def test_the_calling_thread_moves_the_log_into_the_database(
        self, make_group, run_group, monkeypatch, caplog
    ):
        """Lanes write while the run goes on; the caller's checkpoints move it."""
        from pipeline_groups import backends

        monkeypatch.setattr(backends, "CHECKPOINT_SECONDS", 0.0)
        monkeypatch.setattr(backends, "IDLE_POLL_SECONDS", 0.02)
        name = make_group(
            [(f"s{i}", "t.work", [], {"seconds": 0.1}) for i in range(4)],
            execution="sequential",
        )

        with caplog.at_level(logging.DEBUG, logger="pipeline_groups.backends"):
            run = run_group(name)

        assert run.status == "completed"
        moved = [
            record.args
            for record in caplog.records
            if record.getMessage().startswith(f"Run {run.id}: checkpoint moved")
        ]
        assert moved
        # (run, frames moved, frames in the log): the lanes' commits reached the
        # log, and each checkpoint moved all of it.
        assert any(frames > 0 for _, _, frames, _ in moved)
        assert all(done == frames for _, done, frames, _ in moved)


class TestCtrlCWhileStarting:
    """Ctrl-C between the first wave's commit and its hand-over to the lanes."""

    def test_is_held_until_the_lanes_run_then_cancels_the_run(
        self, make_group, monkeypatch
    ):
        import signal

        from pipeline_groups import backends

        claimed = engine.start_inline

        def start_then_interrupt(run_id: str, lanes: int) -> list[engine.Claim]:
            claims = claimed(run_id, lanes)
            signal.raise_signal(signal.SIGINT)
            return claims

        monkeypatch.setattr(engine, "start_inline", start_then_interrupt)
        name = make_group(
            [(f"s{i}", "t.work", [], {"seconds": 0.2}) for i in range(4)],
            execution="parallel",
            max_concurrency=2,
        )
        run_id = _start(name)

        # Claimed steps left without a thread would keep the run going for ever.
        def too_long(number: int, frame: Any) -> None:
            raise TimeoutError("the run did not end after Ctrl-C")

        previous = signal.signal(signal.SIGALRM, too_long)
        signal.alarm(20)
        try:
            with pytest.raises(KeyboardInterrupt):
                backends.InlineRunner(run_id, lanes=2).drive()
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

        links = _links(run_id)
        # The claimed steps ran to their end on their lanes; the rest were cancelled.
        assert {links[f"s{i}"].execution.status for i in (0, 1)} == {
            StepStatus.COMPLETED
        }
        assert {links[f"s{i}"].execution.status for i in (2, 3)} == {
            StepStatus.CANCELLED
        }
        run = links["s0"].group_run
        run.refresh_from_db()
        assert run.status == "cancelled"


class TestFreeze:
    def test_the_first_run_of_a_process_sets_aside_what_it_loaded_once(
        self, make_group, run_group, monkeypatch
    ):
        import gc

        from pipeline_groups import backends

        gc.unfreeze()
        monkeypatch.setattr(backends, "_frozen_in", None)
        name = make_group([("s0", "t.work", [], {})])

        run_group(name)
        frozen = gc.get_freeze_count()
        made_since = [[] for _ in range(1_000)]
        run_group(name)

        assert frozen > 0
        assert gc.get_freeze_count() < frozen + len(made_since)

"""Retry and dead-letter replay resume a run in place; every attempt stays."""

from __future__ import annotations

import pytest

from pipeline_groups import engine
from pipeline_groups.exceptions import DeadLetterReplayedError, RunNotRetryableError
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    Execution,
    GroupRunExecution,
    TriggerSource,
)
from pipeline_groups.registry import register_pipeline, unregister_pipeline
from tests.engine.conftest import statuses

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def flaky(recorder):
    """`t.flaky` fails until `state["broken"]` is set to False."""
    state = {"broken": True}

    def body(ctx, label):
        recorder.add(label, 0, 0)
        if state["broken"]:
            raise RuntimeError("not yet")

    register_pipeline("t.flaky")(body)
    yield state
    unregister_pipeline("t.flaky")


class TestRetry:
    def test_retry_reruns_failed_and_skipped_steps_only(
        self, make_group, run_group, recorder, flaky
    ):
        """Step first completes once; flaky fails, then passes on retry.

        first -> flaky -> last
        """
        name = make_group(
            [
                ("first", "t.work", [], {}),
                ("flaky", "t.flaky", ["first"], {}),
                ("last", "t.work", ["flaky"], {}),
            ]
        )
        failed = run_group(name)
        flaky["broken"] = False

        resumed = engine.retry_run(failed.id, backend=Backend.INLINE)
        finished = engine.run_inline(resumed)

        assert failed.status == "failed"
        assert finished.id == failed.id
        assert finished.status == "completed"
        assert recorder.names().count("first") == 1
        assert recorder.names().count("flaky") == 2
        attempts = dict(
            GroupRunExecution.objects.filter(group_run=finished)
            .order_by("step_name", "attempt")
            .values_list("step_name", "attempt")
            .distinct()
        )
        assert attempts == {"first": 1, "flaky": 2, "last": 2}
        assert Execution.objects.filter(batch_id=finished.batch_id).count() == 5
        assert DeadLetter.objects.get().replayed_at is not None

    def test_completed_run_is_not_retryable(self, make_group, run_group):
        run = run_group(make_group([("a", "t.work", [], {})]))

        with pytest.raises(RunNotRetryableError, match="it completed"):
            engine.retry_run(run.id)


class TestReplay:
    def test_replay_of_a_step_resumes_its_run(
        self, make_group, run_group, recorder, flaky
    ):
        """Replaying flaky's dead letter reruns flaky and the step it blocked.

        flaky -> after
        """
        name = make_group(
            [("flaky", "t.flaky", [], {}), ("after", "t.work", ["flaky"], {})]
        )
        run = run_group(name)
        letter = DeadLetter.objects.get()
        flaky["broken"] = False

        replayed = engine.replay_dead_letter(letter.id, backend=Backend.INLINE)
        finished = engine.run_inline(run)

        assert replayed.replayed_at is not None
        assert replayed.replay_execution.group_step.step_name == "flaky"
        assert finished.status == "completed"
        assert statuses(finished) == {"flaky": "completed", "after": "completed"}
        with pytest.raises(DeadLetterReplayedError):
            engine.replay_dead_letter(letter.id)

    def test_replay_of_a_lone_execution_is_a_new_execution(self, flaky):
        failed = engine.run_pipeline(
            "t.flaky",
            {"label": "alone"},
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )
        flaky["broken"] = False

        letter = engine.replay_dead_letter(
            DeadLetter.objects.get().id, backend=Backend.INLINE
        )

        assert failed.status == "failed"
        assert letter.replay_execution_id != failed.id
        assert letter.replay_execution.status == "completed"
        assert letter.replay_execution.trigger_source == "replay"


class TestDuplicateDelivery:
    def test_a_step_delivered_twice_runs_once(self, make_group, recorder):
        name = make_group([("only", "t.work", [], {})])
        run = engine.start_run(
            name, {}, trigger_source=TriggerSource.API, backend=Backend.INLINE
        )
        (execution_id,) = engine.advance_run(run.id)

        first = engine.execute_step(execution_id)
        second = engine.execute_step(execution_id)

        assert (first, second) == ("completed", None)
        assert recorder.names() == ["only"]
        assert engine.advance_run(run.id) == []

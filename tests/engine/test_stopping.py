"""Timeouts and cancels: pending steps end cancelled, running steps are asked."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline_groups import engine
from pipeline_groups.exceptions import RunFinishedError
from pipeline_groups.models import Backend, Execution, TriggerSource
from tests.engine.conftest import statuses

pytestmark = pytest.mark.django_db(transaction=True)


class TestTimeout:
    def test_run_fails_with_timeout_and_pending_steps_are_cancelled(
        self, make_group, run_group, recorder
    ):
        """Step long outlives the 3 s budget; after never starts.

        long -> after
        """
        name = make_group(
            [
                ("long", "t.wait", [], {"seconds": 30}),
                ("after", "t.work", ["long"], {}),
            ],
            timeout_minutes=0.05,
        )

        started = time.monotonic()
        run = run_group(name)

        assert time.monotonic() - started < 10
        assert run.status == "failed"
        assert run.error == "the run timed out after 0.05 minutes"
        assert statuses(run) == {"long": "cancelled", "after": "cancelled"}
        reasons = {s.step_name: s.reason for s in engine.describe_run(run).steps}
        assert reasons["after"] == "cancelled: the run timed out"
        assert reasons["long"] == "cancelled: the run timed out while the step ran"
        assert recorder.spans[0]["stopped"] is True


class TestCancel:
    def test_cancel_during_a_running_step(self, make_group, recorder):
        """Cancelled while first runs: first stops, second never starts.

        first -> second
        """
        name = make_group(
            [
                ("first", "t.wait", [], {"seconds": 30}),
                ("second", "t.work", ["first"], {}),
            ]
        )
        run = engine.start_run(
            name, {}, trigger_source=TriggerSource.CLI, backend=Backend.INLINE
        )

        def cancel_when_running() -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                # The run is running once a step is queued; wait for the body.
                if Execution.objects.filter(status="running").exists():
                    engine.cancel_run(run.id, requested_by="tester")
                    return
                time.sleep(0.02)

        canceller = threading.Thread(target=cancel_when_running)
        canceller.start()
        finished = engine.run_inline(run)
        canceller.join()

        assert finished.status == "cancelled"
        assert statuses(finished) == {"first": "cancelled", "second": "cancelled"}
        assert recorder.names() == ["first"]
        assert recorder.spans[0]["stopped"] is True

    def test_cancelling_a_finished_run_is_refused(self, make_group, run_group):
        run = run_group(make_group([("a", "t.work", [], {})]))

        with pytest.raises(RunFinishedError, match="already finished"):
            engine.cancel_run(run.id)

    def test_cancel_of_a_run_not_yet_started_cancels_every_step(self, make_group):
        name = make_group([("a", "t.work", [], {}), ("b", "t.work", ["a"], {})])
        run = engine.start_run(
            name, {}, trigger_source=TriggerSource.API, backend=Backend.INLINE
        )

        cancelled = engine.cancel_run(run.id)

        assert cancelled.status == "cancelled"
        assert statuses(cancelled) == {"a": "cancelled", "b": "cancelled"}

"""Sequential and parallel ordering, concurrency limits and failure policies."""

from __future__ import annotations

import pytest

from pipeline_groups import engine
from pipeline_groups.models import DeadLetter, Execution
from tests.engine.conftest import statuses

pytestmark = pytest.mark.django_db(transaction=True)


class TestSequential:
    def test_runs_one_step_at_a_time_in_plan_order(
        self, make_group, run_group, recorder
    ):
        """Steps b and c both depend on a only; plan order puts c first.

        a -> b
        a -> c
        """
        name = make_group(
            [
                ("a", "t.work", [], {"seconds": 0.02}),
                ("c", "t.work", ["a"], {"seconds": 0.02}),
                ("b", "t.work", ["a"], {"seconds": 0.02}),
            ]
        )

        run = run_group(name)

        assert run.status == "completed"
        assert recorder.names() == ["a", "c", "b"]
        assert recorder.max_overlap() == 1


class TestParallel:
    def test_never_exceeds_max_concurrency(self, make_group, run_group, recorder):
        name = make_group(
            [(f"s{i}", "t.work", [], {"seconds": 0.05}) for i in range(10)],
            execution="parallel",
            max_concurrency=3,
        )

        run = run_group(name)

        assert run.status == "completed"
        assert recorder.max_overlap() == 3

    def test_join_after_two_branches_runs_once(self, make_group, run_group, recorder):
        """Two branches end together; the join starts once.

        a -> left  -> join
        a -> right -> join
        """
        name = make_group(
            [
                ("a", "t.work", [], {}),
                ("left", "t.work", ["a"], {"seconds": 0.05}),
                ("right", "t.work", ["a"], {"seconds": 0.05}),
                ("join", "t.work", ["left", "right"], {}),
            ],
            execution="parallel",
        )

        run = run_group(name)

        assert run.status == "completed"
        assert recorder.names().count("join") == 1
        assert Execution.objects.filter(batch_id=run.batch_id).count() == 4


class TestOnFailure:
    def test_stop_skips_pending_steps_and_lets_running_finish(
        self, make_group, run_group
    ):
        """Step bad fails while slow runs; after_bad and after_slow never start.

        bad  -> after_bad
        slow -> after_slow
        """
        name = make_group(
            [
                ("bad", "t.fail", [], {"seconds": 0.05}),
                ("slow", "t.work", [], {"seconds": 0.3}),
                ("after_bad", "t.work", ["bad"], {}),
                ("after_slow", "t.work", ["slow"], {}),
            ],
            execution="parallel",
            on_failure="stop",
        )

        run = run_group(name)

        assert run.status == "failed"
        assert statuses(run) == {
            "bad": "failed",
            "slow": "completed",
            "after_bad": "skipped",
            "after_slow": "skipped",
        }
        assert run.error == "step bad failed: ValueError: bad broke"

    def test_continue_skips_only_the_failed_branch(self, make_group, run_group):
        """The downstream of bad is skipped, transitively; the other branch goes on.

        bad -> mid -> last
        good -> good_next
        """
        name = make_group(
            [
                ("bad", "t.fail", [], {}),
                ("good", "t.work", [], {}),
                ("mid", "t.work", ["bad"], {}),
                ("last", "t.work", ["mid"], {}),
                ("good_next", "t.work", ["good"], {}),
            ],
            execution="parallel",
            on_failure="continue",
        )

        run = run_group(name)

        assert run.status == "failed"
        assert statuses(run) == {
            "bad": "failed",
            "good": "completed",
            "mid": "skipped",
            "last": "skipped",
            "good_next": "completed",
        }
        reasons = {s.step_name: s.reason for s in engine.describe_run(run).steps}
        assert reasons["mid"] == "skipped because bad failed"
        assert reasons["last"] == "skipped because bad failed"

    def test_failure_lands_in_the_dead_letter_queue(self, make_group, run_group):
        name = make_group([("bad", "t.fail", [], {})])

        run = run_group(name)

        letter = DeadLetter.objects.get()
        assert letter.execution.batch_id == run.batch_id
        assert letter.error == "ValueError: bad broke"
        assert "Traceback" in letter.execution.traceback

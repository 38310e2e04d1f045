"""What `describe_run` says about each step, and the logical-key guard."""

from __future__ import annotations

import pytest

from pipeline_groups import engine
from pipeline_groups.models import Backend, GroupRun, TriggerSource

pytestmark = pytest.mark.django_db(transaction=True)


def _start(name: str) -> GroupRun:
    return engine.start_run(
        name, {}, trigger_source=TriggerSource.API, backend=Backend.INLINE
    )


def _reasons(run: GroupRun) -> dict[str, str]:
    run.refresh_from_db()
    return {step.step_name: step.reason for step in engine.describe_run(run).steps}


class TestReasons:
    def test_waiting_for_upstream_and_concurrency(self, make_group):
        """a, b and c start together at concurrency 2; d waits for a.

        a -> d
        b
        c
        """
        name = make_group(
            [
                ("a", "t.work", [], {}),
                ("b", "t.work", [], {}),
                ("c", "t.work", [], {}),
                ("d", "t.work", ["a"], {}),
            ],
            execution="parallel",
            max_concurrency=2,
        )
        run = _start(name)
        engine.advance_run(run.id)

        reasons = _reasons(run)

        assert reasons["a"] == "queued: waiting for a worker to pick it up"
        assert reasons["c"] == "concurrency 2/2 held by a, b"
        assert reasons["d"] == "waiting for a"

    def test_sequential_step_waits_for_the_one_before(self, make_group):
        name = make_group([("a", "t.work", [], {}), ("b", "t.work", [], {})])
        run = _start(name)

        before = _reasons(run)
        engine.advance_run(run.id)
        after = _reasons(run)

        assert before["a"] == "waiting for the run to start"
        assert after["b"] == "waiting for a (sequential: one step at a time)"

    def test_param_sources_come_from_the_plan(self, make_group):
        name = make_group(
            [("a", "t.work", [], {"seconds": 0})], defaults={"region": "eu"}
        )
        run = _start(name)

        (step,) = engine.describe_run(run).steps

        assert step.param_sources == {
            "region": "default",
            "label": "step",
            "seconds": "step",
        }

    def test_query_count_does_not_grow_with_steps(
        self, make_group, django_assert_max_num_queries
    ):
        name = make_group(
            [(f"s{i}", "t.keyed", [], {"week": str(i)}) for i in range(30)],
            execution="parallel",
        )
        run = _start(name)
        engine.advance_run(run.id)
        run.refresh_from_db()

        with django_assert_max_num_queries(2):
            view = engine.describe_run(run)

        assert len(view.steps) == 30

    def test_describe_runs_uses_a_fixed_number_of_queries(
        self, make_group, django_assert_max_num_queries
    ):
        runs = []
        for size in (1, 5, 20):
            name = make_group([(f"s{i}", "t.work", [], {}) for i in range(size)])
            runs.append(_start(name))

        with django_assert_max_num_queries(2):
            views = engine.describe_runs(runs)

        assert [len(view.steps) for view in views] == [1, 5, 20]


class TestLogicalKeyGuard:
    def test_step_waits_while_another_run_holds_its_key(self, make_group):
        first = _start(make_group([("load", "t.keyed", [], {"week": "w1"})]))
        second = _start(make_group([("load", "t.keyed", [], {"week": "w1"})]))
        engine.advance_run(first.id)

        dispatched = engine.advance_run(second.id)

        assert dispatched == []
        assert _reasons(second)["load"] == f"logical key week:w1 held by run {first.id}"

    def test_same_key_never_overlaps_and_both_runs_complete(self, make_group, recorder):
        """Two steps of one parallel run share a key; the second waits.

        one
        two  (same week as one)
        other (another week)
        """
        name = make_group(
            [
                ("one", "t.keyed", [], {"week": "w1"}),
                ("two", "t.keyed", [], {"week": "w1"}),
                ("other", "t.keyed", [], {"week": "w2"}),
            ],
            execution="parallel",
        )

        run = engine.run_inline(_start(name))

        same = [s for s in recorder.spans if s["week"] == "w1"]
        assert run.status == "completed"
        assert len(same) == 2
        first, second = sorted(same, key=lambda s: s["start"])
        assert second["start"] >= first["end"]
        assert recorder.max_overlap() == 2

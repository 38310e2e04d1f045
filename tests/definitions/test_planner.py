"""The planner: order, graph errors, parameter precedence and templates."""

from __future__ import annotations

import json

import pytest

from pipeline_groups import ExecutionPlan, PipelineGroup, PlanResolver
from pipeline_groups.exceptions import (
    CycleError,
    DuplicateStepError,
    MissingRunParameterError,
    PlanResolutionError,
    StepParameterError,
    TemplateError,
    UnknownDependencyError,
    UnknownPipelineError,
)

pytestmark = pytest.mark.usefixtures("pipelines")


def _names(plan: ExecutionPlan) -> list[str]:
    return [step.step_name for step in plan.steps]


class TestOrder:
    def test_dependencies_come_first_and_ties_follow_declaration(self) -> None:
        """Draw the graph: a and b feed c; d stands alone, declared last.

        b ─┬─> c     (b declared before a)
        a ─┘   d
        """
        group = (
            PipelineGroup("g")
            .add("c", "t.anything", depends_on=["a", "b"])
            .add("b", "t.anything")
            .add("a", "t.anything")
            .add("d", "t.anything")
        )

        plan = PlanResolver().resolve(group, {})

        assert _names(plan) == ["b", "a", "c", "d"]
        assert [step.sequence_order for step in plan.steps] == [0, 1, 2, 3]

    def test_same_group_always_plans_the_same_order(self) -> None:
        group = PipelineGroup("g")
        for index in range(30):
            group.add(
                f"s{index}", "t.anything", depends_on=[f"s{index % 3}"][: index > 2]
            )

        orders = {tuple(_names(PlanResolver().resolve(group))) for _ in range(5)}

        assert len(orders) == 1

    def test_earliest_declared_ready_step_goes_next(self) -> None:
        """Graph x -> y, z free: after x, y (declared before z) goes next."""
        group = (
            PipelineGroup("g")
            .add("x", "t.anything")
            .add("y", "t.anything", depends_on=["x"])
            .add("z", "t.anything")
        )

        assert _names(PlanResolver().resolve(group)) == ["x", "y", "z"]


class TestGraphErrors:
    def test_self_dependency_is_a_cycle(self) -> None:
        group = PipelineGroup("g").add("a", "t.anything", depends_on=["a"])

        with pytest.raises(CycleError, match=r"dependency cycle a -> a") as caught:
            PlanResolver().resolve(group)

        assert caught.value.cycle == ["a", "a"]
        assert caught.value.group == "g"

    def test_two_step_cycle_names_both(self) -> None:
        group = (
            PipelineGroup("g")
            .add("a", "t.anything", depends_on=["b"])
            .add("b", "t.anything", depends_on=["a"])
        )

        with pytest.raises(CycleError) as caught:
            PlanResolver().resolve(group)

        assert caught.value.cycle == ["a", "b", "a"]
        assert str(caught.value) == "Group 'g', step 'a': dependency cycle a -> b -> a"

    def test_long_cycle_is_named_whole_upstream_first(self) -> None:
        """Graph start -> a -> b -> c -> d -> a."""
        group = (
            PipelineGroup("g")
            .add("start", "t.anything")
            .add("a", "t.anything", depends_on=["start", "d"])
            .add("b", "t.anything", depends_on=["a"])
            .add("c", "t.anything", depends_on=["b"])
            .add("d", "t.anything", depends_on=["c"])
        )

        with pytest.raises(CycleError) as caught:
            PlanResolver().resolve(group)

        assert caught.value.cycle == ["a", "b", "c", "d", "a"]

    def test_unknown_dependency_names_step_and_value(self) -> None:
        group = (
            PipelineGroup("g")
            .add("ingest", "t.anything")
            .add("normalize", "t.anything", depends_on=["ingets"])
        )

        with pytest.raises(UnknownDependencyError) as caught:
            PlanResolver().resolve(group)

        assert caught.value.step == "normalize"
        assert caught.value.dependency == "ingets"
        assert str(caught.value) == (
            "Group 'g', step 'normalize': depends on 'ingets', which is not a step "
            "of the group; did you mean 'ingest'?"
        )

    def test_duplicate_step_names_are_refused(self) -> None:
        group = PipelineGroup("g").add("a", "t.anything").add("a", "t.anything")

        with pytest.raises(DuplicateStepError, match="'a': step name is declared"):
            PlanResolver().resolve(group)

    def test_unknown_pipeline_suggests_the_closest(self) -> None:
        group = PipelineGroup("g").add("a", "t.ingset")

        with pytest.raises(UnknownPipelineError) as caught:
            PlanResolver().resolve(group)

        assert caught.value.pipeline == "t.ingset"
        assert "t.ingest" in caught.value.suggestions
        assert isinstance(caught.value, ValueError)


class TestParams:
    def test_precedence_is_defaults_then_run_then_step(self) -> None:
        group = PipelineGroup(
            "g", defaults={"tier": "T1", "week_ending": "d", "source_type": "d"}
        ).add("ingest", "t.ingest", params={"source_type": "api"})

        plan = PlanResolver().resolve(group, {"week_ending": "2026-01-02"})

        step = plan.step("ingest")
        assert step.params == {
            "tier": "T1",
            "week_ending": "2026-01-02",
            "source_type": "api",
        }
        assert step.param_sources == {
            "tier": "default",
            "week_ending": "run",
            "source_type": "step",
        }

    def test_step_params_beat_run_params(self) -> None:
        group = PipelineGroup("g", defaults={"source_type": "default"}).add(
            "ingest", "t.ingest", params={"source_type": "step"}
        )
        run = {"tier": "T1", "week_ending": "w", "source_type": "run"}

        plan = PlanResolver().resolve(group, run)

        assert plan.step("ingest").params["source_type"] == "step"
        assert plan.step("ingest").param_sources["source_type"] == "step"

    def test_run_params_beat_defaults_templated_or_not(self) -> None:
        group = PipelineGroup(
            "g", defaults={"tier": "{{ params.other }}", "week_ending": "d"}
        ).add("n", "t.normalize")

        plan = PlanResolver().resolve(group, {"tier": "T2", "week_ending": "w"})

        assert plan.step("n").params == {"tier": "T2", "week_ending": "w"}

    def test_params_a_pipeline_does_not_take_are_not_passed(self) -> None:
        group = PipelineGroup("g", defaults={"force": True}).add(
            "n", "t.normalize", params={"tier": "T1"}
        )

        plan = PlanResolver().resolve(group, {"week_ending": "w", "other": 1})

        assert plan.step("n").params == {"tier": "T1", "week_ending": "w"}

    def test_step_param_the_pipeline_does_not_accept_is_an_error(self) -> None:
        group = PipelineGroup("g").add("n", "t.normalize", params={"teir": "T1"})

        with pytest.raises(StepParameterError) as caught:
            PlanResolver().resolve(group, {"tier": "T1", "week_ending": "w"})

        assert caught.value.unexpected == ["teir"]
        assert caught.value.step == "n"

    def test_missing_required_param_is_an_error(self) -> None:
        group = PipelineGroup("g").add("n", "t.normalize")

        with pytest.raises(StepParameterError, match="missing required param"):
            PlanResolver().resolve(group, {"tier": "T1"})

    def test_whole_template_keeps_the_type(self) -> None:
        group = PipelineGroup("g").add(
            "r",
            "t.report",
            params={"symbols": "{{ params.symbols }}", "limit": "{{params.limit}}"},
        )

        plan = PlanResolver().resolve(group, {"symbols": ["A", "B"], "limit": 3})

        assert plan.step("r").params == {"symbols": ["A", "B"], "limit": 3}

    def test_template_inside_text_becomes_text(self) -> None:
        group = PipelineGroup("g").add(
            "x", "t.anything", params={"label": "week {{ params.n }} of {{ params.y }}"}
        )

        plan = PlanResolver().resolve(group, {"n": 3, "y": "2026"})

        assert plan.step("x").params["label"] == "week 3 of 2026"

    def test_missing_run_param_names_template_and_step(self) -> None:
        group = PipelineGroup("g", defaults={"tier": "{{ params.tier }}"}).add(
            "n", "t.normalize", params={"week_ending": "w"}
        )

        with pytest.raises(MissingRunParameterError) as caught:
            PlanResolver().resolve(group, {})

        assert caught.value.name == "tier"
        assert caught.value.step == "n"
        assert str(caught.value) == (
            "Group 'g', step 'n': param 'tier' needs run parameter 'tier' "
            "(template '{{ params.tier }}'), which was not given"
        )

    @pytest.mark.parametrize("text", ["{{ 7*7 }}", "{{ params.__class__ }}"])
    def test_anything_else_between_braces_is_an_error(self, text: str) -> None:
        group = PipelineGroup("g").add("x", "t.anything", params={"v": text})

        with pytest.raises(TemplateError) as caught:
            PlanResolver().resolve(group, {})

        assert caught.value.template == text


class TestValidate:
    def test_problems_lists_every_problem(self) -> None:
        group = (
            PipelineGroup("g")
            .add("a", "t.nope")
            .add("b", "t.normalize", depends_on=["zz"], params={"bad": 1})
        )

        problems = PlanResolver().problems(group)

        assert [type(problem) for problem in problems] == [
            UnknownPipelineError,
            UnknownDependencyError,
            StepParameterError,
        ]

    def test_validate_needs_no_run_params(self) -> None:
        group = PipelineGroup("g", defaults={"tier": "{{ params.tier }}"}).add(
            "n", "t.normalize"
        )

        PlanResolver().validate(group)

    def test_errors_are_plan_resolution_errors(self) -> None:
        group = PipelineGroup("g").add("a", "t.nope")

        with pytest.raises(PlanResolutionError):
            PlanResolver().validate(group)


class TestPlanJson:
    def test_plan_round_trips_through_json(self) -> None:
        group = (
            PipelineGroup("g", version=3)
            .add("a", "t.anything", params={"x": [1, 2]})
            .add("b", "t.anything", depends_on=["a"])
        )
        plan = PlanResolver().resolve(group, {"y": {"z": 1}}, batch_id="batch")

        data = json.loads(json.dumps(plan.to_json()))

        assert ExecutionPlan.from_json(data) == plan
        assert data["batch_id"] == "batch"
        assert data["group_version"] == 3

    def test_batch_id_has_the_documented_shape(self) -> None:
        plan = PlanResolver().resolve(PipelineGroup("g.x").add("a", "t.anything"))

        assert plan.batch_id.startswith("group_g.x_")
        assert len(plan.batch_id.rsplit("_", 1)[1]) == 6

"""The Python DSL: fluent and declarative groups equal their YAML twins."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipeline_groups import (
    ExecutionPolicy,
    PipelineGroup,
    PipelineStep,
    get_group,
    list_groups,
    register_group,
)
from pipeline_groups.exceptions import GroupAlreadyRegisteredError, GroupNotFoundError
from pipeline_groups.registry import unregister_group
from pipeline_groups.yaml_spec import dump_group_yaml, load_group_yaml

WEEKLY_YAML = """\
apiVersion: spine.io/v1
kind: PipelineGroup
metadata:
  name: finra.weekly_refresh
  domain: finra.otc_transparency
  version: 1
spec:
  pipelines:
    - name: ingest
      pipeline: finra.otc_transparency.ingest_week
    - name: normalize
      pipeline: finra.otc_transparency.normalize_week
      depends_on: [ingest]
    - name: aggregate
      pipeline: finra.otc_transparency.aggregate_week
      depends_on: [normalize]
    - name: rolling
      pipeline: finra.otc_transparency.compute_rolling
      depends_on: [aggregate]
"""


def _fluent() -> PipelineGroup:
    group = PipelineGroup(
        name="finra.weekly_refresh", domain="finra.otc_transparency", version=1
    )
    return (
        group.add("ingest", "finra.otc_transparency.ingest_week")
        .add("normalize", "finra.otc_transparency.normalize_week", ["ingest"])
        .add("aggregate", "finra.otc_transparency.aggregate_week", ["normalize"])
        .add("rolling", "finra.otc_transparency.compute_rolling", ["aggregate"])
    )


def _declarative() -> PipelineGroup:
    return PipelineGroup.from_steps(
        name="finra.weekly_refresh",
        domain="finra.otc_transparency",
        steps=[
            PipelineStep("ingest", "finra.otc_transparency.ingest_week"),
            PipelineStep(
                "normalize",
                "finra.otc_transparency.normalize_week",
                depends_on=["ingest"],
            ),
            PipelineStep(
                "aggregate",
                "finra.otc_transparency.aggregate_week",
                depends_on=["normalize"],
            ),
            PipelineStep(
                "rolling",
                "finra.otc_transparency.compute_rolling",
                depends_on=["aggregate"],
            ),
        ],
    )


@pytest.fixture
def registered() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for name in names:
        unregister_group(name)


class TestDsl:
    def test_add_is_chainable_and_keeps_declaration_order(self) -> None:
        group = _fluent()

        assert group.step_names == ["ingest", "normalize", "aggregate", "rolling"]

    def test_fluent_declarative_and_yaml_groups_are_equal(self) -> None:
        from_yaml = load_group_yaml(WEEKLY_YAML)

        assert _fluent() == _declarative() == from_yaml

    def test_python_group_round_trips_through_yaml(self) -> None:
        group = _fluent()
        group.policy = ExecutionPolicy("parallel", 2, "continue", 30)
        group.defaults = {"tier": "{{ params.tier }}", "symbols": ["A", "B"]}

        assert load_group_yaml(dump_group_yaml(group)) == group

    def test_a_string_for_depends_on_is_refused(self) -> None:
        group = PipelineGroup("g").add("ingest", "x.y")

        with pytest.raises(TypeError, match=r"write \['ingest'\]"):
            group.add("normalize", "x.z", depends_on="ingest")

        assert group.step_names == ["ingest"]

    def test_to_document_is_the_whole_document(self) -> None:
        document = _fluent().to_document()

        assert document["apiVersion"] == "spine.io/v1"
        assert document["kind"] == "PipelineGroup"
        assert document["metadata"]["name"] == "finra.weekly_refresh"
        assert document["spec"]["pipelines"][1] == {
            "name": "normalize",
            "pipeline": "finra.otc_transparency.normalize_week",
            "depends_on": ["ingest"],
        }

    def test_content_document_leaves_out_the_version(self) -> None:
        group = _fluent()
        newer = _fluent()
        newer.version = 7

        assert group.content_document() == newer.content_document()

    def test_template_params_lists_what_a_run_must_give(self) -> None:
        group = PipelineGroup("g", defaults={"tier": "{{ params.tier }}"}).add(
            "a", "x.y", params={"label": "{{ params.week }}/{{ params.tier }}"}
        )

        assert group.template_params() == ["tier", "week"]


class TestRegistry:
    def test_registered_group_is_found_and_listed(self, registered: list[str]) -> None:
        group = PipelineGroup("test.registered_dsl").add("a", "x.y")
        registered.append(group.name)

        register_group(group)

        assert get_group("test.registered_dsl") is group
        assert group in list_groups()

    def test_same_name_with_another_spec_is_refused(
        self, registered: list[str]
    ) -> None:
        register_group(PipelineGroup("test.clash").add("a", "x.y"))
        registered.append("test.clash")

        with pytest.raises(GroupAlreadyRegisteredError):
            register_group(PipelineGroup("test.clash").add("b", "x.y"))

    def test_unknown_group_suggests_names(self, registered: list[str]) -> None:
        register_group(PipelineGroup("test.lookup").add("a", "x.y"))
        registered.append("test.lookup")

        with pytest.raises(GroupNotFoundError, match="did you mean 'test.lookup'"):
            get_group("test.lookup_")

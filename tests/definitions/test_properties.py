"""Properties over random input: plans respect edges; the loader never crashes."""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline_groups import PipelineGroup, PlanResolver
from pipeline_groups.exceptions import GroupSpecError
from pipeline_groups.registry import register_pipeline, unregister_pipeline
from pipeline_groups.yaml_spec import load_group_yaml, validate_document
from tests.definitions.documents import VALID_YAML, valid_document


def _noop(ctx: object) -> None:
    """Do nothing; the planner only needs the name registered."""


@pytest.fixture(autouse=True, scope="module")
def _noop_pipeline() -> Iterator[None]:
    register_pipeline("t.property_noop")(_noop)
    yield
    unregister_pipeline("t.property_noop")


@st.composite
def dags(draw: st.DrawFn) -> PipelineGroup:
    """Draw a group whose steps depend only on steps declared earlier, shuffled."""
    size = draw(st.integers(min_value=1, max_value=40))
    edges = [
        sorted(draw(st.sets(st.integers(0, index - 1), max_size=4)) if index else [])
        for index in range(size)
    ]
    order = draw(st.permutations(range(size)))
    group = PipelineGroup("prop.dag")
    for index in order:
        group.add(
            f"s{index}", "t.property_noop", depends_on=[f"s{d}" for d in edges[index]]
        )
    return group


class TestPlanProperties:
    @given(dags())
    @settings(max_examples=200, deadline=None)
    def test_every_edge_is_respected_by_the_plan_order(
        self, group: PipelineGroup
    ) -> None:
        plan = PlanResolver().resolve(group, {})

        position = {step.step_name: step.sequence_order for step in plan.steps}
        assert sorted(position) == sorted(group.step_names)
        for step in group.steps:
            for dependency in step.depends_on:
                assert position[dependency] < position[step.name]

    @given(dags())
    @settings(max_examples=50, deadline=None)
    def test_order_is_deterministic(self, group: PipelineGroup) -> None:
        first = PlanResolver().order(group)

        assert PlanResolver().order(group) == first


YAML_ALPHABET = string.printable + "{}[]&*!|>-:#"


class TestLoaderProperties:
    @given(st.text(alphabet=YAML_ALPHABET, max_size=300))
    @settings(max_examples=300, deadline=None)
    def test_arbitrary_text_gives_a_group_or_a_spec_error(self, text: str) -> None:
        try:
            load_group_yaml(text)
        except GroupSpecError as error:
            assert error.issues

    @given(
        st.integers(min_value=0, max_value=len(VALID_YAML) - 1),
        st.text(alphabet=YAML_ALPHABET, max_size=20),
    )
    @settings(max_examples=300, deadline=None)
    def test_mutated_valid_document_gives_a_group_or_a_spec_error(
        self, position: int, insert: str
    ) -> None:
        text = VALID_YAML[:position] + insert + VALID_YAML[position:]

        try:
            load_group_yaml(text)
        except GroupSpecError as error:
            assert error.issues

    @given(st.text(max_size=200))
    @settings(max_examples=200, deadline=None)
    def test_any_unicode_gives_a_group_or_a_spec_error(self, text: str) -> None:
        try:
            load_group_yaml(text)
        except GroupSpecError as error:
            assert error.issues


DOCUMENT_WORDS = [
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "name",
    "pipeline",
    "pipelines",
    "depends_on",
    "params",
    "policy",
    "defaults",
    "max_concurrency",
    "timeout_minutes",
    "{{ params.tier }}",
    "{{ 7*7 }}",
    "ingest",
]
json_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from(DOCUMENT_WORDS)
)
json_values = st.recursive(
    json_leaves,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(DOCUMENT_WORDS) | st.text(max_size=4), children, max_size=4
        )
    ),
    max_leaves=20,
)


def _replace_at(document: Any, turns: list[int], value: Any) -> Any:
    """Walk into the document by `turns`, then put `value` where the walk ends."""
    if not turns or not isinstance(document, dict | list) or not document:
        return value
    keys = list(document) if isinstance(document, dict) else range(len(document))
    key = list(keys)[turns[0] % len(document)]
    document[key] = _replace_at(document[key], turns[1:], value)
    return document


class TestDocumentProperties:
    @given(st.lists(st.integers(min_value=0, max_value=9), max_size=6), json_values)
    @settings(max_examples=400, deadline=None)
    def test_any_value_anywhere_gives_a_group_or_a_spec_error(
        self, turns: list[int], value: Any
    ) -> None:
        document = _replace_at(valid_document(), turns, value)

        try:
            validate_document(document)
        except GroupSpecError as error:
            assert error.issues

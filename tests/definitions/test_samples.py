"""The sample group specs under groups/ and the group defined in Python."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

from pipeline_groups import ExecutionPolicy, PipelineGroup, PlanResolver
from pipeline_groups.exceptions import PipelineNotFoundError
from pipeline_groups.registry import get_pipeline
from pipeline_groups.yaml_spec import (
    dump_group_yaml,
    group_document_schema,
    load_group_yaml,
)

GROUPS = Path(settings.BASE_DIR) / "groups"


def _load(relative: str) -> PipelineGroup:
    path = GROUPS / relative
    return load_group_yaml(path.read_text(), source=relative)


def _require_registered(group: PipelineGroup) -> None:
    for step in group.steps:
        try:
            get_pipeline(step.pipeline)
        except PipelineNotFoundError:
            pytest.skip(f"{step.pipeline} is not registered in this process")


class TestSampleSpecs:
    def test_weekly_refresh_is_appendix_a1(self) -> None:
        group = _load("finra/weekly_refresh.yaml")

        assert group.name == "finra.weekly_refresh"
        assert [(s.name, s.depends_on) for s in group.steps] == [
            ("ingest", []),
            ("normalize", ["ingest"]),
            ("aggregate", ["normalize"]),
            ("rolling", ["aggregate"]),
            ("venue_share", ["normalize"]),
        ]
        assert group.policy == ExecutionPolicy("parallel", 2, "continue")
        assert group.step("ingest").params == {"source_type": "api"}

    def test_backfill_runs_four_weeks_one_after_another(self) -> None:
        group = _load("finra/backfill.yaml")

        weeks = [step.params["week_ending"] for step in group.steps]
        assert weeks == ["2025-12-13", "2025-12-20", "2025-12-27", "2026-01-03"]
        for before, after in zip(group.steps, group.steps[1:], strict=False):
            assert after.depends_on == [before.name]

    def test_daily_prices_is_appendix_a2(self) -> None:
        group = _load("market_data/daily_prices.yaml")

        assert group.defaults == {"source": "alpha_vantage"}
        assert group.step("ingest_prices").params == {"symbols": "{{ params.symbols }}"}
        assert group.policy == ExecutionPolicy("sequential", 4, "stop")

    @pytest.mark.parametrize(
        "relative",
        [
            "finra/weekly_refresh.yaml",
            "finra/backfill.yaml",
            "market_data/daily_prices.yaml",
        ],
    )
    def test_sample_round_trips_to_an_equivalent_document(self, relative: str) -> None:
        original = yaml.safe_load((GROUPS / relative).read_text())
        group = _load(relative)

        text = dump_group_yaml(group)

        written = yaml.safe_load(text)
        policy = {"execution": "sequential", "max_concurrency": 4, "on_failure": "stop"}
        assert written["spec"].pop("policy") == {
            **policy,
            **original["spec"].pop("policy"),
        }
        assert written == original
        assert load_group_yaml(text) == group

    @pytest.mark.parametrize(
        "path",
        sorted(GROUPS.rglob("*.yaml")),
        ids=lambda path: path.relative_to(GROUPS).as_posix(),
    )
    def test_sample_passes_the_published_schema(self, path: Path) -> None:
        document = yaml.safe_load(path.read_text())

        jsonschema.validate(document, group_document_schema())

    @pytest.mark.parametrize(
        ("relative", "params"),
        [
            (
                "finra/weekly_refresh.yaml",
                {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"},
            ),
            ("finra/backfill.yaml", {"tier": "OTCE"}),
            ("market_data/daily_prices.yaml", {"symbols": ["AAPL", "MSFT"]}),
        ],
    )
    def test_sample_plans_against_the_registered_pipelines(
        self, relative: str, params: dict[str, object]
    ) -> None:
        group = _load(relative)
        _require_registered(group)

        plan = PlanResolver().resolve(group, params)

        assert len(plan.steps) == len(group.steps)


class TestPythonGroup:
    def test_python_group_builds_two_steps_per_tier(self) -> None:
        from domains.python_groups import all_tiers_weekly

        group = all_tiers_weekly(("A", "B"))

        assert group.step_names == [
            "ingest_a",
            "normalize_a",
            "ingest_b",
            "normalize_b",
        ]
        assert group.step("normalize_b").depends_on == ["ingest_b"]
        assert load_group_yaml(dump_group_yaml(group)) == group

    def test_python_group_plans_against_the_registered_pipelines(self) -> None:
        from domains.python_groups import ALL_TIERS_WEEKLY

        _require_registered(ALL_TIERS_WEEKLY)

        plan = PlanResolver().resolve(ALL_TIERS_WEEKLY, {"week_ending": "2025-12-20"})

        assert plan.step("ingest_otce").params == {
            "tier": "OTCE",
            "week_ending": "2025-12-20",
        }

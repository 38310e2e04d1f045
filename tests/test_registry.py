"""The pipeline registry: what a decorator records and how lookups fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import pipeline_groups
from pipeline_groups import get_pipeline, list_pipelines, register_pipeline
from pipeline_groups.exceptions import (
    PipelineAlreadyRegisteredError,
    PipelineNotFoundError,
    PipelineParameterError,
)
from pipeline_groups.registry import unregister_pipeline

NAME = "tests.registry.sample"


@pytest.fixture
def throwaway() -> Iterator[str]:
    yield NAME
    unregister_pipeline(NAME)


def _sample(ctx: Any, tier: str, week_ending: str, force: bool = False) -> dict:
    """Do nothing, with two required params and one optional."""
    return {"tier": tier, "week_ending": week_ending, "force": force}


def _other(ctx: Any, tier: str) -> None:
    """Claim a name already taken."""


class TestRegisterPipeline:
    def test_reads_required_and_optional_from_signature(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        info = get_pipeline(throwaway)

        assert info.required == ("tier", "week_ending")
        assert dict(info.optional) == {"force": False}
        assert info.accepts_any is False
        assert info.parameters == ["tier", "week_ending", "force"]
        assert (
            info.description == "Do nothing, with two required params and one optional."
        )

    def test_keeps_logical_key_template(self, throwaway: str) -> None:
        register_pipeline(throwaway, logical_key="{tier}:{week_ending}")(_sample)

        assert get_pipeline(throwaway).logical_key == "{tier}:{week_ending}"

    def test_returns_the_function_unchanged(self, throwaway: str) -> None:
        decorated = register_pipeline(throwaway)(_sample)

        assert decorated is _sample

    def test_var_keyword_accepts_any_param(self, throwaway: str) -> None:
        @register_pipeline(throwaway)
        def anything(ctx: Any, **params: Any) -> dict:
            return params

        info = get_pipeline(throwaway)

        assert info.accepts_any is True
        assert info.accepts("whatever")
        assert info.select({"a": 1, "b": 2}) == {"a": 1, "b": 2}

    def test_same_function_registered_again_is_fine(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        register_pipeline(throwaway)(_sample)

        assert get_pipeline(throwaway).function is _sample

    def test_different_function_under_taken_name_is_an_error(
        self, throwaway: str
    ) -> None:
        register_pipeline(throwaway)(_sample)

        with pytest.raises(PipelineAlreadyRegisteredError) as caught:
            register_pipeline(throwaway)(_other)

        assert caught.value.name == throwaway
        assert caught.value.existing == "tests.test_registry._sample"
        assert caught.value.new == "tests.test_registry._other"
        assert str(caught.value) == (
            f"Pipeline {throwaway!r} is already registered by "
            "tests.test_registry._sample; tests.test_registry._other cannot take "
            "the same name"
        )
        assert get_pipeline(throwaway).function is _sample

    def test_function_without_context_parameter_is_refused(
        self, throwaway: str
    ) -> None:
        def no_context(*, tier: str) -> None:
            """Take no context."""

        with pytest.raises(TypeError, match="execution context"):
            register_pipeline(throwaway)(no_context)

    def test_var_positional_parameter_is_refused(self, throwaway: str) -> None:
        def positional(ctx: Any, *symbols: str) -> None:
            """Take *args, which a keyword call cannot fill."""

        with pytest.raises(TypeError, match="'symbols' cannot be positional-only"):
            register_pipeline(throwaway)(positional)

    def test_is_exported_from_package_root(self) -> None:
        assert pipeline_groups.register_pipeline is register_pipeline
        assert "register_pipeline" in pipeline_groups.__all__
        assert "get_pipeline" in pipeline_groups.__all__
        assert "list_pipelines" in pipeline_groups.__all__


class TestGetPipeline:
    def test_missing_name_is_named_with_closest_matches(self) -> None:
        with pytest.raises(PipelineNotFoundError) as caught:
            get_pipeline("finra.otc_transparency.ingest_wek")

        assert caught.value.name == "finra.otc_transparency.ingest_wek"
        assert caught.value.suggestions[0] == "finra.otc_transparency.ingest_week"
        assert str(caught.value).startswith(
            "Pipeline 'finra.otc_transparency.ingest_wek' is not registered; "
            "did you mean 'finra.otc_transparency.ingest_week'"
        )

    def test_missing_name_without_near_match_has_no_suggestion(self) -> None:
        with pytest.raises(PipelineNotFoundError) as caught:
            get_pipeline("zzz")

        assert caught.value.suggestions == []
        assert str(caught.value) == "Pipeline 'zzz' is not registered"

    def test_is_also_a_key_error(self) -> None:
        with pytest.raises(KeyError):
            get_pipeline("zzz")


class TestListPipelines:
    def test_lists_the_sample_domains_sorted(self) -> None:
        names = [info.name for info in list_pipelines()]

        assert names == sorted(names)
        assert {
            "finra.otc_transparency.ingest_week",
            "finra.otc_transparency.normalize_week",
            "finra.otc_transparency.aggregate_week",
            "finra.otc_transparency.compute_rolling",
            "finra.otc_transparency.compute_venue_share",
            "market_data.ingest_prices",
            "reference.exchange_calendar.sync",
        } <= set(names)

    def test_includes_a_new_registration(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        assert throwaway in [info.name for info in list_pipelines()]


class TestPipelineInfo:
    def test_check_names_missing_and_unexpected(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        error = get_pipeline(throwaway).check({"tier": "OTCE", "tire": 1}, ["tire"])

        assert isinstance(error, PipelineParameterError)
        assert error.missing == ["week_ending"]
        assert error.unexpected == ["tire"]
        assert str(error) == (
            f"Pipeline {throwaway!r}: missing required week_ending; "
            "does not accept tire"
        )

    def test_check_passes_when_params_fit(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        assert get_pipeline(throwaway).check({"tier": "a", "week_ending": "b"}) is None

    def test_call_drops_params_the_function_does_not_take(self, throwaway: str) -> None:
        register_pipeline(throwaway)(_sample)

        result = get_pipeline(throwaway).call(
            None, {"tier": "OTCE", "week_ending": "2026-01-03", "symbols": ["AAPL"]}
        )

        assert result == {"tier": "OTCE", "week_ending": "2026-01-03", "force": False}

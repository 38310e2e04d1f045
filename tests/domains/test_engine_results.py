"""The sample pipelines run through the engine: results and errors are recorded.

The engine runs a step with a heartbeat thread that has its own connection, so
these tests commit (`transaction=True`) and use a file database on SQLite (see
conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from domains.models import DatasetLoad, FinraOtcRaw, FinraOtcVenueShare
from pipeline_groups import engine, storage
from pipeline_groups.models import (
    Backend,
    DeadLetter,
    Execution,
    ExecutionStatus,
    GroupRunExecution,
    RunStatus,
    TriggerSource,
)
from tests.domains.conftest import FIXTURES, ROOT, data_lines

pytestmark = pytest.mark.django_db(transaction=True)

INGEST = "finra.otc_transparency.ingest_week"
WEEK = {"tier": "NMS_TIER_1", "week_ending": "2026-01-03"}


def run(name: str, params: dict) -> Execution:
    return engine.run_pipeline(
        name, params, trigger_source=TriggerSource.CLI, backend=Backend.INLINE
    )


class TestResultsOnTheExecution:
    def test_ingest_result_is_stored_on_its_execution(self, fixture_data: Path) -> None:
        execution = run(INGEST, WEEK)

        stored = Execution.objects.get(pk=execution.pk)
        assert stored.status == ExecutionStatus.COMPLETED
        assert stored.result == {
            "tier": "NMS_TIER_1",
            "week_ending": "2026-01-03",
            "source": str(fixture_data / "finra/otc/NMS_TIER_1/2026-01-03.psv"),
            "skipped": False,
            "rows_read": 54,
            "rows_written": 54,
        }
        assert stored.logical_key == "finra_otc_raw:NMS_TIER_1:2026-01-03"
        assert DatasetLoad.objects.get().execution_id == execution.id

    def test_second_run_records_a_skip_and_writes_nothing(
        self, fixture_data: Path
    ) -> None:
        run(INGEST, WEEK)

        second = run(INGEST, WEEK)

        assert second.status == ExecutionStatus.COMPLETED
        assert second.result["skipped"] is True
        assert (second.result["rows_read"], second.result["rows_written"]) == (0, 0)
        assert FinraOtcRaw.objects.count() == 54

    def test_forced_run_records_its_rewrite(self, fixture_data: Path) -> None:
        run(INGEST, WEEK)

        forced = run(INGEST, {**WEEK, "force": "true"})

        assert (forced.result["skipped"], forced.result["rows_written"]) == (False, 54)
        assert FinraOtcRaw.objects.count() == 54
        assert DatasetLoad.objects.get().execution_id == forced.id

    def test_prices_and_calendar_results_are_stored(self, fixture_data: Path) -> None:
        calendar = run("reference.exchange_calendar.sync", {"exchange": "XNYS"})
        prices = run("market_data.ingest_prices", {"symbols": "AAPL,SPY"})

        assert calendar.status == prices.status == ExecutionStatus.COMPLETED
        assert (calendar.result["rows_read"], calendar.result["rows_written"]) == (
            26,
            730,
        )
        assert (prices.result["rows_read"], prices.result["rows_written"]) == (
            140,
            140,
        )


class TestFailuresOnTheExecution:
    def test_bad_line_fails_with_file_and_line_in_the_error(
        self, write_file: Callable[[str, str], Path]
    ) -> None:
        good = (FIXTURES / "finra/otc/NMS_TIER_1/2026-01-03.psv").read_text()
        lines = good.splitlines()
        lines[9] = lines[9].replace("|2025-12-29", "|2025-12-29|extra")
        path = write_file("finra/otc/NMS_TIER_1/2026-01-03.psv", "\n".join(lines))

        execution = run(INGEST, WEEK)

        assert execution.status == ExecutionStatus.FAILED
        assert execution.error == (
            f"InputDataError: {path}, line 10: expected 9 fields, found 10"
        )
        assert execution.result is None
        assert DeadLetter.objects.get().execution_id == execution.id
        assert not FinraOtcRaw.objects.exists()

    def test_missing_file_fails_with_a_clear_error(self, data_dir: Path) -> None:
        path = data_dir / "finra/otc/OTCE/2026-01-03.psv"

        execution = run(INGEST, {"tier": "OTCE", "week_ending": "2026-01-03"})

        assert execution.status == ExecutionStatus.FAILED
        assert execution.error == (
            f"MissingInputError: Input file {path} not found; FINRA has no OTCE "
            "summary for the week ending 2026-01-03 here"
        )

    def test_downstream_step_before_its_input_fails_saying_what_to_run(
        self, fixture_data: Path
    ) -> None:
        execution = run("finra.otc_transparency.normalize_week", WEEK)

        assert execution.status == ExecutionStatus.FAILED
        assert execution.error.endswith(
            "run finra.otc_transparency.ingest_week for that tier and week first"
        )


class TestGroupRuns:
    def test_weekly_refresh_runs_the_whole_chain_for_one_week(
        self, fixture_data: Path
    ) -> None:
        storage.import_group_files([ROOT / "groups" / "finra" / "weekly_refresh.yaml"])
        created = engine.start_run(
            "finra.weekly_refresh",
            dict(WEEK),
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )

        finished = engine.run_inline(created)

        assert finished.status == RunStatus.COMPLETED
        links = GroupRunExecution.objects.filter(group_run=finished)
        results = {link.step_name: link.execution.result for link in links}
        assert {step: result["rows_written"] for step, result in results.items()} == {
            "ingest": 54,
            "normalize": 54,
            "aggregate": 8,
            "rolling": 8,
            "venue_share": 8,
        }
        assert results["rolling"]["weeks_present"] == 1
        assert FinraOtcVenueShare.objects.get(rank=1).mpid == "CDRG"

    def test_python_group_ingests_every_tier(self, fixture_data: Path) -> None:
        storage.sync_python_groups()
        created = engine.start_run(
            "finra.all_tiers_weekly",
            {"week_ending": "2025-12-20"},
            trigger_source=TriggerSource.CLI,
            backend=Backend.INLINE,
        )

        finished = engine.run_inline(created)

        assert finished.status == RunStatus.COMPLETED
        tiers = set(FinraOtcRaw.objects.values_list("tier", flat=True))
        assert tiers == {"NMS_TIER_1", "NMS_TIER_2", "OTCE"}
        otc = fixture_data / "finra" / "otc"
        expected = sum(data_lines(otc / tier / "2025-12-20.psv") for tier in tiers)
        assert FinraOtcRaw.objects.count() == expected

"""FINRA OTC transparency: the weekly chain run for real on files.

Two data sets are used. The committed fixtures (five weeks of three tiers) show
the pipelines at the size the demo runs them. A small hand-written set of three
weeks of NMS Tier 2, built below, has figures small enough to check by hand,
and lines that exercise merging and dropping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from domains.finra import otc_transparency as otc
from domains.models import (
    DatasetLoad,
    FinraOtcRaw,
    FinraOtcRolling,
    FinraOtcSymbolWeekly,
    FinraOtcVenueShare,
    FinraOtcWeekly,
)
from pipeline_groups import ExecutionContext
from pipeline_groups.exceptions import InputDataError, MissingInputError
from tests.domains.conftest import data_lines
from tests.factories import (
    DatasetLoadFactory,
    FinraOtcSymbolWeeklyFactory,
    FinraOtcWeeklyFactory,
)

pytestmark = pytest.mark.django_db

WEEKS = ["2025-12-06", "2025-12-13", "2025-12-20", "2025-12-27", "2026-01-03"]
# The columns of FINRA's weekly summary download, in its order.
PUBLISHED_COLUMNS = [
    "tierDescription",
    "issueSymbolIdentifier",
    "issueName",
    "marketParticipantName",
    "MPID",
    "totalWeeklyShareQuantity",
    "totalWeeklyTradeCount",
    "lastUpdateDate",
]

Line = tuple[str, str, str, str, int, int]
PLUG = "Plug Power Inc. Common Stock"
SOFI = "SoFi Technologies, Inc. Common Stock"
ALPHA = "ALPHA SECURITIES LLC"
BETA = "BETA MARKETS LLC"
# Symbol, issue, participant, MPID, shares, trades; NMS Tier 2.
SMALL_SET: dict[str, list[Line]] = {
    "2025-12-13": [
        ("PLUG", PLUG, ALPHA, "AAAA", 1000, 10),
        ("PLUG", PLUG, BETA, "BBBB", 3000, 20),
        ("SOFI", SOFI, ALPHA, "AAAA", 2000, 40),
    ],
    "2025-12-20": [
        ("PLUG", PLUG, ALPHA, "AAAA", 1500, 15),
        ("plug", PLUG, "alpha  securities llc", "aaaa", 500, 5),
        ("PLUG", PLUG, BETA, "BBBB", 2000, 25),
        ("SOFI", SOFI, ALPHA, "AAAA", 0, 0),
        ("SOFI", SOFI, BETA, "BBBB", 4000, 50),
    ],
    "2025-12-27": [
        ("PLUG", PLUG, ALPHA, "AAAA", 6000, 30),
        ("SOFI", SOFI, BETA, "BBBB", 1000, 10),
    ],
}


def summary(
    week_ending: str,
    lines: list[Line],
    *,
    tier_description: str = "NMS Tier 2",
    week_start: bool = True,
    extra: str = "",
) -> str:
    """Write a weekly summary as FINRA does, optionally ending with a raw line."""
    start = dt.date.fromisoformat(week_ending) - dt.timedelta(days=5)
    updated = dt.date.fromisoformat(week_ending) + dt.timedelta(days=10)
    header = otc.HEADER if week_start else otc.HEADER[:-1]
    out = ["|".join(header)]
    for symbol, issue, participant, mpid, shares, trades in lines:
        fields = [tier_description, symbol, issue, participant, mpid]
        fields += [str(shares), str(trades), updated.isoformat()]
        if week_start:
            fields.append(start.isoformat())
        out.append("|".join(fields))
    if extra:
        out.append(extra)
    return "\n".join(out) + "\n"


@pytest.fixture
def small_set(write_file: Callable[[str, str], Path]) -> dict[str, Path]:
    """Write the hand-checked set of three Tier 2 weeks; return path per week."""
    return {
        week: write_file(f"finra/otc/NMS_TIER_2/{week}.psv", summary(week, lines))
        for week, lines in SMALL_SET.items()
    }


def run_chain(
    ctx: ExecutionContext, tier: str, week_endings: list[str], **rolling: Any
) -> list[dict[str, dict[str, Any]]]:
    """Run the whole chain for each week, oldest first, as the weekly group does."""
    results = []
    for week in week_endings:
        results.append(
            {
                "ingest": otc.ingest_week(ctx, tier, week),
                "normalize": otc.normalize_week(ctx, tier, week),
                "aggregate": otc.aggregate_week(ctx, tier, week),
                "rolling": otc.compute_rolling(ctx, tier, week, **rolling),
                "venue_share": otc.compute_venue_share(ctx, tier, week),
            }
        )
    return results


class TestColumnLayout:
    def test_header_is_finras_download_columns_then_week_start(self) -> None:
        assert list(otc.HEADER) == [*PUBLISHED_COLUMNS, "weekStartDate"]
        assert otc.OPTIONAL_COLUMNS == ("weekStartDate",)

    @pytest.mark.parametrize("tier", ["NMS_TIER_1", "NMS_TIER_2", "OTCE"])
    def test_every_fixture_file_has_the_documented_header(
        self, fixture_data: Path, tier: str
    ) -> None:
        files = sorted((fixture_data / "finra" / "otc" / tier).glob("*.psv"))

        headers = {path.read_text().splitlines()[0] for path in files}

        assert [path.stem for path in files] == WEEKS
        assert headers == {"|".join(otc.HEADER)}

    @pytest.mark.parametrize(
        ("tier", "description"),
        [("NMS_TIER_1", "NMS Tier 1"), ("NMS_TIER_2", "NMS Tier 2"), ("OTCE", "OTCE")],
    )
    def test_fixture_lines_carry_finras_tier_description_and_monday(
        self, fixture_data: Path, tier: str, description: str
    ) -> None:
        for week in WEEKS:
            path = fixture_data / "finra" / "otc" / tier / f"{week}.psv"
            lines = [line.split("|") for line in path.read_text().splitlines()[1:]]

            assert {fields[0] for fields in lines} == {description}
            starts = {dt.date.fromisoformat(fields[8]) for fields in lines}
            assert [day.strftime("%A") for day in starts] == ["Monday"]
            assert starts == {dt.date.fromisoformat(week) - dt.timedelta(days=5)}

    def test_fixture_weeks_end_on_saturday(self) -> None:
        days = {dt.date.fromisoformat(week).strftime("%A") for week in WEEKS}

        assert days == {"Saturday"}


class TestIngestWeek:
    def test_rows_read_and_written_match_the_file(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        path = fixture_data / "finra" / "otc" / "NMS_TIER_1" / "2026-01-03.psv"

        result = otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")

        assert result == {
            "tier": "NMS_TIER_1",
            "week_ending": "2026-01-03",
            "source": str(path),
            "skipped": False,
            "rows_read": 54,
            "rows_written": 54,
        }
        assert data_lines(path) == 54
        assert FinraOtcRaw.objects.count() == 54

    def test_stores_each_line_typed_with_its_line_number(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")

        first = FinraOtcRaw.objects.get(line_number=2)

        path = fixture_data / "finra" / "otc" / "NMS_TIER_1" / "2026-01-03.psv"
        fields = path.read_text().splitlines()[1].split("|")
        assert first.tier == "NMS_TIER_1"
        assert first.week_ending == dt.date(2026, 1, 3)
        assert first.symbol == fields[1]
        assert first.mpid == fields[4]
        assert first.share_quantity == int(fields[5])
        assert first.trade_count == int(fields[6])
        assert first.last_update_date == dt.date.fromisoformat(fields[7])
        assert first.week_start_date == dt.date(2025, 12, 29)
        assert first.source_file == str(path)

    def test_rerun_without_force_skips_an_unchanged_file(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")

        again = otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")

        assert again["skipped"] is True
        assert (again["rows_read"], again["rows_written"]) == (0, 0)
        assert again["reason"].startswith(
            "finra_otc_raw NMS_TIER_1:2026-01-03 is already loaded from the same "
            "input (at "
        )
        assert again["reason"].endswith("UTC); pass force=true to reload")
        assert FinraOtcRaw.objects.count() == 54

    def test_force_reloads_an_unchanged_file_replacing_its_rows(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")
        first_ids = set(FinraOtcRaw.objects.values_list("id", flat=True))
        forced = ExecutionContext(
            execution_id="01FORCEDEXECUTION00000000", batch_id="b"
        )

        again = otc.ingest_week(forced, "NMS_TIER_1", "2026-01-03", force="true")

        assert (again["skipped"], again["rows_written"]) == (False, 54)
        assert FinraOtcRaw.objects.count() == 54
        assert first_ids.isdisjoint(FinraOtcRaw.objects.values_list("id", flat=True))
        load = DatasetLoad.objects.get(dataset="finra_otc_raw")
        assert load.execution_id == "01FORCEDEXECUTION00000000"

    def test_changed_file_reloads_without_force(
        self, write_file: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        week = "2025-12-20"
        write_file(f"finra/otc/NMS_TIER_2/{week}.psv", summary(week, SMALL_SET[week]))
        otc.ingest_week(ctx, "NMS_TIER_2", week)
        write_file(
            f"finra/otc/NMS_TIER_2/{week}.psv", summary(week, SMALL_SET[week][:2])
        )

        again = otc.ingest_week(ctx, "NMS_TIER_2", week)

        assert (again["skipped"], again["rows_read"], again["rows_written"]) == (
            False,
            2,
            2,
        )
        assert FinraOtcRaw.objects.count() == 2

    def test_weeks_and_tiers_are_kept_apart(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03")
        otc.ingest_week(ctx, "NMS_TIER_1", "2025-12-27")
        otc.ingest_week(ctx, "OTCE", "2026-01-03")

        otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03", force=True)

        counts = {
            (tier, week.isoformat()): FinraOtcRaw.objects.filter(
                tier=tier, week_ending=week
            ).count()
            for tier, week in FinraOtcRaw.objects.values_list(
                "tier", "week_ending"
            ).distinct()
        }
        otc_dir = fixture_data / "finra" / "otc"
        assert counts == {
            ("NMS_TIER_1", "2026-01-03"): 54,
            ("NMS_TIER_1", "2025-12-27"): data_lines(
                otc_dir / "NMS_TIER_1" / "2025-12-27.psv"
            ),
            ("OTCE", "2026-01-03"): data_lines(otc_dir / "OTCE" / "2026-01-03.psv"),
        }

    def test_api_source_reads_the_same_local_file(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        result = otc.ingest_week(ctx, "NMS_TIER_1", "2026-01-03", source_type="api")

        assert result["rows_written"] == 54
        load = DatasetLoad.objects.get(dataset="finra_otc_raw")
        assert load.source == f"api:{result['source']}"

    def test_finras_download_without_week_start_loads(
        self, write_file: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        week = "2025-12-13"
        write_file(
            f"finra/otc/NMS_TIER_2/{week}.psv",
            summary(week, SMALL_SET[week], week_start=False),
        )

        result = otc.ingest_week(ctx, "NMS_TIER_2", week)

        assert result["rows_written"] == 3
        starts = set(FinraOtcRaw.objects.values_list("week_start_date", flat=True))
        assert starts == {dt.date(2025, 12, 8)}


class TestIngestWeekRefusesBadInput:
    WEEK = "2025-12-13"

    @pytest.fixture
    def write_week(
        self, write_file: Callable[[str, str], Path]
    ) -> Callable[[str], Path]:
        def write(extra: str) -> Path:
            text = summary(self.WEEK, SMALL_SET[self.WEEK], extra=extra)
            return write_file(f"finra/otc/NMS_TIER_2/{self.WEEK}.psv", text)

        return write

    def ingest(self, ctx: ExecutionContext) -> dict[str, Any]:
        return otc.ingest_week(ctx, "NMS_TIER_2", self.WEEK)

    def test_wrong_column_count_names_file_and_line(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week("NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|100|1")

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == f"{path}, line 5: expected 9 fields, found 7"

    def test_bad_number_names_file_line_and_field(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|12x|1|2025-12-23|2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: totalWeeklyShareQuantity '12x' is not valid: "
            "invalid literal for int() with base 10: '12x'"
        )

    def test_negative_count_is_refused(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|100|-1|2025-12-23|2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: totalWeeklyTradeCount '-1' is not valid: "
            "must not be negative"
        )

    def test_bad_date_names_file_line_and_field(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|100|1|2025-13-23|2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value).startswith(
            f"{path}, line 5: lastUpdateDate '2025-13-23' is not valid: "
        )
        assert raised.value.line == 5

    def test_line_of_another_week_is_refused(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|100|1|2025-12-23|2025-12-15"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: weekStartDate 2025-12-15 is not the start of the "
            "week ending 2025-12-13 (2025-12-08)"
        )

    def test_line_of_another_tier_is_refused(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 1|AAPL|Apple Inc.|ALPHA|AAAA|100|1|2025-12-23|2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: tierDescription 'NMS Tier 1' does not match "
            "tier NMS_TIER_2 ('NMS Tier 2')"
        )

    def test_value_longer_than_its_column_names_the_line(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2|RIOT|Riot Platforms|ALPHA|ALPHABETICAL|100|1|2025-12-23|"
            "2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: MPID 'ALPHABETICAL' is not valid: "
            "is 12 characters long; at most 10 fit"
        )

    def test_empty_field_is_refused(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_week(
            "NMS Tier 2||Riot Platforms|ALPHA|AAAA|100|1|2025-12-23|2025-12-08"
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"{path}, line 5: issueSymbolIdentifier '' is not valid: must not be empty"
        )

    def test_header_without_lines_is_refused(
        self, write_file: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_file(
            f"finra/otc/NMS_TIER_2/{self.WEEK}.psv", summary(self.WEEK, [])
        )

        with pytest.raises(InputDataError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == f"{path}: the file has a header but no data lines"

    def test_bad_file_leaves_the_loaded_week_as_it_was(
        self, write_week: Callable[[str], Path], ctx: ExecutionContext
    ) -> None:
        write_week("")
        self.ingest(ctx)
        write_week("NMS Tier 2|RIOT|Riot Platforms|ALPHA|AAAA|100")

        with pytest.raises(InputDataError):
            self.ingest(ctx)

        assert FinraOtcRaw.objects.count() == 3
        assert DatasetLoad.objects.get().rows_written == 3

    def test_missing_file_says_which_and_why(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        path = data_dir / "finra" / "otc" / "NMS_TIER_2" / f"{self.WEEK}.psv"

        with pytest.raises(MissingInputError) as raised:
            self.ingest(ctx)

        assert str(raised.value) == (
            f"Input file {path} not found; FINRA has no NMS_TIER_2 summary for "
            "the week ending 2025-12-13 here"
        )

    @pytest.mark.parametrize(
        ("bad", "message"),
        [
            (
                {"tier": "TIER_3"},
                "Parameter tier must be one of NMS_TIER_1, NMS_TIER_2, OTCE, "
                "not 'TIER_3'",
            ),
            (
                {"week_ending": "2025/12/13"},
                "Parameter week_ending must be a date as YYYY-MM-DD, not '2025/12/13'",
            ),
            (
                {"source_type": "ftp"},
                "Parameter source_type must be one of file, api, not 'ftp'",
            ),
            ({"force": "perhaps"}, "Parameter force must be true or false"),
        ],
    )
    def test_bad_parameters_are_refused_before_reading(
        self, data_dir: Path, ctx: ExecutionContext, bad: dict, message: str
    ) -> None:
        arguments = {"tier": "NMS_TIER_2", "week_ending": self.WEEK, **bad}

        with pytest.raises(ValueError) as raised:
            otc.ingest_week(ctx, **arguments)

        assert str(raised.value).startswith(message)


class TestNormalizeWeek:
    def test_merges_repeated_lines_and_drops_empty_ones(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")

        result = otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        assert result == {
            "tier": "NMS_TIER_2",
            "week_ending": "2025-12-20",
            "skipped": False,
            "rows_read": 5,
            "rows_written": 3,
            "rows_merged": 1,
            "rows_dropped": 1,
        }
        rows = FinraOtcWeekly.objects.values_list(
            "symbol",
            "mpid",
            "participant_name",
            "share_quantity",
            "trade_count",
            "average_trade_size",
        )
        assert list(rows) == [
            ("PLUG", "AAAA", "ALPHA SECURITIES LLC", 2000, 20, 100.0),
            ("PLUG", "BBBB", "BETA MARKETS LLC", 2000, 25, 80.0),
            ("SOFI", "BBBB", "BETA MARKETS LLC", 4000, 50, 80.0),
        ]

    def test_needs_the_week_ingested_first(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        with pytest.raises(MissingInputError) as raised:
            otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        assert str(raised.value) == (
            "finra_otc_raw rows for NMS_TIER_2 week ending 2025-12-20 not found; "
            "run finra.otc_transparency.ingest_week for that tier and week first"
        )

    def test_rerun_without_force_skips_when_the_raw_week_is_unchanged(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        again = otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        assert again["skipped"] is True
        assert FinraOtcWeekly.objects.count() == 3

    def test_force_rebuilds_the_week_without_duplicates(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        again = otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20", force=True)

        assert (again["skipped"], again["rows_written"]) == (False, 3)
        assert FinraOtcWeekly.objects.count() == 3

    def test_reingested_changed_week_is_rebuilt_without_force(
        self,
        small_set: dict[str, Path],
        write_file: Callable[[str, str], Path],
        ctx: ExecutionContext,
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")
        write_file(
            "finra/otc/NMS_TIER_2/2025-12-20.psv",
            summary("2025-12-20", SMALL_SET["2025-12-20"][:1]),
        )
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")

        again = otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        assert (again["skipped"], again["rows_written"]) == (False, 1)
        assert FinraOtcWeekly.objects.count() == 1


class TestAggregateWeek:
    def test_sums_each_symbol_over_its_participants(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        result = otc.aggregate_week(ctx, "NMS_TIER_2", "2025-12-20")

        assert (result["rows_read"], result["rows_written"]) == (3, 2)
        rows = FinraOtcSymbolWeekly.objects.values_list(
            "symbol",
            "issue_name",
            "share_quantity",
            "trade_count",
            "participant_count",
            "average_trade_size",
        )
        assert list(rows) == [
            ("PLUG", PLUG, 4000, 45, 2, 88.89),
            ("SOFI", SOFI, 4000, 50, 1, 80.0),
        ]

    def test_needs_the_week_normalized_first(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")

        with pytest.raises(MissingInputError, match="run finra.otc_transparency"):
            otc.aggregate_week(ctx, "NMS_TIER_2", "2025-12-20")

    def test_rerun_skips_and_force_replaces(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.aggregate_week(ctx, "NMS_TIER_2", "2025-12-20")

        skipped = otc.aggregate_week(ctx, "NMS_TIER_2", "2025-12-20")
        forced = otc.aggregate_week(ctx, "NMS_TIER_2", "2025-12-20", force=True)

        assert (skipped["skipped"], forced["skipped"]) == (True, False)
        assert FinraOtcSymbolWeekly.objects.count() == 2


class TestComputeRolling:
    def test_averages_the_weeks_of_the_window(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        """PLUG: 4000, 4000, 6000 shares; SOFI: 2000, 4000, 1000 (see SMALL_SET)."""
        results = run_chain(ctx, "NMS_TIER_2", list(SMALL_SET), weeks=3)

        assert results[-1]["rolling"] == {
            "tier": "NMS_TIER_2",
            "week_ending": "2025-12-27",
            "weeks": 3,
            "skipped": False,
            "weeks_present": 3,
            "rows_read": 6,
            "rows_written": 2,
        }
        rows = FinraOtcRolling.objects.filter(week_ending="2025-12-27").values_list(
            "symbol",
            "weeks_present",
            "average_share_quantity",
            "average_trade_count",
            "share_quantity_change",
        )
        assert list(rows) == [
            ("PLUG", 3, 4666.67, 35.0, 0.5),
            ("SOFI", 3, 2333.33, 33.33, -0.75),
        ]

    def test_first_week_has_no_change_to_report(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        run_chain(ctx, "NMS_TIER_2", ["2025-12-13"], weeks=3)

        rows = FinraOtcRolling.objects.values_list(
            "symbol", "weeks_present", "average_share_quantity", "share_quantity_change"
        )
        assert list(rows) == [("PLUG", 1, 4000.0, None), ("SOFI", 1, 2000.0, None)]

    def test_missing_earlier_weeks_are_left_out_and_counted(
        self, ctx: ExecutionContext
    ) -> None:
        """Weeks 12-13 and 12-27 aggregated; 12-20 is not: a gap in the window."""
        for week, shares in [
            (dt.date(2025, 12, 13), 300),
            (dt.date(2025, 12, 27), 900),
        ]:
            FinraOtcSymbolWeeklyFactory(
                tier="NMS_TIER_2",
                week_ending=week,
                symbol="RIOT",
                share_quantity=shares,
            )
            DatasetLoadFactory(partition=f"NMS_TIER_2:{week.isoformat()}")

        result = otc.compute_rolling(ctx, "NMS_TIER_2", "2025-12-27", weeks=3)

        assert (result["weeks_present"], result["rows_written"]) == (2, 1)
        row = FinraOtcRolling.objects.get()
        assert (row.weeks_present, row.average_share_quantity) == (2, 600.0)
        assert row.share_quantity_change is None

    def test_symbol_absent_this_week_gets_no_row(self, ctx: ExecutionContext) -> None:
        week, before = dt.date(2025, 12, 27), dt.date(2025, 12, 20)
        FinraOtcSymbolWeeklyFactory(tier="OTCE", week_ending=week, symbol="NSRGY")
        FinraOtcSymbolWeeklyFactory(tier="OTCE", week_ending=before, symbol="NSRGY")
        FinraOtcSymbolWeeklyFactory(tier="OTCE", week_ending=before, symbol="BAYRY")
        for day in (week, before):
            DatasetLoadFactory(partition=f"OTCE:{day.isoformat()}")

        result = otc.compute_rolling(ctx, "OTCE", "2025-12-27", weeks=2)

        assert (result["rows_read"], result["rows_written"]) == (3, 1)
        assert list(FinraOtcRolling.objects.values_list("symbol", flat=True)) == [
            "NSRGY"
        ]

    def test_windows_of_different_lengths_are_kept_side_by_side(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        run_chain(ctx, "NMS_TIER_2", list(SMALL_SET), weeks=2)

        otc.compute_rolling(ctx, "NMS_TIER_2", "2025-12-27", weeks=3)

        windows = FinraOtcRolling.objects.filter(week_ending="2025-12-27")
        assert sorted(windows.values_list("weeks", "symbol")) == [
            (2, "PLUG"),
            (2, "SOFI"),
            (3, "PLUG"),
            (3, "SOFI"),
        ]

    def test_rerun_skips_until_an_earlier_week_changes(
        self,
        small_set: dict[str, Path],
        write_file: Callable[[str, str], Path],
        ctx: ExecutionContext,
    ) -> None:
        run_chain(ctx, "NMS_TIER_2", list(SMALL_SET), weeks=3)
        skipped = otc.compute_rolling(ctx, "NMS_TIER_2", "2025-12-27", weeks=3)
        write_file(
            "finra/otc/NMS_TIER_2/2025-12-13.psv",
            summary("2025-12-13", SMALL_SET["2025-12-13"][:2]),
        )
        for step in (otc.ingest_week, otc.normalize_week, otc.aggregate_week):
            step(ctx, "NMS_TIER_2", "2025-12-13")

        rebuilt = otc.compute_rolling(ctx, "NMS_TIER_2", "2025-12-27", weeks=3)

        assert (skipped["skipped"], rebuilt["skipped"]) == (True, False)
        window = FinraOtcRolling.objects.filter(week_ending="2025-12-27", weeks=3)
        sofi = window.get(symbol="SOFI")
        assert (sofi.weeks_present, sofi.average_share_quantity) == (2, 2500.0)
        assert window.count() == 2

    def test_force_recomputes_an_unchanged_window(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        run_chain(ctx, "NMS_TIER_2", list(SMALL_SET), weeks=3)

        forced = otc.compute_rolling(
            ctx, "NMS_TIER_2", "2025-12-27", weeks="3", force="yes"
        )

        assert (forced["skipped"], forced["rows_written"]) == (False, 2)
        assert FinraOtcRolling.objects.filter(week_ending="2025-12-27").count() == 2

    def test_needs_the_week_itself_aggregated(self, ctx: ExecutionContext) -> None:
        with pytest.raises(MissingInputError) as raised:
            otc.compute_rolling(ctx, "NMS_TIER_1", "2026-01-03")

        assert str(raised.value) == (
            "finra_otc_symbol_weekly rows for NMS_TIER_1 week ending 2026-01-03 "
            "not found; run finra.otc_transparency.aggregate_week for that tier "
            "and week first"
        )

    def test_window_longer_than_two_years_is_refused(
        self, ctx: ExecutionContext
    ) -> None:
        with pytest.raises(ValueError) as raised:
            otc.compute_rolling(ctx, "NMS_TIER_1", "2026-01-03", weeks=200_000)

        assert str(raised.value) == "Parameter weeks must be at most 104, not 200000"


class TestComputeVenueShare:
    def test_ranks_participants_by_their_share_of_the_week(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        """Week 12-20: AAAA 2000 shares in PLUG; BBBB 2000 + 4000; total 8000."""
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")

        result = otc.compute_venue_share(ctx, "NMS_TIER_2", "2025-12-20")

        assert (result["rows_read"], result["rows_written"]) == (3, 2)
        rows = FinraOtcVenueShare.objects.values_list(
            "rank",
            "mpid",
            "participant_name",
            "share_quantity",
            "trade_count",
            "symbol_count",
            "market_share",
        )
        assert list(rows) == [
            (1, "BBBB", BETA, 6000, 75, 2, 0.75),
            (2, "AAAA", ALPHA, 2000, 20, 1, 0.25),
        ]

    def test_ties_are_ranked_by_mpid(self, ctx: ExecutionContext) -> None:
        week = dt.date(2025, 12, 13)
        for mpid in ("ZZZZ", "AAAA"):
            FinraOtcWeeklyFactory(
                tier="OTCE", week_ending=week, mpid=mpid, share_quantity=500
            )
        DatasetLoadFactory(dataset="finra_otc_weekly", partition="OTCE:2025-12-13")

        otc.compute_venue_share(ctx, "OTCE", "2025-12-13")

        rows = FinraOtcVenueShare.objects.values_list("rank", "mpid", "market_share")
        assert list(rows) == [(1, "AAAA", 0.5), (2, "ZZZZ", 0.5)]

    def test_rerun_skips_and_force_replaces(
        self, small_set: dict[str, Path], ctx: ExecutionContext
    ) -> None:
        otc.ingest_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.normalize_week(ctx, "NMS_TIER_2", "2025-12-20")
        otc.compute_venue_share(ctx, "NMS_TIER_2", "2025-12-20")

        skipped = otc.compute_venue_share(ctx, "NMS_TIER_2", "2025-12-20")
        forced = otc.compute_venue_share(ctx, "NMS_TIER_2", "2025-12-20", force=True)

        assert (skipped["skipped"], forced["skipped"]) == (True, False)
        assert FinraOtcVenueShare.objects.count() == 2

    def test_needs_the_week_normalized_first(self, ctx: ExecutionContext) -> None:
        with pytest.raises(MissingInputError, match="finra_otc_weekly rows for OTCE"):
            otc.compute_venue_share(ctx, "OTCE", "2026-01-03")


class TestWeeklyChainOnFixtures:
    """Five weeks of NMS Tier 1, checked for AAPL and CDRG against the files.

    AAPL's lines (shares, trades) summed per week, with awk over the fixtures:
    12-06 82,343,686 / 637,216 (5 lines); 12-13 65,221,986 / 648,436 (7);
    12-20 95,174,342 / 571,208 (7); 12-27 59,638,856 / 471,683 (7);
    01-03 71,669,336 / 558,501 (6). In 01-03 CDRG has 186,850,929 of the tier's
    635,699,426 shares, in 1,224,719 trades over 8 symbols.
    """

    @pytest.fixture
    def results(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> list[dict[str, Any]]:
        return run_chain(ctx, "NMS_TIER_1", WEEKS)

    def test_every_step_writes_what_it_read(
        self, fixture_data: Path, results: list[dict[str, Any]]
    ) -> None:
        for week, steps in zip(WEEKS, results, strict=True):
            lines = data_lines(
                fixture_data / "finra" / "otc" / "NMS_TIER_1" / f"{week}.psv"
            )

            assert steps["ingest"]["rows_read"] == lines
            assert steps["normalize"]["rows_read"] == lines
            assert steps["normalize"]["rows_written"] == lines
            assert steps["aggregate"]["rows_written"] == 8
            assert steps["venue_share"]["rows_written"] == 8

    def test_symbol_week_matches_the_sum_of_its_lines(
        self, results: list[dict[str, Any]]
    ) -> None:
        aapl = FinraOtcSymbolWeekly.objects.get(
            symbol="AAPL", week_ending=dt.date(2026, 1, 3)
        )

        assert (aapl.share_quantity, aapl.trade_count) == (71_669_336, 558_501)
        assert (aapl.participant_count, aapl.average_trade_size) == (6, 128.32)

    def test_four_week_rolling_matches_a_hand_average(
        self, results: list[dict[str, Any]]
    ) -> None:
        """(65,221,986 + 95,174,342 + 59,638,856 + 71,669,336) / 4 = 72,926,130."""
        rolling = FinraOtcRolling.objects.get(
            symbol="AAPL", week_ending=dt.date(2026, 1, 3), weeks=4
        )

        assert rolling.weeks_present == 4
        assert rolling.average_share_quantity == 72_926_130.0
        assert rolling.average_trade_count == 562_457.0
        assert rolling.share_quantity_change == 0.201722

    def test_first_week_window_counts_only_itself(
        self, results: list[dict[str, Any]]
    ) -> None:
        assert results[0]["rolling"]["weeks_present"] == 1
        assert results[3]["rolling"]["weeks_present"] == 4

    def test_venue_share_matches_a_hand_division(
        self, results: list[dict[str, Any]]
    ) -> None:
        top = FinraOtcVenueShare.objects.get(week_ending=dt.date(2026, 1, 3), rank=1)

        assert (top.mpid, top.share_quantity, top.trade_count) == (
            "CDRG",
            186_850_929,
            1_224_719,
        )
        assert (top.symbol_count, top.market_share) == (8, 0.29393)
        shares = FinraOtcVenueShare.objects.filter(week_ending=dt.date(2026, 1, 3))
        assert round(sum(shares.values_list("market_share", flat=True)), 4) == 1.0

    def test_rerunning_the_whole_chain_changes_nothing(
        self, ctx: ExecutionContext, results: list[dict[str, Any]]
    ) -> None:
        tables = [
            FinraOtcRaw,
            FinraOtcWeekly,
            FinraOtcSymbolWeekly,
            FinraOtcRolling,
            FinraOtcVenueShare,
        ]
        before = [table.objects.count() for table in tables]

        again = run_chain(ctx, "NMS_TIER_1", WEEKS)

        assert all(step["skipped"] for week in again for step in week.values())
        assert [table.objects.count() for table in tables] == before

"""Daily prices: loading Alpha Vantage-shaped CSV files per symbol and source."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from domains.market_data import prices
from domains.models import DailyPrice
from pipeline_groups import ExecutionContext
from pipeline_groups.exceptions import InputDataError, MissingInputError
from tests.domains.conftest import data_lines

pytestmark = pytest.mark.django_db

HEADER = "timestamp,open,high,low,close,volume"
BARS = [
    "2026-01-07,101.0000,103.5000,100.2500,102.7500,1200",
    "2026-01-06,100.0000,101.5000,99.0000,101.0000,1100",
    "2026-01-05,99.5000,100.5000,98.7500,100.0000,1000",
]


def bars(*extra: str) -> str:
    return "\n".join([HEADER, *BARS, *extra]) + "\n"


@pytest.fixture
def write_prices(
    write_file: Callable[[str, str], Path],
) -> Callable[[str, str], Path]:
    """Return a writer of one symbol's price file."""

    def write(symbol: str, text: str) -> Path:
        return write_file(f"market_data/prices/{symbol}.csv", text)

    return write


class TestIngestPrices:
    def test_rows_read_and_written_match_the_files(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        result = prices.ingest_prices(ctx, "aapl, MSFT")

        assert result == {
            "source": "alpha_vantage",
            "symbols": ["AAPL", "MSFT"],
            "skipped": False,
            "skipped_symbols": [],
            "rows_read": 140,
            "rows_written": 140,
        }
        folder = fixture_data / "market_data" / "prices"
        for symbol in ("AAPL", "MSFT"):
            lines = data_lines(folder / f"{symbol}.csv")
            assert DailyPrice.objects.filter(symbol=symbol).count() == lines == 70

    def test_bars_are_stored_exactly_as_written(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        prices.ingest_prices(ctx, ["AAPL"])

        newest = DailyPrice.objects.get(symbol="AAPL", date=dt.date(2026, 1, 9))
        oldest = DailyPrice.objects.order_by("date").first()

        assert (newest.open, newest.high, newest.low, newest.close) == (
            Decimal("180.0207"),
            Decimal("180.3305"),
            Decimal("175.8008"),
            Decimal("176.2519"),
        )
        assert newest.volume == 36_301_272
        assert oldest.date == dt.date(2025, 10, 1)
        assert oldest.close == Decimal("230.5856")

    def test_rerun_without_force_skips_unchanged_files(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        prices.ingest_prices(ctx, "AAPL")

        again = prices.ingest_prices(ctx, "AAPL,MSFT")

        assert again["skipped"] is False
        assert again["skipped_symbols"] == ["AAPL"]
        assert (again["rows_read"], again["rows_written"]) == (70, 70)
        assert DailyPrice.objects.count() == 140

    def test_force_reloads_unchanged_files_without_duplicates(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        prices.ingest_prices(ctx, "AAPL")

        again = prices.ingest_prices(ctx, "AAPL", force="true")

        assert (again["skipped"], again["rows_written"]) == (False, 70)
        assert DailyPrice.objects.count() == 70

    def test_window_replaces_only_its_own_days(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        """December has 22 trading days; January 2, 5, 6, 7, 8, 9 stay zeroed."""
        prices.ingest_prices(ctx, "AAPL")
        DailyPrice.objects.filter(date__gte="2025-12-01").update(volume=0)

        result = prices.ingest_prices(
            ctx, "AAPL", start_date="2025-12-01", end_date="2025-12-31"
        )

        assert (result["rows_read"], result["rows_written"]) == (70, 22)
        assert DailyPrice.objects.count() == 70
        assert DailyPrice.objects.filter(volume=0).count() == 6

    def test_sources_are_kept_apart(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        prices.ingest_prices(ctx, "SPY")

        other = prices.ingest_prices(ctx, "SPY", source="file")

        assert other["skipped"] is False
        assert DailyPrice.objects.filter(source="alpha_vantage").count() == 70
        assert DailyPrice.objects.filter(source="file").count() == 70

    def test_changed_file_reloads_without_force(
        self, write_prices: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        write_prices("TEST", bars())
        prices.ingest_prices(ctx, "TEST")
        write_prices("TEST", "\n".join([HEADER, *BARS[:1]]) + "\n")

        again = prices.ingest_prices(ctx, "TEST")

        assert (again["skipped"], again["rows_written"]) == (False, 1)
        assert list(DailyPrice.objects.values_list("date", flat=True)) == [
            dt.date(2026, 1, 7)
        ]

    @pytest.mark.parametrize(
        ("symbols", "message"),
        [
            ("", "Parameter symbols must name at least one symbol"),
            ("AAPL $$$", "Parameter symbols holds an invalid symbol '$$$'"),
        ],
    )
    def test_bad_symbols_are_refused(
        self, data_dir: Path, ctx: ExecutionContext, symbols: str, message: str
    ) -> None:
        with pytest.raises(ValueError) as raised:
            prices.ingest_prices(ctx, symbols)

        assert str(raised.value) == message

    def test_unknown_source_is_refused(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        with pytest.raises(ValueError) as raised:
            prices.ingest_prices(ctx, "AAPL", source="bloomberg")

        assert str(raised.value) == (
            "Parameter source must be one of alpha_vantage, file, not 'bloomberg'"
        )

    def test_missing_file_says_which_and_why(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        path = data_dir / "market_data" / "prices" / "IBM.csv"

        with pytest.raises(MissingInputError) as raised:
            prices.ingest_prices(ctx, "IBM")

        assert str(raised.value) == (
            f"Input file {path} not found; no alpha_vantage prices for IBM here"
        )


class TestIngestPricesRefusesBadInput:
    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("2026-01-08,1,2,1", "expected 6 fields, found 4"),
            (
                "2026-01-08,abc,2,1,1.5,10",
                "open 'abc' is not valid: is not a number",
            ),
            (
                "2026-01-08,1,2,1,1.5,ten",
                "volume 'ten' is not valid: invalid literal for int() with base "
                "10: 'ten'",
            ),
            (
                "2026-01-32,1,2,1,1.5,10",
                "timestamp '2026-01-32' is not valid: day is out of range for month",
            ),
            ("2026-01-08,1,2,-1,1.5,10", "low '-1' is not valid: must be greater"),
            ("2026-01-08,1,2,1,inf,10", "close 'inf' is not valid: must be a finite"),
            (
                "2026-01-08,1,2,1,10000000000,10",
                "close '10000000000' is not valid: must be below 10000000000",
            ),
            (
                "2026-01-08,1.23456,2,1,1.5,10",
                "open '1.23456' is not valid: has more than 4 decimal places",
            ),
            ("2026-01-08,1,1.2,1,1.5,10", "high 1.2 is below open, low or close"),
            ("2026-01-08,1,2,1.2,1.1,10", "low 1.2 is above open or close"),
            ("2026-01-07,1,2,1,1.5,10", "a second bar for 2026-01-07"),
        ],
    )
    def test_bad_line_names_file_line_and_reason(
        self,
        write_prices: Callable[[str, str], Path],
        ctx: ExecutionContext,
        line: str,
        reason: str,
    ) -> None:
        path = write_prices("TEST", bars(line))

        with pytest.raises(InputDataError) as raised:
            prices.ingest_prices(ctx, "TEST")

        assert str(raised.value).startswith(f"{path}, line 5: {reason}")
        assert raised.value.line == 5
        assert DailyPrice.objects.count() == 0

    def test_wrong_header_is_line_one(
        self, write_prices: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        path = write_prices("TEST", "date,open,high,low,close,volume\n")

        with pytest.raises(InputDataError) as raised:
            prices.ingest_prices(ctx, "TEST")

        assert str(raised.value) == (
            f"{path}, line 1: expected the header "
            "'timestamp,open,high,low,close,volume', "
            "found 'date,open,high,low,close,volume'"
        )

    def test_one_bad_file_stops_before_later_symbols(
        self,
        write_prices: Callable[[str, str], Path],
        ctx: ExecutionContext,
    ) -> None:
        write_prices("GOOD", bars())
        write_prices("BAD", bars("not,a,bar,at,all,!"))
        write_prices("LATER", bars())

        with pytest.raises(InputDataError, match="BAD.csv, line 5"):
            prices.ingest_prices(ctx, "GOOD BAD LATER")

        assert set(DailyPrice.objects.values_list("symbol", flat=True)) == {"GOOD"}

"""Exchange calendars: every day of each year a calendar file covers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from domains.market_data import prices
from domains.models import DailyPrice, Exchange, ExchangeCalendarDay
from domains.reference import exchange_calendar
from pipeline_groups import ExecutionContext
from pipeline_groups.exceptions import InputDataError, MissingInputError
from tests.domains.conftest import data_lines
from tests.factories import ExchangeCalendarDayFactory

pytestmark = pytest.mark.django_db

Session = ExchangeCalendarDay.Session
EXCHANGES = (
    "mic,name,timezone,open_time,close_time\n"
    "XTST,Test Exchange,Europe/Paris,09:00,17:30\n"
)
CALENDAR = (
    "date,kind,name,close_time\n"
    "2025-05-01,holiday,Labour Day,\n"
    "2025-12-24,early_close,Christmas Eve,14:00\n"
)


@pytest.fixture
def small_exchange(write_file: Callable[[str, str], Path]) -> Path:
    """Write one test exchange with two special days in 2025; return its calendar."""
    write_file("reference/exchanges.csv", EXCHANGES)
    return write_file("reference/calendars/XTST.csv", CALENDAR)


def day(mic: str, date: str) -> ExchangeCalendarDay:
    return ExchangeCalendarDay.objects.get(exchange_id=mic, date=date)


class TestSync:
    def test_writes_every_day_of_the_years_the_file_covers(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        """XNYS trades 250 days in 2025 and 251 in 2026 (weekdays less holidays)."""
        result = exchange_calendar.sync(ctx, "xnys")

        assert result == {
            "exchange": "XNYS",
            "years": [2025, 2026],
            "skipped": False,
            "skipped_years": [],
            "rows_read": 26,
            "rows_written": 730,
            "trading_days": 501,
        }
        calendar_file = fixture_data / "reference" / "calendars" / "XNYS.csv"
        assert data_lines(calendar_file) == 26
        assert ExchangeCalendarDay.objects.count() == 730
        trading = ExchangeCalendarDay.objects.filter(is_trading_day=True)
        assert trading.filter(date__year=2025).count() == 250
        assert trading.filter(date__year=2026).count() == 251

    def test_each_kind_of_day_is_told_apart(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        exchange_calendar.sync(ctx, "XNYS")

        christmas_eve = day("XNYS", "2025-12-24")
        christmas = day("XNYS", "2025-12-25")
        boxing_day = day("XNYS", "2025-12-26")
        saturday = day("XNYS", "2025-12-27")

        assert (christmas_eve.session, christmas_eve.close_time) == (
            Session.EARLY_CLOSE,
            dt.time(13, 0),
        )
        assert christmas_eve.name == "Christmas Eve"
        assert (christmas.session, christmas.is_trading_day) == (Session.HOLIDAY, False)
        assert christmas.name == "Christmas Day"
        assert (boxing_day.session, boxing_day.open_time, boxing_day.close_time) == (
            Session.REGULAR,
            dt.time(9, 30),
            dt.time(16, 0),
        )
        assert (saturday.session, saturday.open_time) == (Session.WEEKEND, None)

    def test_stores_the_exchange_from_exchanges_csv(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        exchange_calendar.sync(ctx, "XLON")

        exchange = Exchange.objects.get()

        assert (exchange.mic, exchange.name, exchange.timezone) == (
            "XLON",
            "London Stock Exchange",
            "Europe/London",
        )
        assert (exchange.open_time, exchange.close_time) == (
            dt.time(8, 0),
            dt.time(16, 30),
        )

    def test_one_year_when_asked(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        result = exchange_calendar.sync(ctx, "XNAS", year="2026")

        assert (result["years"], result["rows_written"]) == ([2026], 365)
        assert result["trading_days"] == 251
        assert not ExchangeCalendarDay.objects.filter(date__year=2025).exists()

    def test_year_the_file_does_not_cover_is_refused(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        path = fixture_data / "reference" / "calendars" / "XNYS.csv"

        with pytest.raises(MissingInputError) as raised:
            exchange_calendar.sync(ctx, "XNYS", year=2030)

        assert str(raised.value) == (
            f"Calendar of XNYS for 2030 in {path} not found; the file covers 2025, 2026"
        )

    def test_rerun_without_force_skips_unchanged_years(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        exchange_calendar.sync(ctx, "XNYS")

        again = exchange_calendar.sync(ctx, "XNYS")

        assert (again["skipped"], again["skipped_years"]) == (True, [2025, 2026])
        assert (again["rows_written"], again["trading_days"]) == (0, 501)
        assert ExchangeCalendarDay.objects.count() == 730

    def test_force_rewrites_unchanged_years_without_duplicates(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        exchange_calendar.sync(ctx, "XNYS")

        again = exchange_calendar.sync(ctx, "XNYS", force="yes")

        assert (again["skipped"], again["rows_written"]) == (False, 730)
        assert ExchangeCalendarDay.objects.count() == 730

    def test_sync_replaces_days_written_by_hand(
        self, small_exchange: Path, ctx: ExecutionContext
    ) -> None:
        ExchangeCalendarDayFactory(
            exchange__mic="XTST", date=dt.date(2025, 5, 1), name="typed by hand"
        )

        exchange_calendar.sync(ctx, "XTST")

        assert ExchangeCalendarDay.objects.count() == 365
        assert day("XTST", "2025-05-01").name == "Labour Day"

    def test_changed_hours_rewrite_the_year_without_force(
        self,
        small_exchange: Path,
        write_file: Callable[[str, str], Path],
        ctx: ExecutionContext,
    ) -> None:
        exchange_calendar.sync(ctx, "XTST")
        write_file("reference/exchanges.csv", EXCHANGES.replace("17:30", "17:00"))

        again = exchange_calendar.sync(ctx, "XTST")

        assert (again["skipped"], again["rows_written"]) == (False, 365)
        assert day("XTST", "2025-06-02").close_time == dt.time(17, 0)
        assert day("XTST", "2025-12-24").close_time == dt.time(14, 0)
        assert Exchange.objects.get().close_time == dt.time(17, 0)

    def test_unknown_exchange_lists_the_known_ones(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        path = fixture_data / "reference" / "exchanges.csv"

        with pytest.raises(ValueError) as raised:
            exchange_calendar.sync(ctx, "XTSE")

        assert str(raised.value) == (
            f"Parameter exchange must be one of XNYS, XNAS, XLON (from {path}), "
            "not 'XTSE'"
        )

    def test_missing_calendar_file_says_which(
        self, write_file: Callable[[str, str], Path], ctx: ExecutionContext
    ) -> None:
        exchanges = write_file("reference/exchanges.csv", EXCHANGES)
        path = exchanges.parent / "calendars" / "XTST.csv"

        with pytest.raises(MissingInputError) as raised:
            exchange_calendar.sync(ctx, "XTST")

        assert str(raised.value) == (
            f"Input file {path} not found; no calendar of XTST here"
        )

    def test_missing_exchanges_file_says_which(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        path = data_dir / "reference" / "exchanges.csv"

        with pytest.raises(MissingInputError) as raised:
            exchange_calendar.sync(ctx, "XNYS")

        assert str(raised.value) == f"Input file {path} not found"

    def test_price_fixtures_trade_only_on_xnys_trading_days(
        self, fixture_data: Path, ctx: ExecutionContext
    ) -> None:
        exchange_calendar.sync(ctx, "XNYS")
        prices.ingest_prices(ctx, "AAPL")

        price_days = set(DailyPrice.objects.values_list("date", flat=True))

        trading_days = set(
            ExchangeCalendarDay.objects.filter(
                is_trading_day=True,
                date__range=(min(price_days), max(price_days)),
            ).values_list("date", flat=True)
        )
        assert price_days == trading_days


class TestSyncRefusesBadInput:
    @pytest.mark.parametrize(
        ("line", "reason"),
        [
            ("2025-07-14,holiday", "expected 4 fields, found 2"),
            (
                "2025-07-14,festival,Bastille Day,",
                "kind 'festival' is not one of holiday, early_close",
            ),
            (
                "2025-07-32,holiday,Bastille Day,",
                "date '2025-07-32' is not valid: day is out of range for month",
            ),
            ("2025-05-01,holiday,Labour Day again,", "2025-05-01 is listed twice"),
            (
                "2025-12-31,early_close,New Year's Eve,",
                "close_time '' is not valid: Invalid isoformat string: ''",
            ),
            ("2025-07-14,holiday,,", "name '' is not valid: must not be empty"),
        ],
    )
    def test_bad_calendar_line_names_file_line_and_reason(
        self,
        small_exchange: Path,
        ctx: ExecutionContext,
        line: str,
        reason: str,
    ) -> None:
        small_exchange.write_text(CALENDAR + line + "\n")

        with pytest.raises(InputDataError) as raised:
            exchange_calendar.sync(ctx, "XTST")

        assert str(raised.value) == f"{small_exchange}, line 4: {reason}"
        assert not ExchangeCalendarDay.objects.exists()

    def test_calendar_without_days_is_refused(
        self, small_exchange: Path, ctx: ExecutionContext
    ) -> None:
        small_exchange.write_text("date,kind,name,close_time\n")

        with pytest.raises(InputDataError) as raised:
            exchange_calendar.sync(ctx, "XTST")

        assert str(raised.value) == (
            f"{small_exchange}: the file lists no closed or early-closing days"
        )

    @pytest.mark.parametrize(
        ("row", "reason"),
        [
            (
                "XTST,Test Exchange,Mars/Olympus,09:00,17:30",
                "timezone 'Mars/Olympus' is not valid: is not an IANA time zone",
            ),
            (
                "XTST,Test Exchange,Europe/Paris,9h,17:30",
                "open_time '9h' is not valid: Invalid isoformat string: '9h'",
            ),
            ("XTST,Test Exchange,Europe/Paris", "expected 5 fields, found 3"),
        ],
    )
    def test_bad_exchange_line_names_file_line_and_reason(
        self,
        small_exchange: Path,
        ctx: ExecutionContext,
        row: str,
        reason: str,
    ) -> None:
        exchanges = small_exchange.parent.parent / "exchanges.csv"
        exchanges.write_text("mic,name,timezone,open_time,close_time\n" + row + "\n")

        with pytest.raises(InputDataError) as raised:
            exchange_calendar.sync(ctx, "XTST")

        assert str(raised.value) == f"{exchanges}, line 2: {reason}"
        assert not Exchange.objects.exists()

    def test_bad_force_is_refused_before_reading(
        self, data_dir: Path, ctx: ExecutionContext
    ) -> None:
        with pytest.raises(ValueError, match="Parameter force must be true or false"):
            exchange_calendar.sync(ctx, "XNYS", force="sometimes")

"""The domain tables: one row per partition key, which is what makes reruns safe."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction

from domains.models import ExchangeCalendarDay, FinraOtcRolling
from tests.factories import (
    DailyPriceFactory,
    DatasetLoadFactory,
    ExchangeCalendarDayFactory,
    ExchangeFactory,
    FinraOtcRawFactory,
    FinraOtcRollingFactory,
    FinraOtcSymbolWeeklyFactory,
    FinraOtcVenueShareFactory,
    FinraOtcWeeklyFactory,
)

pytestmark = pytest.mark.django_db


class TestPartitionKeys:
    @pytest.mark.parametrize(
        ("factory", "key"),
        [
            (DatasetLoadFactory, {"partition": "NMS_TIER_1:2026-01-03"}),
            (FinraOtcRawFactory, {"line_number": 2}),
            (FinraOtcWeeklyFactory, {"mpid": "CDRG"}),
            (FinraOtcSymbolWeeklyFactory, {}),
            (FinraOtcRollingFactory, {}),
            (FinraOtcVenueShareFactory, {"mpid": "CDRG"}),
            (DailyPriceFactory, {"date": dt.date(2026, 1, 2)}),
            (ExchangeCalendarDayFactory, {"date": dt.date(2025, 12, 24)}),
        ],
    )
    def test_a_second_row_for_the_same_key_is_refused(
        self, factory: type, key: dict
    ) -> None:
        factory(**key)

        with pytest.raises(IntegrityError), transaction.atomic():
            factory(**key)

    def test_rolling_windows_of_different_lengths_share_a_week(self) -> None:
        FinraOtcRollingFactory(weeks=4)

        FinraOtcRollingFactory(weeks=12)

        weeks = FinraOtcRolling.objects.values_list("weeks", flat=True)
        assert sorted(weeks) == [4, 12]


class TestRowsReadAsTheyPrint:
    def test_each_row_names_its_partition(self) -> None:
        assert str(DatasetLoadFactory(partition="OTCE:2026-01-03")) == (
            "finra_otc_symbol_weekly[OTCE:2026-01-03]"
        )
        assert str(FinraOtcRawFactory(line_number=7)) == (
            "NMS_TIER_1 2026-01-03 line 7"
        )
        assert str(FinraOtcWeeklyFactory(mpid="NITE")) == (
            "NMS_TIER_1 2026-01-03 AAPL@NITE"
        )
        assert str(FinraOtcVenueShareFactory(mpid="NITE", market_share=0.2085)) == (
            "NMS_TIER_1 2026-01-03 NITE 20.85%"
        )
        assert str(FinraOtcRollingFactory()) == "NMS_TIER_1 2026-01-03 AAPL (4w)"

    def test_calendar_day_names_its_exchange_and_session(self) -> None:
        exchange = ExchangeFactory()
        christmas = ExchangeCalendarDayFactory(
            exchange=exchange,
            date=dt.date(2025, 12, 25),
            session=ExchangeCalendarDay.Session.HOLIDAY,
            is_trading_day=False,
            open_time=None,
            close_time=None,
            name="Christmas Day",
        )

        assert str(exchange) == "XNYS New York Stock Exchange"
        assert str(christmas) == "XNYS 2025-12-25 holiday"

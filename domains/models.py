"""The tables the sample domain pipelines write, one set per domain.

Every table is keyed by the partition a pipeline run replaces (a tier and week, a
symbol and day, an exchange and day), so rerunning a pipeline for the same input
replaces its rows instead of adding to them. `DatasetLoad` remembers what each
partition was built from, which is how a pipeline knows it may skip work.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class DatasetLoad(models.Model):
    """What one pipeline last wrote to one partition of a dataset, and from what.

    `fingerprint` is a digest of the input (a file's bytes, or the fingerprints of
    the upstream partitions): the same fingerprint means the same rows would be
    written again, so a pipeline without `force` skips the work.
    """

    dataset = models.CharField(max_length=100)
    partition = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    source = models.CharField(max_length=500, blank=True, default="")
    rows_read = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    execution_id = models.CharField(max_length=26, blank=True, default="")
    loaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "domain_dataset_loads"
        ordering = ["dataset", "partition"]
        constraints = [
            models.UniqueConstraint(
                fields=["dataset", "partition"], name="uniq_dataset_partition"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.dataset}[{self.partition}]"


class FinraOtcRaw(models.Model):
    """One line of a FINRA OTC transparency weekly summary, typed but unchanged."""

    tier = models.CharField(max_length=20)
    week_ending = models.DateField()
    line_number = models.PositiveIntegerField()
    tier_description = models.CharField(max_length=50)
    symbol = models.CharField(max_length=20)
    issue_name = models.CharField(max_length=200)
    participant_name = models.CharField(max_length=200)
    mpid = models.CharField(max_length=10)
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    last_update_date = models.DateField()
    week_start_date = models.DateField()
    source_file = models.CharField(max_length=500)

    class Meta:
        db_table = "finra_otc_raw"
        ordering = ["tier", "week_ending", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "week_ending", "line_number"],
                name="uniq_finra_otc_raw_line",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.week_ending} line {self.line_number}"


class FinraOtcWeekly(models.Model):
    """Normalized weekly volume of one symbol at one market participant."""

    tier = models.CharField(max_length=20)
    week_ending = models.DateField()
    symbol = models.CharField(max_length=20)
    issue_name = models.CharField(max_length=200)
    mpid = models.CharField(max_length=10)
    participant_name = models.CharField(max_length=200)
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    average_trade_size = models.FloatField()

    class Meta:
        db_table = "finra_otc_weekly"
        ordering = ["tier", "week_ending", "symbol", "mpid"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "week_ending", "symbol", "mpid"],
                name="uniq_finra_otc_weekly",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.week_ending} {self.symbol}@{self.mpid}"


class FinraOtcSymbolWeekly(models.Model):
    """A symbol's off-exchange volume for a week, summed over participants."""

    tier = models.CharField(max_length=20)
    week_ending = models.DateField()
    symbol = models.CharField(max_length=20)
    issue_name = models.CharField(max_length=200)
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    participant_count = models.PositiveIntegerField()
    average_trade_size = models.FloatField()

    class Meta:
        db_table = "finra_otc_symbol_weekly"
        ordering = ["tier", "week_ending", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "week_ending", "symbol"],
                name="uniq_finra_otc_symbol_weekly",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.week_ending} {self.symbol}"


class FinraOtcRolling(models.Model):
    """A symbol's average weekly volume over the N weeks ending with a week."""

    tier = models.CharField(max_length=20)
    week_ending = models.DateField()
    weeks = models.PositiveSmallIntegerField()
    symbol = models.CharField(max_length=20)
    weeks_present = models.PositiveSmallIntegerField()
    average_share_quantity = models.FloatField()
    average_trade_count = models.FloatField()
    share_quantity_change = models.FloatField(null=True, blank=True)

    class Meta:
        db_table = "finra_otc_rolling"
        ordering = ["tier", "week_ending", "weeks", "symbol"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "week_ending", "weeks", "symbol"],
                name="uniq_finra_otc_rolling",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.week_ending} {self.symbol} ({self.weeks}w)"


class FinraOtcVenueShare(models.Model):
    """A market participant's share of a tier's off-exchange volume for a week."""

    tier = models.CharField(max_length=20)
    week_ending = models.DateField()
    mpid = models.CharField(max_length=10)
    participant_name = models.CharField(max_length=200)
    share_quantity = models.BigIntegerField()
    trade_count = models.BigIntegerField()
    symbol_count = models.PositiveIntegerField()
    market_share = models.FloatField()
    rank = models.PositiveSmallIntegerField()

    class Meta:
        db_table = "finra_otc_venue_share"
        ordering = ["tier", "week_ending", "rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["tier", "week_ending", "mpid"],
                name="uniq_finra_otc_venue_share",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.week_ending} {self.mpid} {self.market_share:.2%}"


class DailyPrice(models.Model):
    """One trading day's bar for a symbol from one price source."""

    symbol = models.CharField(max_length=20)
    source = models.CharField(max_length=40)
    date = models.DateField()
    open = models.DecimalField(max_digits=14, decimal_places=4)
    high = models.DecimalField(max_digits=14, decimal_places=4)
    low = models.DecimalField(max_digits=14, decimal_places=4)
    close = models.DecimalField(max_digits=14, decimal_places=4)
    volume = models.BigIntegerField()

    class Meta:
        db_table = "market_data_prices"
        ordering = ["symbol", "source", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["symbol", "source", "date"], name="uniq_market_data_price"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.symbol} {self.date} {self.close}"


class Exchange(models.Model):
    """An exchange's identity and regular trading hours."""

    mic = models.CharField(max_length=10, primary_key=True)
    name = models.CharField(max_length=200)
    timezone = models.CharField(max_length=64)
    open_time = models.TimeField()
    close_time = models.TimeField()

    class Meta:
        db_table = "reference_exchanges"
        ordering = ["mic"]

    def __str__(self) -> str:
        return f"{self.mic} {self.name}"


class ExchangeCalendarDay(models.Model):
    """One calendar day of one exchange: open, closed or closing early."""

    class Session(models.TextChoices):
        REGULAR = "regular", "Regular session"
        EARLY_CLOSE = "early_close", "Early close"
        HOLIDAY = "holiday", "Holiday"
        WEEKEND = "weekend", "Weekend"

    exchange = models.ForeignKey(
        Exchange, on_delete=models.CASCADE, related_name="calendar_days"
    )
    date = models.DateField()
    session = models.CharField(max_length=16, choices=Session.choices)
    is_trading_day = models.BooleanField()
    open_time = models.TimeField(null=True, blank=True)
    close_time = models.TimeField(null=True, blank=True)
    name = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        db_table = "reference_exchange_calendar"
        ordering = ["exchange", "date"]
        constraints = [
            models.UniqueConstraint(
                fields=["exchange", "date"], name="uniq_exchange_calendar_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.exchange_id} {self.date} {self.session}"

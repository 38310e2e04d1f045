"""FINRA OTC transparency: load a tier's weekly summary and derive volumes from it.

FINRA publishes, per tier and week, the shares and trades each market participant
executed off-exchange in each symbol, as pipe-delimited text. A file holds one
tier and week, `<tier>/<week_ending>.psv` under SPINE_DATA_DIR/finra/otc/, in the
columns of FINRA's weekly summary download (`HEADER` without its last column:
tierDescription, issueSymbolIdentifier, issueName, marketParticipantName, MPID,
totalWeeklyShareQuantity, totalWeeklyTradeCount, lastUpdateDate), optionally
followed by weekStartDate, the field by which FINRA's weeklySummary API dataset
partitions its weeks. When that column is there, every line must carry the
start of the week the file is named for, five days before its Saturday end (a
Monday); the sample fixtures have it.

The five pipelines form the chain of RFC appendix A.1:

    ingest_week -> normalize_week -> aggregate_week -> compute_rolling
    normalize_week -> compute_venue_share (beside aggregate_week)

Each works on one tier and week (`tier`, `week_ending`), replaces its own rows for
that week, and skips the work when its input has not changed since the last load,
unless `force` is set.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db import transaction
from django.db.models import Count, Max, Sum

from domains import loading
from domains.models import (
    FinraOtcRaw,
    FinraOtcRolling,
    FinraOtcSymbolWeekly,
    FinraOtcVenueShare,
    FinraOtcWeekly,
)
from pipeline_groups import ExecutionContext, register_pipeline
from pipeline_groups.exceptions import InputDataError, MissingInputError

TIERS = {
    "NMS_TIER_1": "NMS Tier 1",
    "NMS_TIER_2": "NMS Tier 2",
    "OTCE": "OTCE",
}
# Both read the local files: "api" stands in for FINRA's query API in the demo,
# which must never reach the network.
SOURCE_TYPES = ("file", "api")

HEADER = (
    "tierDescription",
    "issueSymbolIdentifier",
    "issueName",
    "marketParticipantName",
    "MPID",
    "totalWeeklyShareQuantity",
    "totalWeeklyTradeCount",
    "lastUpdateDate",
    "weekStartDate",
)
# The download from FINRA's site stops before weekStartDate.
OPTIONAL_COLUMNS = ("weekStartDate",)


FIELD_PARSERS = {
    "tierDescription": loading.text_for(FinraOtcRaw, "tier_description"),
    "issueSymbolIdentifier": loading.text_for(FinraOtcRaw, "symbol"),
    "issueName": loading.text_for(FinraOtcRaw, "issue_name"),
    "marketParticipantName": loading.text_for(FinraOtcRaw, "participant_name"),
    "MPID": loading.text_for(FinraOtcRaw, "mpid"),
    "totalWeeklyShareQuantity": loading.non_negative_int,
    "totalWeeklyTradeCount": loading.non_negative_int,
    "lastUpdateDate": loading.iso_date,
    "weekStartDate": loading.iso_date,
}

RAW = "finra_otc_raw"
WEEKLY = "finra_otc_weekly"
SYMBOL_WEEKLY = "finra_otc_symbol_weekly"
ROLLING = "finra_otc_rolling"
VENUE_SHARE = "finra_otc_venue_share"
# Two years of weeks: a longer window is a mistake, not a question.
MAX_ROLLING_WEEKS = 104


def _tier(value: Any) -> str:
    tier = str(value).strip().upper()
    if tier not in TIERS:
        raise ValueError(
            f"Parameter tier must be one of {', '.join(TIERS)}, not {value!r}"
        )
    return tier


def average_trade_size(shares: int, trades: int) -> float:
    """Shares per trade to the cent, as FINRA publishes it (0 trades counts as 1)."""
    return round(shares / max(trades, 1), 2)


def _partition(tier: str, week_ending: dt.date) -> str:
    return f"{tier}:{week_ending.isoformat()}"


def _upstream(dataset: str, tier: str, week_ending: dt.date, producer: str) -> Any:
    load = loading.load_of(dataset, _partition(tier, week_ending))
    if load is None:
        raise MissingInputError(
            f"{dataset} rows for {tier} week ending {week_ending.isoformat()}",
            f"run {producer} for that tier and week first",
        )
    return load


def parse_week_file(
    path: Any, content: bytes, tier: str, week_ending: dt.date
) -> list[FinraOtcRaw]:
    """Check every line of a weekly summary and return the rows to store.

    Without a weekStartDate column the week is the one the file is named for.
    """
    week_start = week_ending - dt.timedelta(days=5)
    rows = []
    lines = loading.read_rows(
        path, content, HEADER, "|", quoted=False, optional=OPTIONAL_COLUMNS
    )
    for line, fields in lines:
        fields.setdefault("weekStartDate", week_start.isoformat())
        values = loading.parse_fields(path, line, fields, FIELD_PARSERS)
        if values["tierDescription"] != TIERS[tier]:
            raise InputDataError(
                path,
                line,
                f"tierDescription {values['tierDescription']!r} does not match "
                f"tier {tier} ({TIERS[tier]!r})",
            )
        if values["weekStartDate"] != week_start:
            raise InputDataError(
                path,
                line,
                f"weekStartDate {values['weekStartDate']} is not the start of the "
                f"week ending {week_ending} ({week_start})",
            )
        rows.append(
            FinraOtcRaw(
                tier=tier,
                week_ending=week_ending,
                line_number=line,
                tier_description=values["tierDescription"],
                symbol=values["issueSymbolIdentifier"],
                issue_name=values["issueName"],
                participant_name=values["marketParticipantName"],
                mpid=values["MPID"],
                share_quantity=values["totalWeeklyShareQuantity"],
                trade_count=values["totalWeeklyTradeCount"],
                last_update_date=values["lastUpdateDate"],
                week_start_date=values["weekStartDate"],
                source_file=str(path),
            )
        )
    if not rows:
        raise InputDataError(path, None, "the file has a header but no data lines")
    return rows


@register_pipeline(
    "finra.otc_transparency.ingest_week",
    logical_key="finra_otc_raw:{tier}:{week_ending}",
)
def ingest_week(
    ctx: ExecutionContext,
    tier: str,
    week_ending: str,
    source_type: str = "file",
    force: bool = False,
) -> dict[str, Any]:
    """Load one tier's weekly OTC transparency summary into finra_otc_raw."""
    tier = _tier(tier)
    week = loading.as_date(week_ending, "week_ending")
    force = loading.as_flag(force)
    if source_type not in SOURCE_TYPES:
        raise ValueError(
            f"Parameter source_type must be one of {', '.join(SOURCE_TYPES)}, "
            f"not {source_type!r}"
        )
    path = loading.data_path("finra", "otc", tier, f"{week}.psv")
    content = loading.require_file(
        path, f"FINRA has no {tier} summary for the week ending {week} here"
    )
    partition = _partition(tier, week)
    digest = loading.fingerprint(content)
    result = {"tier": tier, "week_ending": week.isoformat(), "source": str(path)}

    existing = loading.current_load(RAW, partition, digest)
    if existing is not None and not force:
        ctx.logger.info("Execution %s: %s already loaded", ctx.execution_id, partition)
        return loading.skipped(existing, **result)

    rows = parse_week_file(path, content, tier, week)
    with transaction.atomic():
        FinraOtcRaw.objects.filter(tier=tier, week_ending=week).delete()
        FinraOtcRaw.objects.bulk_create(rows, batch_size=500)
        loading.record_load(
            RAW,
            partition,
            digest,
            source=f"{source_type}:{path}",
            rows_read=len(rows),
            rows_written=len(rows),
            execution_id=ctx.execution_id,
        )
    ctx.logger.info(
        "Execution %s: loaded %d lines of %s", ctx.execution_id, len(rows), path
    )
    return {
        **result,
        "skipped": False,
        "rows_read": len(rows),
        "rows_written": len(rows),
    }


def _normalized(raw_rows: list[FinraOtcRaw]) -> tuple[list[FinraOtcWeekly], int]:
    """Tidy names and merge repeated symbol/participant lines; drop empty ones."""
    merged: dict[tuple[str, str], FinraOtcWeekly] = {}
    dropped = 0
    for raw in raw_rows:
        if raw.share_quantity == 0:
            dropped += 1
            continue
        symbol = raw.symbol.strip().upper()
        mpid = raw.mpid.strip().upper()
        row = merged.get((symbol, mpid))
        if row is None:
            merged[(symbol, mpid)] = FinraOtcWeekly(
                tier=raw.tier,
                week_ending=raw.week_ending,
                symbol=symbol,
                issue_name=" ".join(raw.issue_name.split()),
                mpid=mpid,
                participant_name=" ".join(raw.participant_name.split()).upper(),
                share_quantity=raw.share_quantity,
                trade_count=raw.trade_count,
            )
        else:
            row.share_quantity += raw.share_quantity
            row.trade_count += raw.trade_count

    for row in merged.values():
        row.average_trade_size = average_trade_size(row.share_quantity, row.trade_count)
    return list(merged.values()), dropped


@register_pipeline(
    "finra.otc_transparency.normalize_week",
    logical_key="finra_otc_weekly:{tier}:{week_ending}",
)
def normalize_week(
    ctx: ExecutionContext, tier: str, week_ending: str, force: bool = False
) -> dict[str, Any]:
    """Turn a week's raw lines into one clean row per symbol and participant."""
    tier = _tier(tier)
    week = loading.as_date(week_ending, "week_ending")
    force = loading.as_flag(force)
    partition = _partition(tier, week)
    upstream = _upstream(RAW, tier, week, "finra.otc_transparency.ingest_week")
    digest = loading.fingerprint(WEEKLY, upstream.fingerprint)
    result = {"tier": tier, "week_ending": week.isoformat()}

    existing = loading.current_load(WEEKLY, partition, digest)
    if existing is not None and not force:
        return loading.skipped(existing, **result)

    raw_rows = list(FinraOtcRaw.objects.filter(tier=tier, week_ending=week))
    rows, dropped = _normalized(raw_rows)
    with transaction.atomic():
        FinraOtcWeekly.objects.filter(tier=tier, week_ending=week).delete()
        FinraOtcWeekly.objects.bulk_create(rows, batch_size=500)
        loading.record_load(
            WEEKLY,
            partition,
            digest,
            source=RAW,
            rows_read=len(raw_rows),
            rows_written=len(rows),
            execution_id=ctx.execution_id,
        )
    return {
        **result,
        "skipped": False,
        "rows_read": len(raw_rows),
        "rows_written": len(rows),
        "rows_merged": len(raw_rows) - dropped - len(rows),
        "rows_dropped": dropped,
    }


@register_pipeline(
    "finra.otc_transparency.aggregate_week",
    logical_key="finra_otc_symbol_weekly:{tier}:{week_ending}",
)
def aggregate_week(
    ctx: ExecutionContext, tier: str, week_ending: str, force: bool = False
) -> dict[str, Any]:
    """Sum a week's normalized rows per symbol across market participants."""
    tier = _tier(tier)
    week = loading.as_date(week_ending, "week_ending")
    force = loading.as_flag(force)
    partition = _partition(tier, week)
    upstream = _upstream(WEEKLY, tier, week, "finra.otc_transparency.normalize_week")
    digest = loading.fingerprint(SYMBOL_WEEKLY, upstream.fingerprint)
    result = {"tier": tier, "week_ending": week.isoformat()}

    existing = loading.current_load(SYMBOL_WEEKLY, partition, digest)
    if existing is not None and not force:
        return loading.skipped(existing, **result)

    weekly = FinraOtcWeekly.objects.filter(tier=tier, week_ending=week)
    totals = weekly.values("symbol").annotate(
        shares=Sum("share_quantity"),
        trades=Sum("trade_count"),
        participants=Count("mpid"),
        issue=Max("issue_name"),
    )
    rows = [
        FinraOtcSymbolWeekly(
            tier=tier,
            week_ending=week,
            symbol=total["symbol"],
            issue_name=total["issue"],
            share_quantity=total["shares"],
            trade_count=total["trades"],
            participant_count=total["participants"],
            average_trade_size=average_trade_size(total["shares"], total["trades"]),
        )
        for total in totals.order_by("symbol")
    ]
    rows_read = weekly.count()
    with transaction.atomic():
        FinraOtcSymbolWeekly.objects.filter(tier=tier, week_ending=week).delete()
        FinraOtcSymbolWeekly.objects.bulk_create(rows, batch_size=500)
        loading.record_load(
            SYMBOL_WEEKLY,
            partition,
            digest,
            source=WEEKLY,
            rows_read=rows_read,
            rows_written=len(rows),
            execution_id=ctx.execution_id,
        )
    return {
        **result,
        "skipped": False,
        "rows_read": rows_read,
        "rows_written": len(rows),
    }


@register_pipeline(
    "finra.otc_transparency.compute_rolling",
    logical_key="finra_otc_rolling:{tier}:{week_ending}",
)
def compute_rolling(
    ctx: ExecutionContext,
    tier: str,
    week_ending: str,
    weeks: int = 4,
    force: bool = False,
) -> dict[str, Any]:
    """Average each symbol's weekly volume over the `weeks` weeks up to this one.

    The week itself must be aggregated; earlier weeks that are missing are left
    out of the average, and `weeks_present` says how many were there.
    """
    tier = _tier(tier)
    week = loading.as_date(week_ending, "week_ending")
    weeks = loading.as_positive_int(weeks, "weeks", MAX_ROLLING_WEEKS)
    force = loading.as_flag(force)
    window = [week - dt.timedelta(weeks=back) for back in range(weeks)]
    partition = f"{_partition(tier, week)}:{weeks}w"
    _upstream(SYMBOL_WEEKLY, tier, week, "finra.otc_transparency.aggregate_week")
    loads = [loading.load_of(SYMBOL_WEEKLY, _partition(tier, day)) for day in window]
    digest = loading.fingerprint(
        ROLLING, str(weeks), *(load.fingerprint if load else "-" for load in loads)
    )
    present = sum(load is not None for load in loads)
    result = {"tier": tier, "week_ending": week.isoformat(), "weeks": weeks}

    existing = loading.current_load(ROLLING, partition, digest)
    if existing is not None and not force:
        return loading.skipped(existing, **result)

    history = FinraOtcSymbolWeekly.objects.filter(tier=tier, week_ending__in=window)
    by_symbol: dict[str, dict[dt.date, FinraOtcSymbolWeekly]] = defaultdict(dict)
    rows_read = 0
    for row in history:
        by_symbol[row.symbol][row.week_ending] = row
        rows_read += 1
    rows = [
        _rolling_row(tier, week, weeks, symbol, by_week)
        for symbol, by_week in sorted(by_symbol.items())
        if week in by_week
    ]
    if present < weeks:
        ctx.logger.warning(
            "Execution %s: only %d of %d weeks aggregated for %s",
            ctx.execution_id,
            present,
            weeks,
            partition,
        )

    with transaction.atomic():
        FinraOtcRolling.objects.filter(
            tier=tier, week_ending=week, weeks=weeks
        ).delete()
        FinraOtcRolling.objects.bulk_create(rows, batch_size=500)
        loading.record_load(
            ROLLING,
            partition,
            digest,
            source=SYMBOL_WEEKLY,
            rows_read=rows_read,
            rows_written=len(rows),
            execution_id=ctx.execution_id,
        )
    return {
        **result,
        "skipped": False,
        "weeks_present": present,
        "rows_read": rows_read,
        "rows_written": len(rows),
    }


def _rolling_row(
    tier: str,
    week: dt.date,
    weeks: int,
    symbol: str,
    by_week: dict[dt.date, FinraOtcSymbolWeekly],
) -> FinraOtcRolling:
    present = list(by_week.values())
    previous = by_week.get(week - dt.timedelta(weeks=1))
    change = None
    if previous is not None and previous.share_quantity:
        current = by_week[week].share_quantity
        change = round(current / previous.share_quantity - 1, 6)
    return FinraOtcRolling(
        tier=tier,
        week_ending=week,
        weeks=weeks,
        symbol=symbol,
        weeks_present=len(present),
        average_share_quantity=round(
            sum(row.share_quantity for row in present) / len(present), 2
        ),
        average_trade_count=round(
            sum(row.trade_count for row in present) / len(present), 2
        ),
        share_quantity_change=change,
    )


@register_pipeline(
    "finra.otc_transparency.compute_venue_share",
    logical_key="finra_otc_venue_share:{tier}:{week_ending}",
)
def compute_venue_share(
    ctx: ExecutionContext, tier: str, week_ending: str, force: bool = False
) -> dict[str, Any]:
    """Rank market participants by their share of the tier's weekly volume."""
    tier = _tier(tier)
    week = loading.as_date(week_ending, "week_ending")
    force = loading.as_flag(force)
    partition = _partition(tier, week)
    upstream = _upstream(WEEKLY, tier, week, "finra.otc_transparency.normalize_week")
    digest = loading.fingerprint(VENUE_SHARE, upstream.fingerprint)
    result = {"tier": tier, "week_ending": week.isoformat()}

    existing = loading.current_load(VENUE_SHARE, partition, digest)
    if existing is not None and not force:
        return loading.skipped(existing, **result)

    weekly = FinraOtcWeekly.objects.filter(tier=tier, week_ending=week)
    totals = list(
        weekly.values("mpid")
        .annotate(
            shares=Sum("share_quantity"),
            trades=Sum("trade_count"),
            symbols=Count("symbol"),
            name=Max("participant_name"),
        )
        .order_by("-shares", "mpid")
    )
    tier_shares = sum(total["shares"] for total in totals) or 1
    rows = [
        FinraOtcVenueShare(
            tier=tier,
            week_ending=week,
            mpid=total["mpid"],
            participant_name=total["name"],
            share_quantity=total["shares"],
            trade_count=total["trades"],
            symbol_count=total["symbols"],
            market_share=round(total["shares"] / tier_shares, 6),
            rank=rank,
        )
        for rank, total in enumerate(totals, start=1)
    ]
    rows_read = weekly.count()
    with transaction.atomic():
        FinraOtcVenueShare.objects.filter(tier=tier, week_ending=week).delete()
        FinraOtcVenueShare.objects.bulk_create(rows, batch_size=500)
        loading.record_load(
            VENUE_SHARE,
            partition,
            digest,
            source=WEEKLY,
            rows_read=rows_read,
            rows_written=len(rows),
            execution_id=ctx.execution_id,
        )
    return {
        **result,
        "skipped": False,
        "rows_read": rows_read,
        "rows_written": len(rows),
    }

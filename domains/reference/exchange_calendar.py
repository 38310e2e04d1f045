"""Reference data: an exchange's trading calendar, one row per calendar day.

Two files under SPINE_DATA_DIR/reference/ describe the exchanges:
`exchanges.csv` (MIC, name, time zone, regular open and close) and
`calendars/<MIC>.csv` (the days the exchange is closed or closes early). The sync
writes every day of each year the file covers: weekend, holiday, early close or a
regular session, so other pipelines can ask whether a day traded.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.db import transaction

from domains import loading
from domains.models import Exchange, ExchangeCalendarDay
from pipeline_groups import ExecutionContext, register_pipeline
from pipeline_groups.exceptions import InputDataError, MissingInputError

EXCHANGE_HEADER = ("mic", "name", "timezone", "open_time", "close_time")
CALENDAR_HEADER = ("date", "kind", "name", "close_time")
DATASET = "reference_exchange_calendar"
Session = ExchangeCalendarDay.Session
KINDS = (Session.HOLIDAY, Session.EARLY_CLOSE)


def _time(text: str) -> dt.time:
    return dt.time.fromisoformat(text)


def _zone(text: str) -> str:
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("is not an IANA time zone") from None
    return text


def read_exchange(mic: str) -> tuple[Exchange, bytes]:
    """Return the exchange's row from exchanges.csv, and the file's bytes."""
    path = loading.data_path("reference", "exchanges.csv")
    content = loading.require_file(path)
    known = []
    for line, fields in loading.read_rows(path, content, EXCHANGE_HEADER, ","):
        known.append(fields["mic"])
        if fields["mic"] != mic:
            continue
        values = loading.parse_fields(
            path,
            line,
            fields,
            {
                "name": loading.text_for(Exchange, "name"),
                "timezone": _zone,
                "open_time": _time,
                "close_time": _time,
            },
        )
        return Exchange(mic=mic, **values), content
    raise ValueError(
        f"Parameter exchange must be one of {', '.join(known)} (from {path}), "
        f"not {mic!r}"
    )


def read_special_days(path: Any, content: bytes) -> dict[dt.date, dict[str, Any]]:
    """Return the closures and early closes of a calendar file, by date."""
    days: dict[dt.date, dict[str, Any]] = {}
    for line, fields in loading.read_rows(path, content, CALENDAR_HEADER, ","):
        values = loading.parse_fields(
            path,
            line,
            fields,
            {
                "date": loading.iso_date,
                "name": loading.text_for(ExchangeCalendarDay, "name"),
            },
        )
        if fields["kind"] not in KINDS:
            raise InputDataError(
                path,
                line,
                f"kind {fields['kind']!r} is not one of {', '.join(KINDS)}",
            )
        if values["date"] in days:
            raise InputDataError(path, line, f"{values['date']} is listed twice")
        close = None
        if fields["kind"] == Session.EARLY_CLOSE:
            close = loading.parse_fields(path, line, fields, {"close_time": _time})[
                "close_time"
            ]
        days[values["date"]] = {
            "session": fields["kind"],
            "name": values["name"],
            "close_time": close,
        }
    if not days:
        raise InputDataError(
            path, None, "the file lists no closed or early-closing days"
        )
    return days


def _calendar_day(
    exchange: Exchange, day: dt.date, special: dict[str, Any] | None
) -> ExchangeCalendarDay:
    if special is not None and special["session"] == Session.HOLIDAY:
        return ExchangeCalendarDay(
            exchange=exchange,
            date=day,
            session=Session.HOLIDAY,
            is_trading_day=False,
            name=special["name"],
        )
    if day.weekday() >= 5:
        return ExchangeCalendarDay(
            exchange=exchange, date=day, session=Session.WEEKEND, is_trading_day=False
        )
    return ExchangeCalendarDay(
        exchange=exchange,
        date=day,
        session=Session.EARLY_CLOSE if special else Session.REGULAR,
        is_trading_day=True,
        open_time=exchange.open_time,
        close_time=special["close_time"] if special else exchange.close_time,
        name=special["name"] if special else "",
    )


def _year_days(year: int) -> list[dt.date]:
    first = dt.date(year, 1, 1)
    count = (dt.date(year + 1, 1, 1) - first).days
    return [first + dt.timedelta(days=offset) for offset in range(count)]


@register_pipeline(
    "reference.exchange_calendar.sync",
    logical_key="reference_exchange_calendar:{exchange}",
)
def sync(
    ctx: ExecutionContext,
    exchange: str,
    year: int | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Write every day of an exchange's calendar for one year, or every year known."""
    mic = str(exchange).strip().upper()
    force = loading.as_flag(force)
    record, exchanges_content = read_exchange(mic)
    path = loading.data_path("reference", "calendars", f"{mic}.csv")
    content = loading.require_file(path, f"no calendar of {mic} here")
    special = read_special_days(path, content)
    covered = sorted({day.year for day in special})
    if year is None:
        years = covered
    else:
        years = [loading.as_positive_int(year, "year")]
        if years[0] not in covered:
            raise MissingInputError(
                f"Calendar of {mic} for {years[0]} in {path}",
                f"the file covers {', '.join(map(str, covered))}",
            )

    written = 0
    skipped_years = []
    with transaction.atomic():
        Exchange.objects.update_or_create(
            mic=mic,
            defaults={
                field: getattr(record, field)
                for field in ("name", "timezone", "open_time", "close_time")
            },
        )
        for each in years:
            digest = loading.fingerprint(exchanges_content, content, str(each))
            partition = f"{mic}:{each}"
            if loading.current_load(DATASET, partition, digest) and not force:
                skipped_years.append(each)
                continue
            rows = [
                _calendar_day(record, day, special.get(day)) for day in _year_days(each)
            ]
            ExchangeCalendarDay.objects.filter(
                exchange_id=mic, date__year=each
            ).delete()
            ExchangeCalendarDay.objects.bulk_create(rows, batch_size=500)
            loading.record_load(
                DATASET,
                partition,
                digest,
                source=str(path),
                rows_read=len(special),
                rows_written=len(rows),
                execution_id=ctx.execution_id,
            )
            written += len(rows)

    return {
        "exchange": mic,
        "years": years,
        "skipped": skipped_years == years,
        "skipped_years": skipped_years,
        "rows_read": len(special),
        "rows_written": written,
        "trading_days": ExchangeCalendarDay.objects.filter(
            exchange_id=mic, date__year__in=years, is_trading_day=True
        ).count(),
    }

"""Market data: load daily price bars for a list of symbols.

The demo never reaches the network: every source reads the local files under
SPINE_DATA_DIR/market_data/prices/, one CSV per symbol in Alpha Vantage's daily
layout (timestamp, open, high, low, close, volume; newest first). Rows are kept
per symbol and source, so loading AAPL from two sources keeps both.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from domains import loading
from domains.models import DailyPrice
from pipeline_groups import ExecutionContext, register_pipeline
from pipeline_groups.exceptions import InputDataError

SOURCES = ("alpha_vantage", "file")
HEADER = ("timestamp", "open", "high", "low", "close", "volume")
_PRICE_FIELD = DailyPrice._meta.get_field("close")
_PRICE_PLACES = _PRICE_FIELD.decimal_places
_PRICE_LIMIT = Decimal(10) ** (_PRICE_FIELD.max_digits - _PRICE_PLACES)


def price(text: str) -> Decimal:
    """Parse a price that the price columns hold exactly, so none is rounded."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("is not a number") from None
    if not value.is_finite():
        raise ValueError("must be a finite number")
    if not value > 0:
        raise ValueError("must be greater than zero")
    if value >= _PRICE_LIMIT:
        raise ValueError(f"must be below {_PRICE_LIMIT}")
    if value != value.quantize(Decimal(1).scaleb(-_PRICE_PLACES)):
        raise ValueError(f"has more than {_PRICE_PLACES} decimal places")
    return value


FIELD_PARSERS = {
    "timestamp": loading.iso_date,
    "open": price,
    "high": price,
    "low": price,
    "close": price,
    "volume": loading.non_negative_int,
}
DATASET = "market_data_prices"
_SYMBOL = re.compile(r"^[A-Z][A-Z0-9.\-]{0,19}$")


def _symbols(value: Any) -> list[str]:
    """Accept a list, or text separated by commas or spaces, as the symbols."""
    items = value.replace(",", " ").split() if isinstance(value, str) else value
    symbols = []
    for item in items:
        symbol = str(item).strip().upper()
        if not _SYMBOL.match(symbol):
            raise ValueError(f"Parameter symbols holds an invalid symbol {item!r}")
        if symbol not in symbols:
            symbols.append(symbol)
    if not symbols:
        raise ValueError("Parameter symbols must name at least one symbol")
    return symbols


def parse_price_file(
    path: Any, content: bytes, symbol: str, source: str
) -> list[DailyPrice]:
    """Check every bar of a price file and return the rows to store."""
    rows: dict[dt.date, DailyPrice] = {}
    for line, fields in loading.read_rows(path, content, HEADER, ","):
        values = loading.parse_fields(path, line, fields, FIELD_PARSERS)
        day = values["timestamp"]
        if day in rows:
            raise InputDataError(path, line, f"a second bar for {day}")
        if values["high"] < max(values["open"], values["close"], values["low"]):
            raise InputDataError(
                path, line, f"high {fields['high']} is below open, low or close"
            )
        if values["low"] > min(values["open"], values["close"]):
            raise InputDataError(
                path, line, f"low {fields['low']} is above open or close"
            )
        rows[day] = DailyPrice(
            symbol=symbol,
            source=source,
            date=day,
            open=values["open"],
            high=values["high"],
            low=values["low"],
            close=values["close"],
            volume=values["volume"],
        )
    return sorted(rows.values(), key=lambda row: row.date)


def _load_symbol(
    ctx: ExecutionContext,
    symbol: str,
    source: str,
    window: tuple[dt.date | None, dt.date | None],
    force: bool,
) -> dict[str, Any]:
    path = loading.data_path("market_data", "prices", f"{symbol}.csv")
    content = loading.require_file(path, f"no {source} prices for {symbol} here")
    start, end = window
    partition = f"{source}:{symbol}"
    digest = loading.fingerprint(content, str(start), str(end))

    existing = loading.current_load(DATASET, partition, digest)
    if existing is not None and not force:
        return {"skipped": True, "rows_read": 0, "rows_written": 0}

    bars = parse_price_file(path, content, symbol, source)
    kept = [
        bar
        for bar in bars
        if (start is None or bar.date >= start) and (end is None or bar.date <= end)
    ]
    stored = DailyPrice.objects.filter(symbol=symbol, source=source)
    if start is not None:
        stored = stored.filter(date__gte=start)
    if end is not None:
        stored = stored.filter(date__lte=end)
    with transaction.atomic():
        stored.delete()
        DailyPrice.objects.bulk_create(kept, batch_size=500)
        loading.record_load(
            DATASET,
            partition,
            digest,
            source=str(path),
            rows_read=len(bars),
            rows_written=len(kept),
            execution_id=ctx.execution_id,
        )
    return {"skipped": False, "rows_read": len(bars), "rows_written": len(kept)}


@register_pipeline("market_data.ingest_prices")
def ingest_prices(
    ctx: ExecutionContext,
    symbols: list[str] | str,
    source: str = "alpha_vantage",
    start_date: str | None = None,
    end_date: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Load daily bars for each symbol, replacing what the same source stored."""
    wanted = _symbols(symbols)
    if source not in SOURCES:
        raise ValueError(
            f"Parameter source must be one of {', '.join(SOURCES)}, not {source!r}"
        )
    start = loading.as_date(start_date, "start_date") if start_date else None
    end = loading.as_date(end_date, "end_date") if end_date else None
    force = loading.as_flag(force)

    per_symbol = {}
    for symbol in wanted:
        per_symbol[symbol] = _load_symbol(ctx, symbol, source, (start, end), force)
        ctx.logger.info(
            "Execution %s: %s from %s: %s",
            ctx.execution_id,
            symbol,
            source,
            per_symbol[symbol],
        )
    return {
        "source": source,
        "symbols": wanted,
        "skipped": all(outcome["skipped"] for outcome in per_symbol.values()),
        "skipped_symbols": [
            symbol for symbol, outcome in per_symbol.items() if outcome["skipped"]
        ],
        "rows_read": sum(outcome["rows_read"] for outcome in per_symbol.values()),
        "rows_written": sum(outcome["rows_written"] for outcome in per_symbol.values()),
    }

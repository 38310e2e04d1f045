"""Write the sample input data that the demo's domain pipelines read.

Run `python scripts/generate_fixtures.py [DATA_DIR]` (default: fixtures/). The
output is the same on every run: a seeded random generator draws volumes and
prices, and the calendars are written from the published holiday lists. It
writes three kinds of files:

- finra/otc/<TIER>/<WEEK_ENDING>.psv: FINRA OTC transparency weekly summaries,
  pipe-delimited, one row per symbol and market participant, for tiers
  NMS_TIER_1, NMS_TIER_2 and OTCE, in the columns of FINRA's weekly summary
  download followed by weekStartDate (a field of FINRA's weeklySummary API
  dataset), which lets the ingest check that each line belongs to its week;
- market_data/prices/<SYMBOL>.csv: daily prices in Alpha Vantage's CSV layout,
  newest first, on the trading days of the XNYS calendar;
- reference/exchanges.csv and reference/calendars/<MIC>.csv: regular hours per
  exchange and the days each exchange is closed or closes early.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
from pathlib import Path

SEED = 20260103
ROOT = Path(__file__).resolve().parent.parent

WEEKS = [
    dt.date(2025, 12, 6),
    dt.date(2025, 12, 13),
    dt.date(2025, 12, 20),
    dt.date(2025, 12, 27),
    dt.date(2026, 1, 3),
]

FINRA_HEADER = [
    "tierDescription",
    "issueSymbolIdentifier",
    "issueName",
    "marketParticipantName",
    "MPID",
    "totalWeeklyShareQuantity",
    "totalWeeklyTradeCount",
    "lastUpdateDate",
    "weekStartDate",
]

TIER_DESCRIPTIONS = {
    "NMS_TIER_1": "NMS Tier 1",
    "NMS_TIER_2": "NMS Tier 2",
    "OTCE": "OTCE",
}

# Symbol, issue name, typical weekly off-exchange shares.
TIER_SYMBOLS = {
    "NMS_TIER_1": [
        ("AAPL", "Apple Inc. Common Stock", 95_000_000),
        ("MSFT", "Microsoft Corporation Common Stock", 48_000_000),
        ("SPY", "SPDR S&P 500 ETF Trust", 120_000_000),
        ("NVDA", "NVIDIA Corporation Common Stock", 210_000_000),
        ("AMZN", "Amazon.com, Inc. Common Stock", 70_000_000),
        ("QQQ", "Invesco QQQ Trust, Series 1", 60_000_000),
        ("TSLA", "Tesla, Inc. Common Stock", 130_000_000),
        ("META", "Meta Platforms, Inc. Class A Common Stock", 25_000_000),
    ],
    "NMS_TIER_2": [
        ("PLUG", "Plug Power Inc. Common Stock", 30_000_000),
        ("SOFI", "SoFi Technologies, Inc. Common Stock", 45_000_000),
        ("RIOT", "Riot Platforms, Inc. Common Stock", 22_000_000),
        ("LCID", "Lucid Group, Inc. Common Stock", 18_000_000),
        ("OPEN", "Opendoor Technologies Inc. Common Stock", 26_000_000),
        ("CHPT", "ChargePoint Holdings, Inc. Common Stock", 9_000_000),
    ],
    "OTCE": [
        ("TCEHY", "Tencent Holdings Ltd. ADR", 6_000_000),
        ("NSRGY", "Nestle S.A. ADR", 1_500_000),
        ("RHHBY", "Roche Holding AG ADR", 2_200_000),
        ("BAYRY", "Bayer AG ADR", 3_100_000),
        ("HTHIY", "Hitachi, Ltd. ADR", 900_000),
        ("DTEGY", "Deutsche Telekom AG ADR", 1_200_000),
    ],
}

# MPID, participant name, relative weight of its flow.
PARTICIPANTS = [
    ("CDRG", "CITADEL SECURITIES LLC", 0.30),
    ("NITE", "VIRTU AMERICAS LLC", 0.20),
    ("JNST", "JANE STREET CAPITAL, LLC", 0.14),
    ("ETMM", "G1 EXECUTION SERVICES, LLC", 0.10),
    ("SOHO", "TWO SIGMA SECURITIES, LLC", 0.08),
    ("UBSS", "UBS SECURITIES LLC", 0.07),
    ("GSCO", "GOLDMAN SACHS & CO. LLC", 0.06),
    ("MSCO", "MORGAN STANLEY & CO. LLC", 0.05),
]

PRICE_SYMBOLS = {
    "AAPL": (228.0, 0.015),
    "MSFT": (512.0, 0.013),
    "SPY": (668.0, 0.008),
    "NVDA": (182.0, 0.025),
    "AMZN": (221.0, 0.018),
    "QQQ": (602.0, 0.010),
}
PRICE_START = dt.date(2025, 10, 1)
PRICE_END = dt.date(2026, 1, 9)
PRICE_HEADER = ["timestamp", "open", "high", "low", "close", "volume"]

EXCHANGES = [
    ("XNYS", "New York Stock Exchange", "America/New_York", "09:30", "16:00"),
    ("XNAS", "Nasdaq Stock Market", "America/New_York", "09:30", "16:00"),
    ("XLON", "London Stock Exchange", "Europe/London", "08:00", "16:30"),
]

_US_DAYS = [
    ("2025-01-01", "holiday", "New Year's Day", ""),
    ("2025-01-09", "holiday", "National Day of Mourning for Jimmy Carter", ""),
    ("2025-01-20", "holiday", "Martin Luther King Jr. Day", ""),
    ("2025-02-17", "holiday", "Washington's Birthday", ""),
    ("2025-04-18", "holiday", "Good Friday", ""),
    ("2025-05-26", "holiday", "Memorial Day", ""),
    ("2025-06-19", "holiday", "Juneteenth", ""),
    ("2025-07-03", "early_close", "Independence Day eve", "13:00"),
    ("2025-07-04", "holiday", "Independence Day", ""),
    ("2025-09-01", "holiday", "Labor Day", ""),
    ("2025-11-27", "holiday", "Thanksgiving Day", ""),
    ("2025-11-28", "early_close", "Day after Thanksgiving", "13:00"),
    ("2025-12-24", "early_close", "Christmas Eve", "13:00"),
    ("2025-12-25", "holiday", "Christmas Day", ""),
    ("2026-01-01", "holiday", "New Year's Day", ""),
    ("2026-01-19", "holiday", "Martin Luther King Jr. Day", ""),
    ("2026-02-16", "holiday", "Washington's Birthday", ""),
    ("2026-04-03", "holiday", "Good Friday", ""),
    ("2026-05-25", "holiday", "Memorial Day", ""),
    ("2026-06-19", "holiday", "Juneteenth", ""),
    ("2026-07-03", "holiday", "Independence Day (observed)", ""),
    ("2026-09-07", "holiday", "Labor Day", ""),
    ("2026-11-26", "holiday", "Thanksgiving Day", ""),
    ("2026-11-27", "early_close", "Day after Thanksgiving", "13:00"),
    ("2026-12-24", "early_close", "Christmas Eve", "13:00"),
    ("2026-12-25", "holiday", "Christmas Day", ""),
]

CALENDARS = {
    "XNYS": _US_DAYS,
    "XNAS": _US_DAYS,
    "XLON": [
        ("2025-01-01", "holiday", "New Year's Day", ""),
        ("2025-04-18", "holiday", "Good Friday", ""),
        ("2025-04-21", "holiday", "Easter Monday", ""),
        ("2025-05-05", "holiday", "Early May Bank Holiday", ""),
        ("2025-05-26", "holiday", "Spring Bank Holiday", ""),
        ("2025-08-25", "holiday", "Summer Bank Holiday", ""),
        ("2025-12-24", "early_close", "Christmas Eve", "12:30"),
        ("2025-12-25", "holiday", "Christmas Day", ""),
        ("2025-12-26", "holiday", "Boxing Day", ""),
        ("2025-12-31", "early_close", "New Year's Eve", "12:30"),
        ("2026-01-01", "holiday", "New Year's Day", ""),
        ("2026-04-03", "holiday", "Good Friday", ""),
        ("2026-04-06", "holiday", "Easter Monday", ""),
        ("2026-05-04", "holiday", "Early May Bank Holiday", ""),
        ("2026-05-25", "holiday", "Spring Bank Holiday", ""),
        ("2026-08-31", "holiday", "Summer Bank Holiday", ""),
        ("2026-12-24", "early_close", "Christmas Eve", "12:30"),
        ("2026-12-25", "holiday", "Christmas Day", ""),
        ("2026-12-28", "holiday", "Boxing Day (substitute)", ""),
        ("2026-12-31", "early_close", "New Year's Eve", "12:30"),
    ],
}
CALENDAR_HEADER = ["date", "kind", "name", "close_time"]


def _write(path: Path, lines: list[str]) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def finra_week_lines(tier: str, week_ending: dt.date, rng: random.Random) -> list[str]:
    """Return the lines of one tier's weekly summary, header first."""
    description = TIER_DESCRIPTIONS[tier]
    week_start = week_ending - dt.timedelta(days=5)
    updated = week_ending + dt.timedelta(days=rng.choice([9, 10, 16]))
    # Holiday weeks trade less.
    week_factor = 0.72 if week_ending in {dt.date(2025, 12, 27)} else 1.0

    lines = ["|".join(FINRA_HEADER)]
    for symbol, issue_name, weekly_shares in TIER_SYMBOLS[tier]:
        symbol_volume = weekly_shares * week_factor * rng.uniform(0.8, 1.25)
        for mpid, participant, weight in PARTICIPANTS:
            # Smaller firms do not trade every name every week.
            if weight < 0.1 and rng.random() < 0.3:
                continue
            shares = int(symbol_volume * weight * rng.uniform(0.7, 1.3))
            average_size = (
                rng.uniform(60, 240) if tier != "OTCE" else rng.uniform(300, 1500)
            )
            trades = max(1, int(shares / average_size))
            lines.append(
                "|".join(
                    [
                        description,
                        symbol,
                        issue_name,
                        participant,
                        mpid,
                        str(shares),
                        str(trades),
                        updated.isoformat(),
                        week_start.isoformat(),
                    ]
                )
            )
    return lines


def closed_days(mic: str) -> set[dt.date]:
    """Return the days an exchange is closed all day."""
    return {
        dt.date.fromisoformat(day)
        for day, kind, _name, _close in CALENDARS[mic]
        if kind == "holiday"
    }


def price_lines(symbol: str, rng: random.Random) -> list[str]:
    """Return one symbol's daily bars, newest first, as Alpha Vantage writes them."""
    start_price, volatility = PRICE_SYMBOLS[symbol]
    holidays = closed_days("XNYS")
    rows = []
    close = start_price
    day = PRICE_START
    while day <= PRICE_END:
        if day.weekday() < 5 and day not in holidays:
            open_ = close * (1 + rng.gauss(0, volatility / 3))
            close = open_ * (1 + rng.gauss(0, volatility))
            high = max(open_, close) * (1 + abs(rng.gauss(0, volatility / 2)))
            low = min(open_, close) * (1 - abs(rng.gauss(0, volatility / 2)))
            volume = int(rng.uniform(0.6, 1.6) * 40_000_000 * (200 / start_price))
            rows.append(
                f"{day.isoformat()},{open_:.4f},{high:.4f},{low:.4f},{close:.4f},"
                f"{volume}"
            )
        day += dt.timedelta(days=1)
    return [",".join(PRICE_HEADER), *reversed(rows)]


def generate(data_dir: Path) -> dict[str, int]:
    """Write every fixture file under `data_dir`; return bytes written per file."""
    rng = random.Random(SEED)
    sizes: dict[str, int] = {}

    for tier in TIER_SYMBOLS:
        for week_ending in WEEKS:
            path = data_dir / "finra" / "otc" / tier / f"{week_ending.isoformat()}.psv"
            sizes[str(path)] = _write(path, finra_week_lines(tier, week_ending, rng))

    for symbol in PRICE_SYMBOLS:
        path = data_dir / "market_data" / "prices" / f"{symbol}.csv"
        sizes[str(path)] = _write(path, price_lines(symbol, rng))

    exchanges = ["mic,name,timezone,open_time,close_time"]
    exchanges += [",".join(row) for row in EXCHANGES]
    path = data_dir / "reference" / "exchanges.csv"
    sizes[str(path)] = _write(path, exchanges)
    for mic, days in CALENDARS.items():
        path = data_dir / "reference" / "calendars" / f"{mic}.csv"
        lines = [",".join(CALENDAR_HEADER), *(",".join(day) for day in days)]
        sizes[str(path)] = _write(path, lines)
    return sizes


def main(argv: list[str] | None = None) -> int:
    """Generate the fixtures and say how much was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data_dir", nargs="?", type=Path, default=ROOT / "fixtures")
    options = parser.parse_args(argv)

    sizes = generate(options.data_dir)
    sys.stdout.write(
        f"Wrote {len(sizes)} files, {sum(sizes.values())} bytes, "
        f"under {options.data_dir}\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

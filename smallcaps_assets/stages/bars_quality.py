"""Gates of daily_bars and minute_bars (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..gates import Gate, GateResult
from . import minute

# A bar's range must contain its open and close.
OHLC_OK = (pl.col("low") <= pl.min_horizontal("open", "close")) & (
    pl.col("high") >= pl.max_horizontal("open", "close")
)
POSITIVE = (pl.col("low") > 0) & (pl.col("volume") >= 0)
MIN_COVERAGE = 0.8
LISTED_SAMPLE = 50  # symbols named in the coverage figures

OHLC_TEXT = "low <= open, close <= high on every bar."
POSITIVE_TEXT = "Prices > 0 and volume >= 0."

DAILY_OHLC_CONSISTENT = Gate("daily_ohlc_consistent", OHLC_TEXT)
DAILY_POSITIVE_PRICES = Gate("daily_positive_prices", POSITIVE_TEXT)
DAILY_COVERAGE = Gate(
    "daily_coverage", f"Bars for at least {MIN_COVERAGE:.0%} of the exchange-listed tickers of the day."
)
DAILY_GATES = (DAILY_OHLC_CONSISTENT, DAILY_POSITIVE_PRICES, DAILY_COVERAGE)

MINUTE_OHLC_CONSISTENT = Gate("minute_ohlc_consistent", OHLC_TEXT)
MINUTE_POSITIVE = Gate("minute_positive", POSITIVE_TEXT)
MINUTE_IN_SESSION = Gate(
    "minute_in_session", "Every bar starts inside 04:00-20:00 ET (early closes honoured)."
)
MINUTE_SORTED_UNIQUE = Gate("minute_sorted_unique", "Rows sorted and unique by (symbol, ts).")
MINUTE_COVERAGE = Gate("minute_coverage", "Every universe symbol that traded (daily volume > 0) has bars.")
MINUTE_GATES = (
    MINUTE_OHLC_CONSISTENT,
    MINUTE_POSITIVE,
    MINUTE_IN_SESSION,
    MINUTE_SORTED_UNIQUE,
    MINUTE_COVERAGE,
)


def daily_gates(bars: pl.DataFrame, reference: pl.DataFrame | None) -> list[GateResult]:
    """``reference``: the day's ticker_reference; coverage is measured against its listed stocks
    (and passes when it is missing: nothing to measure against)."""
    listed = (
        set()
        if reference is None
        else set(reference.filter(pl.col("active") & (pl.col("market") == "stocks"))["symbol"])
    )
    coverage = len(listed & set(bars["symbol"])) / len(listed) if listed else 1.0
    return [
        DAILY_OHLC_CONSISTENT.rows(bars, OHLC_OK),
        DAILY_POSITIVE_PRICES.rows(bars, POSITIVE),
        DAILY_COVERAGE.judge(
            coverage >= MIN_COVERAGE,
            {"symbols": bars.height, "listed": len(listed), "coverage": round(coverage, 4)},
        ),
    ]


def minute_gates(
    bars: pl.DataFrame, day: dt.date, symbols: list[str], daily: pl.DataFrame | None
) -> list[GateResult]:
    """``symbols``: the universe symbols asked for; ``daily``: the day's daily bars, which tell a
    symbol that did not trade (no bars expected) from one whose bars are missing."""
    traded = set(daily.filter(pl.col("volume") > 0)["symbol"]) if daily is not None else set(symbols)
    with_bars = set(bars["symbol"].unique())
    idle = sorted(set(symbols) - with_bars - traded)
    uncovered = sorted((set(symbols) & traded) - with_bars)
    keys = bars.select("symbol", "ts")
    sorted_unique = keys.equals(keys.sort("symbol", "ts")) and not keys.is_duplicated().any()
    return [
        MINUTE_OHLC_CONSISTENT.rows(bars, OHLC_OK),
        MINUTE_POSITIVE.rows(bars, POSITIVE),
        MINUTE_IN_SESSION.rows(bars, ~minute.outside_session(bars, day)),
        MINUTE_SORTED_UNIQUE.judge(sorted_unique),
        MINUTE_COVERAGE.judge(
            not uncovered,
            {
                "uncovered": ", ".join(uncovered[:LISTED_SAMPLE]) or "none",
                "did_not_trade": ", ".join(idle[:LISTED_SAMPLE]) or "none",
                "uncovered_count": len(uncovered),
                "did_not_trade_count": len(idle),
            },
        ),
    ]

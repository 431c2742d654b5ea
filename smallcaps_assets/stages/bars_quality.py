"""Gates of daily_bars and minute_bars (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl

from ..gates import SAMPLE_ROWS, Gate, GateResult
from . import minute

# A bar's range must contain its open and close.
OHLC_OK = (pl.col("low") <= pl.min_horizontal("open", "close")) & (
    pl.col("high") >= pl.max_horizontal("open", "close")
)
POSITIVE = (pl.col("low") > 0) & (pl.col("volume") >= 0)
MIN_COVERAGE = 0.8
# The healthy offline market flags 0.007% of its bars (docs/operations.md); a feed with bad ticks
# flags a large share (28% at 5% bad trades).
MAX_BAD_PRINT_SHARE = 0.001
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
MINUTE_BAD_PRINTS = Gate(
    "minute_bad_prints",
    "At most {p:.2%} of bars carry a quarantined bad print (their cleaned prices are used).",
    "warn",
    MAX_BAD_PRINT_SHARE,
)
MINUTE_GATES = (
    MINUTE_OHLC_CONSISTENT,
    MINUTE_POSITIVE,
    MINUTE_IN_SESSION,
    MINUTE_SORTED_UNIQUE,
    MINUTE_COVERAGE,
    MINUTE_BAD_PRINTS,
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


def bad_print_gate(bars: pl.DataFrame, max_share: float = MAX_BAD_PRINT_SHARE) -> GateResult:
    """The share of bars flagged ``bad_print``, with the most flagged symbols and a sample of
    flagged bars (raw beside cleaned prices)."""
    flagged = bars.filter("bad_print")
    share = flagged.height / bars.height if bars.height else 0.0
    by_symbol = flagged.group_by("symbol").len().sort("len", "symbol", descending=[True, False])
    result = MINUTE_BAD_PRINTS.judge(
        share <= max_share,
        {
            "bad_print_bars": flagged.height,
            "bars": bars.height,
            "bad_print_share": round(share, 6),
            "symbols_flagged": by_symbol.height,
            "most_flagged": ", ".join(f"{s} ({n})" for s, n in by_symbol.head(10).iter_rows()) or "none",
        },
        max_share,
    )
    sample = flagged.select(
        "symbol", "ts", "open", "high", "low", "close", "vwap", "raw_open", "raw_high", "raw_low", "raw_close"
    ).head(SAMPLE_ROWS)
    return replace(result, failures=0 if result.passed else flagged.height, sample=sample)


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
        bad_print_gate(bars),
    ]

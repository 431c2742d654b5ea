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
# The healthy offline market flags about 0.01% of its bars (0.27% of its volatile catalyst
# symbols', docs/operations.md); a feed with bad ticks flags a large share (28% at 5% bad trades).
MAX_BAD_PRINT_SHARE = 0.001
# A daily bar's high (low) more than DAILY_RANGE_TOLERANCE above (below) the day's cleaned minute
# path came from a print the minutes cannot explain. The healthy offline market: about 1% of
# symbols (a real extreme the minute gate took for a bad print); at 5% bad trades: about 90%.
DAILY_RANGE_TOLERANCE = 0.05
MAX_DAILY_UNEXPLAINED_SHARE = 0.05
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
MINUTE_DAILY_RANGE_EXPLAINED = Gate(
    "minute_daily_range_explained",
    "At most {p:.0%} of symbols have a daily high or low more than "
    f"{DAILY_RANGE_TOLERANCE:.0%} outside their cleaned minute bars (a daily bad print).",
    "warn",
    MAX_DAILY_UNEXPLAINED_SHARE,
)
MINUTE_GATES = (
    MINUTE_OHLC_CONSISTENT,
    MINUTE_POSITIVE,
    MINUTE_IN_SESSION,
    MINUTE_SORTED_UNIQUE,
    MINUTE_COVERAGE,
    MINUTE_BAD_PRINTS,
    MINUTE_DAILY_RANGE_EXPLAINED,
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


def daily_range_gate(
    bars: pl.DataFrame,
    daily: pl.DataFrame | None,
    tolerance: float = DAILY_RANGE_TOLERANCE,
    max_share: float = MAX_DAILY_UNEXPLAINED_SHARE,
) -> GateResult:
    """Daily bars whose high or low the day's cleaned minute path cannot explain, among the
    symbols with minute bars: daily_bars stays the vendor's, and this gate says how often its
    range rests on a bad print (the cleaned extremes are the minute bars' max high / min low)."""
    path = bars.group_by("symbol").agg(path_high=pl.col("high").max(), path_low=pl.col("low").min())
    joined = (
        path.join(daily.select("symbol", "high", "low"), on="symbol", how="inner")
        if daily is not None
        else path.clear().with_columns(high=pl.lit(None, pl.Float64), low=pl.lit(None, pl.Float64))
    )
    unexplained = joined.filter(
        (pl.col("high") > pl.col("path_high") * (1 + tolerance))
        | (pl.col("low") < pl.col("path_low") * (1 - tolerance))
    ).sort("symbol")
    share = unexplained.height / joined.height if joined.height else 0.0
    result = MINUTE_DAILY_RANGE_EXPLAINED.judge(
        share <= max_share,
        {"symbols": joined.height, "unexplained": unexplained.height, "unexplained_share": round(share, 4)},
        max_share,
    )
    sample = unexplained.select("symbol", "high", "path_high", "low", "path_low").head(SAMPLE_ROWS)
    return replace(result, failures=0 if result.passed else unexplained.height, sample=sample)


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
        daily_range_gate(bars, daily),
    ]

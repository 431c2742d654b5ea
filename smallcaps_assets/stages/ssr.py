"""SEC Rule 201, the short-sale circuit breaker ("SSR"), per symbol and trading day (pure polars).

The model rule (docs/ssr.md): a symbol triggers when a regular-hours minute bar's low reaches 90% of
the prior session's official close, taken in today's share units. From the close of that bar the
restriction holds for the rest of the day and all of the next trading day; a trigger on a day that
was already restricted extends it to the day after. Only regular-hours bars trigger (the SEC states
the circuit breaker can only be triggered during regular trading hours), but once active the
restriction covers the extended hours too (it applies whenever a national best bid is disseminated),
so an interval ends at the 20:00 ET post-market close, 17:00 on early-close days.

Point in time: ``triggered_at`` is the close of the triggering bar (its ``ts`` plus one minute),
never its start, since the bar's low is known only when the bar is complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from .. import calendar as cal
from .events.schema import UTC_NS

TRIGGER_DECLINE = 0.10  # Rule 201: a decline of 10% or more from the prior close
# Prices are cents (or 1/100 cent below $1); a relative slack far below a tick keeps a low of
# exactly 90% of the prior close a trigger despite binary rounding of 0.9 x close.
PRICE_TOLERANCE = 1e-9
BAR = dt.timedelta(minutes=1)

SSR_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "prior_close": pl.Float64(),
    "trigger_price": pl.Float64(),
    "triggered_at": UTC_NS,
    "trigger_low": pl.Float64(),
    "carried_over": pl.Boolean(),
    "active_from": UTC_NS,
    "active_until": UTC_NS,
}


def prior_close_today_units(
    symbols: list[str], prior_daily: pl.DataFrame | None, today_daily: pl.DataFrame | None
) -> pl.DataFrame:
    """One row per symbol: the previous session's close in today's share units (a split executed
    today rescales it by today's ``split_ratio``, announced before the open); null when the symbol
    had no bar in the previous session."""
    base = pl.DataFrame({"symbol": sorted(set(symbols))}, schema={"symbol": pl.String})
    if prior_daily is None:
        return base.with_columns(prior_close=pl.lit(None, dtype=pl.Float64))
    ratio = (
        today_daily.select("symbol", "split_ratio")
        if today_daily is not None
        else pl.DataFrame(schema={"symbol": pl.String, "split_ratio": pl.Float64})
    )
    # The previous day's own split_ratio is dropped: it took D-2 to D-1, not D-1 to D.
    closes = prior_daily.select("symbol", "close").join(ratio, on="symbol", how="left")
    closes = closes.select("symbol", prior_close=pl.col("close") * pl.col("split_ratio").fill_null(1.0))
    return base.join(closes, on="symbol", how="left")


def daily_triggers(before_prior_daily: pl.DataFrame | None, prior_daily: pl.DataFrame | None) -> list[str]:
    """Symbols whose previous session (D-1) reached 90% of its own prior close (D-2's close in
    D-1's share units), from the daily bars alone: their lows come from regular-hours prints,
    so "did D-1 trigger" is answered for symbols the previous status lacks (not in D-1's
    universe, or D-1 never built)."""
    if before_prior_daily is None or prior_daily is None:
        return []
    d1 = prior_daily.select("symbol", "low", "split_ratio")
    d2 = before_prior_daily.select("symbol", close2="close")
    line = pl.col("close2") * pl.col("split_ratio") * (1.0 - TRIGGER_DECLINE) * (1.0 + PRICE_TOLERANCE)
    return sorted(d1.join(d2, on="symbol", how="inner").filter(pl.col("low") <= line)["symbol"].to_list())


def ssr_status(
    day: dt.date,
    minute_bars: pl.DataFrame,
    prior_close: pl.DataFrame,
    previous_status: pl.DataFrame | None,
    previous_daily_triggers: Sequence[str] = (),
) -> pl.DataFrame:
    """One row per symbol of ``prior_close`` (the day's universe; ``prior_close`` may be null).

    ``minute_bars``: the day's bars (``symbol``, ``ts`` = bar start, ``low``, ``session``).
    ``previous_status``: this function's output for the previous session, or None when it is
    unknown. ``previous_daily_triggers`` (``daily_triggers``) answers the carry-over for symbols
    the previous status lacks; the status wins where it has the symbol. A symbol is active at
    instant t when ``active_from <= t < active_until``.
    """
    sess = cal.session(day)
    nxt = cal.next_trading_day(day)
    if sess is None or nxt is None:
        raise ValueError(f"{day} is not a trading day with a following session in the calendar")
    day_end = sess.post_close
    next_end = cal.session(nxt).post_close

    levels = prior_close.select(
        "symbol", "prior_close", trigger_price=pl.col("prior_close") * (1.0 - TRIGGER_DECLINE)
    )
    rth = minute_bars.filter((pl.col("ts") >= sess.market_open) & (pl.col("ts") < sess.market_close)).select(
        "symbol", "ts", "low"
    )
    first = (
        rth.join(levels, on="symbol", how="inner")
        .filter(pl.col("low") <= pl.col("trigger_price") * (1.0 + PRICE_TOLERANCE))
        .sort("symbol", "ts")
        .group_by("symbol", maintain_order=True)
        .first()
        .select("symbol", triggered_at=pl.col("ts") + BAR, trigger_low=pl.col("low"))
    )
    carried = _carried_symbols(previous_status, previous_daily_triggers)
    out = (
        levels.join(first, on="symbol", how="left")
        .with_columns(carried_over=pl.col("symbol").is_in(carried))
        .with_columns(
            active_from=pl.when(pl.col("carried_over"))
            .then(pl.lit(sess.pre_open))
            .otherwise(pl.col("triggered_at")),
            active_until=pl.when(pl.col("triggered_at").is_not_null())
            .then(pl.lit(next_end))
            .when(pl.col("carried_over"))
            .then(pl.lit(day_end)),
        )
    )
    return out.select(pl.col(c).cast(t) for c, t in SSR_SCHEMA.items()).sort("symbol")


def _carried_symbols(previous_status: pl.DataFrame | None, daily: Sequence[str]) -> list[str]:
    """Symbols whose previous session triggered: they are restricted from today's pre-market."""
    if previous_status is None or previous_status.is_empty():
        return list(daily)
    known = set(previous_status["symbol"])
    carried = previous_status.filter(pl.col("triggered_at").is_not_null())["symbol"].to_list()
    return carried + [s for s in daily if s not in known]


def active_at(ts: pl.Expr) -> pl.Expr:
    """Whether SSR is active at ``ts``, on a frame joined to the status on ``symbol`` (features,
    backtests): inside ``[active_from, active_until)``; false when the symbol was never active."""
    return pl.col("active_from").is_not_null() & (pl.col("active_from") <= ts) & (ts < pl.col("active_until"))

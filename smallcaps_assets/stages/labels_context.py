"""What surrounded each event's label horizon (pure polars): trading pauses, the SSR status and
the next session's open and close (docs/labels.md). ``labels.event_labels`` adds these columns to
frames carrying ``event_id``, ``symbol``, ``entry_ts``, ``vertical_ts`` and ``entry_price``."""

from __future__ import annotations

import datetime as dt

import polars as pl

from .events.schema import UTC_NS


def trading_pauses(
    bars: pl.DataFrame, pause_minutes: int, market_close: dt.datetime | None = None
) -> pl.DataFrame:
    """symbol, pause_start (close of the last bar before), pause_known (when the gap had lasted
    ``pause_minutes`` since that bar's start, so no later bar is needed to see it), pause_end (the
    reopening bar's start, or ``market_close`` when no regular-hours bar follows): gaps of at least
    ``pause_minutes`` between consecutive regular-hours bar starts, the halt detector's notion."""
    rth = bars.filter(pl.col("session") == "RTH").sort("symbol", "ts")
    nxt = pl.col("ts").shift(-1).over("symbol")
    close = pl.lit(market_close, dtype=UTC_NS) if market_close is not None else pl.lit(None, dtype=UTC_NS)
    gaps = rth.select("symbol", "ts", pause_end=pl.coalesce(nxt, close))
    return gaps.filter((pl.col("pause_end") - pl.col("ts")) >= pl.duration(minutes=pause_minutes)).select(
        "symbol",
        pause_start=pl.col("ts").dt.offset_by("1m"),
        pause_known=pl.col("ts").dt.offset_by(f"{pause_minutes}m"),
        pause_end="pause_end",
    )


def horizon_flags(
    labels: pl.DataFrame,
    bars: pl.DataFrame,
    ssr_status: pl.DataFrame | None,
    pause_minutes: int,
    market_close: dt.datetime | None = None,
) -> pl.DataFrame:
    """halt_in_horizon: a trading pause seen by the vertical barrier (``pause_known <=
    vertical_ts``) that had not ended by the entry; ssr_in_horizon: SSR active at some instant of
    [entry_ts, vertical_ts] (``active_from <= t < active_until``)."""
    span = labels.select("event_id", "symbol", "entry_ts", "vertical_ts")
    pauses = trading_pauses(bars, pause_minutes, market_close)
    halted = (
        span.join(pauses, on="symbol", how="inner")
        .filter((pl.col("pause_known") <= pl.col("vertical_ts")) & (pl.col("pause_end") > pl.col("entry_ts")))
        .select("event_id")
        .unique()
    )
    out = labels.with_columns(
        halt_in_horizon=pl.when(pl.col("entry_ts").is_not_null()).then(
            pl.col("event_id").is_in(halted["event_id"].implode())
        )
    )
    if ssr_status is None:
        return out.with_columns(ssr_in_horizon=pl.lit(None, dtype=pl.Boolean))
    active = (
        span.join(ssr_status.select("symbol", "active_from", "active_until"), on="symbol", how="inner")
        .filter(
            pl.col("active_from").is_not_null()
            & (pl.col("active_from") <= pl.col("vertical_ts"))
            & (pl.col("active_until") > pl.col("entry_ts"))
        )
        .select("event_id")
    )
    return out.with_columns(
        ssr_in_horizon=pl.when(pl.col("entry_ts").is_not_null()).then(
            pl.col("event_id").is_in(active["event_id"].implode())
        )
    )


def next_session_returns(labels: pl.DataFrame, next_daily: pl.DataFrame | None) -> pl.DataFrame:
    """The next session's open and close against the entry price: ``_raw`` as printed, and in the
    next session's share units (the entry price times the next session's ``split_ratio``)."""
    names = ("next_open_return", "next_close_return", "next_open_return_raw", "next_close_return_raw")
    if next_daily is None:
        return labels.with_columns(pl.lit(None, dtype=pl.Float64).alias(n) for n in names)
    nxt = next_daily.select("symbol", n_open="open", n_close="close", n_ratio="split_ratio")
    units = pl.col("entry_price") * pl.col("n_ratio")
    return (
        labels.join(nxt, on="symbol", how="left")
        .with_columns(
            next_open_return=pl.col("n_open") / units - 1.0,
            next_close_return=pl.col("n_close") / units - 1.0,
            next_open_return_raw=pl.col("n_open") / pl.col("entry_price") - 1.0,
            next_close_return_raw=pl.col("n_close") / pl.col("entry_price") - 1.0,
        )
        .drop("n_open", "n_close", "n_ratio")
    )

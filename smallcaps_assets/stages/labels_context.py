"""What surrounded each event's label horizon (pure polars): trading pauses, the SSR status and
the next session's open and close (docs/labels.md). ``labels.event_labels`` adds these columns to
frames carrying ``event_id``, ``symbol``, ``entry_ts``, ``vertical_ts`` and ``entry_price``."""

from __future__ import annotations

import polars as pl


def trading_pauses(bars: pl.DataFrame, pause_minutes: int) -> pl.DataFrame:
    """symbol, pause_start (close of the last bar before), pause_end (start of the reopening bar):
    gaps of at least ``pause_minutes`` between consecutive regular-hours bar starts."""
    rth = bars.filter(pl.col("session") == "RTH").sort("symbol", "ts")
    gaps = rth.select("symbol", prev=pl.col("ts").shift(1).over("symbol"), pause_end="ts")
    return gaps.filter((pl.col("pause_end") - pl.col("prev")) >= pl.duration(minutes=pause_minutes)).select(
        "symbol", pl.col("prev").dt.offset_by("1m").alias("pause_start"), "pause_end"
    )


def horizon_flags(
    labels: pl.DataFrame, bars: pl.DataFrame, ssr_status: pl.DataFrame | None, pause_minutes: int
) -> pl.DataFrame:
    """halt_in_horizon: a trading pause overlaps [entry_ts, vertical_ts]; ssr_in_horizon: SSR
    active at some instant of it (``active_from <= t < active_until``)."""
    span = labels.select("event_id", "symbol", "entry_ts", "vertical_ts")
    pauses = trading_pauses(bars, pause_minutes)
    halted = (
        span.join(pauses, on="symbol", how="inner")
        .filter((pl.col("pause_start") < pl.col("vertical_ts")) & (pl.col("pause_end") > pl.col("entry_ts")))
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

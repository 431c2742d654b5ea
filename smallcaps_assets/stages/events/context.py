"""Intraday context: time-of-day baselines of volume and transactions, and the per-symbol context
frame (prior close, baselines packed as arrays) that ``detect_intraday`` takes."""

from __future__ import annotations

import polars as pl

# Baselines are indexed by minute since 04:00 ET (the extended session's start): 0..959.
SESSION_MINUTES = 960
PRE_OPEN_MINUTE_OF_DAY = 240  # 04:00 ET as minutes since midnight ET


BASELINE_SCHEMA = {
    "symbol": pl.String,
    "minute_of_day": pl.Int32,
    "vol_baseline": pl.Float64,
    "txn_baseline": pl.Float64,
    "baseline_days": pl.Int64,
}


def _session_segment(minute_of_day: pl.Expr) -> pl.Expr:
    return pl.when(minute_of_day < 570).then(0).when(minute_of_day < 960).then(1).otherwise(2)


def baselines(prior_minute_bars: pl.DataFrame, smooth_minutes: int = 5) -> pl.DataFrame:
    """Time-of-day baselines of volume and transactions per minute from prior days' minute bars.

    For each symbol and each minute 04:00-19:59 ET (``minute_of_day`` = minutes since midnight ET,
    240..1199; DST handled by converting each bar to New York time):
    ``vol_baseline`` = total volume at that minute over the input days / ``baseline_days``, where
    ``baseline_days`` = the number of days on which the symbol has any bar (a minute without a bar
    counts as zero), then smoothed by a centred ``smooth_minutes`` moving average that never crosses
    a session boundary (09:30, 16:00). ``txn_baseline`` likewise from ``transactions``.

    The asset passes the minute bars of the 20 sessions before the partition day; the result is dense
    (960 rows per symbol).
    """
    schema_empty = pl.DataFrame(schema=BASELINE_SCHEMA)
    if prior_minute_bars.is_empty():
        return schema_empty
    et = pl.col("ts").dt.convert_time_zone("America/New_York")
    b = prior_minute_bars.select(
        "symbol",
        day=et.dt.date(),
        minute_of_day=(et.dt.hour().cast(pl.Int32) * 60 + et.dt.minute().cast(pl.Int32)),
        volume=pl.col("volume").cast(pl.Float64),
        transactions=pl.col("transactions").cast(pl.Float64).fill_null(0.0)
        if "transactions" in prior_minute_bars.columns
        else pl.lit(0.0),
    )
    days = b.group_by("symbol").agg(baseline_days=pl.col("day").n_unique().cast(pl.Int64))
    sums = b.group_by("symbol", "minute_of_day").agg(
        vol=pl.col("volume").sum(), txn=pl.col("transactions").sum()
    )
    grid = days.join(
        pl.DataFrame(
            {"minute_of_day": pl.int_range(240, 1200, eager=True).cast(pl.Int32)},
        ),
        how="cross",
    )
    g = (
        grid.join(sums, on=["symbol", "minute_of_day"], how="left")
        .with_columns(
            pl.col("vol").fill_null(0.0) / pl.col("baseline_days"),
            pl.col("txn").fill_null(0.0) / pl.col("baseline_days"),
            seg=_session_segment(pl.col("minute_of_day")),
        )
        .sort("symbol", "minute_of_day")
    )
    if smooth_minutes > 1:
        roll = {"window_size": smooth_minutes, "center": True, "min_samples": 1}
        g = g.with_columns(
            pl.col("vol").rolling_mean(**roll).over("symbol", "seg"),
            pl.col("txn").rolling_mean(**roll).over("symbol", "seg"),
        )
    return g.select(
        "symbol",
        "minute_of_day",
        vol_baseline="vol",
        txn_baseline="txn",
        baseline_days="baseline_days",
    )


def make_context(prior_close: pl.DataFrame, baseline_frame: pl.DataFrame | None = None) -> pl.DataFrame:
    """One row per symbol: ``prior_close`` and, when given, the baselines packed as arrays.

    ``prior_close``: columns symbol, prior_close (the prior session's close in today's share units).
    ``baseline_frame``: the output of ``baselines`` (or any frame with its columns). The arrays
    ``vol_baseline``/``txn_baseline`` have 960 entries, index = minute since 04:00 ET; minutes the
    frame lacks are zero. Symbols without baselines get nulls (their volume and tape detectors stay
    silent).
    """
    pc = prior_close.select("symbol", pl.col("prior_close").cast(pl.Float64)).unique("symbol", keep="last")
    if baseline_frame is None or baseline_frame.is_empty():
        return pc.with_columns(
            baseline_days=pl.lit(None, pl.Int64),
            vol_baseline=pl.lit(None, pl.Array(pl.Float64, SESSION_MINUTES)),
            txn_baseline=pl.lit(None, pl.Array(pl.Float64, SESSION_MINUTES)),
        ).sort("symbol")
    bf = baseline_frame.filter(
        pl.col("minute_of_day").is_between(
            PRE_OPEN_MINUTE_OF_DAY, PRE_OPEN_MINUTE_OF_DAY + SESSION_MINUTES - 1
        )
    )
    syms = bf.group_by("symbol").agg(baseline_days=pl.col("baseline_days").max().cast(pl.Int64))
    minutes = pl.DataFrame(
        {"minute_of_day": pl.int_range(240, 240 + SESSION_MINUTES, eager=True).cast(pl.Int32)}
    )
    dense = (
        syms.join(minutes, how="cross")
        .join(
            bf.select("symbol", pl.col("minute_of_day").cast(pl.Int32), "vol_baseline", "txn_baseline"),
            on=["symbol", "minute_of_day"],
            how="left",
        )
        .sort("symbol", "minute_of_day")
        .group_by("symbol", maintain_order=True)
        .agg(
            pl.col("baseline_days").first(),
            pl.col("vol_baseline").fill_null(0.0).cast(pl.Float64),
            pl.col("txn_baseline").fill_null(0.0).cast(pl.Float64),
        )
        .with_columns(
            pl.col("vol_baseline").list.to_array(SESSION_MINUTES),
            pl.col("txn_baseline").list.to_array(SESSION_MINUTES),
        )
    )
    return pc.join(dense, on="symbol", how="full", coalesce=True).sort("symbol")

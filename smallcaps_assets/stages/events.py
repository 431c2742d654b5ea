"""Event detection: the daily screen, the intraday detectors and the past-only score (pure polars).

Nothing here knows about Dagster; the assets ``daily_events`` and ``intraday_events`` call these
functions, and a live (streaming) detector can call ``detect_intraday`` on the bars seen so far.
The exact rule of every type, its defaults, sessions, direction, strength and evidence columns are
documented in ``docs/events.md``; the docstrings below only summarise.

Conventions
-----------
* Minute bars follow the ``MinuteBars`` contract: ``ts`` is the minute's start (UTC). An event's
  ``ts`` is the **close** of the bar that confirms it (bar start + 1 minute), so an event at ``ts``
  uses only bars that started before ``ts``.
* **No look-ahead by construction.** Every quantity at bar *k* is computed from bars <= *k* of the
  same symbol: cumulative sums and maxima, backward windows, forward-filled "last time that ...".
  Re-arm rules look only backwards too ("first occurrence of the day", or "no raw trigger in the
  previous N minutes"), so ``detect_intraday(bars[ts <= t])`` yields exactly the events with
  ``ts <= t + 1 min`` of ``detect_intraday(bars)``.
* The bar price used for VWAP and the LULD reference is the bar's ``vwap`` when present, else the
  typical price (high + low + close) / 3.
* Windows called "bars" count the symbol's bars (rows); windows called "minutes" use timestamps.
* Vectorised over all symbols at once: the day is processed in chunks of whole symbols (a memory
  optimisation that does not change results). Per-row work runs on the chunk's contiguous columns
  as whole-array numpy kernels (cumulative sums and maxima, shifted slices, gathers), which cost a
  fraction of the equivalent polars passes; candidate rows, usually few, are then measured and
  turned into event rows with polars. No Python loop runs per symbol or per bar, and every float
  is computed by the same operations in the same order as the rule states, so results do not
  depend on the engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from .. import calendar as cal
from ..schemas import UTC_NS

MINUTE_NS = 60_000_000_000
# Baselines are indexed by minute since 04:00 ET (the extended session's start): 0..959.
SESSION_MINUTES = 960
PRE_OPEN_MINUTE_OF_DAY = 240  # 04:00 ET as minutes since midnight ET
_TICKS_PER_DOLLAR = 10_000  # the vendor's sub-penny grid: sums of |price changes| are exact integers
_KEY_STRIDE = 2048  # time key = sid * stride + minute index

EVENT_TYPES: tuple[str, ...] = (
    "volume_spike",
    "tape_speed",
    "price_momentum",
    "vwap_break",
    "opening_range_break",
    "hod_break",
    "consolidation_break",
    "flush",
    "halt_resumption",
    "gap_and_go",
    "first_pullback",
    "parabolic_exhaustion",
)
SESSIONS = ("PM", "RTH", "AH")

# The fixed output schema: keys, then the typed evidence columns (null where a type does not use one;
# docs/events.md lists which columns each type fills).
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "ts": UTC_NS,
    "event_type": pl.String(),
    "session": pl.String(),
    "direction": pl.Int64(),
    "strength": pl.Float64(),
    "ev_open": pl.Float64(),
    "ev_high": pl.Float64(),
    "ev_close": pl.Float64(),
    "ev_volume": pl.Float64(),
    "ev_baseline": pl.Float64(),
    "ev_transactions": pl.Int64(),
    "ev_txn_baseline": pl.Float64(),
    "ev_window_minutes": pl.Int64(),
    "ev_bars": pl.Int64(),
    "ev_ref_price": pl.Float64(),
    "ev_vol_unit": pl.Float64(),
    "ev_vwap": pl.Float64(),
    "ev_level": pl.Float64(),
    "ev_level_ts": UTC_NS,
    "ev_or_high": pl.Float64(),
    "ev_or_low": pl.Float64(),
    "ev_or_minutes": pl.Int64(),
    "ev_range_high": pl.Float64(),
    "ev_range_low": pl.Float64(),
    "ev_pm_high": pl.Float64(),
    "ev_gap_pct": pl.Float64(),
    "ev_prior_close": pl.Float64(),
    "ev_pullback_low": pl.Float64(),
    "ev_prev_high": pl.Float64(),
    "ev_prev_low": pl.Float64(),
    "ev_halt_start": UTC_NS,
    "ev_halt_minutes": pl.Int64(),
    "ev_move_before_halt": pl.Float64(),
    "ev_band_pct": pl.Float64(),
    "ev_depth": pl.Float64(),
}
EVIDENCE_COLUMNS = tuple(c for c in EVENT_SCHEMA if c.startswith("ev_"))


# =============================================================================================
# Parameters
# =============================================================================================


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntradayParams(_Params):
    """Every threshold of the intraday detectors, with the platform's defaults (docs/events.md)."""

    # volume_spike
    spike_ratio: float = Field(5.0, gt=0, description="bar volume >= ratio x time-of-day baseline")
    spike_min_volume: float = Field(5_000, ge=0, description="bar volume at least this (shares)")
    spike_baseline_floor: float = Field(100.0, gt=0, description="baseline floor (shares per minute)")
    spike_cooldown_minutes: int = Field(5, ge=1, description="no raw spike in the previous N minutes")
    min_baseline_days: int = Field(5, ge=1, description="days of history a baseline needs to be used")
    # tape_speed
    tape_ratio: float = Field(4.0, gt=0, description="window transactions >= ratio x baseline")
    tape_min_transactions: int = Field(30, ge=0, description="window transactions at least this")
    tape_baseline_floor: float = Field(3.0, gt=0, description="floor of the window's baseline")
    tape_window_minutes: int = Field(3, ge=1, le=5, description="window length (minutes, incl. the bar)")
    tape_cooldown_minutes: int = Field(5, ge=1)
    # price_momentum (and the volatility unit shared with flush)
    momentum_window_minutes: int = Field(3, ge=1, le=5, description="move measured over N minutes")
    momentum_min_z: float = Field(3.0, gt=0, description="|$ per minute| / vol unit at least this")
    momentum_min_move: float = Field(0.02, ge=0, description="|move| / reference at least this")
    vol_unit_bars: int = Field(30, ge=5, le=390, description="bars in the volatility unit")
    vol_unit_floor: float = Field(0.0005, ge=0, description="vol unit at least this x reference price")
    momentum_cooldown_minutes: int = Field(5, ge=1, description="per direction")
    # vwap_break
    vwap_hold_minutes: int = Field(15, ge=1, description="minutes since the last close on the new side")
    vwap_margin: float = Field(0.0, ge=0, description="close beyond VWAP by more than this fraction")
    vwap_min_depth: float = Field(
        0.01, ge=0, description="one of the previous hold bars closed at least this far on the other side"
    )
    # opening_range_break
    or_minutes: tuple[int, ...] = Field((5, 15, 30), min_length=1, description="opening-range lengths")
    or_min_bars: int = Field(2, ge=1, description="bars the range needs")
    or_valid_minutes: int = Field(120, ge=1, description="breaks count until open + N minutes")
    or_volume_ratio: float = Field(
        0.0, ge=0, description="break bar volume >= this x the range's volume per minute"
    )
    # flush
    flush_window_minutes: int = Field(5, ge=2, le=10, description="high of the last N minutes")
    flush_min_drop: float = Field(0.05, gt=0, description="close below that high by this fraction")
    flush_min_sigmas: float = Field(4.0, ge=0, description="drop at least this many vol units")
    flush_cooldown_minutes: int = Field(10, ge=1)
    # consolidation_break
    cons_minutes: int = Field(20, ge=3, le=120, description="consolidation window (minutes before the bar)")
    cons_min_bars: int = Field(5, ge=2, description="bars the window needs (and the volume reference)")
    cons_tightness: float = Field(
        0.5, gt=0, description="window range <= this x session vol unit x sqrt(window minutes)"
    )
    cons_volume_ratio: float = Field(
        1.5, ge=0, description="bar volume >= this x mean volume of the previous cons_min_bars bars"
    )
    cons_cooldown_minutes: int = Field(15, ge=1)
    # gap_and_go
    gap_min: float = Field(0.10, gt=0, description="RTH open >= prior close x (1 + gap_min)")
    gap_go_max_minutes: int = Field(90, ge=1, description="break must come by open + N minutes")
    # first_pullback
    pullback_min_leg: float = Field(0.05, gt=0, description="HOD >= RTH open x (1 + leg)")
    pullback_min_retrace: float = Field(0.25, ge=0, description="pullback >= this share of the leg")
    pullback_max_retrace: float = Field(0.80, gt=0, description="pullback <= this share of the leg")
    pullback_min_minutes: int = Field(3, ge=1, description="HOD set at least N minutes before")
    # parabolic_exhaustion
    parabolic_window_bars: int = Field(30, ge=2, description="run measured from the low of N bars")
    parabolic_min_run: float = Field(0.15, gt=0, description="HOD >= that low x (1 + run)")
    parabolic_recent_minutes: int = Field(5, ge=1, description="HOD set at most N minutes before")
    # hod_break
    hod_min_age_minutes: int = Field(30, ge=1, description="the broken HOD was set >= N minutes ago")
    # halt_resumption
    halt_min_gap_minutes: int = Field(5, ge=2, description="RTH bar-start gap at least N minutes")
    halt_min_reference_bars: int = Field(3, ge=1, le=5, description="bars in the 5-minute reference")
    halt_band_fraction: float = Field(0.8, gt=0, description="move >= this x LULD band")
    luld_tier: int = Field(2, ge=1, le=2, description="LULD tier assumed (small caps are Tier 2)")
    # engine (does not change results)
    chunk_rows: int = Field(1_000_000, ge=1_000, description="rows per chunk of whole symbols")
    threads: int = Field(2, ge=1, le=64, description="chunks processed concurrently")


class DailyScreenParams(_Params):
    """Thresholds of the daily screen (docs/events.md, "Daily screen")."""

    gap_min: float = Field(0.10, description="open >= prior close x (1 + gap_min)")
    rvol_min: float = Field(3.0, gt=0, description="volume >= rvol_min x average volume of prior days")
    dollar_volume_min: float = Field(2.0e6, ge=0, description="close x volume at least this ($)")
    volume_lookback: int = Field(20, ge=1, description="prior sessions in the average volume")
    min_history: int = Field(5, ge=1, description="prior sessions needed for any average")
    atr_lookback: int = Field(14, ge=1, description="prior sessions in the ATR")
    atr_move_min: float = Field(2.0, gt=0, description="|close - prior close| >= this x ATR")
    range_lookback: int = Field(20, ge=1, description="prior sessions in the average range")
    range_ratio_min: float = Field(3.0, gt=0, description="high - low >= this x average range")
    flush_drop_min: float = Field(0.10, gt=0, description="close <= prior close x (1 - this)")
    flush_fade_min: float = Field(0.15, gt=0, description="close <= high x (1 - this)")


# =============================================================================================
# Daily screen
# =============================================================================================

DAILY_GATES = ("triple_gate", "atr_breakout", "range_explosion", "daily_flush")


def _daily_measures(history: pl.DataFrame, params: DailyScreenParams) -> pl.DataFrame:
    """Every symbol-day of ``history`` with the measures of every gate; averages use prior rows only."""
    h = history
    if "split_ratio" in h.columns and h.height:
        from .daily import adjust_as_of

        had_vwap = "vwap" in h.columns
        if not had_vwap:
            h = h.with_columns(vwap=pl.lit(None, pl.Float64))
        h = adjust_as_of(h, h["date"].max())
        if not had_vwap:
            h = h.drop("vwap")
    p = params
    rng = pl.col("high") - pl.col("low")
    pc = pl.col("prior_close")
    prior = {"min_samples": p.min_history}
    h = (
        h.sort("symbol", "date")
        .with_columns(
            prior_close=pl.col("close").shift(1).over("symbol"),
            history_sessions=pl.int_range(pl.len()).over("symbol").cast(pl.Int64),
            avg_volume=pl.col("volume").shift(1).rolling_mean(p.volume_lookback, **prior).over("symbol"),
            avg_range=rng.shift(1).rolling_mean(p.range_lookback, **prior).over("symbol"),
        )
        .with_columns(
            true_range=pl.max_horizontal("high", pc) - pl.min_horizontal("low", pc),
        )
        .with_columns(
            atr=pl.col("true_range").shift(1).rolling_mean(p.atr_lookback, **prior).over("symbol"),
        )
        .with_columns(
            gap_pct=pl.col("open") / pc - 1.0,
            change_pct=pl.col("close") / pc - 1.0,
            rvol=pl.col("volume") / pl.col("avg_volume"),
            dollar_volume=pl.col("close") * pl.col("volume"),
            atr_move=(pl.col("close") - pc) / pl.col("atr"),
            range_ratio=rng / pl.col("avg_range"),
            high_to_close=1.0 - pl.col("close") / pl.col("high"),
        )
    )
    gate_gap = (pl.col("gap_pct") >= p.gap_min).fill_null(False)
    gate_rvol = (pl.col("rvol") >= p.rvol_min).fill_null(False)
    gate_dv = (pl.col("dollar_volume") >= p.dollar_volume_min).fill_null(False)
    return h.with_columns(
        gate_gap=gate_gap,
        gate_rvol=gate_rvol,
        gate_dollar_volume=gate_dv,
        triple_gate=gate_gap & gate_rvol & gate_dv,
        atr_breakout=(pl.col("atr_move").abs() >= p.atr_move_min).fill_null(False),
        range_explosion=(pl.col("range_ratio") >= p.range_ratio_min).fill_null(False),
        daily_flush=(
            (-pl.col("change_pct") >= p.flush_drop_min) & (pl.col("high_to_close") >= p.flush_fade_min)
        ).fill_null(False),
        direction=pl.when(pl.col("close") >= pc).then(1).otherwise(-1).cast(pl.Int64),
    )


DAILY_COLUMNS = (
    "date",
    "symbol",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "prior_close",
    "history_sessions",
    "gap_pct",
    "change_pct",
    "avg_volume",
    "rvol",
    "dollar_volume",
    "true_range",
    "atr",
    "atr_move",
    "avg_range",
    "range_ratio",
    "high_to_close",
    "direction",
    "gate_gap",
    "gate_rvol",
    "gate_dollar_volume",
    *DAILY_GATES,
)


def daily_screen(
    history: pl.DataFrame, day: dt.date, params: DailyScreenParams | None = None, *, all_rows: bool = False
) -> pl.DataFrame:
    """The symbol-days of ``day`` on which at least one daily gate fired, with every measured value.

    ``history``: daily bars (date, symbol, open, high, low, close, volume; optionally split_ratio,
    then prices are split-adjusted as of the latest date first) covering the lookback and ``day``.
    Rows dated after ``day`` are ignored. Averages (volume, ATR, range) use the symbol's prior
    sessions only. ``all_rows=True`` keeps the symbols with no gate too (for inspection).
    """
    params = params or DailyScreenParams()
    hist = history.filter(pl.col("date") <= day)
    m = _daily_measures(hist, params).filter(pl.col("date") == day)
    if not all_rows:
        m = m.filter(pl.any_horizontal(*DAILY_GATES))
    return m.select(DAILY_COLUMNS).sort("symbol")


# Threshold grids of the calibration report; the configured default is always added.
CALIBRATION_GRIDS: dict[str, tuple[float, ...]] = {
    "gap_pct": (0.03, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50, 1.00),
    "rvol": (1.5, 2.0, 3.0, 5.0, 10.0, 20.0),
    "dollar_volume": (2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2.5e7),
    "atr_move": (1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    "range_ratio": (1.5, 2.0, 3.0, 4.0, 6.0),
    "flush_drop": (0.05, 0.10, 0.15, 0.20, 0.30),
}


def calibration(history: pl.DataFrame, params: DailyScreenParams | None = None) -> pl.DataFrame:
    """Event rate per symbol-day against a grid of thresholds, one gate measure at a time.

    Only symbol-days with a prior close and ``min_history`` prior sessions count (``symbol_days``).
    ``hits``/``rate``: days meeting that threshold alone. For the three triple-gate measures,
    ``combined_hits``/``combined_rate``: days passing the whole triple gate with that threshold in place
    of its default (the other two at their defaults); for the flush drop, the whole flush rule.
    """
    p = params or DailyScreenParams()
    m = _daily_measures(history, p).filter(
        pl.col("prior_close").is_not_null() & pl.col("avg_volume").is_not_null()
    )
    n = m.height
    defaults = {
        "gap_pct": p.gap_min,
        "rvol": p.rvol_min,
        "dollar_volume": p.dollar_volume_min,
        "atr_move": p.atr_move_min,
        "range_ratio": p.range_ratio_min,
        "flush_drop": p.flush_drop_min,
    }
    measure = {
        "gap_pct": pl.col("gap_pct"),
        "rvol": pl.col("rvol"),
        "dollar_volume": pl.col("dollar_volume"),
        "atr_move": pl.col("atr_move").abs(),
        "range_ratio": pl.col("range_ratio"),
        "flush_drop": -pl.col("change_pct"),
    }
    others = {
        "gap_pct": pl.col("gate_rvol") & pl.col("gate_dollar_volume"),
        "rvol": pl.col("gate_gap") & pl.col("gate_dollar_volume"),
        "dollar_volume": pl.col("gate_gap") & pl.col("gate_rvol"),
        "flush_drop": pl.col("high_to_close") >= p.flush_fade_min,
    }
    exprs = []
    rows: list[tuple[str, float, bool]] = []
    for gate, grid in CALIBRATION_GRIDS.items():
        for thr in sorted({*grid, defaults[gate]}):
            i = len(rows)
            rows.append((gate, float(thr), thr == defaults[gate]))
            hit = (measure[gate] >= thr).fill_null(False)
            exprs.append(hit.sum().alias(f"h{i}"))
            if gate in others:
                exprs.append((hit & others[gate].fill_null(False)).sum().alias(f"c{i}"))
    counts = m.select(exprs).row(0, named=True) if n else {}
    out = []
    for i, (gate, thr, is_default) in enumerate(rows):
        hits = int(counts.get(f"h{i}", 0) or 0)
        comb = counts.get(f"c{i}")
        out.append(
            {
                "gate": gate,
                "threshold": thr,
                "is_default": is_default,
                "symbol_days": n,
                "hits": hits,
                "rate": hits / n if n else None,
                "combined_hits": None if comb is None and gate not in others else int(comb or 0),
                "combined_rate": (int(comb or 0) / n if n else None) if gate in others else None,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "gate": pl.String,
            "threshold": pl.Float64,
            "is_default": pl.Boolean,
            "symbol_days": pl.Int64,
            "hits": pl.Int64,
            "rate": pl.Float64,
            "combined_hits": pl.Int64,
            "combined_rate": pl.Float64,
        },
    )


# =============================================================================================
# Intraday context: prior close and time-of-day baselines
# =============================================================================================

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


# =============================================================================================
# Intraday detection
# =============================================================================================


@dataclass(frozen=True)
class _Env:
    """Day-level constants and per-symbol context, indexed by ``sid`` (0..S-1, symbols sorted)."""

    day: dt.date
    pre_open_ns: int
    open_ns: int
    r0: int  # minute index (since 04:00 ET) of 09:30
    r1: int  # minute index of the close (exclusive end of RTH)
    symbols: pl.Series
    prior_close: np.ndarray  # float, NaN when unknown
    base_row: np.ndarray  # row of the symbol in vol_base / txn_base, -1 without a usable baseline
    vol_base: np.ndarray | None  # (U, 960) float
    txn_base: np.ndarray | None


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)


def _back(frame: pl.DataFrame, rows: pl.DataFrame, col: str, j: int, pos: str = "pos") -> pl.Series:
    """``frame[col]`` ``j`` bars before each of ``rows`` (which carry the row index ``ri`` into
    ``frame`` and the position column ``pos``); null before the symbol's first bar."""
    ri = rows["ri"].cast(pl.Int64)
    src = frame[col].gather((ri - j).clip(0, None))
    return pl.select(pl.when(rows[pos] >= j).then(src)).to_series().alias(f"{col}{j}")


def _positions(sid: np.ndarray) -> np.ndarray:
    """Position of each row within its (contiguous) symbol run."""
    n = len(sid)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]]))
    lengths = np.diff(np.concatenate([starts, [n]]))
    return (np.arange(n) - np.repeat(starts, lengths)).astype(np.int32)


def _cooldown(raw: pl.DataFrame, minutes: int, by: tuple[str, ...] = ()) -> pl.DataFrame:
    """Keep raw triggers with no earlier raw trigger of the same symbol (and ``by`` keys) in the
    previous ``minutes`` minutes. ``raw`` holds only raw-trigger rows, sorted by (sid, t)."""
    if raw.is_empty():
        return raw
    keys = ("sid", *by)
    if by:
        raw = raw.sort([*keys, "t"])
    same = pl.all_horizontal(*[pl.col(k) == pl.col(k).shift(1) for k in keys]).fill_null(False)
    keep = ~same | ((pl.col("t") - pl.col("t").shift(1)) >= minutes * MINUTE_NS)
    return raw.filter(keep).sort("sid", "t")


def _events(frame: pl.DataFrame, event_type: str, **cols: pl.Expr | str) -> pl.DataFrame:
    return frame.select("sid", "t", "m", event_type=pl.lit(event_type), **cols)


def _baseline(env: _Env, table: np.ndarray, sid: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """table[base_row[sid], minute]: NaN without a usable baseline, 0 for minutes before 04:00."""
    return _baseline_sum(env, table, sid, minute, 1)


def _baseline_sum(env: _Env, table: np.ndarray, sid: np.ndarray, minute: np.ndarray, w: int) -> np.ndarray:
    """sum of ``_baseline`` at minutes m, m - 1, ..., m - w + 1, added in that order (NaN without a
    usable baseline). The table is read through flat indices (numpy's 2-d fancy indexing costs
    several times more), a row's ``w`` adjacent entries one after the other."""
    row = env.base_row[sid]
    ok = row >= 0
    mm = minute[ok][:, None] - np.arange(w)  # (rows, w): minutes m, m - 1, ...
    at = row[ok][:, None] * table.shape[1] + mm
    flat = table.reshape(-1)
    if len(mm) == 0 or (mm.min() >= 0 and mm.max() < table.shape[1]):
        vals = flat[at.reshape(-1)].reshape(at.shape)
    else:
        inside = (mm >= 0) & (mm < table.shape[1])
        vals = np.where(inside, flat[np.where(inside, at, 0).reshape(-1)].reshape(at.shape), 0.0)
    acc = 0.0 + vals[:, 0]
    for j in range(1, w):
        acc = acc + vals[:, j]
    out = np.full(len(sid), np.nan)
    out[ok] = acc
    return out


# --------------------------------------------------------------------------------- all sessions


def _volume_spike(full: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    if env.vol_base is None:
        return None
    v = full["v"].to_numpy()
    rows = np.flatnonzero(v >= max(p.spike_min_volume, 1e-9))
    if len(rows) == 0:
        return None
    base = _baseline(env, env.vol_base, full["sid"].to_numpy()[rows], full["m"].to_numpy()[rows])
    eff = np.maximum(base, p.spike_baseline_floor)  # NaN (no baseline) stays NaN
    with np.errstate(invalid="ignore"):
        keep = v[rows] >= p.spike_ratio * eff
    raw = full.select("sid", "t", "m", "o", "c", "v")[rows[keep]].with_columns(base=pl.Series(eff[keep]))
    fired = _cooldown(raw, p.spike_cooldown_minutes)
    return _events(
        fired,
        "volume_spike",
        direction=pl.when(pl.col("c") >= pl.col("o")).then(1).otherwise(-1),
        strength=pl.col("v") / pl.col("base"),
        ev_open="o",
        ev_close="c",
        ev_volume="v",
        ev_baseline="base",
    )


def _tape_speed(full: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    if env.txn_base is None:
        return None
    w = p.tape_window_minutes
    key, n = full["key"].to_numpy(), full["n"].to_numpy()
    txn = n.copy()
    for j in range(1, w):  # bars j back are inside the window only if bar j-1 back is too
        txn[j:] += np.where(key[j:] - key[:-j] <= w - 1, n[:-j], 0)
    rows = np.flatnonzero(txn >= max(p.tape_min_transactions, 1))
    txn, key_r = txn[rows], key[rows]
    if len(rows) == 0:
        return None
    base = _baseline_sum(env, env.txn_base, full["sid"].to_numpy()[rows], full["m"].to_numpy()[rows], w)
    eff = np.maximum(base, p.tape_baseline_floor)
    with np.errstate(invalid="ignore"):
        keep = txn >= p.tape_ratio * eff
    rows, txn, key_r, eff = rows[keep], txn[keep], key_r[keep], eff[keep]
    o = full["o"].to_numpy()
    wopen = o[rows]
    for j in range(1, w):
        src = np.maximum(rows - j, 0)
        wopen = np.where((rows >= j) & (key_r - key[src] <= w - 1), o[src], wopen)
    raw = full.select("sid", "t", "m", "c")[rows].with_columns(
        txn=pl.Series(txn), wopen=pl.Series(wopen), base=pl.Series(eff)
    )
    fired = _cooldown(raw, p.tape_cooldown_minutes)
    return _events(
        fired,
        "tape_speed",
        direction=pl.when(pl.col("c") >= pl.col("wopen")).then(1).otherwise(-1),
        strength=pl.col("txn") / pl.col("base"),
        ev_open="wopen",
        ev_close="c",
        ev_transactions=pl.col("txn").cast(pl.Int64),
        ev_txn_baseline="base",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )


def _ticks_np(x: np.ndarray) -> np.ndarray:
    """Prices in whole $0.0001 ticks (``np.rint`` rounds half to even, as polars' ``round`` does)."""
    return np.rint(x * _TICKS_PER_DOLLAR).astype(np.int64)


def _abs_change_cumsum(close: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Cumulative sum (over the chunk) of |close change| in $0.0001 ticks between consecutive bars of a
    symbol (0 on its first bar): integer sums, so window differences are exact and order-free."""
    ticks = _ticks_np(close)
    d = np.zeros(len(ticks), dtype=np.int64)
    np.subtract(ticks[1:], ticks[:-1], out=d[1:])
    np.abs(d, out=d)
    d[pos == 0] = 0
    return np.cumsum(d, out=d)


def _vol_unit_at(full: pl.DataFrame, fi: pl.Series, pos: pl.Series, p: IntradayParams) -> pl.Series:
    """The volatility unit at rows ``fi`` of ``full`` (positions ``pos``): mean |close change| ($) over
    the ``vol_unit_bars`` changes ending ``momentum_window_minutes`` bars before the row; null when
    the symbol has fewer bars."""
    b, w = p.vol_unit_bars, p.momentum_window_minutes
    fi = fi.cast(pl.Int64)
    ok = pos >= b + w
    end = pl.select(pl.when(ok).then(fi - w).otherwise(0)).to_series()
    cs = full["dcs"]
    s = cs.gather(end) - cs.gather((end - b).clip(0, None))
    per = 1.0 / (b * _TICKS_PER_DOLLAR)
    return pl.select(pl.when(ok).then(s.cast(pl.Float64) * per)).to_series().alias("sig")


def _price_momentum(full: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    w = p.momentum_window_minutes
    span = w * MINUTE_NS
    # Necessary: the closes of the last w + 1 rows (this bar and the reference are among them) span
    # at least the minimum move and w x min_z vol units (the unit is at least the raw vol unit), and
    # the previous bar is inside the window. The 0.999 slack keeps float rounding on the safe side.
    b = p.vol_unit_bars
    c, pos = full["c"].to_numpy(), full["pos"].to_numpy()
    t, dcs = full["t"].to_numpy(), full["dcs"].to_numpy()
    k = w + b  # rows from k on: the lags below stay inside the chunk (and pos >= k keeps them in the symbol)
    if len(c) <= k:
        return None
    hi, lo = c[k:].copy(), c[k:].copy()
    for j in range(1, w + 1):  # NaN propagates, as in a rolling max/min
        hi = np.maximum(hi, c[k - j : len(c) - j])
        lo = np.minimum(lo, c[k - j : len(c) - j])
    sig = (dcs[b : len(c) - w] - dcs[: len(c) - k]).astype(np.float64) * (1.0 / (b * _TICKS_PER_DOLLAR))
    # np.maximum (not the NaN-skipping fmax of max_horizontal): a NaN ``lo`` makes ``hi - lo`` NaN and
    # the row fails either way.
    need = np.maximum(p.momentum_min_move * lo, (w * p.momentum_min_z) * sig) * 0.999
    with np.errstate(invalid="ignore"):
        ok = (pos[k:] >= k) & ((hi - lo) >= need) & ((t[k:] - t[k - 1 : len(c) - 1]) < span)
    cand = full.select("fi", "sid", "t", "m", "c", "pos")[np.flatnonzero(ok) + k]
    if cand.is_empty():
        return None
    fi = cand["fi"].cast(pl.Int64)
    lag_c = {k: _back(full, cand.rename({"fi": "ri"}), "c", k) for k in range(1, w + 1)}
    lag_t = {k: _back(full, cand.rename({"fi": "ri"}), "t", k) for k in range(1, w + 1)}
    f = cand.select("sid", "t", "m", "c", "pos").with_columns(
        *lag_c.values(), *lag_t.values(), _vol_unit_at(full, fi, cand["pos"], p)
    )
    old = {k: (pl.col("t") - pl.col(f"t{k}")) >= span for k in range(1, w + 1)}  # at/before t - W min
    ref = pl.col(f"c{w}")
    for k in range(w - 1, 0, -1):
        ref = pl.when(old[k]).then(pl.col(f"c{k}")).otherwise(ref)
    up_cons = pl.col("c") > pl.col("c1")
    dn_cons = pl.col("c") < pl.col("c1")
    for k in range(1, w):
        up_cons = up_cons & (old[k] | (pl.col(f"c{k}") > pl.col(f"c{k + 1}")))
        dn_cons = dn_cons & (old[k] | (pl.col(f"c{k}") < pl.col(f"c{k + 1}")))
    f = f.with_columns(ref=ref, up=up_cons.fill_null(False), dn=dn_cons.fill_null(False)).filter(
        (pl.col("up") | pl.col("dn"))
        & ((pl.col("c") / pl.col("ref") - 1.0).abs() >= p.momentum_min_move).fill_null(False)
        & pl.col("sig").is_not_null()
    )
    if f.is_empty():
        return None
    f = f.with_columns(unit=pl.max_horizontal(pl.col("sig"), p.vol_unit_floor * pl.col("ref"))).with_columns(
        z=(pl.col("c") - pl.col("ref")) * (1.0 / w) / pl.col("unit")
    )
    raw = f.filter(
        (pl.col("up") & (pl.col("z") >= p.momentum_min_z))
        | (pl.col("dn") & (pl.col("z") <= -p.momentum_min_z))
    ).with_columns(direction=pl.when(pl.col("z") > 0).then(1).otherwise(-1))
    fired = _cooldown(raw, p.momentum_cooldown_minutes, by=("direction",))
    return _events(
        fired,
        "price_momentum",
        direction="direction",
        strength=pl.col("z").abs(),
        ev_ref_price="ref",
        ev_close="c",
        ev_vol_unit="unit",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )


# --------------------------------------------------------------------------------- regular session


def _rth_frame(full: pl.DataFrame, env: _Env) -> pl.DataFrame:
    """RTH bars with the running session quantities every RTH detector shares.

    The running high is exact: prices in $0.0001 ticks are packed under the symbol id
    (sid * 2^40 + ticks) so that one global cumulative max restarts at every symbol. Cumulative
    volume is a global cumulative sum minus its value before the symbol's first RTH bar (exact for
    whole-share volumes); the price-volume sum of the VWAP is summed per symbol, in bar order.

    The scans run in numpy on contiguous arrays: they are the same sequential float additions and
    exact integer maxima as polars' ``cum_sum``/``cum_max``, at a fraction of the cost, and numpy's
    allocations are reused where polars' large temporaries fault fresh pages in on every chunk.
    """
    m = full["m"].to_numpy()
    keep = np.flatnonzero((m >= env.r0) & (m < env.r1))
    cols = ("fi", "sid", "t", "m", "key", "o", "h", "l", "c", "v")
    a = {c: full[c].to_numpy()[keep] for c in cols if c != "fi"}
    a["fi"] = keep  # the chunk frame's row index is its row number
    price = full["p"].to_numpy()[keep]
    n = len(keep)
    sid, h, v, t = a["sid"], a["h"], a["v"], a["t"]
    starts = _run_starts(sid)
    lengths = np.diff(np.append(starts, n))
    rpos = (np.arange(n) - np.repeat(starts, lengths)).astype(np.int32)
    packed = sid.astype(np.int64)
    packed <<= 40
    hod_k = _ticks_np(h)
    hod_k += packed
    np.maximum.accumulate(hod_k, out=hod_k)
    hod_k -= packed
    newhigh = rpos == 0
    newhigh[1:] |= hod_k[1:] > hod_k[:-1]
    # Per-symbol running sum of price x volume: laid out as one row per symbol (padded with zeros
    # after its last bar), a row-wise cumulative sum adds in bar order exactly like a grouped
    # ``cum_sum``.
    width = int(lengths.max()) if n else 0
    cell = np.repeat(np.arange(len(starts), dtype=np.int64) * width, lengths) + rpos
    grid = np.zeros((len(starts), width))
    grid.ravel()[cell] = price * v
    np.cumsum(grid, axis=1, out=grid)
    csv = np.cumsum(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = grid.ravel()[cell] / (csv - np.repeat((csv - v)[starts], lengths))
    vwap[~np.isfinite(vwap)] = np.nan
    # The first RTH bar always sets the high, so these forward fills never cross symbols; the high
    # itself is the (exact float) high of the bar that set it.
    at = np.maximum.accumulate(np.where(newhigh, np.arange(n), 0))
    # No lag columns: a symbol's previous RTH bar is the previous row (when rpos >= 1), which the
    # detectors read by index. ``vwap`` is NaN (not null) where undefined: only numpy reads it.
    return pl.DataFrame(
        [
            *(pl.Series(c, a[c]) for c in cols),
            pl.Series("rpos", rpos),
            pl.Series("vwap", vwap),
            pl.Series("newhigh", newhigh),
            pl.Series("hod_t", t[at]),
            pl.Series("hod", h[at]),
        ]
    ).with_columns(pl.col("sid").set_sorted(), pl.col("key").set_sorted())


def _prev(x: np.ndarray, rpos: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``x`` one row back within the symbol (``fill`` on its first RTH bar)."""
    out = np.empty_like(x)
    out[1:] = x[:-1]
    out[rpos == 0] = fill
    return out


def _vwap_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    k = p.vwap_hold_minutes
    # A reclaim needs the previous close strictly below VWAP and this one above: such crossings are
    # few, and everything else is measured on them. The close "on the new side" that the hold
    # counts from is the bar just before the current run on the old side began: the run's first
    # bar is the previous side change of the symbol (or its first RTH bar). VWAP is NaN where
    # undefined and the previous bar's values NaN on a first RTH bar: every comparison with them is
    # False, as a null comparison filled with False.
    c, vwap = rth["c"].to_numpy(), rth["vwap"].to_numpy()
    rpos, t = rth["rpos"].to_numpy(), rth["t"].to_numpy()
    c1, vwap1 = _prev(c, rpos), _prev(vwap, rpos)
    with np.errstate(invalid="ignore"):
        was_below, was_above = c1 < vwap1, c1 > vwap1
        up = (c > vwap * (1 + p.vwap_margin)) & was_below
        dn = (c < vwap * (1 - p.vwap_margin)) & was_above
        first = rpos == 0
        start_below = (first | ~was_below) & (c < vwap)
        start_above = (first | ~was_above) & (c > vwap)
    ri = np.flatnonzero(up | dn | start_below | start_above)
    up, dn, start_below, start_above = up[ri], dn[ri], start_below[ri], start_above[ri]
    if not (up.any() or dn.any()):
        return None
    # Over the marked rows, in order: the latest start of a below-run (above-run) before each row,
    # its symbol and the time it counts from (the previous bar, or a virtual bar before the open
    # for a run that starts with the session). Marks of other symbols never count.
    virtual = env.open_ns - MINUTE_NS
    sid, t_m = rth["sid"].to_numpy()[ri], t[ri]
    run_from = np.where(rpos[ri] == 0, virtual, t[np.maximum(ri - 1, 0)])
    marks = np.arange(len(ri))
    fired_up = np.zeros(len(ri), dtype=bool)
    fired_dn = np.zeros(len(ri), dtype=bool)
    since = np.zeros(len(ri), dtype=np.int64)
    for cross, starts, fired in ((up, start_below, fired_up), (dn, start_above, fired_dn)):
        last = np.maximum.accumulate(np.where(starts, marks, -1))
        prev = np.concatenate([[-1], last[:-1]])
        at = np.maximum(prev, 0)
        fired[:] = cross & (prev >= 0) & (sid[at] == sid) & (t_m - run_from[at] >= k * MINUTE_NS)
        since[fired] = run_from[at][fired]
    sel = np.flatnonzero((fired_up | fired_dn) & (rpos[ri] >= k))
    if len(sel) == 0:
        return None
    # Depth: the farthest close on the old side among the previous k bars.
    rows = ri[sel]
    back = np.stack([c[rows - j] / vwap[rows - j] - 1.0 for j in range(1, k + 1)])
    lo_dist, hi_dist = np.nanmin(back, axis=0), np.nanmax(back, axis=0)
    is_up = fired_up[sel]
    keep = (is_up & (lo_dist <= -p.vwap_min_depth)) | (~is_up & (hi_dist >= p.vwap_min_depth))
    if not keep.any():
        return None
    sel, rows, is_up = sel[keep], rows[keep], is_up[keep]
    fired = rth.select("sid", "t", "m", "c")[rows].with_columns(
        pl.Series("vwap", vwap[rows]),
        pl.Series("direction", np.where(is_up, 1, -1)),
        pl.Series("since", since[sel]),
        pl.Series("depth", np.where(is_up, lo_dist[keep], hi_dist[keep])),
    )
    return _events(
        fired,
        "vwap_break",
        direction="direction",
        strength=((pl.col("t") - pl.col("since")) // MINUTE_NS).cast(pl.Float64),
        ev_vwap="vwap",
        ev_close="c",
        ev_level_ts="since",
        ev_depth="depth",
    )


def _hod_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    # A bar above the running high sets a new high (the first RTH bar is no break).
    rpos, t, hod_t = rth["rpos"].to_numpy(), rth["t"].to_numpy(), rth["hod_t"].to_numpy()
    i = np.flatnonzero(rth["newhigh"].to_numpy() & (rpos >= 1))
    i = i[t[i] - hod_t[i - 1] >= p.hod_min_age_minutes * MINUTE_NS]
    if len(i) == 0:
        return None
    fired = rth.select("sid", "t", "m", "h", "c")[i].with_columns(
        hod_prev=pl.Series(rth["hod"].to_numpy()[i - 1]), hod_t_prev=pl.Series(hod_t[i - 1])
    )
    return _events(
        fired,
        "hod_break",
        direction=pl.lit(1),
        strength=((pl.col("t") - pl.col("hod_t_prev")) // MINUTE_NS).cast(pl.Float64),
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_high="h",
        ev_close="c",
    )


def _first_per_sid(mask: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Row numbers of the first True of ``mask`` per symbol (rows sorted by symbol, time)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return idx
    _, first = np.unique(sid[idx], return_index=True)
    return idx[first]


def _opening_range_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    lens = sorted(set(p.or_minutes))
    r0 = env.r0
    sid_a, m_a = rth["sid"].to_numpy(), rth["m"].to_numpy()
    e = np.flatnonzero(m_a < r0 + max(lens))
    if len(e) == 0:
        return None
    esid, em = sid_a[e], m_a[e]
    eh, el, ev = rth["h"].to_numpy()[e], rth["l"].to_numpy()[e], rth["v"].to_numpy()[e]
    starts = _run_starts(esid)
    sid0 = int(sid_a[0])
    at = esid[starts] - sid0
    # Per-symbol ranges, dense over the chunk's sids; a range without bars is NaN (never broken).
    ranges: dict[str, np.ndarray] = {}
    for n in lens:
        inside = em < r0 + n
        for name, vals in (
            ("orh", np.maximum.reduceat(np.where(inside, eh, -np.inf), starts)),
            ("orl", np.minimum.reduceat(np.where(inside, el, np.inf), starts)),
            ("orn", np.add.reduceat(inside.astype(np.int64), starts).astype(float)),
            ("orv", np.add.reduceat(np.where(inside, ev, 0.0), starts)),
        ):
            vals[np.isinf(vals)] = np.nan
            dense = np.full(int(sid_a[-1]) - sid0 + 1, np.nan)
            dense[at] = vals
            ranges[f"{name}{n}"] = dense
    ci = np.flatnonzero((m_a >= r0 + min(lens)) & (m_a < r0 + p.or_valid_minutes))
    sid = sid_a[ci]
    m, c, v = m_a[ci], rth["c"].to_numpy()[ci], rth["v"].to_numpy()[ci]
    s = sid - sid0
    hits: list[tuple[np.ndarray, int, int]] = []  # (rows, range minutes, direction), in rule order
    with np.errstate(invalid="ignore"):
        for n in lens:
            ok = (
                (m >= r0 + n)
                & (ranges[f"orn{n}"][s] >= p.or_min_bars)
                & (v >= p.or_volume_ratio * ranges[f"orv{n}"][s] / n)
            )
            for direction, hit in ((1, c > ranges[f"orh{n}"][s]), (-1, c < ranges[f"orl{n}"][s])):
                hits.append((_first_per_sid(ok & hit, sid), n, direction))
    allr = np.concatenate([h[0] for h in hits])
    if len(allr) == 0:
        return None
    alln = np.concatenate([np.full(len(h[0]), h[1], dtype=np.int64) for h in hits])
    alld = np.concatenate([np.full(len(h[0]), h[2], dtype=np.int64) for h in hits])
    # A row hit by several rules keeps the last one (lens ascend: the longest range wins).
    rows, last = np.unique(allr[::-1], return_index=True)
    ns, dirs = alln[::-1][last], alld[::-1][last]
    pick = np.searchsorted(lens, ns)
    sr = s[rows]
    orh = np.choose(pick, [ranges[f"orh{n}"][sr] for n in lens])
    orl = np.choose(pick, [ranges[f"orl{n}"][sr] for n in lens])
    orv = np.choose(pick, [ranges[f"orv{n}"][sr] for n in lens])
    fired = rth.select("sid", "t", "m", "c", "v")[ci[rows]].with_columns(
        orh=pl.Series(orh),
        orl=pl.Series(orl),
        orvm=pl.Series(orv / ns),
        orn=pl.Series(ns),
        direction=pl.Series(dirs),
    )
    level = pl.when(pl.col("direction") == 1).then(pl.col("orh")).otherwise(pl.col("orl"))
    width = pl.max_horizontal(pl.col("orh") - pl.col("orl"), 0.001 * level)
    return _events(
        fired,
        "opening_range_break",
        direction="direction",
        strength=(pl.col("c") - level) * pl.col("direction") / width,
        ev_or_high="orh",
        ev_or_low="orl",
        ev_or_minutes="orn",
        ev_level=level,
        ev_volume="v",
        ev_baseline="orvm",
        ev_close="c",
    )


def _consolidation_break(
    rth: pl.DataFrame, env: _Env, p: IntradayParams, full: pl.DataFrame
) -> pl.DataFrame | None:
    w, nb = p.cons_minutes, p.cons_min_bars
    tight = p.cons_tightness * (w**0.5)
    m, rpos, key = rth["m"].to_numpy(), rth["rpos"].to_numpy(), rth["key"].to_numpy()
    c, h, low, v = rth["c"].to_numpy(), rth["h"].to_numpy(), rth["l"].to_numpy(), rth["v"].to_numpy()
    # Necessary conditions first, cheapest first: the previous bar is inside the window, so a break
    # of the window must break that bar's range too. Rows from ``nb`` on (rpos >= nb keeps the lags
    # in the symbol): whole-array slices, no gathers.
    if len(c) <= nb:
        return None
    cur = slice(nb, None)
    prev = slice(nb - 1, len(c) - 1)
    pre = (
        (m[cur] >= env.r0 + w)
        & (rpos[cur] >= max(2, nb))
        & ((c[cur] > h[prev]) | (c[cur] < low[prev]))
        & (key[cur] - key[: len(c) - nb] <= w)
    )
    i = np.flatnonzero(pre) + nb
    h1, l1 = h[i - 1], low[i - 1]
    # Mean volume of the previous ``nb`` bars, on whole shares (exact integer sums).
    vr = np.rint(v).astype(np.int64)
    vsum = vr[i - 1].copy()
    for j in range(2, nb + 1):
        vsum += vr[i - j]
    keep = v[i] * nb >= p.cons_volume_ratio * vsum.astype(np.float64)
    i, h1, l1 = i[keep], h1[keep], l1[keep]
    # Session vol unit: mean |close change| between the symbol's RTH bars before this one. The RTH
    # bars of a symbol are consecutive rows of the chunk too, so the chunk's running tick sum gives
    # it exactly (integer differences).
    fi, ri = rth["fi"].to_numpy()[i], rpos[i].astype(np.int64)
    dcs = full["dcs"].to_numpy()
    unit = (dcs[fi - 1] - dcs[fi - ri]).astype(np.float64) / ((ri - 1) * _TICKS_PER_DOLLAR).astype(np.float64)
    keep = (h1 - l1) <= tight * unit
    i, unit = i[keep], unit[keep]
    if len(i) == 0:
        return None
    hi, lo, alive = _window_range(h, low, key, c, i, w, tight * unit, nb)
    i, unit, hi, lo = i[alive], unit[alive], hi[alive], lo[alive]
    if len(i) == 0:
        return None
    vv = np.round(v)
    vref = 0.0 + vv[i - 1]
    for j in range(2, nb + 1):
        vref = vref + vv[i - j]
    raw = rth.select("sid", "t", "m", "c", "v")[i].with_columns(
        unit=pl.Series(unit),
        hi=pl.Series(hi),
        lo=pl.Series(lo),
        vref=pl.Series(vref / nb),
    )
    fired = _cooldown(raw, p.cons_cooldown_minutes)
    if fired.is_empty():
        return None
    direction = pl.when(pl.col("c") > pl.col("hi")).then(1).otherwise(-1)
    return _events(
        fired,
        "consolidation_break",
        direction=direction,
        strength=pl.col("unit") * (w**0.5) / pl.max_horizontal(pl.col("hi") - pl.col("lo"), 1e-4),
        ev_range_high="hi",
        ev_range_low="lo",
        ev_vol_unit="unit",
        ev_level=pl.when(direction == 1).then(pl.col("hi")).otherwise(pl.col("lo")),
        ev_window_minutes=pl.lit(w, pl.Int64),
        ev_volume="v",
        ev_baseline="vref",
        ev_close="c",
    )


def _window_range(
    h: np.ndarray,
    low: np.ndarray,
    key: np.ndarray,
    c: np.ndarray,
    rows: np.ndarray,
    minutes: int,
    width: np.ndarray,
    sure: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High/low of the bars of the last ``minutes`` minutes before each of ``rows`` (bars at
    key >= key[row] - minutes, current bar excluded; the ``sure`` bars just before each row are
    known to be inside), and whether that range is at most ``width`` wide with the row's close ``c``
    outside it.

    The window grows one bar back at a time; a row leaves the scan as soon as the bar is outside its
    window (done) or the break has become impossible (a wider range, or a close inside it), so long
    windows are only walked for the few rows that still qualify. Rows that fail get NaN extremes.
    """
    n = len(rows)
    out_hi, out_lo = np.full(n, np.nan), np.full(n, np.nan)
    alive = np.zeros(n, dtype=bool)
    hi, lo = h[rows - 1], low[rows - 1]
    for j in range(2, sure + 1):
        hi = np.maximum(hi, h[rows - j])
        lo = np.minimum(lo, low[rows - j])
    act = np.arange(n)  # candidates still scanning
    for j in range(sure + 1, minutes + 2):  # bars are distinct minutes: at most ``minutes`` of them
        r = rows[act]
        ok = ((hi - lo) <= width[act]) & ((c[r] > hi) | (c[r] < lo))
        act, r, hi, lo = act[ok], r[ok], hi[ok], lo[ok]
        src = np.maximum(r - j, 0)
        inside = (r >= j) & (key[r] - key[src] <= minutes) if j <= minutes else np.zeros(len(r), bool)
        done = act[~inside]
        out_hi[done], out_lo[done], alive[done] = hi[~inside], lo[~inside], True
        act, hi, lo, src = act[inside], hi[inside], lo[inside], src[inside]
        if len(act) == 0:
            break
        hi = np.maximum(hi, h[src])
        lo = np.minimum(lo, low[src])
    return out_hi, out_lo, alive


def _flush(rth: pl.DataFrame, env: _Env, p: IntradayParams, full: pl.DataFrame) -> pl.DataFrame | None:
    w = p.flush_window_minutes
    h, c = rth["h"].to_numpy(), rth["c"].to_numpy()
    key, rpos = rth["key"].to_numpy(), rth["rpos"].to_numpy()
    # Necessary: the close is the minimum drop below the high of the last w rows, whatever their
    # symbol and time (a superset of the window; for a positive close and bar high the drop only
    # grows with the level; other rows are kept). The exact window is taken on those rows only.
    upper = h.copy()
    for j in range(1, w):
        np.fmax(upper[j:], h[:-j], out=upper[j:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.flatnonzero((1.0 - c / upper >= p.flush_min_drop) | ~(c > 0) | ~(h > 0))
    level = h[rows]
    key_r, rpos_r = key[rows], rpos[rows]
    for j in range(1, w):  # bars j back inside the last w - 1 minutes (fmax skips NaN like max_horizontal)
        src = np.maximum(rows - j, 0)
        inside = (rpos_r >= j) & (key_r - key[src] <= w - 1)
        level = np.where(inside, np.fmax(level, h[src]), level)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = 1.0 - c[rows] / level >= p.flush_min_drop
    rows, level = rows[keep], level[keep]
    if len(rows) == 0:
        return None
    drop = 1.0 - pl.col("c") / pl.col("level")
    fi = rth["fi"].to_numpy()[rows]
    f = rth.select("sid", "t", "m", "c", "fi")[rows].with_columns(
        pl.Series("pos", full["pos"].to_numpy()[fi]), level=pl.Series(level)
    )
    f = f.with_columns(_vol_unit_at(full, f["fi"], f["pos"], p))
    raw = f.filter(((pl.col("level") - pl.col("c")) >= p.flush_min_sigmas * pl.col("sig")).fill_null(False))
    fired = _cooldown(raw, p.flush_cooldown_minutes)
    if fired.is_empty():
        return None
    return _events(
        fired,
        "flush",
        direction=pl.lit(-1),
        strength=drop * 100.0,
        ev_level="level",
        ev_close="c",
        ev_vol_unit="sig",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )


def _luld_band(prior_close: pl.Expr, minute_after_open: pl.Expr, rth_len: int, tier: int) -> pl.Expr:
    """LULD band as a fraction of the reference price (market_structure.md §7.2): the percentage is
    chosen by the previous close, doubled 09:30-09:45 and in the last 25 minutes (Tier 1, or
    Tier 2 at or below $3)."""
    pc = prior_close
    base = (
        pl.when(pc > 3.0)
        .then(0.05 if tier == 1 else 0.10)
        .when(pc >= 0.75)
        .then(0.20)
        .otherwise(pl.min_horizontal(0.15 / pc, 0.75))
    )
    late = minute_after_open >= rth_len - 25
    doubled = (minute_after_open < 15) | (late & ((pc <= 3.0) if tier == 2 else pl.lit(True)))
    return pl.when(doubled).then(base * 2.0).otherwise(base)


def luld_band(prior_close: float, minute_after_open: int, rth_minutes: int = 390, tier: int = 2) -> float:
    """The LULD band fraction ``halt_resumption`` uses, for one bar (a helper for recomputation)."""
    return pl.select(
        _luld_band(pl.lit(float(prior_close)), pl.lit(int(minute_after_open)), rth_minutes, tier)
    ).item()


def _halt_resumption(
    rth: pl.DataFrame, env: _Env, p: IntradayParams, full: pl.DataFrame
) -> pl.DataFrame | None:
    rpos, t = rth["rpos"].to_numpy(), rth["t"].to_numpy()
    ri = np.flatnonzero((t[1:] - t[:-1] >= p.halt_min_gap_minutes * MINUTE_NS) & (rpos[1:] >= 1)) + 1
    if len(ri) == 0:
        return None
    # The symbol's RTH bars are consecutive rows of the chunk too: bar j back of an RTH row is j rows
    # back in either frame (when rpos >= j; null before the symbol's first RTH bar).
    fi, rp = rth["fi"].to_numpy()[ri], pl.Series(rpos[ri])
    src = {"t": t, "m": rth["m"].to_numpy(), "h": rth["h"].to_numpy(), "l": rth["l"].to_numpy()}
    price = full["p"].to_numpy()

    def back(values: np.ndarray, at: np.ndarray, j: int, name: str) -> pl.Expr:
        return pl.when(rp >= j).then(pl.Series(values[np.maximum(at - j, 0)])).alias(f"{name}{j}")

    g = rth.select("sid", "t", "m", "o", "c")[ri].with_columns(
        *[back(src[col], ri, 1, col) for col in ("t", "m", "h", "l")],
        *[back(t, ri, j, "t") for j in range(2, 7)],
        *[back(price, fi, j, "p") for j in range(2, 7)],
    )
    in_ref = {j: (pl.col(f"t{j}") >= pl.col("t1") - 5 * MINUTE_NS).fill_null(False) for j in range(2, 7)}
    nref = pl.sum_horizontal(*[in_ref[j].cast(pl.Int64) for j in range(2, 7)])
    sref = pl.sum_horizontal(*[pl.when(in_ref[j]).then(pl.col(f"p{j}")).otherwise(0.0) for j in range(2, 7)])
    pc = pl.Series("pc", env.prior_close[g["sid"].to_numpy()], nan_to_null=True)
    g = g.with_columns(pc, nref=nref, ref=sref / nref).with_columns(
        band=_luld_band(pl.coalesce("pc", "ref"), pl.col("m1") - env.r0, env.r1 - env.r0, p.luld_tier),
        up=pl.col("h1") / pl.col("ref") - 1.0,
        dn=pl.col("l1") / pl.col("ref") - 1.0,
    )
    g = g.with_columns(move=pl.when(pl.col("up") >= -pl.col("dn")).then(pl.col("up")).otherwise(pl.col("dn")))
    fired = g.filter(
        (pl.col("nref") >= p.halt_min_reference_bars)
        & (pl.col("move").abs() >= p.halt_band_fraction * pl.col("band")).fill_null(False)
    )
    if fired.is_empty():
        return None
    return _events(
        fired,
        "halt_resumption",
        direction=pl.when(pl.col("move") > 0).then(1).otherwise(-1),
        strength=pl.col("move").abs() / pl.col("band"),
        ev_halt_start="t1",
        ev_halt_minutes=((pl.col("t") - pl.col("t1")) // MINUTE_NS).cast(pl.Int64),
        ev_move_before_halt="move",
        ev_ref_price="ref",
        ev_bars="nref",
        ev_band_pct="band",
        ev_prior_close="pc",
        ev_prev_high="h1",
        ev_prev_low="l1",
        ev_open="o",
        ev_close="c",
    )


# ------------------------------------------------------------------ symbol-gated RTH detectors


def _run_starts(sid: np.ndarray) -> np.ndarray:
    """Row numbers where a new symbol run starts (``sid`` sorted in runs)."""
    if len(sid) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.flatnonzero(sid[1:] != sid[:-1]) + 1])


def _symbol_stats(full: pl.DataFrame, rth: pl.DataFrame, env: _Env) -> pl.DataFrame:
    """Per symbol of the chunk with RTH bars: RTH open (first RTH bar), RTH high/low, pre-market
    high (null without pre-market bars) and prior close."""
    sid = rth["sid"].to_numpy()
    starts = _run_starts(sid)
    syms = sid[starts]
    pm = np.flatnonzero(full["m"].to_numpy() < env.r0)
    pm_high = np.full(len(syms), np.nan)
    if len(pm):
        psid = full["sid"].to_numpy()[pm]
        pstarts = _run_starts(psid)
        where = np.searchsorted(syms, psid[pstarts])
        found = (where < len(syms)) & (syms[np.minimum(where, len(syms) - 1)] == psid[pstarts])
        pm_high[where[found]] = np.maximum.reduceat(full["h"].to_numpy()[pm], pstarts)[found]
    return pl.DataFrame(
        {
            "sid": syms,
            "o_rth": rth["o"].to_numpy()[starts],
            "max_h": np.maximum.reduceat(rth["h"].to_numpy(), starts),
            "min_l": np.minimum.reduceat(rth["l"].to_numpy(), starts),
            "pm_high": pm_high,
            "pc": env.prior_close[syms],
        },
        nan_to_null=True,
    )


def _rows_of(rth: pl.DataFrame, chosen: pl.DataFrame) -> np.ndarray:
    """Row numbers of ``rth`` (sorted by sid) whose symbol is in ``chosen`` (one row per sid)."""
    sid = rth["sid"].to_numpy()
    sid0 = int(sid[0])
    pick = np.zeros(int(sid[-1]) - sid0 + 1, dtype=bool)
    pick[chosen["sid"].to_numpy() - sid0] = True
    return np.flatnonzero(pick[sid - sid0])


def _prev_in_symbol(rows: np.ndarray, rpos: np.ndarray) -> np.ndarray:
    """Mask of ``rows`` that have a previous RTH bar of the same symbol (row - 1)."""
    return rpos[rows] >= 1


def _segment_min(x: np.ndarray, seg: np.ndarray, window: int | None = None) -> np.ndarray:
    """Running minimum of ``x`` within runs of equal ``seg`` (contiguous), over the whole run so far
    (``window=None``) or over the last ``window`` rows of the run (fewer at its start).

    Doubling: after the step of size s every row holds the minimum of the last 2s rows of its run
    (fewer where the run starts later), so log2(run length) whole-array steps suffice. A minimum is
    exact, so this equals a grouped ``cum_min`` / ``rolling_min(min_samples=1)`` value for value
    (NaN propagates, as there).
    """
    out = x.copy()
    n = len(out)
    limit = n if window is None else window
    s = 1
    while s < limit and s < n:
        step = s if window is None or 2 * s <= window else window - s
        same = seg[step:] == seg[: n - step]
        if not same.any():
            break
        out[step:] = np.where(same, np.minimum(out[step:], out[: n - step]), out[step:])
        if window is not None and 2 * s >= window:
            break
        s *= 2
    return out


def _gap_and_go(rth: pl.DataFrame, stats: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    gappers = stats.with_columns(gap=pl.col("o_rth") / pl.col("pc") - 1.0).filter(
        (pl.col("gap") >= p.gap_min).fill_null(False) & pl.col("pm_high").is_not_null()
    )
    if gappers.is_empty():
        return None
    sid = rth["sid"].to_numpy()
    sid0 = int(sid[0])
    pm_high = np.full(int(sid[-1]) - sid0 + 1, np.nan)  # NaN: not a gapper, never broken
    pm_high[gappers["sid"].to_numpy() - sid0] = gappers["pm_high"].to_numpy()
    with np.errstate(invalid="ignore"):
        hit = (rth["m"].to_numpy() < env.r0 + p.gap_go_max_minutes) & (
            rth["h"].to_numpy() > pm_high[sid - sid0]
        )
    rows = _first_per_sid(hit, sid)
    if len(rows) == 0:
        return None
    at = np.full(len(pm_high), -1, dtype=np.int64)
    at[gappers["sid"].to_numpy() - sid0] = np.arange(gappers.height)
    extra = gappers.select("o_rth", "pm_high", "pc", "gap")[at[sid[rows] - sid0]]
    fired = pl.concat([rth.select("sid", "t", "m", "h", "c")[rows], extra], how="horizontal")
    return _events(
        fired,
        "gap_and_go",
        direction=pl.lit(1),
        strength=pl.col("gap") * 100.0,
        ev_pm_high="pm_high",
        ev_level="pm_high",
        ev_gap_pct="gap",
        ev_prior_close="pc",
        ev_open="o_rth",
        ev_high="h",
        ev_close="c",
    )


def _first_pullback(
    rth: pl.DataFrame, stats: pl.DataFrame, env: _Env, p: IntradayParams
) -> pl.DataFrame | None:
    runners = stats.filter(pl.col("max_h") >= pl.col("o_rth") * (1 + p.pullback_min_leg))
    if runners.is_empty():
        return None
    sub = _rows_of(rth, runners)
    rpos, newhigh = rth["rpos"].to_numpy(), rth["newhigh"].to_numpy()
    # Segments start at each new high of the day (a symbol's first RTH bar is one, so segments never
    # span symbols); the pullback low is the lowest low after the segment's high bar.
    nh = newhigh[sub]
    pbl = _segment_min(np.where(nh, np.inf, rth["l"].to_numpy()[sub]), np.cumsum(nh))
    has_prev = _prev_in_symbol(sub, rpos)
    k = np.flatnonzero(has_prev)  # positions in ``sub`` (their previous bar is at k - 1)
    i = sub[k]
    pbl_prev = pbl[k - 1]
    h, c, o, t = (rth[col].to_numpy() for col in ("h", "c", "o", "t"))
    hod, hod_t = rth["hod"].to_numpy(), rth["hod_t"].to_numpy()
    hod_prev, h1, hod_t_prev = hod[i - 1], h[i - 1], hod_t[i - 1]
    o_rth = o[i - rpos[i]]
    leg = hod_prev - o_rth
    with np.errstate(divide="ignore", invalid="ignore"):
        retr = (hod_prev - pbl_prev) / leg
        ok = (
            (leg >= p.pullback_min_leg * o_rth)
            & (retr >= p.pullback_min_retrace)
            & (retr <= p.pullback_max_retrace)
            & (c[i] > h1)
            & (c[i] > o[i])
            & (t[i] - hod_t_prev >= p.pullback_min_minutes * MINUTE_NS)
        )
    first = _first_per_sid(ok, rth["sid"].to_numpy()[i])
    if len(first) == 0:
        return None
    fired = rth.select("sid", "t", "m", "c")[i[first]].with_columns(
        hod_prev=pl.Series(hod_prev[first]),
        hod_t_prev=pl.Series(hod_t_prev[first]),
        o_rth=pl.Series(o_rth[first]),
        pbl_prev=pl.Series(pbl_prev[first]),
        h1=pl.Series(h1[first]),
    )
    leg_e = pl.col("hod_prev") - pl.col("o_rth")
    return _events(
        fired,
        "first_pullback",
        direction=pl.lit(1),
        strength=leg_e / pl.col("o_rth") * 100.0,
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_open="o_rth",
        ev_pullback_low="pbl_prev",
        ev_prev_high="h1",
        ev_close="c",
    )


def _parabolic_exhaustion(
    rth: pl.DataFrame, stats: pl.DataFrame, env: _Env, p: IntradayParams
) -> pl.DataFrame | None:
    runners = stats.filter(pl.col("max_h") >= pl.col("min_l") * (1 + p.parabolic_min_run))
    if runners.is_empty():
        return None
    sub = _rows_of(rth, runners)
    rpos, newhigh, sid = rth["rpos"].to_numpy(), rth["newhigh"].to_numpy(), rth["sid"].to_numpy()
    low = rth["l"].to_numpy()
    base = _segment_min(low[sub], sid[sub], p.parabolic_window_bars)
    # The first RTH bar always sets the high, so this forward fill never crosses symbols.
    nh = newhigh[sub]
    base_at_high = base[np.maximum.accumulate(np.where(nh, np.arange(len(sub)), 0))]
    k = np.flatnonzero(_prev_in_symbol(sub, rpos))
    i = sub[k]
    base_prev = base_at_high[k - 1]
    c, o, t = rth["c"].to_numpy(), rth["o"].to_numpy(), rth["t"].to_numpy()
    hod_prev, hod_t_prev, l1 = rth["hod"].to_numpy()[i - 1], rth["hod_t"].to_numpy()[i - 1], low[i - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        run = hod_prev / base_prev - 1.0
        ok = (
            (run >= p.parabolic_min_run)
            & (t[i] - hod_t_prev <= p.parabolic_recent_minutes * MINUTE_NS)
            & (c[i] < l1)
            & (c[i] < o[i])
        )
    r = np.flatnonzero(ok)
    if len(r) == 0:
        return None
    # Once per high: the first qualifying bar per (symbol, time of the high being faded).
    sr, hr = sid[i[r]], hod_t_prev[r]
    new = np.ones(len(r), dtype=bool)
    new[1:] = (sr[1:] != sr[:-1]) | (hr[1:] != hr[:-1])
    r = r[new]
    fired = rth.select("sid", "t", "m", "o", "c")[i[r]].with_columns(
        hod_prev=pl.Series(hod_prev[r]),
        hod_t_prev=pl.Series(hod_t_prev[r]),
        base_prev=pl.Series(base_prev[r]),
        l1=pl.Series(l1[r]),
    )
    run_e = pl.col("hod_prev") / pl.col("base_prev") - 1.0
    return _events(
        fired,
        "parabolic_exhaustion",
        direction=pl.lit(-1),
        strength=run_e * 100.0,
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_ref_price="base_prev",
        ev_prev_low="l1",
        ev_open="o",
        ev_close="c",
    )


# ---------------------------------------------------------------------------------- the engine

DETECTORS_ALL_SESSIONS = {
    "volume_spike": _volume_spike,
    "tape_speed": _tape_speed,
    "price_momentum": _price_momentum,
}
DETECTORS_RTH = {
    "vwap_break": _vwap_break,
    "opening_range_break": _opening_range_break,
    "hod_break": _hod_break,
    "consolidation_break": _consolidation_break,
    "flush": _flush,
    "halt_resumption": _halt_resumption,
}
DETECTORS_GATED = {
    "gap_and_go": _gap_and_go,
    "first_pullback": _first_pullback,
    "parabolic_exhaustion": _parabolic_exhaustion,
}
_NEEDS_FULL = ("flush", "consolidation_break", "halt_resumption")
assert set(DETECTORS_ALL_SESSIONS) | set(DETECTORS_RTH) | set(DETECTORS_GATED) == set(EVENT_TYPES)


def _prepare(
    bars: pl.DataFrame, context: pl.DataFrame | None, min_baseline_days: int, force_sort: bool = False
) -> tuple[pl.DataFrame, _Env]:
    """Check and order the bars (sorted by symbol, ts) and build the day's per-symbol context.

    Returns the bars (re-sorted only when needed) with an integer ``sid`` column, and the ``_Env``.
    Per-row preparation happens chunk by chunk in ``_chunk_frame`` so that no full-length
    intermediate column is ever materialised for the whole day.
    """
    need = {"symbol", "ts", "open", "high", "low", "close", "volume"}
    missing = need - set(bars.columns)
    if missing:
        raise ValueError(f"minute bars lack columns {sorted(missing)}")
    if bars.schema["ts"] != UTC_NS:
        bars = bars.with_columns(
            pl.col("ts").cast(UTC_NS)
            if bars.schema["ts"] == pl.Int64
            else pl.col("ts").cast(pl.Datetime("ns", "UTC"))
        )
    t_min = bars["ts"].min().timestamp()
    t_max_ns = int(bars["ts"].max().timestamp() * 1e9)
    day = dt.datetime.fromtimestamp(t_min, tz=dt.UTC).astimezone(cal.NY).date()
    sess = cal.session(day)
    if sess is None:
        raise ValueError(f"bars start on {day}, not an NYSE trading day")
    pre, post = sess.ns("pre_open"), sess.ns("post_close")
    if int(t_min * 1e9) < pre - 1000 or t_max_ns >= post:
        raise ValueError(f"bars must lie inside one extended session ({day} 04:00 ET to its post-close)")

    def runs(frame: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        sid = frame["symbol"].rle_id().to_numpy()
        return sid, frame["symbol"].gather(_run_starts(sid))

    sid, run_syms = runs(bars)
    # Symbols in sorted contiguous runs; the time order inside each run is checked chunk by chunk
    # (``_chunk_frame``), which falls back to a full sort when it fails.
    if not (force_sort or bool((run_syms.slice(1) > run_syms.slice(0, len(run_syms) - 1)).all())):
        force_sort = True
    if force_sort:
        bars = bars.sort("symbol", "ts")
        sid, run_syms = runs(bars)
        if not _ts_increasing(bars["ts"], sid):
            raise ValueError("minute bars hold duplicate (symbol, ts) rows")
    bars = bars.with_columns(sid=pl.Series(sid.astype(np.int32)))

    nsym = len(run_syms)
    prior_close = np.full(nsym, np.nan)
    base_row = np.full(nsym, -1, dtype=np.int64)
    vol_base = txn_base = None
    if context is not None and context.height:
        # Symbols are mapped to context rows by index: the (large) baseline arrays are read in place.
        if context["symbol"].is_duplicated().any():
            raise ValueError("context holds more than one row for a symbol")
        cr = (
            pl.DataFrame({"symbol": run_syms})
            .join(
                context.select("symbol").with_row_index("cr"), on="symbol", how="left", maintain_order="left"
            )["cr"]
            .cast(pl.Int64)
            .fill_null(-1)
            .to_numpy()
        )
        has = cr >= 0
        if "prior_close" in context.columns:
            pcs = context["prior_close"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            prior_close[has] = pcs[cr[has]]
        if "vol_baseline" in context.columns and "txn_baseline" in context.columns:
            usable = context["vol_baseline"].is_not_null() & context["txn_baseline"].is_not_null()
            if "baseline_days" in context.columns:
                usable = usable & (context["baseline_days"].fill_null(0) >= min_baseline_days)
            usable_np = usable.to_numpy()
            ok = has.copy()
            ok[has] = usable_np[cr[has]]
            if ok.any():
                arr = pl.Array(pl.Float64, SESSION_MINUTES)
                vol_base = np.ascontiguousarray(context["vol_baseline"].cast(arr).to_numpy())
                txn_base = np.ascontiguousarray(context["txn_baseline"].cast(arr).to_numpy())
                base_row[ok] = cr[ok]
    env = _Env(
        day=day,
        pre_open_ns=pre,
        open_ns=sess.ns("market_open"),
        r0=(sess.ns("market_open") - pre) // MINUTE_NS,
        r1=(sess.ns("market_close") - pre) // MINUTE_NS,
        symbols=run_syms,
        prior_close=prior_close,
        base_row=base_row,
        vol_base=vol_base,
        txn_base=txn_base,
    )
    return bars, env


def _ts_increasing(ts: pl.Series, sid: np.ndarray) -> bool:
    """True when timestamps strictly increase within every symbol run."""
    t = ts.dt.epoch("ns").to_numpy()
    return bool(np.all(np.diff(t)[np.diff(sid) == 0] > 0))


def _chunk_frame(raw: pl.DataFrame, env: _Env) -> pl.DataFrame:
    """One chunk of whole symbols with the typed per-row columns the detectors use.

    The integer columns (minute index, positions, time key, the |close change| running sum) are
    built with numpy: polars' integer division and cumulative scans cost several times more per row,
    and all of them are exact integer arithmetic, so the kernel does not change any value.
    """
    # Multiplying by 1/3 (not dividing by 3): polars divides by a literal differently for one-row
    # and longer frames, and results must not depend on how many rows a frame holds.
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) * (1.0 / 3.0)
    if "vwap" not in raw.columns:
        price = typical
    elif raw["vwap"].null_count() == 0:
        price = pl.col("vwap").cast(pl.Float64)  # the coalesce below, without computing ``typical``
    else:
        price = pl.coalesce(pl.col("vwap").cast(pl.Float64), typical)
    n = (
        pl.col("transactions").cast(pl.Int64).fill_null(0)
        if "transactions" in raw.columns
        else pl.lit(0, pl.Int64)
    )
    sid = raw["sid"].to_numpy()
    t = raw["ts"].dt.epoch("ns").to_numpy()
    m = ((t - env.pre_open_ns) // MINUTE_NS).astype(np.int32)
    # A globally increasing time key: time windows ("the last N minutes") become windows on it
    # that can never reach into another symbol (N < _KEY_STRIDE - 960).
    key = sid.astype(np.int64) * _KEY_STRIDE + m
    if len(key) > 1 and not bool((key[1:] > key[:-1]).all()):
        raise _UnsortedError
    pos = _positions(sid)
    typed = raw.select(
        o=pl.col("open").cast(pl.Float64),
        h=pl.col("high").cast(pl.Float64),
        l=pl.col("low").cast(pl.Float64),
        c=pl.col("close").cast(pl.Float64),
        v=pl.col("volume").cast(pl.Float64),
        p=price,
        n=n,
    ).rechunk()
    return pl.DataFrame(
        [
            pl.Series("fi", np.arange(len(sid), dtype=np.int64)),
            pl.Series("sid", sid).set_sorted(),
            pl.Series("t", t),
            pl.Series("m", m),
            pl.Series("pos", pos),
            *typed.get_columns(),
            pl.Series("key", key).set_sorted(),
            pl.Series("dcs", _abs_change_cumsum(typed["c"].to_numpy(), pos)),
        ]
    )


class _UnsortedError(Exception):
    """A chunk's bars are not in (symbol, ts) order: sort the day and start again."""


def _chunks(sid: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Row ranges of whole symbols, about ``rows`` rows each."""
    n = len(sid)
    starts = _run_starts(sid)
    out, a = [], 0
    while a < n:
        j = int(np.searchsorted(starts, a + rows, side="left"))
        b = int(starts[j]) if j < len(starts) else n
        if b <= a:
            b = int(starts[j + 1]) if j + 1 < len(starts) else n
        out.append((a, b))
        a = b
    return out


def _detect_chunk(
    ch: pl.DataFrame, env: _Env, p: IntradayParams, only: frozenset[str] | None = None
) -> list[pl.DataFrame]:
    want = (lambda name: True) if only is None else (lambda name: name in only)
    full = ch
    out: list[pl.DataFrame | None] = []
    for name, fn in DETECTORS_ALL_SESSIONS.items():
        if want(name):
            out.append(fn(full, env, p))
    if any(want(n) for n in (*DETECTORS_RTH, *DETECTORS_GATED)):
        rth = _rth_frame(full, env)
        if rth.height:
            for name, fn in DETECTORS_RTH.items():
                if want(name):
                    out.append(fn(rth, env, p, full) if name in _NEEDS_FULL else fn(rth, env, p))
            if any(want(n) for n in DETECTORS_GATED):
                stats = _symbol_stats(full, rth, env)
                for name, fn in DETECTORS_GATED.items():
                    if want(name):
                        out.append(fn(rth, stats, env, p))
    return [e for e in out if e is not None and e.height]


# ---------------------------------------------------------------------------------- event ids

_M64 = (1 << 64) - 1


def _mix64(x: int) -> int:
    """The splitmix64 finaliser (a bijection on 64-bit integers)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def _h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _h64_many(texts: list[str]) -> np.ndarray:
    """``_h64`` of each text, as uint64 (the digests read little-endian in one go)."""
    blake = hashlib.blake2b
    return np.frombuffer(b"".join([blake(t.encode(), digest_size=8).digest() for t in texts]), dtype="<u8")


def event_id(symbol: str, ts_ns: int, event_type: str) -> str:
    """The stable id of an event: 16 hex digits of
    ``mix64(h(symbol) ^ mix64(ts_ns ^ h(event_type)))``, where ``h`` is blake2b with an 8-byte
    digest read little-endian, ``mix64`` the splitmix64 finaliser and ``ts_ns`` the event's ``ts``
    in integer nanoseconds since the epoch (UTC). Independent of the process, the run and the
    library versions; ``detect_intraday`` computes the same value vectorised."""
    return f"{_mix64(_h64(symbol) ^ _mix64(ts_ns ^ _h64(event_type))):016x}"


def _mix64_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _event_ids(sym_hash: np.ndarray, ts_ns: np.ndarray, type_hash: np.ndarray) -> pl.Series:
    with np.errstate(over="ignore"):
        x = _mix64_np(sym_hash ^ _mix64_np(ts_ns.astype(np.uint64) ^ type_hash))
    hexes = x.astype(">u8").tobytes().hex().encode()
    return pl.Series("event_id", np.frombuffer(hexes, dtype="S16")).cast(pl.String)


def _finish(events: list[pl.DataFrame], env: _Env) -> pl.DataFrame:
    if not events:
        return empty_events()
    ev = pl.concat(events, how="diagonal_relaxed")
    missing = [pl.lit(None).alias(col) for col in EVIDENCE_COLUMNS if col not in ev.columns]
    if missing:
        ev = ev.with_columns(missing)
    r0, r1 = env.r0, env.r1
    ev = ev.with_columns(
        ts=pl.col("t") + MINUTE_NS,
        session=pl.when(pl.col("m") < r0)
        .then(pl.lit("PM"))
        .when(pl.col("m") < r1)
        .then(pl.lit("RTH"))
        .otherwise(pl.lit("AH")),
    ).sort("sid", "ts", "event_type")
    # Hash each symbol and type once; combine with the timestamp vectorised.
    used = np.unique(ev["sid"].to_numpy())
    sym_h = np.zeros(len(env.symbols), dtype=np.uint64)
    sym_h[used] = _h64_many(env.symbols.gather(used).to_list())
    type_h = {t: _h64(t) for t in EVENT_TYPES}
    ids = _event_ids(
        sym_h[ev["sid"].to_numpy()],
        ev["ts"].to_numpy(),
        np.array([type_h[t] for t in EVENT_TYPES], dtype=np.uint64)[
            ev["event_type"].cast(pl.Enum(EVENT_TYPES)).to_physical().to_numpy()
        ],
    )
    casts: dict[str, pl.Expr | pl.Series] = {}
    for col, dtype in EVENT_SCHEMA.items():
        if col == "event_id":
            casts[col] = ids
        elif col == "symbol":
            casts[col] = env.symbols.gather(ev["sid"])
        elif dtype == UTC_NS:
            casts[col] = pl.col(col).cast(pl.Int64).cast(UTC_NS)
        else:
            casts[col] = pl.col(col).cast(dtype)
    return ev.select(**casts)


def detect_intraday(
    bars: pl.DataFrame,
    context: pl.DataFrame | None = None,
    params: IntradayParams | None = None,
    *,
    only: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """All intraday events of one day's minute bars (many symbols), in ``EVENT_SCHEMA``.

    ``bars``: the ``MinuteBars`` columns (symbol, ts, open, high, low, close, volume, vwap,
    transactions; ``session`` is ignored and re-derived from the calendar) of a single trading day,
    any order, no duplicate (symbol, ts). ``context``: one row per symbol from ``make_context``
    (prior_close; optional vol_baseline / txn_baseline arrays and baseline_days). Symbols missing
    from it get no gap/LULD context and no baseline. ``only`` restricts to some event types (used by
    the benchmark to time detectors alone).

    Output: one row per event, sorted by (symbol, ts, event_type), unique on those three by
    construction (each detector fires at most once per symbol-bar).
    """
    p = params or IntradayParams()
    if bars.is_empty():
        return empty_events()
    unknown = set(only or ()) - set(EVENT_TYPES)
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)}")
    sel = frozenset(only) if only is not None else None
    try:
        return _detect(bars, context, p, sel, force_sort=False)
    except _UnsortedError:
        return _detect(bars, context, p, sel, force_sort=True)


def _detect(
    bars: pl.DataFrame,
    context: pl.DataFrame | None,
    p: IntradayParams,
    sel: frozenset[str] | None,
    force_sort: bool,
) -> pl.DataFrame:
    bars, env = _prepare(bars, context, p.min_baseline_days, force_sort)

    def run(rng: tuple[int, int]) -> pl.DataFrame:
        a, b = rng
        # Chunks hold whole symbols in sid order, so events finished (sorted, with ids) chunk by
        # chunk concatenate in the final order; this keeps the per-event work in the workers.
        return _finish(_detect_chunk(_chunk_frame(bars.slice(a, b - a), env), env, p, sel), env)

    ranges = _chunks(bars["sid"].to_numpy(), p.chunk_rows)
    if p.threads > 1 and len(ranges) > 1:
        with ThreadPoolExecutor(p.threads) as pool:
            parts = list(pool.map(run, ranges))
    else:
        parts = [run(r) for r in ranges]
    parts = [part for part in parts if part.height]
    if not parts:
        return empty_events()
    return pl.concat(parts) if len(parts) > 1 else parts[0]


# =============================================================================================
# Score: percentile of strength within type, against prior days only
# =============================================================================================


def _et_date(col: str = "ts") -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("America/New_York").dt.date()


def score(
    events_today: pl.DataFrame,
    events_history: pl.DataFrame,
    window_days: int = 60,
    min_history: int = 20,
) -> pl.DataFrame:
    """``events_today`` with ``score`` in [0, 1]: the mid-rank percentile of each event's strength
    among the same type's events of the ``window_days`` trading days before today.

    score = (#history strengths < s + 0.5 x #equal) / #history. Only prior days count: rows of
    ``events_history`` dated today or later (ET date of ``ts``) are ignored, and today's other events
    never enter, so a score cannot change with anything that happens later today. With fewer than
    ``min_history`` prior events of the type in the window the score is null ("not enough history").
    ``events_today`` must hold one trading day.
    """
    out_schema = {**events_today.schema, "score": pl.Float64}
    if events_today.is_empty():
        return pl.DataFrame(schema=out_schema)
    days = events_today.select(_et_date().unique())["ts"]
    if len(days) != 1:
        raise ValueError(f"events_today spans {len(days)} days; score one day at a time")
    day = days[0]
    prior_days = cal.trading_days(day - dt.timedelta(days=2 * window_days + 14), day - dt.timedelta(days=1))
    window = prior_days[-window_days:]
    if events_history.is_empty() or not window:
        hist = pl.DataFrame(schema={"event_type": pl.String, "strength": pl.Float64})
    else:
        hist = (
            events_history.with_columns(_d=_et_date())
            .filter((pl.col("_d") >= window[0]) & (pl.col("_d") < day))
            .select("event_type", "strength")
            .drop_nulls()
        )
    scores = np.full(events_today.height, np.nan)
    types = events_today["event_type"].to_numpy()
    strength = events_today["strength"].cast(pl.Float64).to_numpy()
    by_type = dict(hist.group_by("event_type").agg(pl.col("strength").sort()).iter_rows())
    for etype, hs in by_type.items():
        ref = np.asarray(hs, dtype=float)
        if len(ref) < min_history:
            continue
        sel = types == etype
        lo = np.searchsorted(ref, strength[sel], side="left")
        hi = np.searchsorted(ref, strength[sel], side="right")
        scores[sel] = (lo + 0.5 * (hi - lo)) / len(ref)
    return events_today.with_columns(pl.Series("score", scores, nan_to_null=True))

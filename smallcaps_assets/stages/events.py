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
  optimisation that does not change results), with window expressions, cumulative operations,
  masked shifts and rolling windows; no Python loop runs per symbol or per bar.
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


def _lag(col: str, k: int, pos: str = "pos") -> pl.Expr:
    """The symbol's value ``k`` bars back (null for the first ``k`` bars of the symbol)."""
    return pl.when(pl.col(pos) >= k).then(pl.col(col).shift(k))


def _within(k: int, minutes: int) -> pl.Expr:
    """True when the bar ``k`` rows back is the same symbol's and started at most ``minutes``
    minutes before this one. The time key jumps by more than 1,000 between symbols, so the key
    difference alone settles both."""
    return ((pl.col("key") - pl.col("key").shift(k)) <= minutes).fill_null(False)


def _ticks(col: str) -> pl.Expr:
    return (pl.col(col) * _TICKS_PER_DOLLAR).round(0).cast(pl.Int64)


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


def _where(frame: pl.DataFrame, cond: pl.Expr, cols: list[str] | tuple[str, ...]) -> pl.DataFrame:
    """``frame.filter(cond)`` restricted to ``cols`` (projected before the rows are copied)."""
    return frame.lazy().filter(cond).select(cols).collect()


def _events(frame: pl.DataFrame, event_type: str, **cols: pl.Expr | str) -> pl.DataFrame:
    return frame.select("sid", "t", "m", event_type=pl.lit(event_type), **cols)


def _baseline(env: _Env, table: np.ndarray, sid: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """table[base_row[sid], minute]: NaN without a usable baseline, 0 for minutes before 04:00."""
    row = env.base_row[sid]
    ok = row >= 0
    out = np.full(len(sid), np.nan)
    inside = ok & (minute >= 0) & (minute < table.shape[1])
    out[ok] = 0.0
    out[inside] = table[row[inside], minute[inside]]
    return out


def _per_sid(frame: pl.DataFrame, col: str, sid0: int, n: int) -> np.ndarray:
    """A per-symbol aggregate (``frame``: one row per sid) as a dense float array over sids."""
    out = np.full(n, np.nan)
    vals = frame[col].cast(pl.Float64).fill_null(np.nan).to_numpy()
    out[frame["sid"].to_numpy() - sid0] = vals
    return out


# --------------------------------------------------------------------------------- all sessions


def _volume_spike(full: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    if env.vol_base is None:
        return None
    cand = _where(full, pl.col("v") >= max(p.spike_min_volume, 1e-9), ["sid", "t", "m", "o", "c", "v"])
    if cand.is_empty():
        return None
    base = _baseline(env, env.vol_base, cand["sid"].to_numpy(), cand["m"].to_numpy())
    eff = np.maximum(base, p.spike_baseline_floor)  # NaN (no baseline) stays NaN
    raw = cand.with_columns(base=pl.Series(eff, nan_to_null=True)).filter(
        pl.col("v") >= p.spike_ratio * pl.col("base")
    )
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
    txn = pl.col("n")
    wopen = pl.col("o")
    for j in range(1, w):  # bars j back are inside the window only if bar j-1 back is too
        inside = _within(j, w - 1)
        txn = txn + pl.when(inside).then(pl.col("n").shift(j)).otherwise(0)
        wopen = pl.when(inside).then(pl.col("o").shift(j)).otherwise(wopen)
    cand = full.select("sid", "t", "m", "c", txn=txn, wopen=wopen).filter(
        pl.col("txn") >= max(p.tape_min_transactions, 1)
    )
    if cand.is_empty():
        return None
    sid, m = cand["sid"].to_numpy(), cand["m"].to_numpy()
    base = sum(_baseline(env, env.txn_base, sid, m - j) for j in range(w))
    eff = np.maximum(base, p.tape_baseline_floor)
    raw = cand.with_columns(base=pl.Series(eff, nan_to_null=True)).filter(
        pl.col("txn") >= p.tape_ratio * pl.col("base")
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


def _abs_change_cumsum() -> pl.Expr:
    """Cumulative sum (over the chunk) of |close change| in $0.0001 ticks between consecutive bars of a
    symbol (0 on its first bar): integer sums, so window differences are exact and order-free."""
    ticks = _ticks("c")
    return pl.when(pl.col("pos") >= 1).then((ticks - ticks.shift(1)).abs()).otherwise(0).cum_sum()


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
    lo = pl.col("c").rolling_min(w + 1)
    sig = (pl.col("dcs").shift(w) - pl.col("dcs").shift(w + b)).cast(pl.Float64) * (
        1.0 / (b * _TICKS_PER_DOLLAR)
    )
    need = pl.max_horizontal(p.momentum_min_move * lo, w * p.momentum_min_z * sig) * 0.999
    big = (pl.col("c").rolling_max(w + 1) - lo) >= need
    cand = _where(
        full,
        ((pl.col("pos") >= b + w) & big & ((pl.col("t") - _lag("t", 1)) < span)).fill_null(False),
        ["fi", "sid", "t", "m", "c", "pos"],
    )
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
    whole-share volumes); the price-volume sum of the VWAP is summed per symbol.
    """
    cols = [c for c in full.columns if c not in ("n", "dcs")]
    # Contiguous columns: every later pass over a many-chunk frame costs far more than one copy.
    rth = _where(full, (pl.col("m") >= env.r0) & (pl.col("m") < env.r1), cols).rechunk()
    rth = rth.with_columns(
        pl.Series("rpos", _positions(rth["sid"].to_numpy())), pl.col("sid").set_sorted(), hk=_ticks("h")
    )
    packed = pl.col("sid").cast(pl.Int64) * (1 << 40)
    csv = pl.col("v").cum_sum()
    rth = rth.with_columns(
        hod_k=(packed + pl.col("hk")).cum_max() - packed,
        cpv=(pl.col("p") * pl.col("v")).cum_sum().over("sid"),
        csv=csv,
        csv0=pl.when(pl.col("rpos") == 0).then(csv - pl.col("v")).forward_fill(),
    )
    lag = lambda c, k=1: _lag(c, k, "rpos")  # noqa: E731
    rth = rth.with_columns(
        vwap=pl.col("cpv") / (pl.col("csv") - pl.col("csv0")),
        hod_prev_k=lag("hod_k"),
        c1=lag("c"),
        h1=lag("h"),
        l1=lag("l"),
        t1=lag("t"),
    ).with_columns(
        vwap=pl.when(pl.col("vwap").is_finite()).then(pl.col("vwap")),
        newhigh=(pl.col("rpos") == 0) | (pl.col("hod_k") > pl.col("hod_prev_k")),
    )
    # The first RTH bar always sets the high, so these forward fills never cross symbols; the high
    # itself is the (exact float) high of the bar that set it.
    rth = rth.with_columns(
        vwap1=lag("vwap"),
        hod_t=pl.when(pl.col("newhigh")).then(pl.col("t")).forward_fill(),
        hod=pl.when(pl.col("newhigh")).then(pl.col("h")).forward_fill(),
    ).with_columns(hod_t_prev=lag("hod_t"), hod_prev=lag("hod"))
    return rth.rechunk()


def _vwap_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    k = p.vwap_hold_minutes
    # A reclaim needs the previous close strictly below VWAP and this one above: such crossings are
    # few, and everything else is measured on them. The close "on the new side" that the hold
    # counts from is the bar just before the current run on the old side began: the run's first
    # bar is the previous side change of the symbol (or its first RTH bar).
    above = pl.col("c") >= pl.col("vwap")
    below = pl.col("c") <= pl.col("vwap")
    up = (pl.col("c") > pl.col("vwap") * (1 + p.vwap_margin)) & (pl.col("c1") < pl.col("vwap1"))
    dn = (pl.col("c") < pl.col("vwap") * (1 - p.vwap_margin)) & (pl.col("c1") > pl.col("vwap1"))
    f = rth.with_row_index("ri").select(
        "ri",
        "sid",
        "t",
        "m",
        "c",
        "vwap",
        "rpos",
        "t1",
        up=up.fill_null(False),
        dn=dn.fill_null(False),
        # run starts: the first RTH bar, or a bar whose side differs from the previous bar's
        start_below=((pl.col("rpos") == 0) | ~(pl.col("c1") < pl.col("vwap1")).fill_null(False))
        & (pl.col("c") < pl.col("vwap")).fill_null(False),
        start_above=((pl.col("rpos") == 0) | ~(pl.col("c1") > pl.col("vwap1")).fill_null(False))
        & (pl.col("c") > pl.col("vwap")).fill_null(False),
    )
    del above, below
    marks = f.filter(pl.col("up") | pl.col("dn") | pl.col("start_below") | pl.col("start_above"))
    if not (marks["up"].any() or marks["dn"].any()):
        return None
    virtual = env.open_ns - MINUTE_NS
    run_from = pl.when(pl.col("rpos") == 0).then(pl.lit(virtual, pl.Int64)).otherwise(pl.col("t1"))
    # For an up-cross, the last close at/above VWAP is just before the latest start of a below-run.
    marks = marks.with_columns(
        last_above=pl.when(pl.col("start_below")).then(run_from).forward_fill().shift(1),
        last_below=pl.when(pl.col("start_above")).then(run_from).forward_fill().shift(1),
        owner_b=pl.when(pl.col("start_below")).then(pl.col("sid")).forward_fill().shift(1),
        owner_a=pl.when(pl.col("start_above")).then(pl.col("sid")).forward_fill().shift(1),
    )
    fired = marks.filter(
        (
            pl.col("up")
            & (pl.col("owner_b") == pl.col("sid"))
            & (pl.col("t") - pl.col("last_above") >= k * MINUTE_NS)
        )
        | (
            pl.col("dn")
            & (pl.col("owner_a") == pl.col("sid"))
            & (pl.col("t") - pl.col("last_below") >= k * MINUTE_NS)
        )
    ).filter(pl.col("rpos") >= k)
    if fired.is_empty():
        return None
    # Depth: the farthest close on the old side among the previous k bars.
    rows = fired["ri"].to_numpy().astype(np.int64)
    dist = (rth["c"] / rth["vwap"] - 1.0).fill_null(np.nan).to_numpy()
    back = np.stack([dist[rows - j] for j in range(1, k + 1)])
    fired = fired.with_columns(
        lo_dist=pl.Series(np.nanmin(back, axis=0)), hi_dist=pl.Series(np.nanmax(back, axis=0))
    ).filter(
        (pl.col("up") & (pl.col("lo_dist") <= -p.vwap_min_depth))
        | (pl.col("dn") & (pl.col("hi_dist") >= p.vwap_min_depth))
    )
    if fired.is_empty():
        return None
    fired = fired.with_columns(direction=pl.when(pl.col("up")).then(1).otherwise(-1))
    up_dir = pl.col("direction") == 1
    since = pl.when(up_dir).then(pl.col("last_above")).otherwise(pl.col("last_below"))
    return _events(
        fired,
        "vwap_break",
        direction="direction",
        strength=((pl.col("t") - since) // MINUTE_NS).cast(pl.Float64),
        ev_vwap="vwap",
        ev_close="c",
        ev_level_ts=since,
        ev_depth=pl.when(up_dir).then(pl.col("lo_dist")).otherwise(pl.col("hi_dist")),
    )


def _hod_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    age = pl.col("t") - pl.col("hod_t_prev")
    fired = _where(
        rth,
        (pl.col("hk") > pl.col("hod_prev_k")).fill_null(False)
        & (age >= p.hod_min_age_minutes * MINUTE_NS).fill_null(False),
        ["sid", "t", "m", "h", "c", "hod_prev", "hod_t_prev"],
    )
    if fired.is_empty():
        return None
    return _events(
        fired,
        "hod_break",
        direction=pl.lit(1),
        strength=(age // MINUTE_NS).cast(pl.Float64),
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
    early = _where(rth, pl.col("m") < r0 + max(lens), ["sid", "m", "h", "l", "v"])
    if early.is_empty():
        return None
    esid, em = early["sid"].to_numpy(), early["m"].to_numpy()
    eh, el, ev = early["h"].to_numpy(), early["l"].to_numpy(), early["v"].to_numpy()
    starts = _run_starts(esid)
    cols: dict[str, np.ndarray] = {"sid": esid[starts]}
    for n in lens:
        inside = em < r0 + n
        cols[f"orh{n}"] = np.maximum.reduceat(np.where(inside, eh, -np.inf), starts)
        cols[f"orl{n}"] = np.minimum.reduceat(np.where(inside, el, np.inf), starts)
        cols[f"orn{n}"] = np.add.reduceat(inside.astype(np.int64), starts).astype(float)
        cols[f"orv{n}"] = np.add.reduceat(np.where(inside, ev, 0.0), starts)
    ranges = pl.DataFrame(cols).with_columns(pl.exclude("sid").replace([np.inf, -np.inf], None))
    sid0 = int(rth["sid"][0])
    nsid = int(rth["sid"][-1]) - sid0 + 1
    cand = _where(
        rth,
        (pl.col("m") >= r0 + min(lens)) & (pl.col("m") < r0 + p.or_valid_minutes),
        ["sid", "t", "m", "c", "v"],
    )
    sid = cand["sid"].to_numpy()
    m, c, v = cand["m"].to_numpy(), cand["c"].to_numpy(), cand["v"].to_numpy()
    per = {col: _per_sid(ranges, col, sid0, nsid)[sid - sid0] for col in ranges.columns if col != "sid"}
    with np.errstate(invalid="ignore"):
        best: dict[int, tuple[int, int]] = {}  # row -> (longest range broken, direction)
        for n in lens:
            ok = (
                (m >= r0 + n)
                & (per[f"orn{n}"] >= p.or_min_bars)
                & (v >= p.or_volume_ratio * per[f"orv{n}"] / n)
            )
            for direction, hit in ((1, c > per[f"orh{n}"]), (-1, c < per[f"orl{n}"])):
                for row in _first_per_sid(ok & hit, sid).tolist():
                    best[row] = (n, direction)  # lens ascend: the longest range wins
    if not best:
        return None
    rows = np.array(sorted(best), dtype=np.int64)
    ns = np.array([best[r][0] for r in rows.tolist()], dtype=np.int64)
    dirs = np.array([best[r][1] for r in rows.tolist()], dtype=np.int64)
    orh = np.choose(np.searchsorted(lens, ns), [per[f"orh{n}"][rows] for n in lens])
    orl = np.choose(np.searchsorted(lens, ns), [per[f"orl{n}"][rows] for n in lens])
    orv = np.choose(np.searchsorted(lens, ns), [per[f"orv{n}"][rows] for n in lens])
    fired = cand[rows].with_columns(
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


def _window_extreme(
    values: np.ndarray, key: np.ndarray, rows: np.ndarray, minutes: int, how: str
) -> np.ndarray:
    """max/min of ``values`` over the bars of the last ``minutes`` minutes before each of ``rows``
    (bars at key >= key[row] - minutes, current bar excluded); NaN for an empty window."""
    fill = -np.inf if how == "max" else np.inf
    out = np.full(len(rows), fill)
    pick = np.maximum if how == "max" else np.minimum
    for j in range(1, minutes + 1):  # bars are distinct minutes: at most ``minutes`` of them
        src = rows - j
        ok = src >= 0
        ok[ok] = key[rows[ok]] - key[src[ok]] <= minutes
        if not ok.any():
            break
        out[ok] = pick(out[ok], values[src[ok]])
    out[np.isinf(out)] = np.nan
    return out


def _consolidation_break(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    w, nb = p.cons_minutes, p.cons_min_bars
    ticks = _ticks("c")
    # |close change| in ticks between consecutive RTH bars of a symbol (0 on its first RTH bar).
    d = pl.when(pl.col("rpos") >= 1).then((ticks - ticks.shift(1)).abs()).otherwise(0)
    # Mean volume of the previous ``nb`` bars, on whole shares (an exact integer rolling sum).
    vsum_prev = pl.col("v").round(0).cast(pl.Int64).rolling_sum(nb).shift(1)
    # Necessary conditions first (the previous bar is inside the window, so a break of the window
    # must break that bar's range too); the window itself is measured on the survivors only.
    pre = (
        (pl.col("m") >= env.r0 + w)
        & (pl.col("rpos") >= max(2, nb))
        & _within(nb, w)
        & ((pl.col("c") > pl.col("h1")) | (pl.col("c") < pl.col("l1")))
        & (pl.col("v") * nb >= p.cons_volume_ratio * vsum_prev)
    )
    g = rth.with_row_index("ri").select(
        "ri", "sid", "t", "m", "c", "v", "rpos", "h1", "l1", pre=pre, cs=d.cum_sum()
    )
    cs = g["cs"]
    g = g.filter(pl.col("pre").fill_null(False))
    if g.is_empty():
        return None
    ri = g["ri"].cast(pl.Int64)
    # Session vol unit: mean |close change| between the symbol's RTH bars before this one (exact:
    # the cumulative sum one bar back minus its value at the symbol's first RTH bar).
    tight = p.cons_tightness * (w**0.5)
    g = g.with_columns(
        unit=(cs.gather(ri - 1) - cs.gather(ri - g["rpos"].cast(pl.Int64))).cast(pl.Float64)
        / ((pl.col("rpos") - 1) * _TICKS_PER_DOLLAR),
    ).filter((pl.col("h1") - pl.col("l1")) <= tight * pl.col("unit"))
    if g.is_empty():
        return None
    rows = g["ri"].to_numpy().astype(np.int64)
    key = rth["key"].to_numpy()
    vv = rth["v"].round(0).to_numpy()
    vsum = sum(vv[rows - j] for j in range(1, nb + 1))
    g = g.with_columns(
        hi=pl.Series(_window_extreme(rth["h"].to_numpy(), key, rows, w, "max"), nan_to_null=True),
        lo=pl.Series(_window_extreme(rth["l"].to_numpy(), key, rows, w, "min"), nan_to_null=True),
        vref=pl.Series(vsum / nb),
    )
    ok = (pl.col("hi") - pl.col("lo")) <= tight * pl.col("unit")
    raw = g.filter((ok & ((pl.col("c") > pl.col("hi")) | (pl.col("c") < pl.col("lo")))).fill_null(False))
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


def _flush(rth: pl.DataFrame, env: _Env, p: IntradayParams, full: pl.DataFrame) -> pl.DataFrame | None:
    w = p.flush_window_minutes
    terms = [pl.col("h")]
    for j in range(1, w):
        terms.append(pl.when(_within(j, w - 1) & (pl.col("rpos") >= j)).then(pl.col("h").shift(j)))
    drop = 1.0 - pl.col("c") / pl.col("level")
    f = rth.select("sid", "t", "m", "c", "fi", "pos", level=pl.max_horizontal(terms)).filter(
        (drop >= p.flush_min_drop).fill_null(False)
    )
    if f.is_empty():
        return None
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


def _halt_resumption(rth: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    gap = pl.col("t") - pl.col("t1")
    idx = (
        rth.with_row_index("ri")
        .filter((gap >= p.halt_min_gap_minutes * MINUTE_NS).fill_null(False))
        .select("ri", "rpos")
    )
    if idx.is_empty():
        return None

    def back(col: str, j: int) -> pl.Series:
        return _back(rth, idx, col, j, "rpos")

    g = rth.select("sid", "t", "m", "o", "c").gather(idx["ri"]).with_columns(
        back("t", 1), back("m", 1), back("h", 1), back("l", 1),
        *[back("t", j) for j in range(2, 7)],
        *[back("p", j) for j in range(2, 7)],
    )  # fmt: skip
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
    pm = _where(full, pl.col("m") < env.r0, ["sid", "h"])
    pm_high = np.full(len(syms), np.nan)
    if pm.height:
        psid = pm["sid"].to_numpy()
        pstarts = _run_starts(psid)
        where = np.searchsorted(syms, psid[pstarts])
        found = (where < len(syms)) & (syms[np.minimum(where, len(syms) - 1)] == psid[pstarts])
        pm_high[where[found]] = np.maximum.reduceat(pm["h"].to_numpy(), pstarts)[found]
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


def _subset(rth: pl.DataFrame, chosen: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
    """The RTH rows of the symbols in ``chosen`` (one row per sid) with its ``cols`` attached."""
    sids = chosen["sid"]
    sub = rth.filter(pl.col("sid").is_in(sids.implode()))
    return sub.join(chosen.select("sid", *cols), on="sid", how="left", maintain_order="left")


def _gap_and_go(rth: pl.DataFrame, stats: pl.DataFrame, env: _Env, p: IntradayParams) -> pl.DataFrame | None:
    gappers = stats.with_columns(gap=pl.col("o_rth") / pl.col("pc") - 1.0).filter(
        (pl.col("gap") >= p.gap_min).fill_null(False) & pl.col("pm_high").is_not_null()
    )
    if gappers.is_empty():
        return None
    sub = _subset(
        rth.filter(pl.col("m") < env.r0 + p.gap_go_max_minutes), gappers, ["o_rth", "pm_high", "pc", "gap"]
    )
    fired = sub.filter(pl.col("h") > pl.col("pm_high")).unique("sid", keep="first", maintain_order=True)
    if fired.is_empty():
        return None
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
    sub = _subset(rth, runners, ["o_rth"])
    # Segments start at each new high of the day (a symbol's first RTH bar is one, so segment ids
    # never span symbols); the pullback low is the lowest low after the segment's high bar.
    sub = sub.with_columns(seg=pl.col("newhigh").cast(pl.Int64).cum_sum()).with_columns(
        pbl=pl.when(pl.col("newhigh")).then(float("inf")).otherwise(pl.col("l")).cum_min().over("seg")
    )
    sub = sub.with_columns(pbl_prev=_lag("pbl", 1, "rpos"))
    leg = pl.col("hod_prev") - pl.col("o_rth")
    retr = (pl.col("hod_prev") - pl.col("pbl_prev")) / leg
    raw = sub.filter(
        (
            (leg >= p.pullback_min_leg * pl.col("o_rth"))
            & (retr >= p.pullback_min_retrace)
            & (retr <= p.pullback_max_retrace)
            & (pl.col("c") > pl.col("h1"))
            & (pl.col("c") > pl.col("o"))
            & (pl.col("t") - pl.col("hod_t_prev") >= p.pullback_min_minutes * MINUTE_NS)
        ).fill_null(False)
    )
    fired = raw.unique("sid", keep="first", maintain_order=True)
    if fired.is_empty():
        return None
    return _events(
        fired,
        "first_pullback",
        direction=pl.lit(1),
        strength=leg / pl.col("o_rth") * 100.0,
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
    sub = _subset(rth, runners, [])
    sub = sub.with_columns(
        base=pl.col("l").rolling_min(p.parabolic_window_bars, min_samples=1).over("sid")
    ).with_columns(
        # The first RTH bar always sets the high, so this forward fill never crosses symbols.
        base_at_high=pl.when(pl.col("newhigh")).then(pl.col("base")).forward_fill(),
    )
    sub = sub.with_columns(base_prev=_lag("base_at_high", 1, "rpos"))
    run = pl.col("hod_prev") / pl.col("base_prev") - 1.0
    raw = sub.filter(
        (
            (run >= p.parabolic_min_run)
            & (pl.col("t") - pl.col("hod_t_prev") <= p.parabolic_recent_minutes * MINUTE_NS)
            & (pl.col("c") < pl.col("l1"))
            & (pl.col("c") < pl.col("o"))
        ).fill_null(False)
    )
    fired = raw.unique(["sid", "hod_t_prev"], keep="first", maintain_order=True)
    if fired.is_empty():
        return None
    return _events(
        fired,
        "parabolic_exhaustion",
        direction=pl.lit(-1),
        strength=run * 100.0,
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
                vol_base = context["vol_baseline"].cast(arr).to_numpy()
                txn_base = context["txn_baseline"].cast(arr).to_numpy()
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
    """One chunk of whole symbols with the typed per-row columns the detectors use."""
    # Multiplying by 1/3 (not dividing by 3): polars divides by a literal differently for one-row
    # and longer frames, and results must not depend on how many rows a frame holds.
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) * (1.0 / 3.0)
    price = pl.coalesce(pl.col("vwap").cast(pl.Float64), typical) if "vwap" in raw.columns else typical
    n = (
        pl.col("transactions").cast(pl.Int64).fill_null(0)
        if "transactions" in raw.columns
        else pl.lit(0, pl.Int64)
    )
    t = pl.col("ts").dt.epoch("ns")
    sid = raw["sid"].to_numpy()
    out = raw.select(
        pl.col("sid").set_sorted(),
        t=t,
        m=((t - env.pre_open_ns) // MINUTE_NS).cast(pl.Int32),
        pos=pl.Series(_positions(sid)),
        o=pl.col("open").cast(pl.Float64),
        h=pl.col("high").cast(pl.Float64),
        l=pl.col("low").cast(pl.Float64),
        c=pl.col("close").cast(pl.Float64),
        v=pl.col("volume").cast(pl.Float64),
        p=price,
        n=n,
    ).with_columns(
        # A globally increasing time key: time windows ("the last N minutes") become windows on it
        # that can never reach into another symbol (N < _KEY_STRIDE - 960).
        key=(pl.col("sid").cast(pl.Int64) * _KEY_STRIDE + pl.col("m")).set_sorted()
    )
    if out.height > 1 and not bool(out.select((pl.col("key").diff() > 0).all()).item()):
        raise _UnsortedError
    return out.rechunk()


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
    if want("price_momentum") or want("flush"):
        full = full.with_columns(dcs=_abs_change_cumsum()).with_row_index("fi")
    out: list[pl.DataFrame | None] = []
    for name, fn in DETECTORS_ALL_SESSIONS.items():
        if want(name):
            out.append(fn(full, env, p))
    if any(want(n) for n in (*DETECTORS_RTH, *DETECTORS_GATED)):
        rth = _rth_frame(full, env)
        if rth.height:
            for name, fn in DETECTORS_RTH.items():
                if want(name):
                    out.append(fn(rth, env, p, full) if name == "flush" else fn(rth, env, p))
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
    for col in EVIDENCE_COLUMNS:
        if col not in ev.columns:
            ev = ev.with_columns(pl.lit(None).alias(col))
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
    sym_h[used] = [_h64(s) for s in env.symbols.gather(used).to_list()]
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

    def run(rng: tuple[int, int]) -> list[pl.DataFrame]:
        a, b = rng
        return _detect_chunk(_chunk_frame(bars.slice(a, b - a), env), env, p, sel)

    ranges = _chunks(bars["sid"].to_numpy(), p.chunk_rows)
    if p.threads > 1 and len(ranges) > 1:
        with ThreadPoolExecutor(p.threads) as pool:
            parts = list(pool.map(run, ranges))
    else:
        parts = [run(r) for r in ranges]
    return _finish([e for part in parts for e in part], env)


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

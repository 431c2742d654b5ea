"""Trades and NBBO quotes drawn from a DayPlan, and bars aggregated from the trades.

Every random number here is counter-based (``rng.uniforms``), keyed by (seed, ticker, date) with a
counter built from (minute, print index, field). A request for ten minutes therefore generates only
those ten minutes, and they are identical to the same minutes of a full-day request.

Bars are *derived* from trades with the vendor's eligibility rules, never drawn separately, so
trades aggregate exactly to the bars by construction. The rules and ``aggregate`` are platform
code (``smallcaps_assets.stages.trade_rules``), re-exported here: the flat-file ingestion rebuilds
VWAP from trades with the very same functions.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from ..stages.trade_rules import aggregate, with_eligibility
from . import conditions as cond
from .config import SimConfig
from .prices import DayPlan
from .reference import TickerProfile
from .rng import normals, stable_key, uniforms

NS_PER_MIN = 60_000_000_000
LIT_VENUES = np.array([12, 11, 10, 8, 7, 19, 18, 21, 15, 1, 2, 3, 20])  # vendor exchange ids
TRF_IDS = np.array([201, 202, 203])

__all__ = ["QUOTE_COLUMNS", "TRADE_COLUMNS", "aggregate", "quotes", "trades", "with_eligibility"]

TRADE_COLUMNS = {
    "sip_timestamp": pl.Int64,
    "participant_timestamp": pl.Int64,
    "trf_timestamp": pl.Int64,
    "sequence_number": pl.Int64,
    "id": pl.String,
    "price": pl.Float64,
    "size": pl.Float64,
    "exchange": pl.Int32,
    "trf_id": pl.Int32,
    "tape": pl.Int32,
    "conditions": pl.List(pl.Int32),
    "correction": pl.Int32,
}
QUOTE_COLUMNS = {
    "sip_timestamp": pl.Int64,
    "participant_timestamp": pl.Int64,
    "sequence_number": pl.Int64,
    "bid_price": pl.Float64,
    "bid_size": pl.Float64,
    "bid_exchange": pl.Int32,
    "ask_price": pl.Float64,
    "ask_size": pl.Float64,
    "ask_exchange": pl.Int32,
    "tape": pl.Int32,
    "conditions": pl.List(pl.Int32),
    "indicators": pl.List(pl.Int32),
}


def _minutes_for(plan: DayPlan, start_ns: int | None, end_ns: int | None) -> np.ndarray:
    lo = 0 if start_ns is None else max(0, (start_ns - plan.t0_ns) // NS_PER_MIN)
    hi = plan.n_minutes if end_ns is None else min(plan.n_minutes, (end_ns - plan.t0_ns) // NS_PER_MIN + 1)
    return np.arange(lo, max(lo, hi), dtype=np.int64)


def _expand(counts: np.ndarray, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minute, index within minute, count of that minute) for every print in ``minutes``."""
    n = counts[minutes]
    m = np.repeat(minutes, n)
    starts = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(len(m), dtype=np.int64) - starts
    return m, k, np.repeat(n, n)


def _allowed_window(plan: DayPlan, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds within each minute when trading is allowed (LULD pauses cut minutes short)."""
    lo = np.zeros(len(m))
    hi = np.full(len(m), 60.0)
    for h in plan.halts:
        hs = (h.start_ns - plan.t0_ns) / 1e9
        he = (h.end_ns - plan.t0_ns) / 1e9
        ms = m * 60.0
        starts_here = (ms <= hs) & (hs < ms + 60)
        ends_here = (ms <= he) & (he < ms + 60)
        hi = np.where(starts_here, hs - ms, hi)
        lo = np.where(ends_here, he - ms, lo)
    return lo, hi


def _round_tick(x: np.ndarray, tick: float) -> np.ndarray:
    return np.round(np.round(x / tick) * tick, 4 if tick >= 0.01 else 6)


def _mid_at(plan: DayPlan, m: np.ndarray, frac: np.ndarray, z: np.ndarray) -> np.ndarray:
    a, b = plan.log_mid[m], plan.log_mid[m + 1]
    bridge = np.sqrt(np.clip(frac * (1.0 - frac), 0.0, None)) * 2.0
    return np.exp(a + (b - a) * frac + plan.minute_sd[m] * bridge * z)


def trades(
    cfg: SimConfig, p: TickerProfile, plan: DayPlan, start_ns: int | None = None, end_ns: int | None = None
) -> pl.DataFrame:
    """Trades with sip_timestamp in [start_ns, end_ns] (ns, inclusive), ascending by time."""
    minutes = _minutes_for(plan, start_ns, end_ns)
    m, k, n = _expand(plan.n_trades, minutes)
    if len(m) == 0:
        return pl.DataFrame(schema=TRADE_COLUMNS)
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "trades")
    ctr = (m.astype(np.uint64) << np.uint64(24)) | (k.astype(np.uint64) << np.uint64(4))

    def u(field: int) -> np.ndarray:
        return uniforms(key, ctr | np.uint64(field))

    lo, hi = _allowed_window(plan, m)
    frac_in_window = (k + 0.05 + 0.9 * u(0)) / n  # stratified: sorted within the minute
    secs = lo + frac_in_window * (hi - lo)
    sip = plan.t0_ns + m * NS_PER_MIN + (secs * 1e9).astype(np.int64)
    mid = _mid_at(plan, m, secs / 60.0, normals(key, ctr | np.uint64(1)))
    half = mid * plan.spread[m] / 2.0
    side = u(2)
    price = np.where(side < 0.45, mid + half, np.where(side < 0.9, mid - half, mid))
    price = np.maximum(_round_tick(price, plan.tick), plan.tick)

    # Sizes: round lots, odd lots and the occasional block; odd lots carry condition 37.
    us = u(3)
    base = plan.size_scale * np.exp(0.9 * normals(key, ctr | np.uint64(4)) - 0.4)
    lots = np.maximum(1, np.round(base / 100.0)) * 100.0
    odd = np.floor(1 + u(5) * 99)
    size = np.where(us < 0.22, odd, np.where(us > 0.985, lots * 10, lots))
    is_odd = us < 0.22

    session_ext = (m < plan.rth_start) | (m >= plan.rth_end)
    venue_u = u(6)
    off_exchange = venue_u < 0.38
    exchange = np.where(off_exchange, 4, LIT_VENUES[(u(7) * len(LIT_VENUES)).astype(np.int64)])
    trf_id = np.where(off_exchange, TRF_IDS[(u(8) * 3).astype(np.int64)], 0)
    kind_u = u(9)
    # The first print of each minute is a plain round lot, so every minute with prints has an
    # OHLC-eligible trade (the vendor emits no bar without one).
    first = k == 0
    size = np.where(first & is_odd, lots, size)
    is_odd = is_odd & ~first
    avg_price = off_exchange & (kind_u < 0.04) & ~first & ~session_ext
    iso = ~off_exchange & (kind_u > 0.82) & ~session_ext

    # Bad ticks (fault injection): a print at a wrong price with regular conditions.
    if cfg.faults.bad_tick_rate > 0:
        bad = u(10) < cfg.faults.bad_tick_rate
        price = np.where(bad, _round_tick(price * np.where(u(11) < 0.5, 1.25, 0.8), plan.tick), price)

    conditions = _code_lists(
        [
            (session_ext, cond.FORM_T),
            (avg_price, cond.AVERAGE_PRICE),
            (iso, cond.INTERMARKET_SWEEP),
            (is_odd, cond.ODD_LOT),
        ]
    )
    lat = (20_000 + u(12) * 400_000).astype(np.int64)
    participant = sip - lat
    seq = plan.trade_seq0[m] + 3 * k + (u(13) * 3).astype(np.int64)
    df = pl.DataFrame(
        {
            "sip_timestamp": sip,
            "participant_timestamp": participant,
            "trf_timestamp": np.where(off_exchange, participant + lat // 3, 0),
            "sequence_number": seq,
            "id": pl.Series(seq).cast(pl.String),
            "price": price,
            "size": size.astype(np.float64),
            "exchange": exchange.astype(np.int32),
            "trf_id": trf_id.astype(np.int32),
            "tape": np.full(len(m), p.tape, dtype=np.int32),
            "conditions": conditions,
            "correction": np.zeros(len(m), dtype=np.int32),
        },
        schema=TRADE_COLUMNS,
    )
    return _clip_window(df, start_ns, end_ns)


def quotes(
    cfg: SimConfig, p: TickerProfile, plan: DayPlan, start_ns: int | None = None, end_ns: int | None = None
) -> pl.DataFrame:
    """NBBO quotes with sip_timestamp in [start_ns, end_ns], ascending by time."""
    minutes = _minutes_for(plan, start_ns, end_ns)
    m, k, n = _expand(plan.n_quotes, minutes)
    if len(m) == 0:
        return pl.DataFrame(schema=QUOTE_COLUMNS)
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "quotes")
    ctr = (m.astype(np.uint64) << np.uint64(24)) | (k.astype(np.uint64) << np.uint64(4))

    def u(field: int) -> np.ndarray:
        return uniforms(key, ctr | np.uint64(field))

    secs = (k + 0.02 + 0.96 * u(0)) / n * 60.0
    sip = plan.t0_ns + m * NS_PER_MIN + (secs * 1e9).astype(np.int64)
    mid = _mid_at(plan, m, secs / 60.0, normals(key, ctr | np.uint64(1)))
    spread = plan.spread[m] * (0.7 + 0.8 * u(2))
    tick = plan.tick
    bid = np.floor((mid * (1 - spread / 2)) / tick) * tick
    ask = np.ceil((mid * (1 + spread / 2)) / tick) * tick
    ask = np.where(ask - bid < tick * 0.5, bid + tick, ask)
    # Rarely locked or crossed, as on the real consolidated feed; faults add crossed quotes.
    state = u(3)
    crossed_rate = 0.0002 + cfg.faults.crossed_quote_rate
    ask = np.where(state < 0.002, bid, ask)
    ask = np.where((state >= 0.002) & (state < 0.002 + crossed_rate), bid - tick, ask)
    bid, ask = _round_tick(bid, tick), _round_tick(ask, tick)
    ask = np.maximum(ask, tick)
    lot = np.maximum(1, np.round(plan.size_scale / 100.0 * np.exp(normals(key, ctr | np.uint64(4)))))
    bid_size = lot * 100.0 * np.floor(1 + 4 * u(5))
    ask_size = lot * 100.0 * np.floor(1 + 4 * u(6))
    in_halt = np.zeros(len(m), dtype=bool)
    for h in plan.halts:
        in_halt |= (sip >= h.start_ns) & (sip < h.end_ns)
    conditions = _code_lists([(in_halt, cond.Q_LULD_PAUSE), (~in_halt, cond.Q_REGULAR_TWO_SIDED)])
    indicators = _code_lists([(bid > ask, cond.IND_NBBO_CROSSED)])
    df = pl.DataFrame(
        {
            "sip_timestamp": sip,
            "participant_timestamp": sip - (10_000 + u(7) * 300_000).astype(np.int64),
            "sequence_number": plan.quote_seq0[m] + 2 * k + (u(8) * 2).astype(np.int64),
            "bid_price": bid,
            "bid_size": bid_size,
            "bid_exchange": LIT_VENUES[(u(9) * len(LIT_VENUES)).astype(np.int64)].astype(np.int32),
            "ask_price": ask,
            "ask_size": ask_size,
            "ask_exchange": LIT_VENUES[(u(10) * len(LIT_VENUES)).astype(np.int64)].astype(np.int32),
            "tape": np.full(len(m), p.tape, dtype=np.int32),
            "conditions": conditions,
            "indicators": indicators,
        },
        schema=QUOTE_COLUMNS,
    )
    return _clip_window(df, start_ns, end_ns)


def _code_lists(flags: list[tuple[np.ndarray, int]]) -> pl.Series:
    """A List[Int32] column from per-row boolean flags, built through Arrow offsets.

    Much faster than polars list expressions on millions of rows; codes keep the order given.
    """
    import pyarrow as pa

    mask = np.column_stack([f for f, _ in flags])
    codes = np.broadcast_to(np.array([c for _, c in flags], dtype=np.int32), mask.shape)
    offsets = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
    arr = pa.ListArray.from_arrays(pa.array(offsets), pa.array(codes[mask]))
    return pl.Series(arr).cast(pl.List(pl.Int32))


def _clip_window(df: pl.DataFrame, start_ns: int | None, end_ns: int | None) -> pl.DataFrame:
    if start_ns is not None:
        df = df.filter(pl.col("sip_timestamp") >= start_ns)
    if end_ns is not None:
        df = df.filter(pl.col("sip_timestamp") <= end_ns)
    return df

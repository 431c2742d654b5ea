"""The minute structure every output of the tape reads: counter-based draws and each minute's NBBO
segments and print runs (``sim/ticks.py`` draws trades, quotes and bars from it).

Everything here is a pure function of (seed, ticker, date, minute): a window of minutes builds exactly
the structure those minutes have in a full-day request. See ``sim/ticks.py`` for the three layers
(segments, runs, prints) and docs/simulated_market.md for the model.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

from .config import SimConfig
from .prices import DayPlan, size_tables
from .reference import TickerProfile
from .rng import bits64, stable_key

NS_PER_MIN = 60_000_000_000
PRICE_UNITS = 10_000  # prices are integers in units of $0.0001
# The orders of a segment's three runs (sells at the bid, buys at the ask, inside the spread).
ORDERS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]])

# ---------------------------------------------------------------------------------------------
# Counter-based draws
# ---------------------------------------------------------------------------------------------

_U16 = 1.0 / 65536.0


def _normal_table() -> np.ndarray:
    from statistics import NormalDist

    nd = NormalDist()
    return np.array([nd.inv_cdf((i + 0.5) / 65536.0) for i in range(65536)])


_NORMAL_Q = _normal_table()


def ctr(m: np.ndarray, i: np.ndarray, field: int = 0) -> np.ndarray:
    """Counter of (minute, index, field): 20 bits of index, 4 of field."""
    return (m.astype(np.uint64) << np.uint64(24)) | (i.astype(np.uint64) << np.uint64(4)) | np.uint64(field)


def u16(h: np.ndarray, slot: int) -> np.ndarray:
    """The ``slot``-th (0-3) 16-bit uniform of a 64-bit draw, in (0, 1)."""
    return (((h >> np.uint64(16 * slot)) & np.uint64(0xFFFF)).astype(np.float64) + 0.5) * _U16


def i16(h: np.ndarray, slot: int) -> np.ndarray:
    return ((h >> np.uint64(16 * slot)) & np.uint64(0xFFFF)).astype(np.int64)


def u32(h: np.ndarray, slot: int) -> np.ndarray:
    return (((h >> np.uint64(32 * slot)) & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) / 4294967296.0


def z16(h: np.ndarray, slot: int) -> np.ndarray:
    """A standard normal from a 16-bit slot (inverse CDF table, |z| <= 4.3)."""
    return _NORMAL_Q[i16(h, slot)]


# Fast forms of the same draws for the per-print streams (tens of thousands of rows a window). They
# give bit-identical results to ``bits64(key, ctr(m, k, field))`` and ``u16``/``u32``; tests compare
# them over every 16-bit value and on random counters.

_GOLDEN = 0x9E3779B97F4A7C15
_MASK64 = (1 << 64) - 1
_K_STEP = np.uint64((16 * _GOLDEN) & _MASK64)  # one step of the index field in ``ctr``
_LITTLE = sys.byteorder == "little"


def counter_base(key: int, minutes: np.ndarray, field: int) -> np.ndarray:
    """Per minute, ``bits64``'s input before mixing for index 0 of ``field``: key + (ctr + 1) * golden."""
    c = (minutes.astype(np.uint64) << np.uint64(24)) | np.uint64(field)
    with np.errstate(over="ignore"):
        return np.uint64(key) + (c + np.uint64(1)) * np.uint64(_GOLDEN)


def minute_counters(
    key: int, minutes: np.ndarray, counts: np.ndarray, k: np.ndarray, field: int
) -> np.ndarray:
    """``bits64``'s unmixed input for (minute, index ``k``, ``field``) of ``counts[i]`` items in
    ``minutes[i]``, laid end to end: the counter is linear in ``k`` (``ctr`` packs k << 4 below the
    minute), so one multiply-add per item replaces building the counter. Needs k < 2**20, as ``ctr``."""
    if len(k) and int(counts.max()) > 1 << 20:
        raise ValueError("more than 2**20 items in a minute: the counter's index field overflows")
    with np.errstate(over="ignore"):
        x = k.astype(np.uint64)
        x *= _K_STEP
        x += np.repeat(counter_base(key, minutes, field), counts)
    return x


def mix(x: np.ndarray, inplace: bool = False) -> np.ndarray:
    """``rng.bits64``'s finaliser (splitmix64) applied to unmixed inputs, with one temporary."""
    z = x if inplace else x.copy()
    t = np.empty_like(z)
    with np.errstate(over="ignore"):
        np.right_shift(z, np.uint64(30), out=t)
        z ^= t
        z *= np.uint64(0xBF58476D1CE4E5B9)
        np.right_shift(z, np.uint64(27), out=t)
        z ^= t
        z *= np.uint64(0x94D049BB133111EB)
        np.right_shift(z, np.uint64(31), out=t)
        z ^= t
    return z


def slots16(h: np.ndarray) -> np.ndarray:
    """The four 16-bit slots of each 64-bit draw as an (n, 4) uint16 array (column s = ``i16(h, s)``)."""
    if _LITTLE:
        return h.view(np.uint16).reshape(-1, 4)
    return np.stack([i16(h, s).astype(np.uint16) for s in range(4)], axis=1)


def low32(h: np.ndarray) -> np.ndarray:
    """The low 32 bits of each draw (what ``u32(h, 0)`` reads), as uint32."""
    if _LITTLE:
        return h.view(np.uint32)[0::2]
    return (h & np.uint64(0xFFFFFFFF)).astype(np.uint32)


def u32_of(v: np.ndarray) -> np.ndarray:
    """``u32`` of the 32-bit values ``v``."""
    return (v.astype(np.float64) + 0.5) / 4294967296.0


def u16_cut(rate: float) -> int:
    """The integer c with ``u16(h, s) < rate`` exactly when slot ``s`` < c. ``u16`` is (v + 0.5) / 2**16,
    computed exactly in float64, so u < rate iff v < rate * 2**16 - 0.5 iff v < ceil(rate * 2**16 - 0.5)."""
    return max(0, math.ceil(rate * 65536.0 - 0.5))


def u32_cut(rate: float) -> int:
    """As ``u16_cut`` for ``u32``'s 32-bit values."""
    return max(0, math.ceil(rate * 4294967296.0 - 0.5))


def u16_table(fn) -> np.ndarray:
    """``fn(u16)`` for every 16-bit value: ``table[v]`` equals ``fn`` of that slot's uniform, exactly."""
    return fn((np.arange(65536).astype(np.float64) + 0.5) * _U16)


# ---------------------------------------------------------------------------------------------
# Minute structure: segments and runs
# ---------------------------------------------------------------------------------------------


def minutes_for(plan: DayPlan, start_ns: int | None, end_ns: int | None) -> np.ndarray:
    lo = 0 if start_ns is None else max(0, (start_ns - plan.t0_ns) // NS_PER_MIN)
    hi = plan.n_minutes if end_ns is None else min(plan.n_minutes, (end_ns - plan.t0_ns) // NS_PER_MIN + 1)
    return np.arange(lo, max(lo, hi), dtype=np.int64)


def allowed_window(plan: DayPlan, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def mid_at(plan: DayPlan, m: np.ndarray, frac: np.ndarray, z: np.ndarray) -> np.ndarray:
    a, b = plan.log_mid[m], plan.log_mid[m + 1]
    bridge = np.sqrt(np.clip(frac * (1.0 - frac), 0.0, None)) * 2.0
    return np.exp(a + (b - a) * frac + plan.minute_sd[m] * bridge * z)


def tick_units(plan: DayPlan) -> int:
    return 100 if plan.tick >= 0.01 else 1


@dataclass(frozen=True)
class Structure:
    """Segments and runs of a set of minutes (flat arrays, in time order)."""

    minutes: np.ndarray  # the minutes asked for
    lo: np.ndarray  # per asked minute: tradeable seconds [lo, hi)
    hi: np.ndarray
    seg_first: np.ndarray  # per asked minute: index of its first segment
    # per segment
    seg_minute: np.ndarray
    seg_k0: np.ndarray  # first slot
    seg_t: np.ndarray  # start, seconds into the minute
    seg_abs: np.ndarray  # minute * 60 + seg_t (sorted)
    bid: np.ndarray  # price units
    ask: np.ndarray
    # per run (3 per segment)
    run_side: np.ndarray
    run_count: np.ndarray
    run_start: np.ndarray  # position of the run's first print within its segment
    run_odd: np.ndarray
    run_phase: np.ndarray  # spreads the odd lots evenly through the run
    run_k_off: np.ndarray
    run_o_off: np.ndarray
    run_price: np.ndarray  # price units
    run_volume: np.ndarray

    def minute_pos(self, m: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.minutes, m)


def structure(cfg: SimConfig, p: TickerProfile, plan: DayPlan, minutes: np.ndarray) -> Structure:
    """Segments and runs of ``minutes`` (sorted, unique): everything a bar needs, no print drawn."""
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "segments")
    lo, hi = allowed_window(plan, minutes)
    n_seg = plan.n_segments[minutes]
    n = plan.n_trades[minutes]
    seg_first = np.concatenate([[0], np.cumsum(n_seg)])
    sm = np.repeat(minutes, n_seg)
    sj = np.arange(len(sm), dtype=np.int64) - np.repeat(seg_first[:-1], n_seg)
    sn, s_of = np.repeat(n, n_seg), np.repeat(n_seg, n_seg)
    slo, shi = np.repeat(lo, n_seg), np.repeat(hi, n_seg)
    k0 = sj * sn // s_of
    k1 = (sj + 1) * sn // s_of
    t = np.where(sn > 0, slo + k0 / np.maximum(sn, 1) * (shi - slo), slo + sj / s_of * (shi - slo))

    h = bits64(key, ctr(sm, sj, 0))
    h2 = bits64(key, ctr(sm, sj, 1))
    mid = mid_at(plan, sm, t / 60.0, z16(h, 0))
    tu = tick_units(plan)
    spread_ticks = np.maximum(
        1, np.round(plan.spread[sm] * mid * PRICE_UNITS / tu * np.exp(0.3 * z16(h, 1)))
    ).astype(np.int64)
    bid = np.floor((mid * PRICE_UNITS - spread_ticks * tu / 2.0) / tu + 0.5).astype(np.int64) * tu
    bid = np.maximum(bid, tu)
    ask = bid + spread_ticks * tu
    inside = np.where(spread_ticks >= 2, bid + (spread_ticks // 2) * tu, bid + tu // 2)

    # Who trades: the buy share leans with the minute's move and, before a catalyst's trigger, with
    # the planted order flow (``plan.buy_tilt``, zero elsewhere); some prints improve on the NBBO.
    move = (plan.log_mid[sm + 1] - plan.log_mid[sm]) / np.maximum(plan.minute_sd[sm], 1e-9)
    lean = 0.5 + 0.3 * np.tanh(move / 2.0) + 0.3 * (u16(h, 2) - 0.5) + plan.buy_tilt[sm]
    buy = np.clip(lean, 0.05, 0.95)
    in_share = np.where(spread_ticks >= 2, 0.25, np.where(tu > 1, 0.10, 0.0))
    nseg = k1 - k0
    n_in = np.minimum(np.floor(nseg * in_share + u16(h, 3)), nseg).astype(np.int64)
    n_ask = np.floor((nseg - n_in) * buy + u16(h2, 0)).astype(np.int64)
    n_bid = nseg - n_in - n_ask
    order = ORDERS[np.minimum((u16(h2, 1) * 6).astype(np.int64), 5)]  # (segments, 3) sides

    flat = (np.arange(len(sm))[:, None] * 3 + order).ravel()  # (segment, side) of each run, in time order
    run_count = np.stack([n_bid, n_ask, n_in], axis=1).ravel()[flat]
    run_price = np.stack([bid, ask, inside], axis=1).ravel()[flat]
    by_seg = run_count.reshape(-1, 3)
    run_start = np.zeros_like(by_seg)
    run_start[:, 1] = by_seg[:, 0]
    run_start[:, 2] = by_seg[:, 0] + by_seg[:, 1]
    run_start = run_start.ravel()
    rm = np.repeat(sm, 3)
    # A run's counter: its minute and its index among the minute's runs.
    rh = bits64(key, ctr(rm, np.repeat(sj, 3) * 3 + np.tile(np.arange(3), len(sm)), 2))
    run_odd = np.where(
        run_count >= 2, np.minimum(np.floor(run_count * plan.odd_share + u16(rh, 0)), run_count - 1), 0
    ).astype(np.int64)
    run_k_off, run_o_off = i16(rh, 2), i16(rh, 3)
    tables = size_tables()
    n_round = run_count - run_odd
    run_volume = plan.lot[rm] * (tables.k_cum[run_k_off + n_round] - tables.k_cum[run_k_off]) + (
        tables.odd_cum[run_o_off + run_odd] - tables.odd_cum[run_o_off]
    )
    return Structure(
        minutes=minutes,
        lo=lo,
        hi=hi,
        seg_first=seg_first,
        seg_minute=sm,
        seg_k0=k0,
        seg_t=t,
        seg_abs=sm * 60.0 + t,
        bid=bid,
        ask=ask,
        run_side=order.ravel(),
        run_count=run_count,
        run_start=run_start,
        run_odd=run_odd,
        run_phase=u16(rh, 1),
        run_k_off=run_k_off,
        run_o_off=run_o_off,
        run_price=run_price,
        run_volume=run_volume,
    )


def avg_price_pool(cfg: SimConfig, p: TickerProfile, plan: DayPlan, m: np.ndarray):
    """Per minute: the average-price prints' price (units), table offset and total volume."""
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "avg_price")
    h = bits64(key, m.astype(np.uint64))
    back = 1 + (u16(h, 0) * 30).astype(np.int64)
    ref = np.clip(m - back, plan.rth_start, plan.rth_end - 1)
    price = np.round(np.exp(plan.log_mid[ref]) * PRICE_UNITS).astype(np.int64)
    price = np.maximum(price, 1)
    off = i16(h, 1)
    t = size_tables()
    volume = 3 * plan.lot[m] * (t.k_cum[off + plan.n_avg[m]] - t.k_cum[off])
    return price, off, volume

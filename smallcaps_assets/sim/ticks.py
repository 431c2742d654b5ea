"""Trades and NBBO quotes drawn from a DayPlan, and the bars they aggregate to (the minute structure
they read, counter draws, segments and runs, is in ``sim/structure.py``).

The tape of one minute is built in three layers, all counter-based (``rng.bits64``, keyed by (seed,
ticker, date, stream) with a counter built from (minute, index, field)), so a 10-minute window
generates only those ten minutes and equals the same minutes of a full-day request:

1. **Segments.** The minute's ``n`` regular prints sit at stratified slots (print ``k`` somewhere in
   the middle 90% of the ``k``-th of ``n`` equal slices of the tradeable part of the minute). The
   minute splits into ``J`` NBBO segments; segment ``j`` holds the slots ``[K_j, K_j+1)`` with
   ``K_j = floor(j n / J)`` and opens with a quote at its first slot's edge. Its bid and ask come
   from the mid path and the minute's spread, in whole ticks (at least one).
2. **Runs.** Each segment's prints form three runs in a random order: sells at the bid, buys at the
   ask, and prints inside the spread (midpoint, price improvement; off-exchange). The buy share
   leans with the minute's price move. Every print of a run has the run's price; the first print of
   a run is always a round lot, the rest are odd lots at the name's odd-lot share.
3. **Prints.** Round prints are ``lot x k`` and odd lots 1-99 shares, read from fixed tables
   (``prices.size_tables``) at a random offset per run. A run's volume is therefore a difference of
   two prefix sums, which is what makes ``minute_bars`` exact without drawing a single print.

Besides the regular prints the tape carries average-price prints (condition 2, priced off an
earlier minute's mid, outside the NBBO), cancelled or erroneous prints (``correction`` != 0) and the
listing market's official open (16) and close (15) prints. The vendor's rules keep the last two out
of every bar; average-price prints count in volume but never set OHLC.

Quotes: one per segment (a price change), one size update right after every regular print, and
extra size updates between prints; a few are locked (condition 85) or crossed (84). Trades therefore
print at or inside the standing NBBO, and the NBBO updates at least as often as the tape prints.

Bars are *derived* from trades with the vendor's eligibility rules (``stages.trade_rules``); the
fast path ``minute_bar_frame`` computes the same aggregates from the runs, and tests check it equals
``aggregate(trades(...))`` exactly. With the bad-tick fault on, bars fall back to aggregating trades.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl

from ..stages.trade_rules import aggregate, with_eligibility
from . import conditions as cond
from .config import SimConfig
from .prices import DayPlan, size_tables
from .reference import TickerProfile
from .rng import bits64, stable_key
from .structure import (
    NS_PER_MIN,
    PRICE_UNITS,
    Structure,
    avg_price_pool,
    ctr,
    i16,
    low32,
    minute_counters,
    minutes_for,
    mix,
    slots16,
    structure,
    tick_units,
    u16,
    u16_cut,
    u16_table,
    u32,
    u32_cut,
    u32_of,
)

LIT_VENUES = np.array([12, 11, 10, 8, 7, 19, 18, 21, 15, 1, 2, 3, 20])  # vendor exchange ids
TRF_IDS = np.array([201, 202, 203])
PRIMARY_VENUE = {"XNAS": 12, "XNYS": 10, "XASE": 1, "ARCX": 11, "BATS": 19}
# Run sides within a segment (their orders: ``structure.ORDERS``).
BID, ASK, INSIDE = 0, 1, 2
OFF_EXCHANGE_AT_NBBO = 0.30  # share of prints at the bid/ask reported by a TRF (internalised)
ISO_RATE = 0.15  # share of lit regular-session round prints that are intermarket sweeps
LOCKED_RATE = 0.0004  # per quote
CROSSED_RATE = 0.0001  # per quote, before faults.crossed_quote_rate
VOID_CODES = np.array([8, 8, 8, 8, 8, 8, 1, 1, 1, 7])  # cancelled, later corrected, erroneous

__all__ = [
    "QUOTE_COLUMNS",
    "TRADE_COLUMNS",
    "aggregate",
    "daily_bar_row",
    "minute_bar_frame",
    "quotes",
    "trades",
    "with_eligibility",
]

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
BAR_SCHEMA = {
    "t": pl.Int64,
    "o": pl.Float64,
    "h": pl.Float64,
    "l": pl.Float64,
    "c": pl.Float64,
    "v": pl.Float64,
    "vw": pl.Float64,
    "n": pl.Int64,
}

# ---------------------------------------------------------------------------------------------
# Bars straight from the structure
# ---------------------------------------------------------------------------------------------


def _vw(pv: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The vendor-rule VWAP of ``stages.trade_rules`` (round half up in tick space), in numpy."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor(np.true_divide(pv, v) + 0.5) / 10_000.0


def minute_bar_arrays(cfg: SimConfig, p: TickerProfile, plan: DayPlan) -> dict[str, np.ndarray]:
    """Minute bars as numpy columns (``t`` ms, o, h, l, c, v, vw, n, and ``pv``: the sum of price
    units x size over volume-eligible prints), summed from the runs without drawing a print."""
    if cfg.faults.bad_tick_rate > 0:  # bad ticks land on arbitrary prints: aggregate the prints
        tr = with_eligibility(trades(cfg, p, plan), daily=False)
        bucket = (pl.col("sip_timestamp") - plan.t0_ns) // NS_PER_MIN
        pv = (
            tr.filter("upd_vol")
            .group_by(bucket.alias("bucket"))
            .agg(pv=((pl.col("price") * PRICE_UNITS).round() * pl.col("size")).sum())
        )
        bars = (
            aggregate(tr, bucket)
            .join(pv, on="bucket", how="left")
            .with_columns(t=(plan.t0_ns + pl.col("bucket") * NS_PER_MIN) // 1_000_000)
        )
        return {c: bars[c].to_numpy() for c in (*BAR_SCHEMA, "pv")}
    minutes = np.flatnonzero(plan.n_trades > 0).astype(np.int64)
    if len(minutes) == 0:
        return {c: np.zeros(0, np.int64 if c in ("t", "n") else np.float64) for c in (*BAR_SCHEMA, "pv")}
    st = structure(cfg, p, plan, minutes)
    keep = st.run_count > 0
    rm = np.repeat(st.seg_minute, 3)[keep]
    price = st.run_price[keep]
    vol = st.run_volume[keep]
    starts = np.flatnonzero(np.concatenate([[True], rm[1:] != rm[:-1]]))
    ends = np.concatenate([starts[1:], [len(rm)]]) - 1
    a_price, _, a_vol = avg_price_pool(cfg, p, plan, minutes)
    v = (np.add.reduceat(vol, starts) + a_vol).astype(np.float64)
    pv = (np.add.reduceat(price * vol, starts) + a_price * a_vol).astype(np.float64)
    return {
        "t": (plan.t0_ns + minutes * NS_PER_MIN) // 1_000_000,
        "o": price[starts] / PRICE_UNITS,
        "h": np.maximum.reduceat(price, starts) / PRICE_UNITS,
        "l": np.minimum.reduceat(price, starts) / PRICE_UNITS,
        "c": price[ends] / PRICE_UNITS,
        "v": v,
        "vw": _vw(pv, v),
        "n": (plan.n_trades[minutes] + plan.n_avg[minutes]).astype(np.int64),
        "pv": pv,
    }


def minute_bar_frame(cfg: SimConfig, p: TickerProfile, plan: DayPlan) -> pl.DataFrame:
    """Minute bars (``t`` = window start in ms, raw prices), exactly what ``aggregate`` builds from
    ``trades`` with the intraday rules, computed from the runs without drawing a print."""
    bars = minute_bar_arrays(cfg, p, plan)
    return pl.DataFrame({c: bars[c] for c in BAR_SCHEMA}, schema=BAR_SCHEMA)


def daily_bar_row(cfg: SimConfig, p: TickerProfile, plan: DayPlan) -> tuple | None:
    """(o, h, l, c, v, vw, n) by the consolidated rules: OHLC from regular-session prints (extended
    hours prints carry Form T), volume and count from every volume-eligible print."""
    bars = minute_bar_arrays(cfg, p, plan)
    minute = (bars["t"] * 1_000_000 - plan.t0_ns) // NS_PER_MIN
    rth = np.flatnonzero((minute >= plan.rth_start) & (minute < plan.rth_end))
    if len(rth) == 0:
        return None
    v, pv = bars["v"].sum(), bars["pv"].sum()  # exact integers in float64: order-free
    return (
        float(bars["o"][rth[0]]),
        float(bars["h"][rth].max()),
        float(bars["l"][rth].min()),
        float(bars["c"][rth[-1]]),
        float(v),
        float(_vw(np.array([pv]), np.array([v]))[0]),
        int(bars["n"].sum()),
    )


# ---------------------------------------------------------------------------------------------
# Trades
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Regular:
    """The regular prints of a structure's minutes, in time order (runs laid end to end)."""

    minute: np.ndarray
    k: np.ndarray  # index within the minute
    secs: np.ndarray  # seconds into the minute
    width: np.ndarray  # the print's slot width (s)
    run: np.ndarray  # index into the structure's runs
    q: np.ndarray  # position within the run
    x: np.ndarray  # the unmixed counter of the print's first draw (field 0); h = mix(x)
    h: np.ndarray  # the print's first 64 random bits (time, bad tick)
    per_minute: np.ndarray  # prints per structure minute


def _regular_prints(plan: DayPlan, st: Structure, key: int) -> _Regular:
    run_count = st.run_count
    run = np.repeat(np.arange(len(run_count)), run_count)
    q = np.arange(len(run)) - np.repeat(np.cumsum(run_count) - run_count, run_count)
    n = plan.n_trades[st.minutes]
    m = np.repeat(st.minutes, n)
    k = np.arange(len(m)) - np.repeat(np.cumsum(n) - n, n)
    # Slot widths per minute, then per print: the same quotient as dividing print by print.
    with np.errstate(divide="ignore", invalid="ignore"):
        width = np.repeat((st.hi - st.lo) / n, n)
    x = minute_counters(key, st.minutes, n, k, 0)
    h = mix(x)
    secs = k + 0.05
    secs += 0.9 * u32_of(low32(h))
    secs *= width
    secs += np.repeat(st.lo, n)
    return _Regular(m, k, secs, width, run, q, x, h, n)


def _print_sizes(plan: DayPlan, st: Structure, rp: _Regular) -> tuple[np.ndarray, np.ndarray]:
    """(size, is odd lot) of each regular print: odd lots spread evenly through each run (never its
    first print), round lots ``lot x k`` and odd lots read from the tables at the run's offsets."""
    q, rc = rp.q, st.run_count
    count, n_odd = np.repeat(rc, rc), np.repeat(st.run_odd, rc)  # == st.run_count[run], ...
    denom = np.maximum(count - 1, 1)
    phase = np.floor(np.repeat(st.run_phase, rc) * denom).astype(np.int64)
    cum = (q * n_odd + phase) // denom  # odd lots among the run's first q + 1 prints
    cum_prev = (np.maximum(q - 1, 0) * n_odd + phase) // denom
    odd = (q >= 1) & (cum > cum_prev)
    t = size_tables()
    round_size = t.k[np.repeat(st.run_k_off, rc) + q - cum]
    round_size *= np.repeat(plan.lot[st.minutes], rp.per_minute)
    size = np.where(odd, t.odd[np.repeat(st.run_o_off, rc) + np.maximum(cum - 1, 0)], round_size)
    return size, odd


class TapeParts:
    """A small per-market cache of the minute structure and regular prints of recent windows, so a
    client asking for a window's trades and then its quotes pays for them once. Windows of more than
    ``max_prints`` regular prints (busy whole days) are not kept: each print holds about 60 bytes."""

    def __init__(self, size: int = 4, max_prints: int = 100_000):
        self.size, self.max_prints = size, max_prints
        self._items: dict[tuple, tuple[Structure, _Regular]] = {}
        self._lock = threading.Lock()

    def get(self, cfg: SimConfig, p: TickerProfile, plan: DayPlan, minutes: np.ndarray):
        k = (cfg, p.ticker, plan.date, minutes.tobytes())
        with self._lock:
            hit = self._items.pop(k, None)
            if hit is not None:
                self._items[k] = hit  # most recent last
                return hit
        hit = _parts(cfg, p, plan, minutes)
        if self.size and len(hit[1].minute) <= self.max_prints:
            with self._lock:
                self._items[k] = hit
                while len(self._items) > self.size:
                    self._items.pop(next(iter(self._items)))
        return hit


def _parts(
    cfg: SimConfig, p: TickerProfile, plan: DayPlan, minutes: np.ndarray
) -> tuple[Structure, _Regular]:
    st = structure(cfg, p, plan, minutes)
    return st, _regular_prints(plan, st, stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "trades"))


def _expand(counts: np.ndarray, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(minute, index within minute, count of that minute) for every item in ``minutes``."""
    n = counts[minutes]
    m = np.repeat(minutes, n)
    starts = np.repeat(np.cumsum(n) - n, n)
    k = np.arange(len(m), dtype=np.int64) - starts
    return m, k, np.repeat(n, n)


def _segment_at(st: Structure, m: np.ndarray, secs: np.ndarray) -> np.ndarray:
    """The segment standing at ``secs`` into minute ``m`` (the minute's first one before it opens)."""
    seg = np.searchsorted(st.seg_abs, m * 60.0 + secs, side="right") - 1
    return np.maximum(seg, st.seg_first[st.minute_pos(m)])


# Per-print fields that are plain functions of one 16-bit slot, tabulated over every slot value: a
# lookup gives exactly what the formula gives on that slot's uniform (``u16_table``), and costs one
# gather instead of a float conversion and three arithmetic passes.
_NV = len(LIT_VENUES)
_LIT = u16_table(lambda u: LIT_VENUES[np.minimum((u * _NV).astype(np.int64), _NV - 1)])
_TRF = u16_table(lambda u: TRF_IDS[(u * 3000).astype(np.int64) % 3])
_TRADE_LAT = u16_table(lambda u: (20_000 + u * 400_000).astype(np.int64))
_TRADE_SEQ = u16_table(lambda u: (u * 3).astype(np.int64) % 3)
_QUOTE_LAT = u16_table(lambda u: (10_000 + u * 300_000).astype(np.int64))
_QUOTE_SEQ = u16_table(lambda u: (u * 2).astype(np.int64))
_QUOTE_LOTS = u16_table(lambda u: 1 + (u * 9).astype(np.int64))
_POST_GAP = u16_table(lambda u: 0.005 + 0.04 * u)  # a size update's delay after its print, in slots
_OFF_CUT = u16_cut(OFF_EXCHANGE_AT_NBBO)
_ISO_CUT = u16_cut(ISO_RATE)
_G = np.uint64(0x9E3779B97F4A7C15)  # consecutive fields of one counter: unmixed inputs differ by this


def trades(
    cfg: SimConfig,
    p: TickerProfile,
    plan: DayPlan,
    start_ns: int | None = None,
    end_ns: int | None = None,
    parts: TapeParts | None = None,
) -> pl.DataFrame:
    """Trades with sip_timestamp in [start_ns, end_ns] (ns, inclusive), ascending by time. ``parts``
    (optional) shares the window's structure with a ``quotes`` call on the same market."""
    window = minutes_for(plan, start_ns, end_ns)
    minutes = window[plan.n_prints[window] > 0]
    if len(minutes) == 0:
        return pl.DataFrame(schema=TRADE_COLUMNS)
    close_m = plan.rth_end - 1
    # The structure of every minute of the window, as ``quotes`` asks for it (minutes without a print
    # add no print), plus the last regular minute when only the official close is asked for.
    need = window
    if plan.rth_end in minutes and close_m not in minutes and plan.n_official[plan.rth_end]:
        need = np.union1d(window, [close_m]).astype(np.int64)  # the official close repeats its close
    st, rp = (parts or TapeParts(0)).get(cfg, p, plan, need)
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "trades")
    size, odd = _print_sizes(plan, st, rp)
    m, k, secs, h, x = rp.minute, rp.k, rp.secs, rp.h, rp.x
    side = np.repeat(st.run_side, st.run_count)  # == st.run_side[rp.run]
    price = np.repeat(st.run_price, st.run_count)
    if close_m in need and close_m not in minutes:
        wanted = m != close_m
        m, k, secs, side, price, size, odd, h, x = (
            a[wanted] for a in (m, k, secs, side, price, size, odd, h, x)
        )
    ext = (m < plan.rth_start) | (m >= plan.rth_end)
    with np.errstate(over="ignore"):
        h2 = mix(x + _G, inplace=True)  # bits64(key, ctr(m, k, 1))
    s2 = slots16(h2)
    off = (side == INSIDE) | (s2[:, 0] < _OFF_CUT)
    iso = ~off & ~odd & ~ext & (s2[:, 1] < _ISO_CUT)
    if cfg.faults.bad_tick_rate > 0:  # fault injection: a regular-looking print at a wrong price
        bad = u16(h, 2) < cfg.faults.bad_tick_rate
        tu = tick_units(plan)
        wrong = np.round(price * np.where(u16(h, 3) < 0.5, 1.25, 0.8) / tu).astype(np.int64) * tu
        price = np.where(bad, np.maximum(wrong, tu), price)
    parts_ = [_Prints(m, secs, price, size, off, iso, odd, ext, None, 0, s2[:, 2], s2[:, 3])]

    # Average-price prints: reported late at an earlier VWAP-like price, off the NBBO.
    a_price, a_off, _ = avg_price_pool(cfg, p, plan, minutes)
    am, ai, _ = _expand(plan.n_avg, minutes)
    if len(am):
        pos = np.searchsorted(minutes, am)
        ha = bits64(key, ctr(am, ai, 2))
        lo, hi = st.lo[st.minute_pos(am)], st.hi[st.minute_pos(am)]
        t = size_tables()
        parts_.append(
            _Prints(
                am,
                lo + u32(ha, 0) * (hi - lo),
                a_price[pos],
                3 * plan.lot[am] * t.k[a_off[pos] + ai],
                np.ones(len(am), bool),
                np.zeros(len(am), bool),
                np.zeros(len(am), bool),
                np.zeros(len(am), bool),
                None,
                cond.AVERAGE_PRICE,
                i16(ha, 2),
                i16(ha, 3),
            )
        )
    # Cancelled / erroneous prints: at the standing bid or ask, flagged through ``correction``.
    vm, vi, _ = _expand(plan.n_void, minutes)
    if len(vm):
        hv = bits64(key, ctr(vm, vi, 3))
        hv2 = bits64(key, ctr(vm, vi, 5))
        lo, hi = st.lo[st.minute_pos(vm)], st.hi[st.minute_pos(vm)]
        vsecs = lo + u32(hv, 0) * (hi - lo)
        vseg = _segment_at(st, vm, vsecs)
        vext = (vm < plan.rth_start) | (vm >= plan.rth_end)
        t = size_tables()
        parts_.append(
            _Prints(
                vm,
                vsecs,
                np.where(u16(hv, 2) < 0.5, st.bid[vseg], st.ask[vseg]),
                plan.lot[vm] * t.k[i16(hv, 3)],
                u16(hv2, 0) < OFF_EXCHANGE_AT_NBBO,
                np.zeros(len(vm), bool),
                np.zeros(len(vm), bool),
                vext,
                VOID_CODES[i16(hv2, 1) % len(VOID_CODES)],
                0,
                i16(hv2, 2),
                i16(hv2, 3),
            )
        )
    parts_.extend(_official_prints(cfg, p, plan, st, minutes, key))

    df = _Prints.concat(parts_).frame(p, plan)
    return _clip_window(df, start_ns, end_ns)


def _official_prints(cfg, p, plan, st: Structure, minutes: np.ndarray, key: int) -> list:
    """The listing market's official open (at the first regular print) and close (just after 16:00)."""
    out = []
    venue = PRIMARY_VENUE.get(p.primary_exchange or "", 12)
    for m, code in ((plan.rth_start, cond.OFFICIAL_OPEN), (plan.rth_end, cond.OFFICIAL_CLOSE)):
        if m not in minutes or not plan.n_official[m]:
            continue
        mm = np.array([m], dtype=np.int64)
        h = bits64(key, ctr(mm, np.zeros(1, np.int64), 4))
        if code == cond.OFFICIAL_OPEN:  # just after the minute's first regular print
            pos = st.minute_pos(mm)
            width = (st.hi[pos] - st.lo[pos]) / plan.n_trades[m]
            h0 = bits64(key, ctr(mm, np.zeros(1, np.int64), 0))
            secs = st.lo[pos] + (0.05 + 0.9 * u32(h0, 0)) * width + 1e-6
            ref = mm
            first = True
        else:
            secs = 0.05 + 1.45 * u16(h, 0)
            ref = mm - 1
            first = False
        pos = st.seg_first[st.minute_pos(ref)]
        end = st.seg_first[st.minute_pos(ref) + 1]
        runs = np.arange(3 * pos[0], 3 * end[0])
        runs = runs[st.run_count[runs] > 0]
        price = st.run_price[runs[0] if first else runs[-1]]
        out.append(
            _Prints(
                mm,
                np.atleast_1d(secs).astype(np.float64),
                np.array([price]),
                plan.lot[ref] * (5 + (u16(h, 1) * 40).astype(np.int64)),
                np.zeros(1, bool),
                np.zeros(1, bool),
                np.zeros(1, bool),
                np.zeros(1, bool),
                None,
                code,
                i16(h, 2),
                i16(h, 3),
                venue=venue,
            )
        )
    return out


@dataclass
class _Prints:
    """Prints of one kind before they are merged and numbered."""

    minute: np.ndarray
    secs: np.ndarray  # seconds into the minute
    price: np.ndarray  # price units
    size: np.ndarray
    off_exchange: np.ndarray
    iso: np.ndarray
    odd: np.ndarray
    ext: np.ndarray
    correction: np.ndarray | None  # None: all 0
    code: int  # one extra condition code for the whole part (0 = none)
    v_venue: np.ndarray  # 16-bit slot drawing the venue (``u16`` of it is the venue's uniform)
    v_latency: np.ndarray  # 16-bit slot drawing the reporting latency
    venue: int = 0  # a fixed venue id (official prints), else drawn

    @staticmethod
    def concat(parts: list[_Prints]) -> _Merged:
        """All prints in time order (stable: ties keep the order of ``parts``, regular prints first).

        The regular prints (``parts[0]``) come sorted and the others are a few hundred at most, so
        they are slotted in: each field is written once into its place instead of being
        concatenated, sorted and gathered (the allocations, not the arithmetic, dominate here)."""
        sip_parts = [x.minute * NS_PER_MIN + (x.secs * 1e9).astype(np.int64) for x in parts]
        reg, rest = parts[0], parts[1:]
        n_reg = len(reg.minute)
        n_rest = [len(x.minute) for x in rest]
        corrections = [
            np.zeros(len(x.minute), np.int64) if x.correction is None else x.correction for x in parts
        ]

        def fixed(name: str) -> list[np.ndarray]:
            return [np.full(len(x.minute), getattr(x, name), np.int64) for x in parts]

        fields = {
            "minute": [x.minute for x in parts],
            "sip": sip_parts,
            "price": [x.price for x in parts],
            "size": [x.size for x in parts],
            "off_exchange": [x.off_exchange for x in parts],
            "iso": [x.iso for x in parts],
            "odd": [x.odd for x in parts],
            "ext": [x.ext for x in parts],
            "correction": corrections,
            "code": fixed("code"),
            "venue": fixed("venue"),
            "v_venue": [x.v_venue for x in parts],
            "v_latency": [x.v_latency for x in parts],
        }
        reg_sip = sip_parts[0]
        if not sum(n_rest):
            return _Merged(**{k: v[0] for k, v in fields.items()})
        if n_reg and not (reg_sip[1:] >= reg_sip[:-1]).all():  # never by construction; stay correct
            order = np.argsort(np.concatenate(sip_parts), kind="stable")
            return _Merged(**{k: np.concatenate(v)[order] for k, v in fields.items()})
        rest_sip = np.concatenate(sip_parts[1:])
        rest_order = np.argsort(rest_sip, kind="stable")
        # Each of the others goes after every regular print at or before its time (ties: regular first).
        pos = np.searchsorted(reg_sip, rest_sip[rest_order], side="right")
        rest_dest = pos + np.arange(len(pos))
        reg_dest = np.arange(n_reg) + np.cumsum(np.bincount(pos, minlength=n_reg + 1))[:n_reg]
        total = n_reg + len(pos)

        def place(values: list[np.ndarray]) -> np.ndarray:
            out = np.empty(total, dtype=np.result_type(*values))
            out[reg_dest] = values[0]
            out[rest_dest] = np.concatenate(values[1:])[rest_order]
            return out

        return _Merged(**{k: place(v) for k, v in fields.items()})


@dataclass
class _Merged:
    """Every print of a request in time order; ``sip`` counts ns from the plan's 04:00."""

    minute: np.ndarray
    sip: np.ndarray
    price: np.ndarray
    size: np.ndarray
    off_exchange: np.ndarray
    iso: np.ndarray
    odd: np.ndarray
    ext: np.ndarray
    correction: np.ndarray
    code: np.ndarray
    venue: np.ndarray
    v_venue: np.ndarray
    v_latency: np.ndarray

    def frame(self, p: TickerProfile, plan: DayPlan) -> pl.DataFrame:
        sip = self.sip + plan.t0_ns
        n = len(sip)
        # Sequence numbers: 3 per print within the minute's block, plus a random 0-2.
        seq = (
            plan.trade_seq0[self.minute]
            + 3 * _rank_in_minute(self.minute)
            + np.take(_TRADE_SEQ, self.v_latency)
        )
        off = self.off_exchange & (self.venue == 0)
        exchange = np.where(self.venue > 0, self.venue, np.where(off, 4, np.take(_LIT, self.v_venue)))
        trf = np.where(off, np.take(_TRF, self.v_venue), 0)
        lat = np.take(_TRADE_LAT, self.v_latency)
        participant = sip - lat
        conditions = _code_lists(
            [
                (self.ext & (self.code == 0), cond.FORM_T),
                (self.code == cond.AVERAGE_PRICE, cond.AVERAGE_PRICE),
                (self.iso, cond.INTERMARKET_SWEEP),
                (self.odd, cond.ODD_LOT),
                (self.code == cond.OFFICIAL_CLOSE, cond.OFFICIAL_CLOSE),
                (self.code == cond.OFFICIAL_OPEN, cond.OFFICIAL_OPEN),
            ]
        )
        return pl.DataFrame(
            {
                "sip_timestamp": sip,
                "participant_timestamp": participant,
                "trf_timestamp": np.where(off, participant + lat // 3, 0),
                "sequence_number": seq,
                "id": pl.Series(seq).cast(pl.String),
                "price": self.price / PRICE_UNITS,
                "size": self.size.astype(np.float64),
                "exchange": exchange.astype(np.int32),
                "trf_id": trf.astype(np.int32),
                "tape": np.full(n, p.tape, dtype=np.int32),
                "conditions": conditions,
                "correction": self.correction.astype(np.int32),
            },
            schema=TRADE_COLUMNS,
        )


def _rank_in_minute(minute: np.ndarray) -> np.ndarray:
    """Each row's index among the rows of its minute (``minute`` ascending)."""
    if len(minute) == 0:
        return np.zeros(0, np.int64)
    counts = np.bincount(minute - minute[0])
    return np.arange(len(minute)) - np.repeat(np.cumsum(counts) - counts, counts)


# ---------------------------------------------------------------------------------------------
# Quotes
# ---------------------------------------------------------------------------------------------


def quotes(
    cfg: SimConfig,
    p: TickerProfile,
    plan: DayPlan,
    start_ns: int | None = None,
    end_ns: int | None = None,
    parts: TapeParts | None = None,
) -> pl.DataFrame:
    """NBBO quotes with sip_timestamp in [start_ns, end_ns], ascending by time. ``parts`` (optional)
    shares the window's structure with a ``trades`` call on the same market."""
    minutes = minutes_for(plan, start_ns, end_ns)
    if len(minutes) == 0:
        return pl.DataFrame(schema=QUOTE_COLUMNS)
    st, rp = (parts or TapeParts(0)).get(cfg, p, plan, minutes)
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "quotes")
    # 1. a price change at the start of every segment
    seg_m = st.seg_minute
    seg_secs = st.seg_t
    seg_id = np.arange(len(seg_m))
    # 2. a size update just after every regular print (before the next print or segment)
    m, seg = rp.minute, rp.run // 3
    hk = mix(minute_counters(key, st.minutes, rp.per_minute, rp.k, 1), inplace=True)
    post_secs = np.take(_POST_GAP, slots16(hk)[:, 0])
    post_secs *= rp.width
    post_secs += rp.secs
    # 3. size updates in between
    xm, xi, xn = _expand(plan.n_extra_quotes, minutes)
    hx = bits64(key, ctr(xm, xi, 2))
    x_secs = (xi + 0.05 + 0.9 * u32(hx, 0)) / np.maximum(xn, 1) * 60.0
    x_seg = _segment_at(st, xm, x_secs) if len(xm) else np.zeros(0, np.int64)

    qm = np.concatenate([seg_m, m, xm])
    qsecs = np.concatenate([seg_secs, post_secs, x_secs])
    qseg = np.concatenate([seg_id, seg, x_seg])
    sip = plan.t0_ns + qm * NS_PER_MIN + (qsecs * 1e9).astype(np.int64)
    order = np.argsort(sip, kind="stable")
    qm, sip, qseg = qm[order], sip[order], qseg[order]
    n = len(sip)
    per_minute = np.bincount(qm - minutes[0], minlength=len(minutes))
    rank = np.arange(n) - np.repeat(np.cumsum(per_minute) - per_minute, per_minute)
    x = minute_counters(key, minutes, per_minute, rank, 0)
    with np.errstate(over="ignore"):
        h2 = mix(x + np.uint64(3) * _G, inplace=True)  # bits64(key, ctr(qm, rank, 3))
    h = mix(x, inplace=True)  # bits64(key, ctr(qm, rank, 0))
    s, s2 = slots16(h), slots16(h2)
    bid, ask = st.bid[qseg], st.ask[qseg]
    tu = tick_units(plan)
    # Rarely locked or crossed, as on the real consolidated feed; faults add crossed quotes.
    state = low32(h)
    locked = state < u32_cut(LOCKED_RATE)
    crossed = ~locked & (state < u32_cut(LOCKED_RATE + CROSSED_RATE + cfg.faults.crossed_quote_rate))
    ask = np.where(locked, bid, ask)
    bid = np.where(crossed, ask + tu, bid)
    lot = np.repeat(np.maximum(plan.lot[minutes], 100), per_minute)
    code = np.full(n, cond.Q_REGULAR_TWO_SIDED, dtype=np.int32)
    code[locked] = cond.Q_LOCKED
    code[crossed] = cond.Q_CROSSED
    for hl in plan.halts:
        code[(sip >= hl.start_ns) & (sip < hl.end_ns)] = cond.Q_LULD_PAUSE
    df = pl.DataFrame(
        {
            "sip_timestamp": sip,
            "participant_timestamp": sip - np.take(_QUOTE_LAT, s[:, 2]),
            "sequence_number": plan.quote_seq0[qm] + 2 * rank + np.take(_QUOTE_SEQ, s[:, 3]),
            "bid_price": bid / PRICE_UNITS,
            "bid_size": (lot * np.take(_QUOTE_LOTS, s2[:, 0])).astype(np.float64),
            "bid_exchange": np.take(_LIT, s2[:, 1]).astype(np.int32),
            "ask_price": ask / PRICE_UNITS,
            "ask_size": (lot * np.take(_QUOTE_LOTS, s2[:, 2])).astype(np.float64),
            "ask_exchange": np.take(_LIT, s2[:, 3]).astype(np.int32),
            "tape": np.full(n, p.tape, dtype=np.int32),
            "conditions": _single_code_lists(code),
            "indicators": _single_code_lists(np.zeros(0, dtype=np.int32), n),
        },
        schema=QUOTE_COLUMNS,
    )
    return _clip_window(df, start_ns, end_ns)


def _code_lists(flags: list[tuple[np.ndarray, int]]) -> pl.Series:
    """A List[Int32] column from per-row boolean flags (codes in the order given), built through
    Arrow offsets. The flags are packed into one small integer per row; the codes of each packed
    value come from a table, so the work is a few passes over the rows whatever the flag count."""
    import pyarrow as pa

    n = len(flags[0][0])
    packed = np.zeros(n, np.uint8)
    for bit, (f, _) in enumerate(flags):
        packed |= f.view(np.uint8) << np.uint8(bit)
    lengths, table = _code_table(tuple(code for _, code in flags))
    row_len = np.take(lengths, packed)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(row_len, out=offsets[1:])
    values = np.empty(int(offsets[-1]), np.int32)
    for j in range(int(row_len.max()) if n else 0):
        rows = np.flatnonzero(row_len > j)
        values[offsets[rows] + j] = table[packed[rows], j]
    arr = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values))
    return pl.Series(arr).cast(pl.List(pl.Int32))


@lru_cache(maxsize=8)
def _code_table(codes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """For every combination c of the flags (bit i = flag i): its code count and its codes in order."""
    combos = np.arange(1 << len(codes))
    present = ((combos[:, None] >> np.arange(len(codes))) & 1).astype(bool)
    lengths = present.sum(axis=1)
    table = np.zeros((len(combos), len(codes)), np.int32)
    for c in np.flatnonzero(lengths):
        table[c, : lengths[c]] = np.array(codes)[present[c]]
    return lengths, table


def _single_code_lists(codes: np.ndarray, n: int | None = None) -> pl.Series:
    """One code per row (``n`` empty lists when ``codes`` is empty), as a List[Int32] column."""
    import pyarrow as pa

    rows = len(codes) if n is None else n
    offsets = np.arange(rows + 1, dtype=np.int64) if len(codes) else np.zeros(rows + 1, np.int64)
    arr = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(codes.astype(np.int32, copy=False)))
    return pl.Series(arr).cast(pl.List(pl.Int32))


def _clip_window(df: pl.DataFrame, start_ns: int | None, end_ns: int | None) -> pl.DataFrame:
    if df.is_empty():
        return df
    sip = df["sip_timestamp"]
    if (start_ns is None or sip[0] >= start_ns) and (end_ns is None or sip[-1] <= end_ns):
        return df  # sorted by time: whole minutes inside the window need no copy
    if start_ns is not None:
        df = df.filter(pl.col("sip_timestamp") >= start_ns)
    if end_ns is not None:
        df = df.filter(pl.col("sip_timestamp") <= end_ns)
    return df

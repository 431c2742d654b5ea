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

from dataclasses import dataclass

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
    minutes_for,
    structure,
    tick_units,
    u16,
    u32,
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
    h: np.ndarray  # the print's first 64 random bits (time, bad tick)


def _regular_prints(plan: DayPlan, st: Structure, key: int) -> _Regular:
    run_count = st.run_count
    run = np.repeat(np.arange(len(run_count)), run_count)
    q = np.arange(len(run)) - np.repeat(np.cumsum(run_count) - run_count, run_count)
    n = plan.n_trades[st.minutes]
    m = np.repeat(st.minutes, n)
    k = np.arange(len(m)) - np.repeat(np.cumsum(n) - n, n)
    pos = np.repeat(np.arange(len(st.minutes)), n)
    lo = st.lo[pos]
    width = (st.hi[pos] - lo) / np.repeat(n, n)
    h = bits64(key, ctr(m, k, 0))
    secs = lo + (k + 0.05 + 0.9 * u32(h, 0)) * width
    return _Regular(m, k, secs, width, run, q, h)


def _print_sizes(plan: DayPlan, st: Structure, rp: _Regular) -> tuple[np.ndarray, np.ndarray]:
    """(size, is odd lot) of each regular print: odd lots spread evenly through each run (never its
    first print), round lots ``lot x k`` and odd lots read from the tables at the run's offsets."""
    run, q = rp.run, rp.q
    count, n_odd = st.run_count[run], st.run_odd[run]
    denom = np.maximum(count - 1, 1)
    phase = np.floor(st.run_phase[run] * denom).astype(np.int64)
    cum = (q * n_odd + phase) // denom  # odd lots among the run's first q + 1 prints
    cum_prev = (np.maximum(q - 1, 0) * n_odd + phase) // denom
    odd = (q >= 1) & (cum > cum_prev)
    t = size_tables()
    size = np.where(
        odd,
        t.odd[st.run_o_off[run] + np.maximum(cum - 1, 0)],
        plan.lot[rp.minute] * t.k[st.run_k_off[run] + q - cum],
    )
    return size, odd


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


def trades(
    cfg: SimConfig, p: TickerProfile, plan: DayPlan, start_ns: int | None = None, end_ns: int | None = None
) -> pl.DataFrame:
    """Trades with sip_timestamp in [start_ns, end_ns] (ns, inclusive), ascending by time."""
    minutes = minutes_for(plan, start_ns, end_ns)
    minutes = minutes[plan.n_prints[minutes] > 0]
    if len(minutes) == 0:
        return pl.DataFrame(schema=TRADE_COLUMNS)
    close_m = plan.rth_end - 1
    need = minutes
    if plan.rth_end in minutes and close_m not in minutes and plan.n_official[plan.rth_end]:
        need = np.union1d(minutes, [close_m]).astype(np.int64)  # the official close repeats its close
    st = structure(cfg, p, plan, need)
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "trades")
    rp = _regular_prints(plan, st, key)
    size, odd = _print_sizes(plan, st, rp)
    m, k, secs, h = rp.minute, rp.k, rp.secs, rp.h
    side, price = st.run_side[rp.run], st.run_price[rp.run]
    if len(need) != len(minutes):
        wanted = np.isin(m, minutes)
        m, k, secs, side, price, size, odd, h = (a[wanted] for a in (m, k, secs, side, price, size, odd, h))
    ext = (m < plan.rth_start) | (m >= plan.rth_end)
    h2 = bits64(key, ctr(m, k, 1))
    off = (side == INSIDE) | (u16(h2, 0) < OFF_EXCHANGE_AT_NBBO)
    iso = ~off & ~odd & ~ext & (u16(h2, 1) < ISO_RATE)
    if cfg.faults.bad_tick_rate > 0:  # fault injection: a regular-looking print at a wrong price
        bad = u16(h, 2) < cfg.faults.bad_tick_rate
        tu = tick_units(plan)
        wrong = np.round(price * np.where(u16(h, 3) < 0.5, 1.25, 0.8) / tu).astype(np.int64) * tu
        price = np.where(bad, np.maximum(wrong, tu), price)
    parts = [
        _Prints(
            m, secs, price, size, off, iso, odd, ext, np.zeros(len(m), np.int64), 0, u16(h2, 2), u16(h2, 3)
        )
    ]

    # Average-price prints: reported late at an earlier VWAP-like price, off the NBBO.
    a_price, a_off, _ = avg_price_pool(cfg, p, plan, minutes)
    am, ai, _ = _expand(plan.n_avg, minutes)
    if len(am):
        pos = np.searchsorted(minutes, am)
        ha = bits64(key, ctr(am, ai, 2))
        lo, hi = st.lo[st.minute_pos(am)], st.hi[st.minute_pos(am)]
        t = size_tables()
        parts.append(
            _Prints(
                am,
                lo + u32(ha, 0) * (hi - lo),
                a_price[pos],
                3 * plan.lot[am] * t.k[a_off[pos] + ai],
                np.ones(len(am), bool),
                np.zeros(len(am), bool),
                np.zeros(len(am), bool),
                np.zeros(len(am), bool),
                np.zeros(len(am), np.int64),
                cond.AVERAGE_PRICE,
                u16(ha, 2),
                u16(ha, 3),
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
        parts.append(
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
                u16(hv2, 2),
                u16(hv2, 3),
            )
        )
    parts.extend(_official_prints(cfg, p, plan, st, minutes, key))

    merged = _Prints.concat(parts)
    order = np.argsort(merged.sip_ns(plan), kind="stable")
    df = merged.take(order).frame(cfg, p, plan, key)
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
                np.zeros(1, np.int64),
                code,
                u16(h, 2),
                u16(h, 3),
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
    correction: np.ndarray
    code: int | np.ndarray  # one extra condition code for the whole part (0 = none)
    u_venue: np.ndarray
    u_latency: np.ndarray
    venue: int = 0  # a fixed venue id (official prints), else drawn

    @staticmethod
    def concat(parts: list[_Prints]) -> _Prints:
        def cat(name):
            return np.concatenate([getattr(x, name) for x in parts])

        codes = np.concatenate([np.full(len(x.minute), x.code, np.int64) for x in parts])
        venues = np.concatenate([np.full(len(x.minute), x.venue, np.int64) for x in parts])
        out = _Prints(
            *(cat(f) for f in _FIELDS), code=codes, u_venue=cat("u_venue"), u_latency=cat("u_latency")
        )
        out.venue = venues
        return out

    def take(self, idx: np.ndarray) -> _Prints:
        out = _Prints(
            *(getattr(self, f)[idx] for f in _FIELDS),
            code=self.code[idx],
            u_venue=self.u_venue[idx],
            u_latency=self.u_latency[idx],
        )
        out.venue = self.venue[idx]
        return out

    def sip_ns(self, plan: DayPlan) -> np.ndarray:
        return plan.t0_ns + self.minute * NS_PER_MIN + (self.secs * 1e9).astype(np.int64)

    def frame(self, cfg: SimConfig, p: TickerProfile, plan: DayPlan, key: int) -> pl.DataFrame:
        sip = self.sip_ns(plan)
        n = len(sip)
        # Sequence numbers: 3 per print within the minute's block, plus a random 0-2.
        first = np.searchsorted(self.minute, self.minute, side="left")
        rank = np.arange(n) - first
        seq = plan.trade_seq0[self.minute] + 3 * rank + (self.u_latency * 3).astype(np.int64) % 3
        off = self.off_exchange & (self.venue == 0)
        lit = LIT_VENUES[np.minimum((self.u_venue * len(LIT_VENUES)).astype(np.int64), len(LIT_VENUES) - 1)]
        exchange = np.where(self.venue > 0, self.venue, np.where(off, 4, lit))
        trf = np.where(off, TRF_IDS[(self.u_venue * 3000).astype(np.int64) % 3], 0)
        lat = (20_000 + self.u_latency * 400_000).astype(np.int64)
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


_FIELDS = ("minute", "secs", "price", "size", "off_exchange", "iso", "odd", "ext", "correction")


# ---------------------------------------------------------------------------------------------
# Quotes
# ---------------------------------------------------------------------------------------------


def quotes(
    cfg: SimConfig, p: TickerProfile, plan: DayPlan, start_ns: int | None = None, end_ns: int | None = None
) -> pl.DataFrame:
    """NBBO quotes with sip_timestamp in [start_ns, end_ns], ascending by time."""
    minutes = minutes_for(plan, start_ns, end_ns)
    if len(minutes) == 0:
        return pl.DataFrame(schema=QUOTE_COLUMNS)
    st = structure(cfg, p, plan, minutes)
    tkey = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "trades")
    key = stable_key(cfg.seed, p.ticker, plan.date.toordinal(), "quotes")
    # 1. a price change at the start of every segment
    seg_m = st.seg_minute
    seg_secs = st.seg_t
    seg_id = np.arange(len(seg_m))
    # 2. a size update just after every regular print (before the next print or segment)
    rp = _regular_prints(plan, st, tkey)
    m, k, seg = rp.minute, rp.k, rp.run // 3
    hk = bits64(key, ctr(m, k, 1))
    post_secs = rp.secs + (0.005 + 0.04 * u16(hk, 0)) * rp.width
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
    rank = np.arange(n) - np.searchsorted(qm, qm, side="left")
    h = bits64(key, ctr(qm, rank, 0))
    bid, ask = st.bid[qseg], st.ask[qseg]
    tu = tick_units(plan)
    # Rarely locked or crossed, as on the real consolidated feed; faults add crossed quotes.
    state = u32(h, 0)
    locked = state < LOCKED_RATE
    crossed = ~locked & (state < LOCKED_RATE + CROSSED_RATE + cfg.faults.crossed_quote_rate)
    ask = np.where(locked, bid, ask)
    bid = np.where(crossed, ask + tu, bid)
    lot = np.maximum(plan.lot[qm], 100)
    in_halt = np.zeros(n, dtype=bool)
    for hl in plan.halts:
        in_halt |= (sip >= hl.start_ns) & (sip < hl.end_ns)
    code = np.where(
        in_halt,
        cond.Q_LULD_PAUSE,
        np.where(crossed, cond.Q_CROSSED, np.where(locked, cond.Q_LOCKED, cond.Q_REGULAR_TWO_SIDED)),
    )
    conditions = _single_code_lists(code)
    h2 = bits64(key, ctr(qm, rank, 3))
    nv = len(LIT_VENUES)
    df = pl.DataFrame(
        {
            "sip_timestamp": sip,
            "participant_timestamp": sip - (10_000 + u16(h, 2) * 300_000).astype(np.int64),
            "sequence_number": plan.quote_seq0[qm] + 2 * rank + (u16(h, 3) * 2).astype(np.int64),
            "bid_price": bid / PRICE_UNITS,
            "bid_size": (lot * (1 + (u16(h2, 0) * 9).astype(np.int64))).astype(np.float64),
            "bid_exchange": LIT_VENUES[np.minimum((u16(h2, 1) * nv).astype(np.int64), nv - 1)].astype(
                np.int32
            ),
            "ask_price": ask / PRICE_UNITS,
            "ask_size": (lot * (1 + (u16(h2, 2) * 9).astype(np.int64))).astype(np.float64),
            "ask_exchange": LIT_VENUES[np.minimum((u16(h2, 3) * nv).astype(np.int64), nv - 1)].astype(
                np.int32
            ),
            "tape": np.full(n, p.tape, dtype=np.int32),
            "conditions": conditions,
            "indicators": _single_code_lists(np.zeros(0, dtype=np.int32), n),
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


def _single_code_lists(codes: np.ndarray, n: int | None = None) -> pl.Series:
    """One code per row (``n`` empty lists when ``codes`` is empty), as a List[Int32] column."""
    import pyarrow as pa

    rows = len(codes) if n is None else n
    step = 1 if len(codes) else 0
    offsets = pa.array(np.arange(rows + 1, dtype=np.int32) * step)
    arr = pa.ListArray.from_arrays(offsets, pa.array(codes.astype(np.int32)))
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

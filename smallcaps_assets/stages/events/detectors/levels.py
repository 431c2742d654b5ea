"""Breaks of a level of the regular session: ``vwap_break``, ``hod_break``, ``opening_range_break``
and ``consolidation_break``."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames
from ..kernels import TICKS_PER_DOLLAR, first_per_sid, run_starts, shift_in_symbol, window_range
from ..params import ConsolidationBreakParams, HodBreakParams, OpeningRangeBreakParams, VwapBreakParams
from ..schema import MINUTE_NS
from .common import cooldown, event_rows, minutes_since, signed


def vwap_break(frames: ChunkFrames, p: VwapBreakParams) -> pl.DataFrame | None:
    """A close back across the session VWAP after a stretch on the other side (reclaim / reject)."""
    rth, env = frames.rth, frames.env
    k = p.hold_minutes
    # A reclaim needs the previous close strictly below VWAP and this one above: such crossings are
    # few, and everything else is measured on them. The close "on the new side" that the hold
    # counts from is the bar just before the current run on the old side began: the run's first
    # bar is the previous side change of the symbol (or its first RTH bar). VWAP is NaN where
    # undefined and the previous bar's values NaN on a first RTH bar: every comparison with them is
    # False, as a null comparison filled with False.
    c, vwap = rth["c"].to_numpy(), rth["vwap"].to_numpy()
    rpos, t = rth["rpos"].to_numpy(), rth["t"].to_numpy()
    c1, vwap1 = shift_in_symbol(c, rpos), shift_in_symbol(vwap, rpos)
    with np.errstate(invalid="ignore"):
        was_below, was_above = c1 < vwap1, c1 > vwap1
        up = (c > vwap * (1 + p.margin)) & was_below
        dn = (c < vwap * (1 - p.margin)) & was_above
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
    keep = (is_up & (lo_dist <= -p.min_depth)) | (~is_up & (hi_dist >= p.min_depth))
    if not keep.any():
        return None
    sel, rows, is_up = sel[keep], rows[keep], is_up[keep]
    fired = rth.select("sid", "t", "m", "c")[rows].with_columns(
        pl.Series("vwap", vwap[rows]),
        pl.Series("direction", np.where(is_up, 1, -1)),
        pl.Series("since", since[sel]),
        pl.Series("depth", np.where(is_up, lo_dist[keep], hi_dist[keep])),
    )
    return event_rows(
        fired,
        direction="direction",
        strength=minutes_since("since").cast(pl.Float64),
        ev_vwap="vwap",
        ev_close="c",
        ev_level_ts="since",
        ev_depth="depth",
    )


def hod_break(frames: ChunkFrames, p: HodBreakParams) -> pl.DataFrame | None:
    """A high above a high of day that has stood for a while."""
    rth = frames.rth
    # A bar above the running high sets a new high (the first RTH bar is no break).
    rpos, t, hod_t = rth["rpos"].to_numpy(), rth["t"].to_numpy(), rth["hod_t"].to_numpy()
    i = np.flatnonzero(rth["newhigh"].to_numpy() & (rpos >= 1))
    i = i[t[i] - hod_t[i - 1] >= p.min_age_minutes * MINUTE_NS]
    if len(i) == 0:
        return None
    fired = rth.select("sid", "t", "m", "h", "c")[i].with_columns(
        hod_prev=pl.Series(rth["hod"].to_numpy()[i - 1]), hod_t_prev=pl.Series(hod_t[i - 1])
    )
    return event_rows(
        fired,
        direction=pl.lit(1),
        strength=minutes_since("hod_t_prev").cast(pl.Float64),
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_high="h",
        ev_close="c",
    )


def opening_range_break(frames: ChunkFrames, p: OpeningRangeBreakParams) -> pl.DataFrame | None:
    """The first close beyond each opening range (per length and direction)."""
    rth, env = frames.rth, frames.env
    lens = sorted(set(p.minutes))
    r0 = env.r0
    sid_a, m_a = rth["sid"].to_numpy(), rth["m"].to_numpy()
    e = np.flatnonzero(m_a < r0 + max(lens))
    if len(e) == 0:
        return None
    esid, em = sid_a[e], m_a[e]
    eh, el, ev = rth["h"].to_numpy()[e], rth["l"].to_numpy()[e], rth["v"].to_numpy()[e]
    starts = run_starts(esid)
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
    ci = np.flatnonzero((m_a >= r0 + min(lens)) & (m_a < r0 + p.valid_minutes))
    sid = sid_a[ci]
    m, c, v = m_a[ci], rth["c"].to_numpy()[ci], rth["v"].to_numpy()[ci]
    s = sid - sid0
    hits: list[tuple[np.ndarray, int, int]] = []  # (rows, range minutes, direction), in rule order
    with np.errstate(invalid="ignore"):
        for n in lens:
            ok = (
                (m >= r0 + n)
                & (ranges[f"orn{n}"][s] >= p.min_bars)
                & (v >= p.volume_ratio * ranges[f"orv{n}"][s] / n)
            )
            for direction, hit in ((1, c > ranges[f"orh{n}"][s]), (-1, c < ranges[f"orl{n}"][s])):
                hits.append((first_per_sid(ok & hit, sid), n, direction))
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
    return event_rows(
        fired,
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


def consolidation_break(frames: ChunkFrames, p: ConsolidationBreakParams) -> pl.DataFrame | None:
    """A close out of a tight range of the last minutes, on volume; cool-down."""
    full, rth, env = frames.full, frames.rth, frames.env
    w, nb = p.minutes, p.min_bars
    tight = p.tightness * (w**0.5)
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
    keep = v[i] * nb >= p.volume_ratio * vsum.astype(np.float64)
    i, h1, l1 = i[keep], h1[keep], l1[keep]
    # Session vol unit: mean |close change| between the symbol's RTH bars before this one. The RTH
    # bars of a symbol are consecutive rows of the chunk too, so the chunk's running tick sum gives
    # it exactly (integer differences).
    fi, ri = rth["fi"].to_numpy()[i], rpos[i].astype(np.int64)
    dcs = full["dcs"].to_numpy()
    unit = (dcs[fi - 1] - dcs[fi - ri]).astype(np.float64) / ((ri - 1) * TICKS_PER_DOLLAR).astype(np.float64)
    keep = (h1 - l1) <= tight * unit
    i, unit = i[keep], unit[keep]
    if len(i) == 0:
        return None
    hi, lo, alive = window_range(h, low, key, c, i, w, tight * unit, nb)
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
    fired = cooldown(raw, p.cooldown_minutes)
    if fired.is_empty():
        return None
    direction = signed(pl.col("c") > pl.col("hi"))
    return event_rows(
        fired,
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

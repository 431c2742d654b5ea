"""Detectors gated on the symbol's session so far (RTH): ``gap_and_go``, ``first_pullback`` and
``parabolic_exhaustion``. Each first picks the symbols whose day qualifies (a gap, a leg, a run), then
scans only their bars."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames
from ..kernels import first_per_sid, has_prev_in_symbol, segment_min
from ..params import FirstPullbackParams, GapAndGoParams, ParabolicExhaustionParams
from ..schema import MINUTE_NS
from .common import event_rows, runner_rows


def gap_and_go(frames: ChunkFrames, p: GapAndGoParams) -> pl.DataFrame | None:
    """A gapper's first break of its pre-market high."""
    rth, stats, env = frames.rth, frames.stats, frames.env
    gappers = stats.with_columns(gap=pl.col("o_rth") / pl.col("pc") - 1.0).filter(
        (pl.col("gap") >= p.min_gap).fill_null(False) & pl.col("pm_high").is_not_null()
    )
    if gappers.is_empty():
        return None
    sid = rth["sid"].to_numpy()
    sid0 = int(sid[0])
    pm_high = np.full(int(sid[-1]) - sid0 + 1, np.nan)  # NaN: not a gapper, never broken
    pm_high[gappers["sid"].to_numpy() - sid0] = gappers["pm_high"].to_numpy()
    with np.errstate(invalid="ignore"):
        hit = (rth["m"].to_numpy() < env.r0 + p.max_minutes) & (rth["h"].to_numpy() > pm_high[sid - sid0])
    rows = first_per_sid(hit, sid)
    if len(rows) == 0:
        return None
    at = np.full(len(pm_high), -1, dtype=np.int64)
    at[gappers["sid"].to_numpy() - sid0] = np.arange(gappers.height)
    extra = gappers.select("o_rth", "pm_high", "pc", "gap")[at[sid[rows] - sid0]]
    fired = pl.concat([rth.select("sid", "t", "m", "h", "c")[rows], extra], how="horizontal")
    return event_rows(
        fired,
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


def first_pullback(frames: ChunkFrames, p: FirstPullbackParams) -> pl.DataFrame | None:
    """The first green bar to take out the previous high after a leg and a pullback."""
    rth = frames.rth
    sub = runner_rows(frames, pl.col("max_h") >= pl.col("o_rth") * (1 + p.min_leg))
    if sub is None:
        return None
    rpos, newhigh = rth["rpos"].to_numpy(), rth["newhigh"].to_numpy()
    # Segments start at each new high of the day (a symbol's first RTH bar is one, so segments never
    # span symbols); the pullback low is the lowest low after the segment's high bar.
    nh = newhigh[sub]
    pbl = segment_min(np.where(nh, np.inf, rth["l"].to_numpy()[sub]), np.cumsum(nh))
    has_prev = has_prev_in_symbol(sub, rpos)
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
            (leg >= p.min_leg * o_rth)
            & (retr >= p.min_retrace)
            & (retr <= p.max_retrace)
            & (c[i] > h1)
            & (c[i] > o[i])
            & (t[i] - hod_t_prev >= p.min_minutes * MINUTE_NS)
        )
    first = first_per_sid(ok, rth["sid"].to_numpy()[i])
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
    return event_rows(
        fired,
        direction=pl.lit(1),
        strength=leg_e / pl.col("o_rth") * 100.0,
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_open="o_rth",
        ev_pullback_low="pbl_prev",
        ev_prev_high="h1",
        ev_close="c",
    )


def parabolic_exhaustion(frames: ChunkFrames, p: ParabolicExhaustionParams) -> pl.DataFrame | None:
    """A red bar under the previous low just after a high that ended a steep run."""
    rth = frames.rth
    sub = runner_rows(frames, pl.col("max_h") >= pl.col("min_l") * (1 + p.min_run))
    if sub is None:
        return None
    rpos, newhigh, sid = rth["rpos"].to_numpy(), rth["newhigh"].to_numpy(), rth["sid"].to_numpy()
    low = rth["l"].to_numpy()
    base = segment_min(low[sub], sid[sub], p.window_bars)
    # The first RTH bar always sets the high, so this forward fill never crosses symbols.
    nh = newhigh[sub]
    base_at_high = base[np.maximum.accumulate(np.where(nh, np.arange(len(sub)), 0))]
    k = np.flatnonzero(has_prev_in_symbol(sub, rpos))
    i = sub[k]
    base_prev = base_at_high[k - 1]
    c, o, t = rth["c"].to_numpy(), rth["o"].to_numpy(), rth["t"].to_numpy()
    hod_prev, hod_t_prev, l1 = rth["hod"].to_numpy()[i - 1], rth["hod_t"].to_numpy()[i - 1], low[i - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        run = hod_prev / base_prev - 1.0
        ok = (
            (run >= p.min_run)
            & (t[i] - hod_t_prev <= p.recent_minutes * MINUTE_NS)
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
    return event_rows(
        fired,
        direction=pl.lit(-1),
        strength=run_e * 100.0,
        ev_level="hod_prev",
        ev_level_ts="hod_t_prev",
        ev_ref_price="base_prev",
        ev_prev_low="l1",
        ev_open="o",
        ev_close="c",
    )

"""Moves measured in volatility units: ``price_momentum`` (all sessions) and ``flush`` (RTH)."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames
from ..kernels import TICKS_PER_DOLLAR
from ..params import FlushParams, PriceMomentumParams
from ..schema import MINUTE_NS
from .common import back, cooldown, event_rows, signed, vol_unit_at


def price_momentum(frames: ChunkFrames, p: PriceMomentumParams) -> pl.DataFrame | None:
    """A consistent move of the last few minutes, in volatility units; cool-down per direction."""
    full = frames.full
    w = p.window_minutes
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
    sig = (dcs[b : len(c) - w] - dcs[: len(c) - k]).astype(np.float64) * (1.0 / (b * TICKS_PER_DOLLAR))
    # np.maximum (not the NaN-skipping fmax of max_horizontal): a NaN ``lo`` makes ``hi - lo`` NaN and
    # the row fails either way.
    need = np.maximum(p.min_move * lo, (w * p.min_z) * sig) * 0.999
    with np.errstate(invalid="ignore"):
        ok = (pos[k:] >= k) & ((hi - lo) >= need) & ((t[k:] - t[k - 1 : len(c) - 1]) < span)
    cand = full.select("fi", "sid", "t", "m", "c", "pos")[np.flatnonzero(ok) + k]
    if cand.is_empty():
        return None
    fi = cand["fi"].cast(pl.Int64)
    lag_c = {k: back(full, cand.rename({"fi": "ri"}), "c", k) for k in range(1, w + 1)}
    lag_t = {k: back(full, cand.rename({"fi": "ri"}), "t", k) for k in range(1, w + 1)}
    f = cand.select("sid", "t", "m", "c", "pos").with_columns(
        *lag_c.values(), *lag_t.values(), vol_unit_at(full, fi, cand["pos"], b, w)
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
        & ((pl.col("c") / pl.col("ref") - 1.0).abs() >= p.min_move).fill_null(False)
        & pl.col("sig").is_not_null()
    )
    if f.is_empty():
        return None
    f = f.with_columns(unit=pl.max_horizontal(pl.col("sig"), p.vol_unit_floor * pl.col("ref"))).with_columns(
        z=(pl.col("c") - pl.col("ref")) * (1.0 / w) / pl.col("unit")
    )
    raw = f.filter(
        (pl.col("up") & (pl.col("z") >= p.min_z)) | (pl.col("dn") & (pl.col("z") <= -p.min_z))
    ).with_columns(direction=signed(pl.col("z") > 0))
    fired = cooldown(raw, p.cooldown_minutes, by=("direction",))
    return event_rows(
        fired,
        direction="direction",
        strength=pl.col("z").abs(),
        ev_ref_price="ref",
        ev_close="c",
        ev_vol_unit="unit",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )


def flush(frames: ChunkFrames, p: FlushParams) -> pl.DataFrame | None:
    """A close far below the high of the last few minutes, in percent and in vol units; cool-down."""
    full, rth = frames.full, frames.rth
    w = p.window_minutes
    h, c = rth["h"].to_numpy(), rth["c"].to_numpy()
    key, rpos = rth["key"].to_numpy(), rth["rpos"].to_numpy()
    # Necessary: the close is the minimum drop below the high of the last w rows, whatever their
    # symbol and time (a superset of the window; for a positive close and bar high the drop only
    # grows with the level; other rows are kept). The exact window is taken on those rows only.
    upper = h.copy()
    for j in range(1, w):
        np.fmax(upper[j:], h[:-j], out=upper[j:])
    with np.errstate(divide="ignore", invalid="ignore"):
        rows = np.flatnonzero((1.0 - c / upper >= p.min_drop) | ~(c > 0) | ~(h > 0))
    level = h[rows]
    key_r, rpos_r = key[rows], rpos[rows]
    for j in range(1, w):  # bars j back inside the last w - 1 minutes (fmax skips NaN like max_horizontal)
        src = np.maximum(rows - j, 0)
        inside = (rpos_r >= j) & (key_r - key[src] <= w - 1)
        level = np.where(inside, np.fmax(level, h[src]), level)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = 1.0 - c[rows] / level >= p.min_drop
    rows, level = rows[keep], level[keep]
    if len(rows) == 0:
        return None
    drop = 1.0 - pl.col("c") / pl.col("level")
    fi = rth["fi"].to_numpy()[rows]
    f = rth.select("sid", "t", "m", "c", "fi")[rows].with_columns(
        pl.Series("pos", full["pos"].to_numpy()[fi]), level=pl.Series(level)
    )
    f = f.with_columns(vol_unit_at(full, f["fi"], f["pos"], p.vol_unit_bars, p.vol_unit_lag_bars))
    raw = f.filter(((pl.col("level") - pl.col("c")) >= p.min_sigmas * pl.col("sig")).fill_null(False))
    fired = cooldown(raw, p.cooldown_minutes)
    if fired.is_empty():
        return None
    return event_rows(
        fired,
        direction=pl.lit(-1),
        strength=drop * 100.0,
        ev_level="level",
        ev_close="c",
        ev_vol_unit="sig",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )

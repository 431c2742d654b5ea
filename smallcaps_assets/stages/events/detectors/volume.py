"""Volume and tape detectors (all sessions): ``volume_spike`` and ``tape_speed``."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames
from ..params import TapeSpeedParams, VolumeSpikeParams
from .common import baseline, baseline_sum, cooldown, event_rows, signed


def volume_spike(frames: ChunkFrames, p: VolumeSpikeParams) -> pl.DataFrame | None:
    """Bar volume against the symbol's time-of-day baseline; cool-down per symbol."""
    full, env = frames.full, frames.env
    if env.vol_base is None:
        return None
    v = full["v"].to_numpy()
    rows = np.flatnonzero(v >= max(p.min_volume, 1e-9))
    if len(rows) == 0:
        return None
    base = baseline(env, env.vol_base, full["sid"].to_numpy()[rows], full["m"].to_numpy()[rows])
    eff = np.maximum(base, p.baseline_floor)  # NaN (no baseline) stays NaN
    with np.errstate(invalid="ignore"):
        keep = v[rows] >= p.ratio * eff
    raw = full.select("sid", "t", "m", "o", "c", "v")[rows[keep]].with_columns(base=pl.Series(eff[keep]))
    return _rows_over_baseline(raw, p.cooldown_minutes, "o", "v", ev_volume="v", ev_baseline="base")


def tape_speed(frames: ChunkFrames, p: TapeSpeedParams) -> pl.DataFrame | None:
    """Transactions of the last few minutes against their time-of-day baseline; cool-down."""
    full, env = frames.full, frames.env
    if env.txn_base is None:
        return None
    w = p.window_minutes
    key, n = full["key"].to_numpy(), full["n"].to_numpy()
    txn = n.copy()
    for j in range(1, w):  # bars j back are inside the window only if bar j-1 back is too
        txn[j:] += np.where(key[j:] - key[:-j] <= w - 1, n[:-j], 0)
    rows = np.flatnonzero(txn >= max(p.min_transactions, 1))
    txn, key_r = txn[rows], key[rows]
    if len(rows) == 0:
        return None
    base = baseline_sum(env, env.txn_base, full["sid"].to_numpy()[rows], full["m"].to_numpy()[rows], w)
    eff = np.maximum(base, p.baseline_floor)
    with np.errstate(invalid="ignore"):
        keep = txn >= p.ratio * eff
    rows, txn, key_r, eff = rows[keep], txn[keep], key_r[keep], eff[keep]
    o = full["o"].to_numpy()
    wopen = o[rows]
    for j in range(1, w):
        src = np.maximum(rows - j, 0)
        wopen = np.where((rows >= j) & (key_r - key[src] <= w - 1), o[src], wopen)
    raw = full.select("sid", "t", "m", "c")[rows].with_columns(
        txn=pl.Series(txn), wopen=pl.Series(wopen), base=pl.Series(eff)
    )
    return _rows_over_baseline(
        raw,
        p.cooldown_minutes,
        "wopen",
        "txn",
        ev_transactions=pl.col("txn").cast(pl.Int64),
        ev_txn_baseline="base",
        ev_window_minutes=pl.lit(w, pl.Int64),
    )


def _rows_over_baseline(
    raw: pl.DataFrame, cooldown_minutes: int, opened: str, count: str, **evidence: pl.Expr | str
) -> pl.DataFrame:
    """Both detectors' rows: the raw triggers left by the cool-down, up when the bar closes at or
    above ``opened`` (the open of the measured span), strength = ``count`` / its baseline ``base``."""
    return event_rows(
        cooldown(raw, cooldown_minutes),
        direction=signed(pl.col("c") >= pl.col(opened)),
        strength=pl.col(count) / pl.col("base"),
        ev_open=opened,
        ev_close="c",
        **evidence,
    )

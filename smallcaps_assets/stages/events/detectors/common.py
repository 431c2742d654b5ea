"""Building blocks the detectors share: event rows, directions and ages, re-arm (cool-down), lagged
values, baseline lookups, the volatility unit and the rows of qualifying symbols."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames, DayEnv
from ..kernels import TICKS_PER_DOLLAR
from ..schema import MINUTE_NS


def event_rows(frame: pl.DataFrame, **cols: pl.Expr | str) -> pl.DataFrame:
    """A detector's output: the row keys (``sid``, ``t`` = bar start, ``m`` = minute index) of ``frame``
    and ``cols``: ``direction``, ``strength`` and the evidence columns its registry entry declares.
    The engine adds the event type, the session, the id and the remaining (null) evidence."""
    return frame.select("sid", "t", "m", **cols)


def signed(up: pl.Expr) -> pl.Expr:
    """A direction: 1 where ``up`` holds, else -1."""
    return pl.when(up).then(1).otherwise(-1)


def minutes_since(col: str) -> pl.Expr:
    """Whole minutes from the time in ``col`` (ns) to the bar's start ``t`` (Int64)."""
    return (pl.col("t") - pl.col(col)) // MINUTE_NS


def cooldown(raw: pl.DataFrame, minutes: int, by: tuple[str, ...] = ()) -> pl.DataFrame:
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


def back(frame: pl.DataFrame, rows: pl.DataFrame, col: str, j: int, pos: str = "pos") -> pl.Series:
    """``frame[col]`` ``j`` bars before each of ``rows`` (which carry the row index ``ri`` into
    ``frame`` and the position column ``pos``); null before the symbol's first bar."""
    ri = rows["ri"].cast(pl.Int64)
    src = frame[col].gather((ri - j).clip(0, None))
    return pl.select(pl.when(rows[pos] >= j).then(src)).to_series().alias(f"{col}{j}")


def baseline(env: DayEnv, table: np.ndarray, sid: np.ndarray, minute: np.ndarray) -> np.ndarray:
    """table[base_row[sid], minute]: NaN without a usable baseline, 0 for minutes before 04:00."""
    return baseline_sum(env, table, sid, minute, 1)


def baseline_sum(env: DayEnv, table: np.ndarray, sid: np.ndarray, minute: np.ndarray, w: int) -> np.ndarray:
    """sum of ``baseline`` at minutes m, m - 1, ..., m - w + 1, added in that order (NaN without a
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


def vol_unit_at(full: pl.DataFrame, fi: pl.Series, pos: pl.Series, bars: int, lag: int) -> pl.Series:
    """The volatility unit at rows ``fi`` of ``full`` (positions ``pos``): mean |close change| ($) over
    the ``bars`` changes ending ``lag`` bars before the row; null when the symbol has fewer bars."""
    b, w = bars, lag
    fi = fi.cast(pl.Int64)
    ok = pos >= b + w
    end = pl.select(pl.when(ok).then(fi - w).otherwise(0)).to_series()
    cs = full["dcs"]
    s = cs.gather(end) - cs.gather((end - b).clip(0, None))
    per = 1.0 / (b * TICKS_PER_DOLLAR)
    return pl.select(pl.when(ok).then(s.cast(pl.Float64) * per)).to_series().alias("sig")


def runner_rows(frames: ChunkFrames, qualifies: pl.Expr) -> np.ndarray | None:
    """Row numbers of ``frames.rth`` whose symbol's day so far (``frames.stats``) ``qualifies``; None
    when no symbol does (the runner detectors scan only those symbols' bars)."""
    runners = frames.stats.filter(qualifies)
    if runners.is_empty():
        return None
    return rows_of(frames.rth, runners)


def rows_of(rth: pl.DataFrame, chosen: pl.DataFrame) -> np.ndarray:
    """Row numbers of ``rth`` (sorted by sid) whose symbol is in ``chosen`` (one row per sid)."""
    sid = rth["sid"].to_numpy()
    sid0 = int(sid[0])
    pick = np.zeros(int(sid[-1]) - sid0 + 1, dtype=bool)
    pick[chosen["sid"].to_numpy() - sid0] = True
    return np.flatnonzero(pick[sid - sid0])

"""Whole-array numpy kernels on a chunk's contiguous columns (rows sorted by symbol, then time).

None of them loops in Python per symbol or per bar; each computes exactly what the polars expression
it replaces would (same operations in the same order, or exact integer arithmetic).
"""

from __future__ import annotations

import numpy as np

TICKS_PER_DOLLAR = 10_000  # the vendor's sub-penny grid: sums of |price changes| are exact integers


def run_starts(sid: np.ndarray) -> np.ndarray:
    """Row numbers where a new symbol run starts (``sid`` sorted in runs)."""
    if len(sid) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.flatnonzero(sid[1:] != sid[:-1]) + 1])


def positions(sid: np.ndarray) -> np.ndarray:
    """Position of each row within its (contiguous) symbol run."""
    n = len(sid)
    if n == 0:
        return np.zeros(0, dtype=np.int32)
    starts = np.flatnonzero(np.concatenate([[True], sid[1:] != sid[:-1]]))
    lengths = np.diff(np.concatenate([starts, [n]]))
    return (np.arange(n) - np.repeat(starts, lengths)).astype(np.int32)


def has_prev_in_symbol(rows: np.ndarray, rpos: np.ndarray) -> np.ndarray:
    """Mask of ``rows`` that have a previous RTH bar of the same symbol (row - 1)."""
    return rpos[rows] >= 1


def shift_in_symbol(x: np.ndarray, rpos: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """``x`` one row back within the symbol (``fill`` on its first RTH bar)."""
    out = np.empty_like(x)
    out[1:] = x[:-1]
    out[rpos == 0] = fill
    return out


def first_per_sid(mask: np.ndarray, sid: np.ndarray) -> np.ndarray:
    """Row numbers of the first True of ``mask`` per symbol (rows sorted by symbol, time)."""
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return idx
    _, first = np.unique(sid[idx], return_index=True)
    return idx[first]


def to_ticks(x: np.ndarray) -> np.ndarray:
    """Prices in whole $0.0001 ticks (``np.rint`` rounds half to even, as polars' ``round`` does)."""
    return np.rint(x * TICKS_PER_DOLLAR).astype(np.int64)


def abs_change_cumsum(close: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """Cumulative sum (over the chunk) of |close change| in $0.0001 ticks between consecutive bars of a
    symbol (0 on its first bar): integer sums, so window differences are exact and order-free."""
    ticks = to_ticks(close)
    d = np.zeros(len(ticks), dtype=np.int64)
    np.subtract(ticks[1:], ticks[:-1], out=d[1:])
    np.abs(d, out=d)
    d[pos == 0] = 0
    return np.cumsum(d, out=d)


def segment_min(x: np.ndarray, seg: np.ndarray, window: int | None = None) -> np.ndarray:
    """Running minimum of ``x`` within runs of equal ``seg`` (contiguous), over the whole run so far
    (``window=None``) or over the last ``window`` rows of the run (fewer at its start).

    Doubling: after the step of size s every row holds the minimum of the last 2s rows of its run
    (fewer where the run starts later), so log2(run length) whole-array steps suffice. A minimum is
    exact, so this equals a grouped ``cum_min`` / ``rolling_min(min_samples=1)`` value for value
    (NaN propagates, as there).
    """
    out = x.copy()
    n = len(out)
    limit = n if window is None else window
    s = 1
    while s < limit and s < n:
        step = s if window is None or 2 * s <= window else window - s
        same = seg[step:] == seg[: n - step]
        if not same.any():
            break
        out[step:] = np.where(same, np.minimum(out[step:], out[: n - step]), out[step:])
        if window is not None and 2 * s >= window:
            break
        s *= 2
    return out


def window_range(
    h: np.ndarray,
    low: np.ndarray,
    key: np.ndarray,
    c: np.ndarray,
    rows: np.ndarray,
    minutes: int,
    width: np.ndarray,
    sure: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """High/low of the bars of the last ``minutes`` minutes before each of ``rows`` (bars at
    key >= key[row] - minutes, current bar excluded; the ``sure`` bars just before each row are
    known to be inside), and whether that range is at most ``width`` wide with the row's close ``c``
    outside it.

    The window grows one bar back at a time; a row leaves the scan as soon as the bar is outside its
    window (done) or the break has become impossible (a wider range, or a close inside it), so long
    windows are only walked for the few rows that still qualify. Rows that fail get NaN extremes.
    """
    n = len(rows)
    out_hi, out_lo = np.full(n, np.nan), np.full(n, np.nan)
    alive = np.zeros(n, dtype=bool)
    hi, lo = h[rows - 1], low[rows - 1]
    for j in range(2, sure + 1):
        hi = np.maximum(hi, h[rows - j])
        lo = np.minimum(lo, low[rows - j])
    act = np.arange(n)  # candidates still scanning
    for j in range(sure + 1, minutes + 2):  # bars are distinct minutes: at most ``minutes`` of them
        r = rows[act]
        ok = ((hi - lo) <= width[act]) & ((c[r] > hi) | (c[r] < lo))
        act, r, hi, lo = act[ok], r[ok], hi[ok], lo[ok]
        src = np.maximum(r - j, 0)
        inside = (r >= j) & (key[r] - key[src] <= minutes) if j <= minutes else np.zeros(len(r), bool)
        done = act[~inside]
        out_hi[done], out_lo[done], alive[done] = hi[~inside], lo[~inside], True
        act, hi, lo, src = act[inside], hi[inside], lo[inside], src[inside]
        if len(act) == 0:
            break
        hi = np.maximum(hi, h[src])
        lo = np.minimum(lo, low[src])
    return out_hi, out_lo, alive

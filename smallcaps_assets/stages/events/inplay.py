"""The in-play filter: keep an event only when its symbol is already "in play" at the event's bar.

The detectors' rules fire on every symbol-day: an opening-range break or a VWAP cross happens on
almost every quiet name, every day. A momentum trader watches the few names that trade far more
than usual or have moved a lot, and an event on any other name is a base rate, not a signal. This
module measures, at each event's bar and from the day's bars up to and including it:

* ``dollar_volume_so_far``: the sum of bar price (VWAP, else typical price) x volume since 04:00 ET;
* ``rvol_so_far``: volume since 04:00 ET / the time-of-day baseline summed over the same minutes
  (floored at ``baseline_floor`` shares a minute, so a thin pre-market cannot make a ratio of a few
  shares); null without a usable baseline;
* ``change``: |bar close / prior close - 1| (unknown without a prior close).

In play = dollar volume so far >= ``min_dollar_volume`` and (``rvol_so_far`` >= ``min_rvol`` or
change >= ``min_change``). Types in ``exempt`` carry their own catalyst test and are always kept.
Every quantity is a running sum or a value of the event's own bar, so the filter reads nothing
after the event (the look-ahead tests run with the filter on). ``rvol_so_far`` is kept on every
event as context; the score uses it to rank types with little history.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from .frames import KEY_STRIDE, ChunkFrames
from .params import InPlayParams


def running_context(frames: ChunkFrames, rows: pl.DataFrame, baseline_floor: float) -> pl.DataFrame:
    """``rvol_so_far``, ``dollar_volume_so_far`` and ``change`` at each of ``rows`` (detector rows:
    ``sid``, ``m`` of a bar of ``frames.full``), in the order of ``rows``."""
    full, env = frames.full, frames.env
    sid = rows["sid"].to_numpy().astype(np.int64)
    m = rows["m"].to_numpy().astype(np.int64)
    at = np.searchsorted(full["key"].to_numpy(), sid * KEY_STRIDE + m)
    # Per-symbol running sums in bar order (a grouped cumulative sum), so a value never depends on
    # another symbol's bars or on how the day was cut into chunks.
    sums = full.select(
        vol=pl.col("v").cum_sum().over("sid"),
        dollars=(pl.col("p") * pl.col("v")).cum_sum().over("sid"),
    )
    vol = sums["vol"].to_numpy()[at]
    dollars = sums["dollars"].to_numpy()[at]
    close = full["c"].to_numpy()[at]
    with np.errstate(divide="ignore", invalid="ignore"):
        change = np.abs(close / env.prior_close[sid] - 1.0)
    rvol = np.full(len(sid), np.nan)
    base_row = env.base_row[sid]
    ok = base_row >= 0
    if env.vol_base is not None and ok.any():
        used, inverse = np.unique(base_row[ok], return_inverse=True)
        cum_base = np.cumsum(env.vol_base[used], axis=1)  # baseline volume from 04:00 to each minute
        so_far = np.maximum(cum_base[inverse, m[ok]], baseline_floor * (m[ok] + 1))
        with np.errstate(divide="ignore", invalid="ignore"):
            rvol[ok] = vol[ok] / so_far
        rvol[~np.isfinite(rvol)] = np.nan
    return pl.DataFrame(
        {"rvol_so_far": rvol, "dollar_volume_so_far": dollars, "change": change},
        nan_to_null=True,
    )


def annotate(frames: ChunkFrames, found: pl.DataFrame, p: InPlayParams) -> pl.DataFrame:
    """The detectors' rows of one chunk with ``rvol_so_far``, and without the rows whose symbol was
    not in play at the bar (unless ``p.enabled`` is False or the type is exempt)."""
    ctx = running_context(frames, found, p.baseline_floor)
    out = found.with_columns(rvol_so_far=ctx["rvol_so_far"])
    if not p.enabled:
        return out
    in_play = (ctx["dollar_volume_so_far"].fill_null(0.0) >= p.min_dollar_volume) & (
        (ctx["rvol_so_far"].fill_null(0.0) >= p.min_rvol) | (ctx["change"].fill_null(0.0) >= p.min_change)
    )
    return out.filter(in_play | pl.col("event_type").is_in(list(p.exempt)))

"""The score: percentile of strength within type, against prior days only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ... import calendar as cal


def _et_date(col: str = "ts") -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("America/New_York").dt.date()


PRIOR_WEIGHT = 20  # prior events' weight: the type's own rank dominates once it has more history


def _midrank(ref: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(#ref < x + 0.5 x #ref == x) / #ref for each x (``ref`` sorted)."""
    lo = np.searchsorted(ref, x, side="left")
    hi = np.searchsorted(ref, x, side="right")
    return (lo + 0.5 * (hi - lo)) / len(ref)


def score(
    events_today: pl.DataFrame,
    events_history: pl.DataFrame,
    window_days: int = 60,
    min_history: int = 20,
    prior_weight: float = PRIOR_WEIGHT,
) -> pl.DataFrame:
    """``events_today`` with ``score`` in [0, 1], ranked against the ``window_days`` trading days
    before today only.

    * ``own``: the mid-rank percentile of the event's strength among the same type's ``n`` prior
      events: (#history strengths < s + 0.5 x #equal) / n.
    * ``pooled``: the mid-rank percentile of the event's ``rvol_so_far`` among every prior event's
      (all types; needs ``min_history`` of them): how far its symbol is in play, comparable across
      types.
    * score = (n x own + ``prior_weight`` x pooled) / (n + ``prior_weight``): a rare type (a few
      halts or gap-and-gos in 60 sessions) borrows the pooled rank, a common one is ranked by its own
      strength. Without a pooled rank (no ``rvol_so_far``, or too little history) the score is the
      own rank when n >= ``min_history``, else null ("not enough history").

    Rows of ``events_history`` dated today or later (ET date of ``ts``) are ignored, and today's
    other events never enter, so a score cannot change with anything that happens later today.
    ``events_today`` must hold one trading day.
    """
    out_schema = {**events_today.schema, "score": pl.Float64}
    if events_today.is_empty():
        return pl.DataFrame(schema=out_schema)
    days = events_today.select(_et_date().unique())["ts"]
    if len(days) != 1:
        raise ValueError(f"events_today spans {len(days)} days; score one day at a time")
    day = days[0]
    prior_days = cal.trading_days(day - dt.timedelta(days=2 * window_days + 14), day - dt.timedelta(days=1))
    window = prior_days[-window_days:]
    has_rvol = "rvol_so_far" in events_history.columns
    cols = ["event_type", "strength", *(["rvol_so_far"] if has_rvol else [])]
    if events_history.is_empty() or not window:
        hist = pl.DataFrame(
            schema={"event_type": pl.String, "strength": pl.Float64, "rvol_so_far": pl.Float64}
        )
    else:
        hist = (
            events_history.with_columns(_d=_et_date())
            .filter((pl.col("_d") >= window[0]) & (pl.col("_d") < day))
            .select(cols)
        )
        if not has_rvol:
            hist = hist.with_columns(rvol_so_far=pl.lit(None, pl.Float64))
    types = events_today["event_type"].to_numpy()
    strength = events_today["strength"].cast(pl.Float64).to_numpy()
    own = np.full(events_today.height, np.nan)
    n = np.zeros(events_today.height)
    by_type = dict(
        hist.drop_nulls("strength").group_by("event_type").agg(pl.col("strength").sort()).iter_rows()
    )
    for etype, hs in by_type.items():
        ref = np.asarray(hs, dtype=float)
        sel = types == etype
        own[sel] = _midrank(ref, strength[sel])
        n[sel] = len(ref)
    pooled = np.full(events_today.height, np.nan)
    ref = np.sort(hist["rvol_so_far"].drop_nulls().cast(pl.Float64).to_numpy())
    if len(ref) >= min_history and "rvol_so_far" in events_today.columns:
        rv = events_today["rvol_so_far"].cast(pl.Float64).fill_null(np.nan).to_numpy()
        ok = ~np.isnan(rv)
        pooled[ok] = _midrank(ref, rv[ok])
    with np.errstate(invalid="ignore"):
        blended = (n * np.nan_to_num(own) + prior_weight * pooled) / (n + prior_weight)
    scores = np.where(np.isnan(pooled), np.where(n >= min_history, own, np.nan), blended)
    return events_today.with_columns(pl.Series("score", scores, nan_to_null=True))

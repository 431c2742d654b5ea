"""The score: percentile of strength within type, against prior days only."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ... import calendar as cal


def _et_date(col: str = "ts") -> pl.Expr:
    return pl.col(col).dt.convert_time_zone("America/New_York").dt.date()


def score(
    events_today: pl.DataFrame,
    events_history: pl.DataFrame,
    window_days: int = 60,
    min_history: int = 20,
) -> pl.DataFrame:
    """``events_today`` with ``score`` in [0, 1]: the mid-rank percentile of each event's strength
    among the same type's events of the ``window_days`` trading days before today.

    score = (#history strengths < s + 0.5 x #equal) / #history. Only prior days count: rows of
    ``events_history`` dated today or later (ET date of ``ts``) are ignored, and today's other events
    never enter, so a score cannot change with anything that happens later today. With fewer than
    ``min_history`` prior events of the type in the window the score is null ("not enough history").
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
    if events_history.is_empty() or not window:
        hist = pl.DataFrame(schema={"event_type": pl.String, "strength": pl.Float64})
    else:
        hist = (
            events_history.with_columns(_d=_et_date())
            .filter((pl.col("_d") >= window[0]) & (pl.col("_d") < day))
            .select("event_type", "strength")
            .drop_nulls()
        )
    scores = np.full(events_today.height, np.nan)
    types = events_today["event_type"].to_numpy()
    strength = events_today["strength"].cast(pl.Float64).to_numpy()
    by_type = dict(hist.group_by("event_type").agg(pl.col("strength").sort()).iter_rows())
    for etype, hs in by_type.items():
        ref = np.asarray(hs, dtype=float)
        if len(ref) < min_history:
            continue
        sel = types == etype
        lo = np.searchsorted(ref, strength[sel], side="left")
        hi = np.searchsorted(ref, strength[sel], side="right")
        scores[sel] = (lo + 0.5 * (hi - lo)) / len(ref)
    return events_today.with_columns(pl.Series("score", scores, nan_to_null=True))

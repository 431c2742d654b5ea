"""Event context features: what today's detectors had said about the symbol before this event.

For an event of symbol S at ``ts`` (the close of its confirming bar), from the day's
``intraday_events`` rows of S with ``ts`` strictly before it:

| feature | unit | meaning |
|---|---|---|
| ``prior_events_today`` | count | events of S today before ``ts``, any type |
| ``prior_same_type_today`` | count | events of S today before ``ts`` of this event's type |
| ``prior_<type>_today`` | count | one column per event type (registry order) |
| ``minutes_since_prior_event`` | minutes | since the latest of those events; null without one |
| ``event_strength`` | type's unit | the event's own strength (docs/events.md) |
| ``event_score`` | 0-1 | the event's score (ranks against prior days only); null for rare types |

Why it cannot see the future: an event row exists at its ``ts`` (it is confirmed by a bar that has
closed), strength and score are computed from bars up to ``ts`` and from prior days' events, and
only rows with a smaller ``ts`` are counted, so events at the same bar do not count each other.
``event_context_input_ts`` is the event's own ``ts``.
"""

from __future__ import annotations

import polars as pl

from ..events.registry import EVENT_TYPES
from ..events.schema import UTC_NS

FAMILY = "event_context"


def event_context_features(events: pl.DataFrame) -> pl.DataFrame:
    """One row per event of ``events`` (the day's intraday_events)."""
    base = events.select("event_id", "symbol", "ts", "event_type", "strength", "score")
    prior = (
        base.select("event_id", "symbol", "ts", "event_type")
        .join(
            base.select("symbol", pl.col("ts").alias("prior_ts"), pl.col("event_type").alias("prior_type")),
            on="symbol",
            how="inner",
        )
        .filter(pl.col("prior_ts") < pl.col("ts"))
    )
    per_type = [
        (pl.col("prior_type") == t).sum().cast(pl.Int64).alias(f"prior_{t}_today") for t in EVENT_TYPES
    ]
    counts = prior.group_by("event_id").agg(
        pl.len().cast(pl.Int64).alias("prior_events_today"),
        (pl.col("prior_type") == pl.col("event_type")).sum().cast(pl.Int64).alias("prior_same_type_today"),
        pl.col("prior_ts").max().alias("_last_prior"),
        *per_type,
    )
    count_cols = ["prior_events_today", "prior_same_type_today", *[f"prior_{t}_today" for t in EVENT_TYPES]]
    return (
        base.join(counts, on="event_id", how="left")
        .with_columns(
            # A symbol with no earlier event today has counted zero events: zero is the value, not a gap.
            *[pl.col(c).fill_null(0) for c in count_cols],
            minutes_since_prior_event=(pl.col("ts") - pl.col("_last_prior")).dt.total_seconds() / 60.0,
            event_strength=pl.col("strength").cast(pl.Float64),
            event_score=pl.col("score").cast(pl.Float64),
            event_context_input_ts=pl.col("ts").cast(UTC_NS),
        )
        .select(
            "event_id",
            *count_cols,
            "minutes_since_prior_event",
            "event_strength",
            "event_score",
            "event_context_input_ts",
        )
    )

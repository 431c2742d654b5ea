"""SSR features: the short-sale restriction (SEC Rule 201) as it stood at the event.

From ``ssr_status`` of the day (one row per universe symbol, docs/ssr.md):

| feature | unit | meaning |
|---|---|---|
| ``ssr_active`` | bool | Rule 201 in force at ``ts``: ``active_from <= ts < active_until`` |
| ``ssr_carried_over`` | bool | in force since the pre-market because of the previous session's trigger |
| ``ssr_triggered_today`` | bool | today's trigger happened at or before ``ts`` |
| ``minutes_since_ssr_trigger`` | minutes | since today's trigger; null when none yet |

Null for a symbol missing from ``ssr_status``.

Why it cannot see the future: ``ssr_status`` is built from the whole day, so a trigger later in the
day is in the row. Every feature compares the row's instants with ``ts``: a trigger after ``ts``
reads as "not triggered" and "not active" (``active_from`` of a same-day trigger is the trigger
instant, the close of the triggering bar). The carry-over is known from the previous session.
``ssr_input_ts`` is the latest of those instants at or before ``ts``.
"""

from __future__ import annotations

import polars as pl

from ..events.schema import UTC_NS

FAMILY = "ssr"


def ssr_features(events: pl.DataFrame, ssr_status: pl.DataFrame | None) -> pl.DataFrame:
    """One row per event; ``ssr_status`` may be None (every feature null)."""
    base = events.select("event_id", "symbol", "ts")
    if ssr_status is None:
        ssr_status = pl.DataFrame(
            schema={
                "symbol": pl.String,
                "triggered_at": UTC_NS,
                "carried_over": pl.Boolean,
                "active_from": UTC_NS,
                "active_until": UTC_NS,
            }
        )
    rows = base.join(
        ssr_status.select(
            "symbol", "triggered_at", "carried_over", "active_from", "active_until"
        ).with_columns(_known=pl.lit(True)),
        on="symbol",
        how="left",
    )
    ts = pl.col("ts")
    known = pl.col("_known").fill_null(False)
    triggered = pl.col("triggered_at").is_not_null() & (pl.col("triggered_at") <= ts)
    active = (
        pl.col("active_from").is_not_null() & (pl.col("active_from") <= ts) & (ts < pl.col("active_until"))
    )
    seen_from = pl.when(pl.col("active_from") <= ts).then(pl.col("active_from"))
    seen_trigger = pl.when(triggered).then(pl.col("triggered_at"))
    return rows.select(
        "event_id",
        ssr_active=pl.when(known).then(active),
        ssr_carried_over=pl.when(known).then(
            pl.col("carried_over") & (pl.col("active_from") <= ts).fill_null(False)
        ),
        ssr_triggered_today=pl.when(known).then(triggered),
        minutes_since_ssr_trigger=pl.when(triggered).then(
            (ts - pl.col("triggered_at")).dt.total_seconds() / 60.0
        ),
        ssr_input_ts=pl.max_horizontal(seen_from, seen_trigger).cast(UTC_NS),
    )

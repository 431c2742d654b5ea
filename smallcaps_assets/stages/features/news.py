"""News features: how much vendor news a symbol had in the hours before an event.

Inputs: the event rows (``event_id``, ``symbol``, ``ts``) and the ``news`` asset's rows of day D
**and** D-1 concatenated (one row per article and symbol, ``published_utc``). Partition D covers
``[post_close(D-1), post_close(D))``, so D and D-1 together reach back at least 24 hours from any
event of D (04:00 ET at the earliest); ``NewsParams.hours`` is capped there. ``news=None`` (a
partition missing) gives null features, never zeros.

| feature | unit | window |
|---|---|---|
| ``news_count`` | articles (Int64) | distinct articles tagged with the symbol, published in ``[ts - hours, ts)`` |
| ``news_last_age_min`` | minutes (Float64) | ``ts`` minus the newest of those articles; null when there is none |
| ``news_input_ts`` | UTC instant | ``published_utc`` of that newest article; null when there is none |

Default ``hours`` = 12: from a pre-market event it reaches the previous afternoon, so it counts
the overnight and morning releases that drive a small-cap gap without carrying yesterday's
regular-session story.

Why it cannot see the future: an article counts only when ``published_utc < ts`` (strictly: an
article stamped at the event's own instant could be its cause or its echo, and the vendor stamps
to the second); nothing else of an article is read. ``news_input_ts`` is therefore always before
``ts``, which the event_features gate checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..events.schema import UTC_NS

MAX_HOURS = 24.0  # what the partitions of D and D-1 always cover before an event of D

NEWS_FEATURE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "news_count": pl.Int64(),
    "news_last_age_min": pl.Float64(),
    "news_input_ts": UTC_NS,
}


@dataclass(frozen=True)
class NewsParams:
    """``hours``: the look-back of ``news_count`` before each event's ``ts`` (0 < hours <= 24)."""

    hours: float = 12.0

    def __post_init__(self) -> None:
        if not 0 < self.hours <= MAX_HOURS:
            raise ValueError(f"hours must be in (0, {MAX_HOURS:g}], got {self.hours!r}")


def news_features(
    events: pl.DataFrame, news: pl.DataFrame | None, params: NewsParams = NewsParams()
) -> pl.DataFrame:
    """One row per event (in the events' order): ``news_count``, ``news_last_age_min``,
    ``news_input_ts`` (module docstring). ``news``: the rows of the news partitions of D and D-1."""
    keys = events.select(pl.col("event_id").cast(pl.String), "symbol", pl.col("ts").cast(UTC_NS))
    keys = keys.with_row_index("_row")
    if news is None:
        return keys.select(
            "event_id",
            pl.lit(None, pl.Int64).alias("news_count"),
            pl.lit(None, pl.Float64).alias("news_last_age_min"),
            pl.lit(None, UTC_NS).alias("news_input_ts"),
        )
    items = news.select("id", "symbol", pl.col("published_utc").cast(UTC_NS)).unique(["id", "symbol"])
    window = pl.duration(microseconds=round(params.hours * 3_600_000_000))
    seen = (
        keys.join(items, on="symbol", how="inner")
        .filter((pl.col("published_utc") < pl.col("ts")) & (pl.col("published_utc") >= pl.col("ts") - window))
        .group_by("_row")
        .agg(
            pl.col("id").n_unique().alias("news_count"), pl.col("published_utc").max().alias("news_input_ts")
        )
    )
    return (
        keys.join(seen, on="_row", how="left")
        .sort("_row")
        .select(
            "event_id",
            pl.col("news_count").fill_null(0).cast(pl.Int64),
            ((pl.col("ts") - pl.col("news_input_ts")).dt.total_microseconds() / 60_000_000).alias(
                "news_last_age_min"
            ),
            "news_input_ts",
        )
    )

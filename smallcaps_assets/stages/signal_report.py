"""The signal report: how each feature ranks each forward return, per event type and pooled (pure).

In the spirit of Qlib's signal analysis: for every numeric feature f and target r (a forward
return of ``event_labels``), over the events of a window of sessions,

- ``ic`` = Pearson correlation of f and r,
- ``rank_ic`` = Spearman correlation (Pearson on average ranks), robust to the fat tails of
  small-cap returns,

computed over all events (``event_type = "ALL"``) and within each event type, on the rows where both
are non-null, and only where at least ``min_events`` such rows exist (fewer give a null). Boolean
features count as 0/1; text features (session, price tier) are left out.

The report describes data the labels already saw: it is for reading, never an input to a feature.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl

from ..gates import Gate, GateResult
from .features import feature_columns

POOLED = "ALL"
MIN_EVENTS = 30
REPORT_SCHEMA = {
    "feature": pl.String(),
    "target": pl.String(),
    "event_type": pl.String(),
    "n": pl.Int64(),
    "ic": pl.Float64(),
    "rank_ic": pl.Float64(),
}


def numeric_features(features: pl.DataFrame) -> list[str]:
    return [
        c
        for c in feature_columns(features)
        if features.schema[c].is_numeric() or features.schema[c] == pl.Boolean
    ]


def signal_table(
    features: pl.DataFrame,
    labels: pl.DataFrame,
    targets: list[str],
    min_events: int = MIN_EVENTS,
) -> pl.DataFrame:
    """One row per (feature, target, event_type), event types plus the pooled ``ALL``."""
    cols = numeric_features(features)
    rows = features.select("event_id", "event_type", *[pl.col(c).cast(pl.Float64) for c in cols]).join(
        labels.select("event_id", *[pl.col(t).cast(pl.Float64) for t in targets]), on="event_id", how="inner"
    )
    if rows.height == 0 or not cols or not targets:
        return pl.DataFrame(schema=REPORT_SCHEMA)
    # NaN/inf would poison a correlation: treat them as unknown.
    rows = rows.with_columns([pl.when(pl.col(c).is_finite()).then(pl.col(c)) for c in cols + targets])
    pooled = rows.with_columns(event_type=pl.lit(POOLED))
    frames = []
    for f in cols:
        for t in targets:
            both = pl.col(f).is_not_null() & pl.col(t).is_not_null()
            x, y = pl.col(f).filter(both), pl.col(t).filter(both)
            agg = (
                pl.concat([pooled, rows])
                .group_by("event_type")
                .agg(
                    n=both.sum().cast(pl.Int64),
                    ic=pl.corr(x, y),
                    rank_ic=pl.corr(x.rank("average"), y.rank("average")),
                )
                .with_columns(feature=pl.lit(f), target=pl.lit(t))
            )
            frames.append(agg)
    table = pl.concat(frames).with_columns(
        [
            pl.when((pl.col("n") >= min_events) & pl.col(c).is_finite()).then(pl.col(c)).alias(c)
            for c in ("ic", "rank_ic")
        ]
    )
    return table.select(list(REPORT_SCHEMA)).sort("target", "event_type", "feature")


def markdown(table: pl.DataFrame, target: str, top: int = 15) -> str:
    """The pooled rank ICs of one target as a Markdown table, strongest first (by |rank IC|),
    with the per-type extremes alongside."""
    pooled = table.filter(
        (pl.col("target") == target) & (pl.col("event_type") == POOLED) & pl.col("rank_ic").is_not_null()
    )
    if pooled.height == 0:
        return f"No feature has {MIN_EVENTS}+ events with `{target}` yet."
    per_type = (
        table.filter(
            (pl.col("target") == target) & (pl.col("event_type") != POOLED) & pl.col("rank_ic").is_not_null()
        )
        .group_by("feature")
        .agg(
            types=pl.len(),
            best_type=pl.col("event_type").sort_by(pl.col("rank_ic").abs()).last(),
            best_rank_ic=pl.col("rank_ic").sort_by(pl.col("rank_ic").abs()).last(),
        )
    )
    top_rows = (
        pooled.join(per_type, on="feature", how="left")
        .sort(pl.col("rank_ic").abs(), descending=True)
        .head(top)
    )
    lines = [
        "| feature | n | IC | rank IC | strongest type (rank IC) |",
        "|---|---:|---:|---:|---|",
    ]
    for r in top_rows.iter_rows(named=True):
        best = f"{r['best_type']} ({r['best_rank_ic']:+.3f})" if r["best_type"] else "-"
        ic = "-" if r["ic"] is None else f"{r['ic']:+.3f}"
        lines.append(f"| `{r['feature']}` | {r['n']} | {ic} | {r['rank_ic']:+.3f} | {best} |")
    return "\n".join(lines)


MIN_LABELLED = 200
IC_IN_RANGE = Gate(
    "signal_report_ic_in_range",
    "Every IC and rank IC lies in [-1, 1] and is null exactly where fewer than 30 events have both values.",
)
ENOUGH_EVENTS = Gate(
    "signal_report_enough_events",
    f"At least {MIN_LABELLED} labelled events once the window holds all its sessions: fewer make "
    "every IC noise (a lake still filling its window is not judged).",
    severity="warn",
)
REPORT_GATES = (IC_IN_RANGE, ENOUGH_EVENTS)


def signal_report_contract() -> pa.DataFrameSchema:
    return pa.DataFrameSchema(
        {
            "feature": pa.Column(str, nullable=False),
            "target": pa.Column(str, nullable=False),
            "event_type": pa.Column(str, nullable=False),
            "n": pa.Column(pl.Int64, nullable=False, checks=pa.Check.ge(0)),
            "ic": pa.Column(float, nullable=True),
            "rank_ic": pa.Column(float, nullable=True),
        },
        strict=True,
        coerce=True,
        unique=["feature", "target", "event_type"],
        name="SignalReport",
    )


def report_gates(
    table: pl.DataFrame, labelled: int, window_full: bool = True, min_events: int = MIN_EVENTS
) -> list[GateResult]:
    in_range = pl.all_horizontal(
        [(pl.col(c).is_null() | pl.col(c).is_between(-1.0 - 1e-9, 1.0 + 1e-9)) for c in ("ic", "rank_ic")]
    ) & (pl.col("rank_ic").is_null() | (pl.col("n") >= min_events))
    return [
        IC_IN_RANGE.rows(table, in_range, {"pairs": table.height}),
        ENOUGH_EVENTS.judge(
            labelled >= MIN_LABELLED or not window_full,
            {"labelled_events": labelled, "judged": str(window_full).lower()},
        ),
    ]

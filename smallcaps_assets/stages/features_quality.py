"""Gates of event_features (pure): one row per event, every family's inputs at or before ``ts``,
finite values, and tape features wherever a window was downloaded."""

from __future__ import annotations

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from ..gates import Gate, GateResult
from .features import feature_columns, input_ts_columns


class FeatureGateParams(BaseModel):
    model_config = ConfigDict(frozen=True)

    # NaN or inf in a float feature is a bug (unknown values are null): a tiny share is tolerated so
    # one degenerate symbol-day cannot stop the graph, more blocks it.
    max_nonfinite_share: float = Field(0.001, ge=0, le=1)
    # Events with a downloaded window whose tape features came out null (a window with no print
    # before ts): expected only when the event fires in the window's first seconds.
    min_tape_coverage: float = Field(0.9, ge=0, le=1)


DEFAULT = FeatureGateParams()

ONE_ROW_PER_EVENT = Gate(
    "features_one_row_per_event",
    "event_features joins 1:1 with the day's intraday_events: every event_id once, no other.",
)
INPUTS_BEFORE_TS = Gate(
    "features_inputs_before_ts",
    "No look-ahead: every feature family's latest input instant (<family>_input_ts) is at or "
    "before the event's ts.",
)
FINITE = Gate(
    "features_finite",
    "In every float feature, NaN and inf are at most {p.max_nonfinite_share:.1%} of the rows "
    "(unknown values are null).",
    params=DEFAULT,
)
TAPE_COVERAGE = Gate(
    "features_tape_coverage",
    "At least {p.min_tape_coverage:.0%} of the events with a downloaded window have tape features.",
    severity="warn",
    params=DEFAULT,
)
FEATURE_GATES = (ONE_ROW_PER_EVENT, INPUTS_BEFORE_TS, FINITE, TAPE_COVERAGE)


def nonfinite_shares(frame: pl.DataFrame) -> dict[str, float]:
    """Share of NaN or inf values per float feature column (0.0 for an empty frame)."""
    cols = [c for c in feature_columns(frame) if frame.schema[c] in (pl.Float32, pl.Float64)]
    if not cols or frame.height == 0:
        return dict.fromkeys(cols, 0.0)
    row = frame.select([(~pl.col(c).is_finite()).fill_null(False).mean().alias(c) for c in cols]).row(0)
    return dict(zip(cols, (float(v) for v in row), strict=True))


def feature_gates(
    features: pl.DataFrame,
    event_ids: pl.Series,
    windowed_ids: set[str],
    tape_column: str | None,
    params: FeatureGateParams = DEFAULT,
) -> list[GateResult]:
    ids = features["event_id"]
    expected = set(event_ids.to_list())
    got = set(ids.to_list())
    missing, extra = expected - got, got - expected
    duplicates = ids.len() - ids.n_unique()
    late = pl.lit(True)
    for col in input_ts_columns(features):
        late = late & (pl.col(col).is_null() | (pl.col(col) <= pl.col("ts")))
    shares = nonfinite_shares(features)
    worst = max(shares.items(), key=lambda kv: kv[1], default=("", 0.0))
    if tape_column is not None and windowed_ids:
        windowed = features.filter(pl.col("event_id").is_in(list(windowed_ids)))
        coverage = float(windowed[tape_column].is_not_null().mean()) if windowed.height else 1.0
    else:
        coverage = 1.0
    return [
        ONE_ROW_PER_EVENT.judge(
            not missing and not extra and duplicates == 0,
            {"missing": len(missing), "extra": len(extra), "duplicates": duplicates},
        ),
        INPUTS_BEFORE_TS.rows(features, late, {"families": len(input_ts_columns(features))}),
        FINITE.judge(
            worst[1] <= params.max_nonfinite_share,
            {"worst_column": worst[0], "worst_share": round(worst[1], 6)},
            params,
        ),
        TAPE_COVERAGE.judge(
            coverage >= params.min_tape_coverage,
            {"windowed_events": len(windowed_ids), "tape_coverage": round(coverage, 4)},
            params,
        ),
    ]

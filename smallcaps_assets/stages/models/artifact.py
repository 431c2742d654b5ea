"""A month's model as a lake partition, and the out-of-sample predictions of a day (pure).

**The stored model** (``event_model``, partition ``date=<month's first day>``) is one row
(``MODEL_ROW_SCHEMA``): the LightGBM model as text (``Booster.model_to_string()``), its sha256, the
target, the experiment record as JSON (params, features, fold dates, input data versions, metrics,
calibration, attribution) and whether its blocking gates passed. A Parquet row rather than loose
files: the lake's atomic write, its DuckDB view (``SELECT model_text FROM event_model``) and its
content hash come for free, and the text is byte for byte what ``predict`` loads.

**A day's predictions** (``event_predictions``) come from the model of the day's month only, and
only when :func:`out_of_sample_violations` finds nothing: the model's fold passes
``splits.fold_violations`` (no training label reaches the embargoed test month), its month is the
day's, and every event of the day lies in the fold's test span [test_start, test_end). The model of
month M therefore never trained on month M, which is also why it reproduces the month's stored
out-of-sample predictions exactly.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .experiment import PREDICTION_SCHEMA, ExperimentRecord, MonthResult
from .splits import fold_violations, month_start
from .train import model_sha256, predict

MODEL_ROW_SCHEMA: dict[str, pl.DataType] = {
    "month": pl.Date(),
    "model_sha256": pl.String(),
    "target": pl.String(),
    "n_features": pl.Int64(),
    "blocking_gates_passed": pl.Boolean(),
    "model_text": pl.String(),
    "record_json": pl.String(),
}


def model_row(result: MonthResult, blocking_gates_passed: bool) -> pl.DataFrame:
    """The month's model as the one row of its ``event_model`` partition."""
    return pl.DataFrame(
        {
            "month": [result.record.month],
            "model_sha256": [result.model.sha256],
            "target": [result.record.target],
            "n_features": [len(result.model.features)],
            "blocking_gates_passed": [blocking_gates_passed],
            "model_text": [result.model.text],
            "record_json": [result.record.model_dump_json()],
        },
        schema=MODEL_ROW_SCHEMA,
    )


def read_model_row(frame: pl.DataFrame) -> tuple[str, ExperimentRecord, bool]:
    """(model text, record, blocking gates passed) of a stored partition; the text's hash must be
    the stored one (a partition edited by hand, or cut short, is refused)."""
    if frame.height != 1:
        raise ValueError(f"an event_model partition holds one row, not {frame.height}")
    row = frame.row(0, named=True)
    text, stored = row["model_text"], row["model_sha256"]
    if model_sha256(text) != stored:
        raise ValueError(f"model text hashes to {model_sha256(text)[:12]}, not the stored {stored[:12]}")
    return text, ExperimentRecord.model_validate_json(row["record_json"]), bool(row["blocking_gates_passed"])


def event_month(day: dt.date) -> dt.date:
    return day.replace(day=1)


def out_of_sample_violations(record: ExperimentRecord, day: dt.date, ts: pl.Series) -> list[str]:
    """Why the model of ``record`` may not predict the events (their ``ts``) of ``day`` (empty:
    it may)."""
    out = list(fold_violations(record.fold))
    if record.month != event_month(day):
        out.append(f"the model of {record.month:%Y-%m} cannot predict {day} (month {event_month(day):%Y-%m})")
    start, end = month_start(record.month), record.fold.test_end
    if record.fold.test_start != start:
        out.append(f"the fold's test span starts {record.fold.test_start}, not at the month's start {start}")
    if ts.len():
        lo, hi = ts.min(), ts.max()
        if lo < start or hi >= end:
            out.append(f"events from {lo} to {hi} leave the test span [{start}, {end})")
    return out


def predict_day(text: str, record: ExperimentRecord, features: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """PREDICTION_SCHEMA rows for every event of ``features`` (one day of event_features),
    refused unless the model is out of sample for that day."""
    violations = out_of_sample_violations(record, day, features["ts"])
    if violations:
        raise ValueError("not out of sample: " + "; ".join(violations))
    prob = predict(text, features, record.features)
    return features.select(
        "event_id",
        "symbol",
        "ts",
        model_month=pl.lit(record.month, pl.Date),
        model_sha256=pl.lit(record.model_sha256),
        target=pl.lit(record.target),
        prob=pl.Series(prob, dtype=pl.Float64),
    ).cast(PREDICTION_SCHEMA)

"""The stored model row round-trips (same text, same hash, same predictions) and a day is predicted
only by its own month's model, out of sample."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.models import artifact
from smallcaps_assets.stages.models.experiment import run_month
from smallcaps_assets.stages.models.train import TrainParams

from .synthetic_cases import FEATURES, synthetic_events

FAST = TrainParams(num_boost_round=60, early_stopping_rounds=10, min_data_in_leaf=10, learning_rate=0.1)
MARCH = dt.date(2024, 3, 1)


@pytest.fixture(scope="module")
def march():
    events = synthetic_events(1500, seed=3, planted=1.0)
    return events, run_month(events, MARCH, FEATURES, {"events": "v1"}, FAST)


def _day(events: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    return events.filter(pl.col("ts").dt.convert_time_zone("America/New_York").dt.date() == day)


def test_row_round_trips_with_identical_predictions(march):
    events, result = march
    text, record, passed = artifact.read_model_row(artifact.model_row(result, True))
    assert passed and text == result.model.text and record == result.record
    day = _day(events, dt.date(2024, 3, 5))
    got = artifact.predict_day(text, record, day, dt.date(2024, 3, 5))
    want = result.predictions.join(got.select("event_id"), on="event_id").sort("event_id")
    np.testing.assert_array_equal(got.sort("event_id")["prob"].to_numpy(), want["prob"].to_numpy())


def test_an_edited_model_text_is_refused(march):
    _, result = march
    row = artifact.model_row(result, True).with_columns(model_text=pl.col("model_text") + " ")
    with pytest.raises(ValueError, match="hashes to"):
        artifact.read_model_row(row)


def test_the_hash_changes_when_the_data_does(march):
    events, result = march
    changed = events.with_columns(
        barrier_label=pl.when(pl.col("event_id") == "e00001")
        .then(1 - pl.col("barrier_label"))
        .otherwise(pl.col("barrier_label")),
        signal=pl.col("signal") * 1.5,
    )
    assert run_month(changed, MARCH, FEATURES, {"events": "v2"}, FAST).model.sha256 != result.model.sha256
    assert run_month(events, MARCH, FEATURES, {"events": "v1"}, FAST).model.sha256 == result.model.sha256


def test_a_day_of_another_month_is_refused(march):
    events, result = march
    feb = dt.date(2024, 2, 6)
    with pytest.raises(ValueError, match="cannot predict"):
        artifact.predict_day(result.model.text, result.record, _day(events, feb), feb)


def test_events_outside_the_test_span_are_refused(march):
    events, result = march
    # a frame claiming to be 5 March but holding a February event (a training row)
    mixed = pl.concat([_day(events, dt.date(2024, 3, 5)), _day(events, dt.date(2024, 2, 6)).head(1)])
    with pytest.raises(ValueError, match="leave the test span"):
        artifact.predict_day(result.model.text, result.record, mixed, dt.date(2024, 3, 5))


def test_a_fold_whose_training_reaches_the_month_is_refused(march):
    _, result = march
    fold = result.record.fold.model_copy(update={"fit_max_t1": result.record.fold.test_start})
    record = result.record.model_copy(update={"fold": fold})
    assert artifact.out_of_sample_violations(record, dt.date(2024, 3, 5), pl.Series([], dtype=pl.Datetime))
    assert not artifact.out_of_sample_violations(
        result.record, dt.date(2024, 3, 5), pl.Series([], dtype=pl.Datetime)
    )

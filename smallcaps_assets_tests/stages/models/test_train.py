"""LightGBM training: targets, determinism, early stopping, the model's text round trip and hash,
and the experiment record of a month."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.models.experiment import PREDICTION_SCHEMA, model_input, run_month
from smallcaps_assets.stages.models.splits import FIT, TEST, VALID, split_month
from smallcaps_assets.stages.models.train import (
    TrainParams,
    load_booster,
    model_matrix,
    model_sha256,
    numeric_features,
    predict,
    target,
    train_model,
)

from .synthetic_cases import FEATURES, synthetic_events

MARCH = dt.date(2024, 3, 1)
FAST = TrainParams(num_boost_round=60, early_stopping_rounds=10, min_data_in_leaf=10, learning_rate=0.1)


@pytest.fixture(scope="module")
def folds() -> dict[str, pl.DataFrame]:
    tagged, _ = split_month(synthetic_events(1500, seed=4, planted=1.5), MARCH)
    return {r: tagged.filter(pl.col("role") == r) for r in (FIT, VALID, TEST)}


def test_targets():
    frame = pl.DataFrame(
        {"barrier_label": [1, 0, -1, None, 0], "label_return": [0.02, 0.001, -0.03, 0.05, -0.001]}
    )
    assert target(frame, "barrier_pt").to_list() == [1, 0, 0, None, 0]
    assert target(frame, "take").to_list() == [1, 1, 0, None, 0]


def test_model_matrix_casts_and_refuses_text():
    frame = pl.DataFrame({"a": [1, 2], "b": [True, False], "c": [None, None], "s": ["x", "y"]})
    m = model_matrix(frame, ["a", "b", "c"])
    assert m.schema == pl.Schema({"a": pl.Float64, "b": pl.Float64, "c": pl.Float64})
    with pytest.raises(ValueError, match="not numeric"):
        model_matrix(frame, ["a", "s"])
    with pytest.raises(ValueError, match="missing"):
        model_matrix(frame, ["zz"])
    assert numeric_features(frame, ["s", "a", "b", "c"]) == ["a", "b", "c"]


def test_model_input_keeps_unlabelled_events():
    features = pl.DataFrame({"event_id": ["a", "b"], "f": [1.0, 2.0]})
    labels = pl.DataFrame(
        {"event_id": ["a"], "t1": [None], "barrier_label": [1], "label_return": [0.1], "mfe_pct": [1.0]}
    )
    out = model_input(features, labels)
    assert out.columns == ["event_id", "f", "t1", "barrier_label", "label_return"]
    assert out["barrier_label"].to_list() == [1, None]


def test_round_trip_determinism_and_hash(folds):
    model = train_model(folds[FIT], folds[VALID], FEATURES, FAST)
    again = train_model(folds[FIT], folds[VALID], FEATURES, FAST)
    assert model.sha256 == again.sha256 == model_sha256(model.text)
    assert len(model.sha256) == 64
    assert model.early_stopped and 1 <= model.best_iteration < FAST.num_boost_round
    test = folds[TEST]
    direct = load_booster(model.text).predict(model_matrix(test, FEATURES))
    stored = predict(load_booster(model.text).model_to_string(), test)  # text -> booster -> text
    np.testing.assert_array_equal(predict(model, test), direct)
    np.testing.assert_array_equal(predict(model, test), stored)
    assert np.ptp(direct) > 0
    # One flipped target changes the model and its hash.
    flipped = folds[FIT].with_columns(
        barrier_label=pl.when(pl.int_range(pl.len()) == 0)
        .then((pl.col("barrier_label") != 1).cast(pl.Int64))
        .otherwise(pl.col("barrier_label"))
    )
    assert train_model(flipped, folds[VALID], FEATURES, FAST).sha256 != model.sha256


def test_without_a_usable_validation_fold_trains_fallback_rounds(folds):
    model = train_model(folds[FIT], folds[VALID].head(0), FEATURES, FAST)
    assert not model.early_stopped and model.best_iteration == FAST.fallback_rounds
    with pytest.raises(ValueError, match="no labelled rows"):
        train_model(folds[FIT].head(0), folds[VALID], FEATURES, FAST)


def test_run_month_record_and_predictions():
    events = synthetic_events(1500, seed=4, planted=1.5)
    result = run_month(events, MARCH, FEATURES, {"event_features": "abc", "event_labels": "def"}, FAST)
    rec, preds = result.record, result.predictions
    assert preds.schema == pl.Schema(PREDICTION_SCHEMA)
    assert preds.height == rec.fold.n_test > 400
    assert preds["model_sha256"].unique().to_list() == [result.model.sha256]
    assert rec.data_versions == {"event_features": "abc", "event_labels": "def"}
    assert rec.features == FEATURES and rec.fold.month == MARCH
    test = rec.metrics["test"]
    assert test["n"] == rec.fold.n_test_labelled and test["auc"] > 0.6
    assert sum(row["count"] for row in rec.calibration) == test["n"] and len(rec.calibration) == 10
    top = rec.attribution[0]
    assert top["feature"] == "signal" and top["gain_share"] > 0.5 and top["mean_abs_contrib"] > 0
    meta = rec.metadata()
    assert meta["test_auc"] == test["auc"] and meta["n_fit"] == rec.fold.n_fit
    assert all(v is not None for v in meta.values())
    assert json.loads(rec.model_dump_json())["model_sha256"] == result.model.sha256

"""The validity check in small: a null market gives an out-of-sample AUC of 0.5 within a bound
derived from the sample size, a planted signal is recovered, and two leaky variants (shuffled,
unpurged folds; a feature that sees t1) move the null AUC away from 0.5, so the check can fail.

Bound: with features independent of the labels and independent events the AUC is U / (n1 n0)
with standard error sqrt((n1 + n0 + 1) / (12 n1 n0)) (Hanley-McNeil at AUC = 0.5,
``metrics.null_auc_se``): 0.013 at the ~2,000 out-of-sample events here. Outcomes and predictions
cluster by symbol-day, which widens the spread: over 20 seeds of this null market the AUC's standard
deviation was 0.023. The tests therefore allow z = 3 cluster-robust standard errors
(``metrics.clustered_auc_se``, clusters = symbol + ET day; 0.028 on average over those seeds, none
of which left the band).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.calendar import NY
from smallcaps_assets.stages.models.experiment import walk_forward
from smallcaps_assets.stages.models.metrics import auc as auc_of
from smallcaps_assets.stages.models.metrics import classification_metrics, clustered_auc_se, null_auc_se
from smallcaps_assets.stages.models.train import TrainParams, predict, target, train_model

from .synthetic_cases import FEATURES, LEAKY_FEATURES, synthetic_events

MONTHS = (dt.date(2024, 2, 1), dt.date(2024, 3, 1))
# Few, shallow trees: the tests stay fast; the same settings for every variant.
FAST = TrainParams(num_boost_round=200, early_stopping_rounds=20, min_data_in_leaf=10, learning_rate=0.1)
Z = 3.0
# At ~1,500 training events the model recovers ~0.7 of the planted lift; the 0.8 holds for
# the bench's >= 5,000 events a market.
MIN_SMALL_SCALE_LIFT = 0.6


def walk_forward_oos(
    events: pl.DataFrame, features: list[str]
) -> tuple[np.ndarray, np.ndarray, pl.DataFrame]:
    """Pooled out-of-sample (y, prob) over the walk-forward months, and the joined rows."""
    results = walk_forward(events, features, {"events": "v1"}, FAST)
    assert [r.record.month for r in results] == list(MONTHS)
    preds = pl.concat([r.predictions for r in results])
    rows = preds.join(events.drop("symbol", "ts"), on="event_id")
    return target(rows, "barrier_pt").to_numpy(), rows["prob"].to_numpy(), rows


def symbol_days(rows: pl.DataFrame) -> np.ndarray:
    day = pl.col("ts").dt.convert_time_zone(str(NY)).dt.date().cast(pl.String)
    return rows.select(pl.col("symbol") + "|" + day).to_series().to_numpy()


def auc_and_bound(y: np.ndarray, p: np.ndarray, rows: pl.DataFrame) -> tuple[float, float]:
    """The AUC and z cluster-robust standard errors."""
    return classification_metrics(y, p)["auc"], Z * clustered_auc_se(y, p, symbol_days(rows))


@pytest.fixture(scope="module")
def null_events() -> pl.DataFrame:
    return synthetic_events(3000, seed=1)


def test_null_market_auc_within_the_bound(null_events):
    y, p, rows = walk_forward_oos(null_events, FEATURES)
    auc, bound = auc_and_bound(y, p, rows)
    assert y.size > 1900
    assert Z * null_auc_se(int(y.sum()), int((1 - y).sum())) < bound < 0.12  # clustering widens it
    assert abs(auc - 0.5) <= bound, (auc, bound)


def test_planted_signal_is_recovered():
    events = synthetic_events(3000, seed=1, planted=1.5)
    y, p, rows = walk_forward_oos(events, FEATURES)
    auc, bound = auc_and_bound(y, p, rows)
    bayes = auc_of(y, rows["signal"].to_numpy())  # P(y | signal) rises with it
    assert auc > 0.5 + bound
    assert (auc - 0.5) / (bayes - 0.5) >= MIN_SMALL_SCALE_LIFT, (auc, bayes)


def test_leak_shuffled_unpurged_folds_moves_the_null_auc(null_events):
    """Random folds without purge or embargo: events of one symbol-day (overlapping labels, one
    shared outcome) land on both sides and ``day_feature`` names the cluster."""
    r = np.random.default_rng(0).random(null_events.height)
    fit = null_events.filter(r < 0.48)
    valid = null_events.filter((r >= 0.48) & (r < 0.6))
    test = null_events.filter(r >= 0.6)
    model = train_model(fit, valid, FEATURES, FAST)
    auc, bound = auc_and_bound(target(test, "barrier_pt").to_numpy(), predict(model, test), test)
    assert auc > 0.5 + bound, (auc, bound)


def test_leak_feature_that_sees_t1_moves_the_null_auc(null_events):
    y, p, rows = walk_forward_oos(null_events, LEAKY_FEATURES)
    auc, bound = auc_and_bound(y, p, rows)
    assert auc > 0.5 + bound, (auc, bound)

"""Metrics on hand-made predictions: values checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from smallcaps_assets.stages.models.metrics import (
    auc,
    calibration_table,
    classification_metrics,
    clustered_auc_se,
    null_auc_bound,
    null_auc_se,
    top_decile_precision,
)


def test_classification_metrics_by_hand():
    y = [1, 0, 1, 0]
    p = [0.9, 0.2, 0.4, 0.6]
    m = classification_metrics(y, p)
    # Pairs (pos, neg): (0.9>0.2) (0.9>0.6) (0.4>0.2) (0.4<0.6): 3 of 4.
    assert m["auc"] == pytest.approx(0.75)
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.36 + 0.36) / 4)
    expected_ll = -(math.log(0.9) + math.log(0.8) + math.log(0.4) + math.log(0.4)) / 4
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert (m["n"], m["n_pos"], m["n_neg"], m["base_rate"]) == (4, 2, 2, 0.5)
    assert m["precision_top_decile"] == 1.0  # ceil(4/10) = 1 event: the 0.9, a positive


def test_nan_labels_dropped_and_single_class():
    m = classification_metrics([1, np.nan, 1], [0.3, 0.5, 0.7])
    assert m["n"] == 2 and m["auc"] is None and m["null_auc_se"] is None
    assert auc([1, 1], [0.1, 0.2]) is None


def test_top_decile_precision():
    y = np.array([0] * 15 + [1] * 5)
    p = np.arange(20) / 20  # the 5 positives hold the highest predictions
    assert top_decile_precision(y, p) == 1.0  # top 2 of 20
    assert top_decile_precision(y, -p) == 0.0


def test_calibration_table_deciles():
    p = np.arange(100) / 100
    y = (np.arange(100) >= 50).astype(int)
    table = calibration_table(y, p)
    assert table["count"].to_list() == [10] * 10
    assert table["observed_rate"].to_list() == [0.0] * 5 + [1.0] * 5
    assert table["mean_predicted"][0] == pytest.approx(0.045)


def test_null_bound_formula_and_spread():
    assert null_auc_se(50, 50) == pytest.approx(math.sqrt(101 / (12 * 2500)))
    assert null_auc_bound(50, 50, z=2) == pytest.approx(2 * null_auc_se(50, 50))
    # The formula matches the spread of the AUC of random scores (400 draws of n1 = n0 = 100).
    rng = np.random.default_rng(0)
    y = np.r_[np.ones(100), np.zeros(100)]
    draws = [auc(y, rng.random(200)) for _ in range(400)]
    assert np.std(draws) == pytest.approx(null_auc_se(100, 100), rel=0.15)


def test_clustered_se_matches_the_spread_of_clustered_scores():
    """40 clusters of 10 events sharing an outcome tendency and a score: the AUC of the (useless)
    scores spreads far wider than the iid formula says, as the cluster-robust SE does."""
    rng = np.random.default_rng(1)
    clusters = np.repeat(np.arange(40), 10)
    aucs, ses = [], []
    for _ in range(300):
        y = (rng.random(400) < 1 / (1 + np.exp(-2 * rng.normal(size=40)[clusters]))).astype(int)
        p = rng.normal(size=40)[clusters] + 0.1 * rng.normal(size=400)
        aucs.append(auc(y, p))
        ses.append(clustered_auc_se(y, p, clusters))
    spread, iid = np.std(aucs), null_auc_se(200, 200)
    assert spread > 1.8 * iid
    assert np.mean(ses) == pytest.approx(spread, rel=0.2)


def test_clustered_se_one_event_per_cluster_is_delong():
    rng = np.random.default_rng(2)
    y = np.r_[np.ones(300), np.zeros(300)].astype(int)
    p = rng.random(600)
    se = clustered_auc_se(y, p, np.arange(600))
    assert se == pytest.approx(null_auc_se(300, 300), rel=0.1)
    assert clustered_auc_se(y, p, np.zeros(600)) is None  # one cluster: no spread to measure

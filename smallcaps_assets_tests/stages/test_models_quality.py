"""Model gates: the purge re-asserted from the stored fold, the out-of-sample size, constant
predictions (blocking) and an overfit model (warn)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from smallcaps_assets.stages.models.experiment import run_month
from smallcaps_assets.stages.models.train import TrainParams
from smallcaps_assets.stages.models_quality import ModelGateParams, model_gates

from .models.synthetic_cases import FEATURES, synthetic_events

FAST = TrainParams(num_boost_round=60, early_stopping_rounds=10, min_data_in_leaf=10, learning_rate=0.1)


@pytest.fixture(scope="module")
def month():
    return run_month(synthetic_events(1500, seed=4, planted=1.5), dt.date(2024, 3, 1), FEATURES, {}, FAST)


def verdicts(results) -> dict[str, bool]:
    return {r.name: r.passed for r in results}


def test_a_sound_model_passes(month):
    results = model_gates(month.record, month.predictions["prob"].to_numpy())
    assert all(verdicts(results).values())
    assert [r.severity for r in results] == ["error", "error", "error", "warn"]


def test_fold_overlap_read_from_the_record(month):
    fold = month.record.fold.model_copy(update={"fit_max_t1": month.record.fold.test_start})
    record = month.record.model_copy(update={"fold": fold})
    got = verdicts(model_gates(record, month.predictions["prob"].to_numpy()))
    assert got["model_fold_no_overlap"] is False


def test_small_oos_and_constant_predictions(month):
    probs = month.predictions["prob"].to_numpy()
    got = verdicts(model_gates(month.record, probs, ModelGateParams(min_oos_events=10_000)))
    assert got["model_min_oos_events"] is False
    got = verdicts(model_gates(month.record, np.full(probs.size, 0.4)))
    assert got["model_not_constant"] is False
    assert verdicts(model_gates(month.record, np.zeros(0)))["model_not_constant"] is False


def test_overfit_warns(month):
    metrics = dict(month.record.metrics)
    metrics["fit"] = {**metrics["fit"], "auc": 0.99}
    metrics["test"] = {**metrics["test"], "auc": 0.51}
    record = month.record.model_copy(update={"metrics": metrics})
    result = {r.name: r for r in model_gates(record, month.predictions["prob"].to_numpy())}
    assert result["model_overfit"].passed is False and result["model_overfit"].severity == "warn"
    metrics["test"] = {**metrics["test"], "auc": 0.70}  # a real edge out of sample: no warning
    record = month.record.model_copy(update={"metrics": metrics})
    assert verdicts(model_gates(record, month.predictions["prob"].to_numpy()))["model_overfit"] is True

"""The validity check at CI scale: on the NULL offline market the walk-forward models' pooled
out-of-sample AUC stays within a band derived from the sample size.

Bound: with nothing predictable the AUC is centred on 0.5; its standard error for independent
events is sqrt((n1 + n0 + 1) / (12 n1 n0)) (``metrics.null_auc_se``), but events of one symbol-day
share an outcome and a tape, so the test uses the cluster-robust standard error
(``metrics.clustered_auc_se``, clusters = symbol + day) and allows Z = 3 of them. The band must also
be narrow enough to mean something: under 0.15, which the sample here (a few hundred labelled
out-of-sample events) gives.
"""

from __future__ import annotations

import datetime as dt

import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.bench import validity
from smallcaps_assets.stages.models.train import TrainParams

# Two months: the first trains the model of the second.
DAYS = cal.trading_days(dt.date(2024, 5, 1), dt.date(2024, 6, 28))
FAST = TrainParams(num_boost_round=200, early_stopping_rounds=20)
MIN_EVENTS = 300
MAX_BAND = 0.15


@pytest.mark.slow
def test_null_market_auc_stays_in_its_band():
    figures = validity.run_market("null", DAYS, symbols=100, seed=7, train=FAST, catalyst_rate=0.1)
    oos = figures["all"]
    assert figures["months"] == 1
    assert oos["events"] >= MIN_EVENTS, oos
    assert oos["band"] < MAX_BAND, oos
    assert abs(oos["auc"] - 0.5) <= oos["band"], oos


def test_report_names_every_figure_the_issue_asks_for():
    report = {
        "null_auc": 0.5,
        "null_events": 5000,
        "null_band": 0.03,
        "planted_auc": 0.6,
        "planted_events": 900,
        "planted_auc_all": 0.55,
        "bayes_auc": 0.7,
        "recovered_lift": 0.5,
        "seconds": 10.0,
        "sessions": 100,
        "first_session": "2024-01-02",
        "symbols": 600,
    }
    text = validity.format_report(report)
    assert "0.5000" in text and "5,000" in text and "recovered lift 0.50" in text

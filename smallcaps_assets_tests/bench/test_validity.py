"""The validity check at CI scale: on the NULL offline market the walk-forward models' out-of-sample
AUC against the simulator's truth (did the planted setup's move continue: a coin flip in null mode)
stays within a band derived from the sample size. The events are those of each
concerned catalyst symbol-day at or after its trigger (``validity.concerned_events``).

Bound: with nothing predictable the AUC is centred on 0.5; its standard error for independent
events is sqrt((n1 + n0 + 1) / (12 n1 n0)) (``metrics.null_auc_se``), but events of one symbol-day
share an outcome and a tape, so the test uses the cluster-robust standard error
(``metrics.clustered_auc_se``, clusters = symbol + day) and allows Z = 3 of them. The band must also
be narrow enough to mean something: under MAX_BAND at the sample here.
"""

from __future__ import annotations

import datetime as dt

import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.bench import validity
from smallcaps_assets.stages.models.train import TrainParams

# Four months: the first trains the model of the second, and so on (three out-of-sample months).
DAYS = cal.trading_days(dt.date(2024, 3, 1), dt.date(2024, 6, 28))
FAST = TrainParams(num_boost_round=200, early_stopping_rounds=20)
# Events of one symbol-day share their outcome, so the band is set by the symbol-days, not the
# events; it must stay under 0.4 for the test to be able to fail.
MIN_EVENTS = 30
MAX_BAND = 0.4


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="#12 open: with the simulator's planted truth (order-flow edge), 120 tickers over four "
    "months give 13 concerned events within 10 minutes of a trigger (AUC 0.25, band 0.53): too few "
    "for a band that can fail. Remove this mark when the check has the sample it needs.",
)
def test_null_market_auc_stays_in_its_band():
    if not hasattr(validity.SimMarket, "planted_truth"):
        pytest.skip("the simulator reports no planted truth (SimMarket.planted_truth)")
    figures = validity.run_market("null", DAYS, symbols=120, seed=7, train=FAST, catalyst_rate=0.2)
    oos = figures["truth"]
    assert figures["months"] == 3
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
        "bayes_auc": 0.7,
        "recovered_lift": 0.5,
        "seconds": 10.0,
        "sessions": 100,
        "first_session": "2024-01-02",
        "symbols": 600,
    }
    text = validity.format_report(report)
    assert "0.5000" in text and "5,000" in text and "recovered lift 0.50" in text

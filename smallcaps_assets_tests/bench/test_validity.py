"""The validity check at CI scale: on the NULL offline market the walk-forward models' out-of-sample
AUC against the simulator's truth (did the planted setup's move continue: a coin flip in null mode)
stays within a band derived from the sample size. The events are those of each concerned catalyst
symbol-day in the order-flow window up to its trigger, in the setup's direction
(``validity.concerned_events``), on the validity market (every catalyst symbol-day, ``catalyst_only``).

Bound: with nothing predictable the AUC is centred on 0.5; its standard error for independent
events is sqrt((n1 + n0 + 1) / (12 n1 n0)) (``metrics.null_auc_se``), but events of one symbol-day
share an outcome and a tape, so the test uses the cluster-robust standard error
(``metrics.clustered_auc_se``, clusters = symbol + day) and allows Z = 3 of them. The band must also
be narrow enough to mean something: under MAX_BAND at the sample here (120 tickers over three
months give about 150 events, a band near 0.2). ``make test`` runs it (marker ``validity``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.bench import validity
from smallcaps_assets.stages.models.train import TrainParams

# Three months: the first trains the model of the second, and so on (two out-of-sample months).
DAYS = cal.trading_days(dt.date(2024, 3, 1), dt.date(2024, 5, 31))
FAST = TrainParams(num_boost_round=200, early_stopping_rounds=20)
# Events of one symbol-day share their outcome, so the band is set by the symbol-days, not the
# events; it must stay under MAX_BAND for the test to be able to fail.
MIN_EVENTS = 100
SYMBOLS = 120
MAX_BAND = 0.25


@pytest.mark.slow
@pytest.mark.validity
def test_null_market_auc_stays_in_its_band():
    figures = validity.run_market("null", DAYS, symbols=SYMBOLS, seed=7, train=FAST, catalyst_rate=0.2)
    oos = figures["truth"]
    assert figures["months"] == 2
    assert oos["events"] >= MIN_EVENTS, oos
    assert oos["band"] < MAX_BAND, oos
    assert abs(oos["auc"] - 0.5) <= oos["band"], oos
    # the order-flow feature read as it is: the null tape before the trigger says nothing either
    assert abs(figures["flow_auc"] - 0.5) <= oos["band"], figures["flow_auc"]


def test_scored_events_end_at_the_trigger():
    """An event after the trigger reads bars of the move, which follow the outcome in both markets:
    only events in the flow window up to the trigger, in the setup's direction, are scored."""
    import polars as pl

    trigger = 1_709_303_400_000_000_000
    minute = 60_000_000_000

    class Market:
        def planted_truth(self, day):
            return pl.DataFrame(
                {"ticker": ["A"], "date": [day], "concerned": [True], "direction": [1],
                 "trigger_ns": [trigger], "flow_start_ns": [trigger - 10 * minute], "win": [True],
                 "win_prob": [0.7]}
            )  # fmt: skip

    offsets = [-11, -10, -3, 0, 1, 5]
    oos = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(len(offsets) + 1)],
            "symbol": ["A"] * (len(offsets) + 1),
            "date": [dt.date(2024, 3, 1)] * (len(offsets) + 1),
            "ts": pl.Series([trigger + m * minute for m in [*offsets, -2]]).cast(pl.Datetime("ns", "UTC")),
            "direction": [1] * len(offsets) + [-1],
        }
    )
    scored = validity.concerned_events(Market(), oos, [dt.date(2024, 3, 1)])
    assert scored["event_id"].to_list() == ["e1", "e2", "e3"]


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
    assert "feature alone" not in text  # a report without the flow figures says nothing of them
    flow = validity.format_report({**report, "planted_flow_auc": 0.68, "null_flow_auc": 0.52})
    assert "feature alone (no model): 0.6800 planted, 0.5200 null" in flow
    months = validity.format_report({**report, "planted_lift_by_month": {"2024-04": 0.6, "2024-05": 0.68}})
    assert "recovered lift by model month: 2024-04 0.60, 2024-05 0.68" in months
    days = validity.format_report({**report, "days_bayes_auc": 0.74})
    assert "Bayes AUC 0.7000 on these events (0.7400 over every concerned day)" in days


def test_lift_by_month_scores_each_model_month_against_its_own_ceiling():
    """April: the model ranks like the truth (lift 1); May: the model ranks backwards (lift -1)."""
    scored = pl.DataFrame(
        {
            "model_month": [dt.date(2024, 5, 1)] * 4 + [dt.date(2024, 4, 1)] * 4,
            "win": [1, 0, 1, 0, 1, 0, 1, 0],
            "win_prob": [0.9, 0.1, 0.8, 0.2, 0.9, 0.1, 0.8, 0.2],
            "prob": [0.1, 0.9, 0.2, 0.8, 0.7, 0.3, 0.6, 0.4],
        }
    )
    assert validity.lift_by_month(scored) == {"2024-04": 1.0, "2024-05": -1.0}


def test_history_months_only_train():
    """``--history-months 2`` over January to March: only March is predicted, by a model that saw
    both earlier months; one history month predicts February and March."""
    from smallcaps_assets.stages.models.splits import SplitParams
    from smallcaps_assets_tests.stages.models.synthetic_cases import synthetic_events

    rows = synthetic_events(n=1500).with_columns(date=pl.col("ts").dt.date())
    fast = TrainParams(num_boost_round=20, early_stopping_rounds=5, min_data_in_leaf=10)
    one = validity.out_of_sample(rows, fast, SplitParams(min_history_months=1))
    two = validity.out_of_sample(rows, fast, SplitParams(min_history_months=2))
    assert sorted(set(one["model_month"])) == [dt.date(2024, 2, 1), dt.date(2024, 3, 1)]
    assert sorted(set(two["model_month"])) == [dt.date(2024, 3, 1)]
    # March's rows and predictions are the same: the expanding window starts at the first month either way.
    march = one.filter(pl.col("model_month") == dt.date(2024, 3, 1)).sort("event_id")
    assert march["prob"].to_list() == two.sort("event_id")["prob"].to_list()


def test_history_months_must_leave_a_month_to_score():
    with pytest.raises(ValueError, match="history_months must be at least 1 and below months"):
        validity.bench_validity(months=3, history_months=3)

"""The null-market check as a graph run: event_model -> event_predictions -> backtest through
Dagster on the validity harness's NULL offline market (``bench.validity``: every planted setup
continues with probability 0.5), and the same graph with one leaking feature.

The lake holds what the upstream assets would write for two months of sessions (minute bars,
intraday events, event features and labels, each through its asset's contract), built by the
harness's pure stages (``validity.market_rows(..., sink=...)``). The model of April trains on March
and predicts April's events out of sample; the April backtest trades them. On the null market its
probabilistic Sharpe should not call the model skilled (PSR < 0.95). The check must be able to fail:
with ``peek`` (the event's own label, a feature that reads the future) added to event_features, the
same graph's model strategy must look skilled (PSR > 0.95).

Not met today (an expected failure, strict: it turns red once it passes): the harness's null mode
makes only the planted setups' continuation after their trigger a coin flip. The simulator's
catalyst-day shapes still give the other events' direction (``bench/validity.py`` says so of the
model's target), and the graph's model trades every event above its threshold. Measured in April
2024 (60 symbols, catalyst rate 0.2): seed 7 Sharpe 4.95, PSR 0.924 (362 trades); seed 11 Sharpe
3.20, PSR 0.820 (468); seed 23 Sharpe 10.07, PSR 0.99998 (339), while the random entries matched to
the model's lose. A null market for the backtest needs no predictable direction anywhere, not only
at the planted triggers.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake, schemas
from smallcaps_assets.asset_names import EVENT_FEATURES, EVENT_LABELS, INTRADAY_EVENTS, MINUTE_BARS
from smallcaps_assets.bench import validity
from smallcaps_assets.defs.backtests import backtest
from smallcaps_assets.defs.models import event_model, event_predictions
from smallcaps_assets.sim.config import EdgeConfig, SimConfig
from smallcaps_assets.sim.market import SimMarket
from smallcaps_assets.stages.models.experiment import model_input
from smallcaps_assets.stages.models.train import TrainParams, target

DAYS = cal.trading_days(dt.date(2024, 3, 1), dt.date(2024, 4, 30))
MONTH = dt.date(2024, 4, 1)
APRIL = [d for d in DAYS if d >= MONTH]
CONTRACTS = {
    MINUTE_BARS: schemas.MinuteBars,
    INTRADAY_EVENTS: schemas.intraday_events_contract(),
    EVENT_FEATURES: schemas.event_features_contract(),
    EVENT_LABELS: schemas.event_labels_contract(),
}
MIN_TRADES = 50  # enough trades for the PSR to be able to say "skilled" (the leak shows it does)

pytestmark = [pytest.mark.slow, pytest.mark.validity]


def _null_market_days(seed: int) -> dict[dt.date, dict[str, pl.DataFrame]]:
    market = SimMarket(
        SimConfig(
            seed=seed,
            n_symbols=60,
            catalyst_rate=0.2,
            start=cal.sessions_before(DAYS[0], 30)[0],
            end=DAYS[-1],
            edge=EdgeConfig(mode="null"),
        )
    )
    days: dict[dt.date, dict[str, pl.DataFrame]] = {}
    validity.market_rows(market, DAYS, catalyst_only=True, sink=lambda day, f: days.__setitem__(day, f))
    return days


NULL_SEED = 23  # the seed whose null market shows the gap most clearly (module docstring)
LEAK_SEED = 7  # a seed whose null run is not significant, so the leak is what flips the check


def _run_graph(root, days: dict, monkeypatch, leak: bool) -> dict:
    """Write the lake, then materialise the April model, April's predictions day by day and the
    April backtest; the backtest's metadata."""
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    for day, frames in days.items():
        enforced = {a: schemas.enforce(CONTRACTS[a], f) for a, f in frames.items()}
        if leak:
            # The event's own outcome as a feature: what a look-ahead bug would hand the model.
            y = target(model_input(frames[EVENT_FEATURES], frames[EVENT_LABELS]), TrainParams().target)
            peek = model_input(frames[EVENT_FEATURES], frames[EVENT_LABELS]).select(
                "event_id", peek=y.cast(pl.Float64)
            )
            enforced[EVENT_FEATURES] = enforced[EVENT_FEATURES].join(peek, on="event_id", how="left")
        for asset, frame in enforced.items():
            lake.write_partition(asset, day, frame, root=root)
    with dg.instance_for_test() as instance:
        assert dg.materialize([event_model], partition_key=str(MONTH), instance=instance).success
        for day in APRIL:
            if lake.partition_exists(EVENT_FEATURES, day):
                assert dg.materialize([event_predictions], partition_key=str(day), instance=instance).success
        result = dg.materialize([backtest], partition_key=str(MONTH), instance=instance)
    assert result.success
    (mat,) = result.asset_materializations_for_node("backtest")
    return {k: v.value for k, v in mat.metadata.items()}


@pytest.mark.xfail(
    strict=True,
    reason="the null mode nulls only the planted setups; the shapes leave direction predictable",
)
def test_on_the_null_market_the_graphs_model_strategy_is_not_significant(tmp_path, monkeypatch):
    meta = _run_graph(tmp_path, _null_market_days(NULL_SEED), monkeypatch, leak=False)
    assert meta["model_trades"] >= MIN_TRADES, meta["model_trades"]
    assert meta["model_psr"] < 0.95, (meta["model_psr"], meta["model_sharpe"])


def test_the_same_graph_with_a_leaking_feature_looks_skilled(tmp_path, monkeypatch):
    meta = _run_graph(tmp_path, _null_market_days(LEAK_SEED), monkeypatch, leak=True)
    assert meta["model_trades"] >= MIN_TRADES, meta["model_trades"]
    assert meta["model_psr"] > 0.95, (meta["model_psr"], meta["model_sharpe"])

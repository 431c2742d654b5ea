"""A month of every strategy on the synthetic null market (the bench's, small): no edge is found,
costs turn gross into net by exactly the modelled amounts, and every gate passes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.bench.backtest import synthetic_month
from smallcaps_assets.stages.backtest import costs
from smallcaps_assets.stages.backtest.costs import CostParams
from smallcaps_assets.stages.backtest.fills import FillParams
from smallcaps_assets.stages.backtest.quality import backtest_gates
from smallcaps_assets.stages.backtest.run import BacktestParams, all_trades, run_backtest
from smallcaps_assets.stages.backtest.strategies import STRATEGIES


@pytest.fixture(scope="module")
def month():
    inputs = synthetic_month(6_000, days=21, symbols=60, seed=21)
    return inputs, {r.strategy: r for r in run_backtest(inputs)}


def test_on_the_null_market_the_model_strategy_is_not_significant(month):
    _, res = month
    model = res["model"].metrics()
    assert model["trades"] > 200 and model["days"] == 21
    assert model["psr"] < 0.95  # the probabilistic Sharpe does not call a null model skilled
    assert res["random_matched"].signals == res["model"].signals  # matched in count


def _peeking(inputs):
    """The same month with predictions that read the future: prob 1 when the event's direction
    paid over the next 30 minutes. A strategy on them must look skilled."""
    out = []
    for d in inputs:
        bars = d.bars.sort("ts")
        ev = d.events.sort("ts").with_columns(later=pl.col("ts").dt.offset_by("30m"))
        now = ev.join_asof(
            bars.select("symbol", "ts", p0="close"), on="ts", by="symbol", check_sortedness=False
        )
        fut = now.sort("later").join_asof(
            bars.select("symbol", later="ts", p1="close"), on="later", by="symbol", check_sortedness=False
        )
        prob = fut.select(
            "event_id", prob=((pl.col("direction") * (pl.col("p1") - pl.col("p0"))) > 0).cast(pl.Float64)
        )
        out.append(replace(d, predictions=prob))
    return out


def test_the_probabilistic_sharpe_calls_a_peeking_model_skilled(month):
    inputs, _ = month
    # Without spread or broker costs: the peek is worth less than a small cap's round-trip costs.
    free = BacktestParams(
        fills=FillParams(half_spread=0.0),
        costs=CostParams(per_share=0, min_per_order=0, taker_fee=False, locate_per_share=0, borrow_rate=0),
    )
    (peek,) = run_backtest(_peeking(inputs), strategies=(STRATEGIES[0],), params=free)
    m = peek.metrics()
    assert m["trades"] > 200 and m["psr"] > 0.99 and m["sharpe"] > 3


def test_costs_turn_the_rule_baselines_gross_into_net_by_exactly_the_modelled_amounts(month):
    _, res = month
    rule = res["rule_all"]
    t = rule.trades
    assert t.height > 100 and set(t["side"]) == {-1, 1}
    modelled = np.zeros(t.height)
    for (day,), g in t.with_row_index("i").group_by("date"):
        sh, side = g["shares"].to_numpy(), g["side"].to_numpy()
        entry = costs.order_costs(day, sh, g["entry_price"].to_numpy(), side < 0)
        exit_ = costs.order_costs(day, sh, g["exit_price"].to_numpy(), side > 0)
        held = (g["exit_ts"] - g["entry_ts"]).dt.total_nanoseconds().to_numpy() / 1e9
        short = costs.short_costs(sh, g["entry_price"].to_numpy(), held)
        total = (
            sum(entry.values())
            + sum(exit_.values())
            + np.where(side < 0, short["locate_fee"] + short["borrow_fee"], 0)
        )
        modelled[g["i"].to_numpy()] = total
    np.testing.assert_allclose(t["costs"].to_numpy(), modelled, rtol=1e-12)
    gross, net = float(t["gross_pnl"].sum()), float(t["net_pnl"].sum())
    assert gross - modelled.sum() == pytest.approx(net, rel=1e-12)
    end = float(rule.daily["equity"][-1])
    assert end - BacktestParams().engine.init_cash == pytest.approx(net, rel=1e-9)
    assert float(rule.daily["vbt_equity"][-1]) == pytest.approx(end, rel=1e-12)  # vectorbt's books
    assert rule.metrics()["cost_share"] > 0


def test_every_gate_passes_and_a_broken_row_fails_its_gate(month):
    _, res = month
    trades = all_trades(list(res.values()))
    daily = pl.concat(
        [r.daily.with_columns(strategy=pl.lit(r.strategy)) for r in res.values()], how="diagonal_relaxed"
    )
    gates = backtest_gates(trades, daily, BacktestParams().fills.latency_seconds)
    assert all(g.passed for g in gates), [g for g in gates if not g.passed]
    early = trades.with_columns(
        entry_ts=pl.when(pl.int_range(pl.len()) == 0).then(pl.col("ts")).otherwise(pl.col("entry_ts"))
    )
    assert not backtest_gates(early, daily, 1.0)[0].passed
    off = trades.with_columns(
        net_pnl=pl.col("net_pnl") + pl.when(pl.int_range(pl.len()) == 3).then(0.01).otherwise(0.0)
    )
    assert not backtest_gates(off, daily, 1.0)[1].passed
    assert not backtest_gates(pl.concat([trades, trades.head(1)]), daily, 1.0)[2].passed
    assert not backtest_gates(trades, daily.with_columns(vbt_equity=pl.col("vbt_equity") + 1.0), 1.0)[
        3
    ].passed


def test_reruns_are_identical(month):
    inputs, res = month
    again = {r.strategy: r for r in run_backtest(inputs)}
    for name, r in res.items():
        assert r.trades.equals(again[name].trades), name

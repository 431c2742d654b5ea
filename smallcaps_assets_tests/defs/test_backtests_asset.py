"""backtest through Dagster on a tiny lake: the bench's synthetic market written as the daily
partitions the asset reads (minute bars, events, manifest, predictions, quotes, SSR status)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from smallcaps_assets import lake
from smallcaps_assets.bench.backtest import synthetic_month
from smallcaps_assets.defs.backtests import backtest
from smallcaps_assets.stages.backtest.strategies import STRATEGIES

MONTH = "2024-03-01"


@pytest.fixture(scope="module")
def backtest_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("backtest_lake")
    inputs = synthetic_month(1_500, days=6, symbols=30, seed=5, start=dt.date(2024, 3, 4))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMALLCAPS_DATA_DIR", str(root))
        for d in inputs:
            lake.write_partition("minute_bars", d.day, d.bars, root=root)
            lake.write_partition("intraday_events", d.day, d.events, root=root)
            lake.write_partition("event_manifest", d.day, d.manifest, root=root)
            lake.write_partition("event_quotes", d.day, d.quotes, root=root)
            lake.write_partition("ssr_status", d.day, d.ssr_status, root=root)
            if d.day != inputs[-1].day:  # the last day's predictions are missing
                lake.write_partition("event_predictions", d.day, d.predictions, root=root)
        with dg.instance_for_test() as instance:
            result = dg.materialize([backtest], partition_key=MONTH, instance=instance)
            empty = dg.materialize(
                [backtest], partition_key="2024-05-01", instance=instance, raise_on_error=False
            )
        yield root, inputs, result, empty


def test_the_month_materialises_every_strategy_with_gates_metadata_and_plots(backtest_lake):
    root, inputs, result, _ = backtest_lake
    assert result.success
    trades = lake.read_partition("backtest", dt.date(2024, 3, 1), root)
    assert set(trades["strategy"]) == {s.name for s in STRATEGIES}
    assert trades["date"].max() < inputs[-1].day  # the day without predictions is not traded
    assert (trades["gross_pnl"] - trades["costs"] == trades["net_pnl"]).all()
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "backtest_fill_after_signal": True,
        "backtest_costs_reconcile": True,
        "backtest_one_row_per_trade": True,
        "backtest_engine_reconciles": True,
    }
    (mat,) = result.asset_materializations_for_node("backtest")
    meta = mat.metadata
    assert meta["days"].value == 5 and meta["days_without_predictions"].value == str(inputs[-1].day)
    for s in STRATEGIES:
        for k in ("trades", "sharpe", "psr", "cost_share", "net_pnl"):
            assert isinstance(meta[f"{s.name}_{k}"].value, float), (s.name, k)
    assert meta["model_trades"].value == trades.filter(pl.col("strategy") == "model").height
    assert "| strategy | trades |" in meta["metrics"].value
    assert "event_type" in meta["model_breakdowns"].value
    for key in ("equity_png", "drawdown_png"):
        png = Path(meta[key].value)
        assert png.parent == Path(str(lake.partition_dir("backtest", "2024-03-01", root)))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_month_without_predictions_fails_in_one_line(backtest_lake):
    *_, empty = backtest_lake
    assert not empty.success
    failure = next(e for e in empty.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no trading day of the month has both minute_bars and event_predictions" in (
        failure.event_specific_data.error.message
    )

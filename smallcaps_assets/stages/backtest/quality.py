"""Gates of a backtest partition (pure; docs/backtests.md#gates). All blocking: each one is a
rule the simulation must obey, not a judgement of the strategy.

- ``backtest_fill_after_signal``: no entry before the signal's ``ts`` + latency, no exit before the
  entry, every price positive;
- ``backtest_costs_reconcile``: every cost non-negative, the components add up to ``costs`` and
  ``gross_pnl - costs = net_pnl`` exactly;
- ``backtest_one_row_per_trade``: (strategy, event_id) is unique and every trade has shares;
- ``backtest_engine_reconciles``: vectorbt's end-of-day value equals the starting equity plus the
  day's net P&L (to ``engine_rel_tol``) on every day of every strategy, and it booked two orders
  per trade.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from pydantic import Field

from ...gates import Gate, GateResult
from ..events.params import FrozenParams
from .engine import COST_COLUMNS


class BacktestQualityParams(FrozenParams):
    engine_rel_tol: float = Field(1e-9, gt=0, description="vectorbt vs our equity, relative")


FILL_AFTER_SIGNAL = Gate(
    "backtest_fill_after_signal",
    "No entry before the signal's ts + latency, no exit before the entry, positive prices.",
)
COSTS_RECONCILE = Gate(
    "backtest_costs_reconcile",
    "Costs are non-negative, add up by component, and gross_pnl - costs = net_pnl exactly.",
)
ONE_ROW_PER_TRADE = Gate(
    "backtest_one_row_per_trade", "One row per (strategy, event_id), each with at least one share."
)
ENGINE_RECONCILES = Gate(
    "backtest_engine_reconciles",
    "vectorbt's end-of-day value = starting equity + the day's net P&L (relative {p.engine_rel_tol:g}), "
    "two orders per trade.",
    params=BacktestQualityParams(),
)
BACKTEST_GATES = (FILL_AFTER_SIGNAL, COSTS_RECONCILE, ONE_ROW_PER_TRADE, ENGINE_RECONCILES)


def backtest_gates(
    trades: pl.DataFrame,
    daily: pl.DataFrame,
    latency_seconds: float,
    p: BacktestQualityParams = BacktestQualityParams(),
) -> list[GateResult]:
    """``trades``: the partition; ``daily``: strategy, date, equity, vbt_equity, orders, trades."""
    events = trades.filter(pl.col("event_type") != "universe")
    lat = dt.timedelta(seconds=latency_seconds)
    fills_ok = (
        (pl.col("entry_ts") >= pl.col("ts") + lat)
        & (pl.col("exit_ts") >= pl.col("entry_ts"))
        & (pl.col("entry_price") > 0)
        & (pl.col("exit_price") > 0)
    )
    parts = pl.sum_horizontal(*COST_COLUMNS)
    costs_ok = (
        pl.all_horizontal(*(pl.col(c) >= 0 for c in COST_COLUMNS))
        & ((parts - pl.col("costs")).abs() <= 1e-9 * (1 + pl.col("costs")))
        & (pl.col("gross_pnl") - pl.col("costs") == pl.col("net_pnl"))
    )
    dup = trades.select(pl.struct("strategy", "event_id").is_duplicated()).to_series()
    d = daily.with_columns(gap=(pl.col("vbt_equity") - pl.col("equity")).abs() / pl.col("equity"))
    worst = float(d["gap"].max() or 0.0) if d.height else 0.0
    orders_ok = bool((d["orders"] == 2 * d["trades"]).all()) if d.height else True
    return [
        FILL_AFTER_SIGNAL.rows(events, fills_ok, {"trades": events.height}),
        COSTS_RECONCILE.rows(trades, costs_ok, {"costs": float(trades["costs"].sum() or 0.0)}),
        ONE_ROW_PER_TRADE.rows(
            trades.with_columns(_dup=dup),
            ~pl.col("_dup") & (pl.col("shares") >= 1),
            {"trades": trades.height},
        ),
        ENGINE_RECONCILES.judge(worst <= p.engine_rel_tol and orders_ok, {"worst_rel_gap": worst}, p),
    ]

"""Costs from the dated schedules, and vectorbt's books equal to our own arithmetic."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.backtest import costs
from smallcaps_assets.stages.backtest.engine import (
    EngineParams,
    price_trades,
    size_day,
    vectorbt_trade_pnl,
)
from smallcaps_assets.stages.backtest.fills import FillParams
from smallcaps_assets.stages.events.schema import UTC_NS

from .cases import DAY, at


def _sized(rows: list[tuple], day: dt.date = DAY) -> pl.DataFrame:
    """rows: (event_id, side, shares, entry_price, exit_price, entry_ts, exit_ts)."""
    return pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "side": [r[1] for r in rows],
            "shares": [float(r[2]) for r in rows],
            "entry_price": [r[3] for r in rows],
            "exit_price": [r[4] for r in rows],
            "entry_ts": [r[5] for r in rows],
            "exit_ts": [r[6] for r in rows],
            "refused": [None] * len(rows),
        },
        schema_overrides={"entry_ts": UTC_NS, "exit_ts": UTC_NS, "refused": pl.String, "side": pl.Int64},
    )


@pytest.mark.parametrize(
    ("day", "sec_fee"),
    [
        (dt.date(2024, 3, 5), 0.05),  # $8.00 per million on $5,500: 0.044, up to the cent
        (dt.date(2024, 6, 3), 0.16),  # $27.80 per million from 2024-05-22: 0.1529
        (dt.date(2025, 6, 2), 0.0),  # $0 from 2025-05-14
    ],
)
def test_a_1000_share_round_trip_costs_exactly_commission_sec_fee_and_taf_of_its_date(day, sec_fee):
    t = price_trades(
        day,
        _sized([("e1", 1, 1000, 5.00, 5.50, at(10, 0, day=day), at(10, 30, day=day))]),
        costs.CostParams(),
    )
    row = t.row(0, named=True)
    assert row["commission"] == 5.0 + 5.0  # $0.005 x 1,000 each way (above the $1 minimum)
    assert row["sec_fee"] == sec_fee  # on the sale only
    assert row["taf"] == 0.17  # $0.000166 x 1,000 = 0.166, up to the cent, on the sale only
    assert row["taker_fee"] == 6.0  # $0.003 x 1,000 each way
    assert row["locate_fee"] == 0.0 and row["borrow_fee"] == 0.0
    assert row["costs"] == pytest.approx(16.17 + sec_fee, abs=1e-12)
    assert row["gross_pnl"] == pytest.approx(500.0) and row["net_pnl"] == row["gross_pnl"] - row["costs"]


def test_commission_minimum_maximum_taf_cap_and_short_costs():
    c = costs.commission(np.array([100.0, 100.0, 10_000.0]), np.array([0.50, 20.0, 50.0]))
    np.testing.assert_allclose(c, [0.50, 1.0, 50.0])  # 1% of $50; the $1 minimum; $0.005 x 10,000
    assert costs.finra_taf(DAY, np.array([100_000.0]))[0] == 8.30  # capped per trade
    assert costs.taker_fee(DAY, np.array([1000.0]), np.array([0.5]))[0] == pytest.approx(1.5)  # 0.3% below $1
    t = price_trades(DAY, _sized([("s1", -1, 1000, 10.0, 9.0, at(10, 0), at(11, 0))]), costs.CostParams())
    row = t.row(0, named=True)
    assert row["sec_fee"] == 0.08  # the short's entry is the sale: $10,000 x 8 / 1e6
    assert row["locate_fee"] == pytest.approx(10.0)  # $0.01 x 1,000
    assert row["borrow_fee"] == pytest.approx(10_000 * 0.30 / 360 / 24)  # one hour at 30%/yr
    assert row["gross_pnl"] == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="no fee rate before"):
        costs.sec_fee(dt.date(2020, 1, 2), np.array([1.0]), np.array([1.0]))


def test_sizing_respects_participation_and_cash():
    fills = _sized(
        [
            ("a", 1, 0, 10.0, 10.0, at(10, 0), at(10, 30)),
            ("b", 1, 0, 10.0, 10.0, at(10, 1), at(10, 31)),
            ("c", 1, 0, 10.0, 10.0, at(10, 40), at(10, 50)),
            ("d", 1, 0, 10.0, 10.0, at(10, 41), at(10, 50)),
        ]
    ).with_columns(fill_volume=pl.Series([1e6, 1e6, 1e6, 3_000.0]))
    got = size_day(fills, 15_000.0, FillParams(), EngineParams()).sort("event_id")
    # a: $10k; b: only $5k of cash left; c: a's and b's cash is back; d: 10% of 3,000 shares.
    assert got["shares"].to_list() == [1000.0, 500.0, 1000.0, 300.0]
    tight = size_day(fills, 10_500.0, FillParams(), EngineParams()).sort("event_id")
    assert tight["refused"].to_list() == [None, "size", None, "size"]  # $500 left is under $1,000


def test_vectorbt_books_equal_gross_minus_the_modelled_costs():
    rng = np.random.default_rng(4)
    rows = []
    for i in range(60):
        t0 = at(9, 30) + dt.timedelta(minutes=int(rng.integers(0, 300)))
        side = int(rng.choice([-1, 1]))
        p0 = float(rng.uniform(1.5, 30))
        rows.append(
            (
                f"e{i}",
                side,
                float(rng.integers(50, 800)),
                p0,
                p0 * float(rng.uniform(0.9, 1.1)),
                t0,
                t0 + dt.timedelta(minutes=int(rng.integers(1, 40))),
            )
        )
    trades = price_trades(DAY, _sized(rows), costs.CostParams())
    pnl, orders = vectorbt_trade_pnl(trades)
    assert (orders == 2).all()
    np.testing.assert_allclose(pnl, trades["net_pnl"].to_numpy(), rtol=1e-9, atol=1e-9)
    net = float(trades["net_pnl"].sum())
    assert float(trades["gross_pnl"].sum()) - float(trades["costs"].sum()) == pytest.approx(net, rel=1e-12)
    parts = trades.select(pl.sum_horizontal(*costs_columns())).to_series()
    np.testing.assert_allclose(parts.to_numpy(), trades["costs"].to_numpy(), rtol=1e-12)


def costs_columns():
    from smallcaps_assets.stages.backtest.engine import COST_COLUMNS

    return list(COST_COLUMNS)


@pytest.mark.parametrize(
    ("day", "per_million"),
    [
        (dt.date(2021, 2, 25), 5.10),  # fiscal 2021
        (dt.date(2022, 5, 13), 5.10),
        (dt.date(2022, 5, 14), 22.90),  # fiscal 2022: 60 days after the 2022-03-15 appropriation
        (dt.date(2023, 2, 26), 22.90),
        (dt.date(2023, 2, 27), 8.00),  # fiscal 2023: 60 days after 2022-12-29
        (dt.date(2024, 5, 21), 8.00),
        (dt.date(2024, 5, 22), 27.80),  # fiscal 2024: 60 days after 2024-03-23
        (dt.date(2025, 5, 13), 27.80),
        (dt.date(2025, 5, 14), 0.00),  # the 2025 mid-year adjustment
    ],
)
def test_the_sec_fee_steps_on_the_days_the_fee_rate_orders_took_effect(day, per_million):
    # $100,000 sold: the fee is the rate per million / 10, already whole cents.
    fee = costs.sec_fee(day, np.array([10_000.0]), np.array([10.0]))
    assert fee[0] == pytest.approx(per_million / 10, abs=1e-12)


def test_a_sale_before_the_first_sec_fee_step_is_refused():
    with pytest.raises(ValueError, match="no fee rate before 2021-02-25"):
        costs.sec_fee(dt.date(2021, 2, 24), np.array([100.0]), np.array([10.0]))

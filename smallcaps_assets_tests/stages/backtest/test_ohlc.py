"""The OHLC entry point on a textbook SMA cross, against a hand computation."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.backtest.ohlc import backtest_ohlc


def _frame() -> pl.DataFrame:
    rng = np.random.default_rng(9)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, 400)) + np.sin(np.arange(400) / 25) * 0.2)
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0, 0.005, 400))
    return pl.DataFrame({"open": open_, "close": close})


def _hand(o, c, en, ex, cash, per_share, minimum):
    shares, trades, long = 0.0, [], False
    for i in range(len(o) - 1):
        if not long and en[i]:
            n = np.floor(cash / (o[i + 1] + per_share))
            while n * o[i + 1] + max(per_share * n, minimum) > cash:
                n -= 1
            fee = max(per_share * n, minimum)
            cash -= n * o[i + 1] + fee
            shares, long = n, True
            trades.append(("buy", i + 1, o[i + 1], n, fee))
        elif long and ex[i]:
            fee = max(per_share * shares, minimum)
            cash += shares * o[i + 1] - fee
            trades.append(("sell", i + 1, o[i + 1], shares, fee))
            shares, long = 0.0, False
    return cash + shares * c[-1], trades


@pytest.mark.parametrize(("per_share", "minimum"), [(0.0, 0.0), (0.005, 1.0)])
def test_sma_cross_matches_a_hand_computation(per_share, minimum):
    f = _frame()
    fast, slow = f["close"].rolling_mean(10), f["close"].rolling_mean(30)
    en, ex = (fast > slow).fill_null(False), (fast < slow).fill_null(False)
    got = backtest_ohlc(f, en, ex, init_cash=10_000, per_share=per_share, min_per_order=minimum)
    want, trades = _hand(
        f["open"].to_numpy(), f["close"].to_numpy(), en.to_numpy(), ex.to_numpy(), 10_000, per_share, minimum
    )
    assert len(trades) >= 6  # the cross fired several times
    assert got.equity[-1] == pytest.approx(want, rel=1e-12)
    # Fills at the next bar's open, never at the signal bar's close.
    buys = [t for t in trades if t[0] == "buy"]
    assert got.trades["entry_bar"].to_list() == [t[1] for t in buys][: got.trades.height]
    np.testing.assert_allclose(
        got.trades["entry_price"].to_numpy(), [t[2] for t in buys][: got.trades.height]
    )
    assert not np.isin(got.trades["entry_price"].to_numpy(), f["close"].to_numpy()).any()


def test_relative_commission_and_bad_input():
    f = _frame()
    en = pl.Series([i == 5 for i in range(f.height)])
    ex = pl.Series([i == 50 for i in range(f.height)])
    got = backtest_ohlc(f, en, ex, init_cash=10_000, relative=0.001)
    o = f["open"].to_numpy()
    n = np.floor(10_000 / (o[6] * 1.001))
    want = 10_000 - n * o[6] * 1.001 + n * o[51] * 0.999
    assert got.equity[-1] == pytest.approx(want, rel=1e-12)
    with pytest.raises(ValueError, match="open and close"):
        backtest_ohlc(f.drop("open"), en, ex)

"""The vendor's bar rules as platform code: exact VWAP digits whatever the batching or frame size."""

from __future__ import annotations

import subprocess
import sys

import polars as pl

from smallcaps_assets.stages import trade_rules as tr


def _day_trades(market, n_tickers: int = 4) -> tuple[pl.DataFrame, object]:
    day = market.sessions()[20]
    tickers = [p.ticker for p in market.profiles() if p.market == "stocks" and market.is_listed(p, day)]
    frames = [market.trades(t, day).with_columns(ticker=pl.lit(t)) for t in tickers[:n_tickers]]
    return pl.concat(frames), day


def test_streamed_parts_equal_the_whole_day_aggregate(small_market):
    trades, _ = _day_trades(small_market)
    minute = pl.col("sip_timestamp") // 60_000_000_000
    whole = tr.aggregate(trades, minute, by=["ticker"])
    shuffled = trades.sample(fraction=1.0, shuffle=True, seed=3)
    parts = [
        tr.vwap_parts(shuffled.slice(i, 997), minute, daily=False) for i in range(0, shuffled.height, 997)
    ]
    streamed = tr.vwap_from_parts(parts)
    joined = whole.join(streamed, on=["ticker", "bucket"], how="left")
    assert (joined["vw"] == joined["vw_right"]).all()
    assert (joined["v"] == joined["v_right"]).all()


def test_vw_digits_do_not_depend_on_the_frame_height(small_market):
    """One bar alone and the same bar among many get the same last digit (polars' scalar division
    by a reciprocal once made them differ)."""
    trades, _ = _day_trades(small_market, n_tickers=1)
    minute = pl.col("sip_timestamp") // 60_000_000_000
    many = tr.aggregate(trades, minute)
    one_by_one = pl.concat(
        [tr.aggregate(trades.filter(minute == b), minute) for b in many["bucket"].head(60)]
    )
    assert one_by_one["vw"].to_list() == many["vw"].head(60).to_list()
    # correctly rounded ticks / 10,000: the shortest repr has at most 4 decimals (no 14.536100000000001)
    assert all(len(repr(v).split(".")[1]) <= 4 for v in many["vw"])


def test_daily_rules_are_the_simulators(small_market):
    trades, day = _day_trades(small_market)
    daily = tr.vwap_from_parts([tr.vwap_parts(trades, tr.DAY_BUCKET, daily=True)])
    for row in daily.iter_rows(named=True):
        bar = small_market.daily_bar(row["ticker"], day)
        assert (row["v"], row["vw"]) == (bar["v"], bar["vw"])


def test_the_rules_do_not_import_the_simulator():
    code = "import sys, smallcaps_assets.stages.trade_rules; print('smallcaps_assets.sim' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""Event windows are half-open, ``[start, end)``: a print stamped exactly at the start is
downloaded, one stamped exactly at the end is not (the in-process market, through the client)."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest

from smallcaps_assets.polygon import connect
from smallcaps_assets.stages import windows as win


def _busy_ticker_day(market):
    day = market.sessions()[30]
    for p in market.tickers_on(day):
        trades = market.trades(p.ticker, day)
        if trades.height > 500:
            return p.ticker, day
    pytest.fail("the test market has no ticker with 500 prints on the day")


def _window_on(ticks: pl.DataFrame, symbol: str, day) -> win.EventWindow:
    """A window that starts on one print's timestamp and ends exactly on a later print's."""
    stamps = ticks["sip_timestamp"].unique().sort()
    start, end = int(stamps[len(stamps) // 3]), int(stamps[len(stamps) // 3 + 200])
    return win.EventWindow("e1", symbol, day, start, end)


def _fetch(config, window):
    async def go():
        async with connect(sim_config=config, rate_limit_per_s=1000) as client:
            return await win.fetch_window(client, window)

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["trades", "quotes"])
def test_a_print_at_the_windows_end_is_left_out_and_one_at_its_start_kept(small_market, small_config, kind):
    symbol, day = _busy_ticker_day(small_market)
    ticks = small_market.trades(symbol, day) if kind == "trades" else small_market.quotes(symbol, day)
    w = _window_on(ticks, symbol, day)
    sip = pl.col("sip_timestamp")
    assert ticks.filter(sip == w.end_ns).height >= 1, "a print must sit exactly on the end"
    expected = ticks.filter((sip >= w.start_ns) & (sip < w.end_ns))
    result = _fetch(small_config, w)
    if kind == "trades":
        got = result.trades["sip_timestamp"].dt.epoch("ns")
        assert got.len() == expected.height
    else:
        got = result.quotes["sip_timestamp"].dt.epoch("ns")
        assert result.raw_quotes == expected.height
    assert got.max() < w.end_ns
    assert got.min() == w.start_ns

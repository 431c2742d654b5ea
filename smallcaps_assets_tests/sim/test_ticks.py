"""The tape's exact output, pinned: a refactor or a speed-up of ``sim/ticks.py`` (or the modules it
was split into) must leave every trade, quote and bar of a symbol-day identical, digit for digit.

The digests were taken before ``sim/ticks.py`` was split in two. A change that is *meant* to change the
tape updates them in the same commit and says why; any other change that moves them is a bug.

Changed on purpose once since: the planted order flow (issue #12) leans the ask share of the catalyst
day's prints in the minutes before its trigger, so that day's trades and bars moved (its quotes, the
ordinary day and the busiest window did not).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.sim import SimMarket

# Symbol-days of the small market (seed 11): a median catalyst day (by planned volume) whole, an
# ordinary day of the same name, and 09:30-09:40 ET of the busiest catalyst day, where the per-minute
# print cap binds (one billion shares; the window alone is tens of thousands of rows).
CASES = {
    "catalyst": ("GVTS", dt.date(2024, 2, 9), None),
    "ordinary": ("GVTS", dt.date(2024, 2, 12), None),
    "busiest_window": ("HK", dt.date(2024, 1, 19), (dt.time(9, 30), dt.time(9, 40))),
}
DIGESTS = {
    ("catalyst", "trades"): "025838b0cd3968346f48f9bcb5bf7db2a559442d0a48a6f0a027e42c74ca2334",
    ("catalyst", "quotes"): "a8de1af60318594175c90213a752f48723bd3473e05267f282671398a2e4826e",
    ("catalyst", "minute_bars"): "6bf7bea644a58d7f25a650248f9253ab49c9c949663aa70528fa9066982f8867",
    ("ordinary", "trades"): "0f8c61358fef4be284dc36e8a0dc5acfd688e4db4f63f8753008d4407d6bdd98",
    ("ordinary", "quotes"): "98c46fb844d20778dece9e77fb4d410de5ec468950e53fe5f1d08767e744cb46",
    ("ordinary", "minute_bars"): "4047ae3a963eabf49eaa56a205c9fa8d292c50b129d8834b11a7dccca3fcfc8c",
    ("busiest_window", "trades"): "5085f3a65312f0d01ae249b0193218a49c2d73a18c1a714fab1f978197e290f9",
    ("busiest_window", "quotes"): "1a91aaa69cb82733b32b3530069f00c3335e3d10c1cecc4d0f88f1fb2c2844cd",
}


def digest(frame: pl.DataFrame) -> str:
    """sha256 of the values in a canonical text form (column names and Python reprs, in row order),
    independent of the Parquet/Arrow writer's version."""
    h = hashlib.sha256()
    for name in frame.columns:
        h.update(f"{name}:{frame.schema[name]}\n".encode())
        h.update(repr(frame.get_column(name).to_list()).encode())
    return h.hexdigest()


def tape(market: SimMarket, case: str, kind: str) -> pl.DataFrame:
    ticker, day, window = CASES[case]
    if kind == "minute_bars":
        return market.minute_bars(ticker, day)
    fetch = market.trades if kind == "trades" else market.quotes
    if window is None:
        return fetch(ticker, day)
    lo, hi = (int(dt.datetime.combine(day, t, tzinfo=cal.NY).timestamp()) * 10**9 for t in window)
    return fetch(ticker, day, lo, hi - 1)


@pytest.mark.parametrize("case", sorted(DIGESTS), ids="-".join)
def test_a_symbol_days_tape_is_unchanged(small_market, case):
    frame = tape(small_market, *case)
    assert frame.height > 0
    assert digest(frame) == DIGESTS[case]

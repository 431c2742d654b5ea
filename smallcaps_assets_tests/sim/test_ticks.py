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


def test_fast_draw_forms_equal_the_counter_draws():
    """The per-print fast paths (linear counters, in-place mixing, slot views, integer cut-offs and
    16-bit tables) give exactly what ``bits64(key, ctr(...))``, ``u16`` and ``u32`` give."""
    import numpy as np

    from smallcaps_assets.sim import structure as s
    from smallcaps_assets.sim.rng import bits64

    key = 0xDEADBEEF12345678
    minutes = np.array([3, 7, 300, 959])
    counts = np.array([5, 0, 3000, 17])
    k = np.concatenate([np.arange(c) for c in counts])
    m = np.repeat(minutes, counts)
    for field in (0, 1, 3, 5):
        assert np.array_equal(
            s.mix(s.minute_counters(key, minutes, counts, k, field)), bits64(key, s.ctr(m, k, field))
        )
    h = bits64(key, np.random.default_rng(1).integers(0, 2**40, 5000).astype(np.uint64))
    for slot in range(4):
        assert np.array_equal(s.slots16(h)[:, slot].astype(np.int64), s.i16(h, slot))
    assert np.array_equal(s.u32_of(s.low32(h)), s.u32(h, 0))
    every = np.arange(65536, dtype=np.uint64)
    for rate in (0.0, 0.5 / 65536, 1.5 / 65536, 0.0004, 0.15, 0.3, 0.5, 0.9999, 1.0):
        assert np.array_equal(s.u16(every, 0) < rate, every < s.u16_cut(rate)), rate
    near = np.arange(1717980 - 5, 1717980 + 5, dtype=np.uint64)  # around 0.0004 * 2**32
    for rate in (0.0004, 0.0005, 0.0104):
        wide = np.concatenate([np.arange(0, 2**32, 9973, dtype=np.uint64), near])
        assert np.array_equal(s.u32(wide, 0) < rate, wide < s.u32_cut(rate)), rate
    assert np.array_equal(
        s.u16_table(lambda u: (u * 13).astype(np.int64)), (s.u16(every, 0) * 13).astype(np.int64)
    )
    # The cut-off really is the boundary: one less admits fewer values.
    assert (every < s.u16_cut(0.3) - 1).sum() < (s.u16(every, 0) < 0.3).sum()


def test_a_windows_trades_and_quotes_share_its_structure(small_market):
    """Trades then quotes of one window on one market build the window's structure once, and give the
    frames a market without the shared cache gives."""
    from smallcaps_assets.sim import ticks

    ticker, day, window = CASES["busiest_window"]
    lo, hi = (int(dt.datetime.combine(day, t, tzinfo=cal.NY).timestamp()) * 10**9 for t in window)
    fresh = SimMarket(small_market.config)
    calls = []
    real = ticks._parts
    ticks._parts = lambda *a: calls.append(a[3]) or real(*a)
    try:
        tr, qu = fresh.trades(ticker, day, lo, hi - 1), fresh.quotes(ticker, day, lo, hi - 1)
    finally:
        ticks._parts = real
    assert len(calls) == 1 and len(calls[0]) == 10
    cfg, p, plan = fresh.config, fresh.profile(ticker), fresh.day_plan(ticker, day)
    assert tr.equals(ticks.trades(cfg, p, plan, lo, hi - 1))
    assert qu.equals(ticks.quotes(cfg, p, plan, lo, hi - 1))

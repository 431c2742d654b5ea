"""The issue's hand-built cases: SSR refuses the bid, a stop inside a halt exits at the reopen, no
fill reads a price from before ts + latency (with a leaky variant the check catches)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.backtest.fills import FillParams, day_fills
from smallcaps_assets.stages.labels import _walk, barrier_walk_matrix

from .cases import DAY, at, bars, flat_bars, quotes, signals, ssr

NO_SPREAD = FillParams(half_spread=0.0)


def _one(frame: pl.DataFrame, eid: str) -> dict:
    return frame.filter(pl.col("event_id") == eid).row(0, named=True)


def test_a_short_under_ssr_is_refused_at_the_bid_and_filled_only_above_it():
    b = flat_bars((9, 30), 120)
    sig = signals([("e1", "AAA", at(10, 0), -1, 0.05)])
    book = [(at(10, 0, 2), 10.00, 10.02), (at(10, 0, 10), 10.00, 10.02), (at(10, 0, 20), 10.01, 10.03)]
    free = _one(day_fills(DAY, sig, b, quotes("e1", book), ssr(active=False)), "e1")
    assert free["entry_price"] == 10.00 and free["entry_ts"] == at(10, 0, 2)  # no SSR: hits the bid
    under = _one(day_fills(DAY, sig, b, quotes("e1", book), ssr()), "e1")
    assert under["ssr_active"] and under["refused"] is None
    # One tick above the bid it saw, filled when the bid came up to it, 18 s later.
    assert under["entry_price"] == pytest.approx(10.01) and under["entry_price"] > 10.00
    assert under["entry_ts"] == at(10, 0, 20)
    # A bid that never reaches the limit: no fill at all, never at the bid.
    stuck = _one(day_fills(DAY, sig, b, quotes("e1", book[:2]), ssr()), "e1")
    assert stuck["refused"] == "ssr" and stuck["entry_price"] is None
    # Longs are not restricted.
    long = _one(
        day_fills(DAY, sig.with_columns(side=pl.lit(1, pl.Int64)), b, quotes("e1", book), ssr()), "e1"
    )
    assert long["entry_price"] == 10.02 and long["entry_ts"] == at(10, 0, 2)


def test_an_ssr_short_from_the_bars_fills_a_tick_above_the_estimated_bid_or_not_at_all():
    b = bars([(10, 1, 10.0, 10.0, 9.9, 9.95), (10, 2, 9.9, 10.2, 9.9, 10.1)])
    sig = signals([("e1", "AAA", at(10, 0, 30), -1, 0.05)])
    # No spread: the bid is the open (10.00), the limit 10.01; the minute never traded above it.
    got = _one(day_fills(DAY, sig, b, None, ssr(), NO_SPREAD), "e1")
    assert got["refused"] == "ssr"
    b2 = b.with_columns(high=pl.Series([10.5, 10.2]))
    got = _one(day_fills(DAY, sig, b2, None, ssr(), NO_SPREAD), "e1")
    assert got["entry_price"] == pytest.approx(10.01) and got["entry_ts"] == at(10, 1)
    # With a 1% half-spread the estimated bid is 9.90: the short sells at 9.91, never at 9.90.
    got = _one(day_fills(DAY, sig, b, None, ssr(), FillParams(half_spread=0.01)), "e1")
    assert got["entry_price"] == pytest.approx(9.91)
    free = _one(day_fills(DAY, sig, b, None, None, FillParams(half_spread=0.01)), "e1")
    assert free["entry_price"] == pytest.approx(9.90)


def test_no_short_below_the_minimum_price():
    b = flat_bars((9, 30), 60, price=0.80)
    got = _one(day_fills(DAY, signals([("e1", "AAA", at(9, 40), -1, 0.05)]), b), "e1")
    assert got["refused"] == "short_under_min_price"
    ok = day_fills(DAY, signals([("e1", "AAA", at(9, 40), -1, 0.05)]), b, p=FillParams(min_short_price=0.5))
    assert _one(ok, "e1")["refused"] is None


def _halted_bars() -> pl.DataFrame:
    # A long fills at 10:01's open 10.00; stop 9.50, profit 10.50 (vol 5%). The name pauses after
    # 10:02 and reopens at 10:10 at 9.00, through the stop.
    return bars(
        [
            (10, 0, 10.0, 10.0, 10.0, 10.0),
            (10, 1, 10.0, 10.1, 9.9, 9.9),
            (10, 2, 9.9, 9.9, 9.8, 9.8),
            (10, 10, 9.0, 9.2, 8.9, 9.1),
            (10, 11, 9.1, 9.2, 9.0, 9.1),
        ]
    )


def test_a_stop_inside_a_halt_exits_at_the_reopen():
    sig = signals([("e1", "AAA", at(10, 0, 30), 1, 0.05)])
    got = _one(day_fills(DAY, sig, _halted_bars(), p=NO_SPREAD), "e1")
    assert got["entry_price"] == 10.0 and got["entry_ts"] == at(10, 1)
    assert got["exit_reason"] == "sl"
    assert got["exit_price"] == 9.0  # the reopening price, not the 9.50 stop
    assert got["exit_ts"] == at(10, 10)


def test_an_order_sent_during_a_pause_fills_at_the_reopening():
    sig = signals([("e1", "AAA", at(10, 5), 1, 0.05)])
    got = _one(day_fills(DAY, sig, _halted_bars(), p=NO_SPREAD), "e1")
    assert got["entry_ts"] == at(10, 10) and got["entry_price"] == 9.0
    q = quotes("e1", [(at(10, 6), 8.9, 9.1), (at(10, 10, 5), 9.0, 9.05)])
    got = _one(day_fills(DAY, sig, _halted_bars(), q, p=NO_SPREAD), "e1")
    assert got["entry_ts"] == at(10, 10, 5) and got["entry_price"] == 9.05  # not the 10:06 quote


def test_a_time_exit_due_inside_a_pause_waits_for_the_reopening():
    sig = signals([("e1", "AAA", at(9, 59, 30), 1, 0.5)])  # barriers far away
    got = _one(day_fills(DAY, sig, _halted_bars(), p=FillParams(half_spread=0.0, vertical_minutes=5)), "e1")
    assert got["exit_reason"] == "pause_reopen" and got["exit_ts"] == at(10, 10) and got["exit_price"] == 9.0


def _early_fills(
    fills: pl.DataFrame, sig: pl.DataFrame, q: pl.DataFrame, b: pl.DataFrame, lat_s: float
) -> int:
    """Fills whose time or price comes from before the signal's ts + latency."""
    f = fills.filter(pl.col("refused").is_null()).join(sig.select("event_id", true_ts="ts"), on="event_id")
    early = f.filter(pl.col("entry_ts") < pl.col("true_ts") + dt.timedelta(seconds=lat_s)).height
    # The price must be the one published at the fill instant: the quote or the bar starting then.
    by_quote = f.filter(pl.col("entry_source") == "quote").join(
        q.select("event_id", entry_ts="sip_timestamp", ask="ask_price", bid="bid_price"),
        on=["event_id", "entry_ts"],
        how="left",
    )
    wrong_q = by_quote.filter(
        pl.col("entry_price") != pl.when(pl.col("side") > 0).then(pl.col("ask")).otherwise(pl.col("bid"))
    ).height
    by_bar = f.filter(pl.col("entry_source") == "bar").join(
        b.select("symbol", entry_ts="ts", bar_open="open"), on=["symbol", "entry_ts"], how="left"
    )
    wrong_b = by_bar.filter(
        (pl.col("entry_price") != pl.col("bar_open")) | pl.col("bar_open").is_null()
    ).height
    return early + wrong_q + wrong_b


def test_no_fill_uses_a_price_from_before_ts_plus_latency_and_a_leaky_variant_is_caught():
    rng = np.random.default_rng(3)
    # Prices that change every second, so a stale quote or bar cannot pass for the right one.
    b = bars(
        [
            (9 + (30 + i) // 60, (30 + i) % 60, 10 + i / 100, 10.5 + i / 100, 9.5 + i / 100, 10 + i / 100)
            for i in range(200)
        ]
    )
    secs = np.sort(rng.choice(np.arange(60, 150 * 60), 40, replace=False))
    rows = [
        (f"e{i:02d}", "AAA", at(9, 30) + dt.timedelta(seconds=int(s)), int(rng.choice([-1, 1])), 0.05)
        for i, s in enumerate(secs)
    ]
    sig = signals(rows)
    q = pl.concat(
        [
            quotes(
                eid, [(ts + dt.timedelta(seconds=k), 9.0 + k / 100, 9.5 + k / 100) for k in range(-30, 30, 3)]
            )
            for eid, _, ts, _, _ in rows[::2]  # half the events have a window
        ]
    )
    p = FillParams(half_spread=0.0, latency_seconds=2.0)
    fills = day_fills(DAY, sig, b, q, None, p)
    assert fills.filter(pl.col("refused").is_null()).height == 40
    assert set(fills["entry_source"]) == {"quote", "bar"}
    assert _early_fills(fills, sig, q, b, 2.0) == 0
    # Leaky: the engine is handed a signal time 5 s early (as a fill at ts - 5 s + latency would be).
    leaky = day_fills(DAY, sig.with_columns(pl.col("ts") - dt.timedelta(seconds=5)), b, q, None, p)
    assert _early_fills(leaky, sig, q, b, 2.0) > 0


def test_the_matrix_walk_follows_the_labels_walk():
    rng = np.random.default_rng(11)
    n, k = 300, 12
    c = 10 * np.exp(np.cumsum(rng.normal(0, 0.01, (n, k)), axis=1))
    o = c * np.exp(rng.normal(0, 0.01, (n, k)))
    h, lo = (
        np.maximum(o, c) * (1 + rng.random((n, k)) * 0.01),
        np.minimum(o, c) * (1 - rng.random((n, k)) * 0.01),
    )
    side = rng.choice([-1, 1], n)
    up, dn = 10 * (1 + rng.uniform(0.005, 0.05, n)), 10 * (1 - rng.uniform(0.005, 0.05, n))
    lens = rng.integers(1, k + 1, n)
    valid = np.arange(k)[None, :] < lens[:, None]
    hit, price, at_ = barrier_walk_matrix(o, h, lo, c, valid, side, up, dn)
    for i in range(n):
        m = lens[i]
        want = _walk(o[i, :m], h[i, :m], lo[i, :m], c[i, :m], side[i], up[i], dn[i], lambda _: None)
        assert (hit[i], price[i], at_[i]) == pytest.approx(want), i
    assert {"pt", "sl", "vertical"} <= set(hit)


def test_the_quote_book_orders_each_window_in_time_and_drops_quotes_inside_a_pause():
    """The per-day book the strategies share: an unordered window fills as the ordered one, two
    events' windows stay apart, and a quote inside a halt is never usable."""
    from smallcaps_assets.stages.backtest.fills import DayMarket, QuoteBook

    b = _halted_bars()
    e1 = [(at(10, 0, 40), 9.96, 9.99), (at(10, 0, 35), 9.97, 10.00), (at(10, 6), 8.9, 9.1)]
    e2 = [(at(10, 10, 5), 9.0, 9.05), (at(10, 10, 1), 8.98, 9.02)]
    q = pl.concat([quotes("e1", e1), quotes("e2", e2)])
    market = DayMarket.build(DAY, b, NO_SPREAD)
    book = QuoteBook.build(q, market.pauses).book
    assert sorted(book) == ["e1", "e2"]
    t, bid, ask = book["e1"]
    assert t.tolist() == pl.Series([at(10, 0, 35), at(10, 0, 40)]).dt.epoch("ns").to_list()
    assert bid.tolist() == [9.97, 9.96] and ask.tolist() == [10.00, 9.99]  # 10:06 is in the halt
    assert book["e2"][1].tolist() == [8.98, 9.0]
    sig = signals([("e1", "AAA", at(10, 0, 30), 1, 0.05), ("e2", "AAA", at(10, 5), 1, 0.05)])
    fills = day_fills(DAY, sig, market, QuoteBook.build(q, market.pauses), p=NO_SPREAD)
    assert fills.sort("event_id")["entry_price"].to_list() == [10.00, 9.02]
    assert fills.equals(day_fills(DAY, sig, b, q, p=NO_SPREAD))  # the book or the raw quotes: same fills

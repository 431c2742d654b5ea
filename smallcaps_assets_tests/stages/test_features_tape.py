"""Tape and quote features: exact values on a hand-built window, nulls without one, no look-ahead."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features import tape
from smallcaps_assets.stages.features.tape import TAPE_SCHEMA, TapeParams, tape_features
from smallcaps_assets.stages.windows import QUOTE_SCHEMA, TRADE_SCHEMA

NS = 1_000_000_000
T = int(dt.datetime(2026, 3, 2, 15, 0, tzinfo=dt.UTC).timestamp()) * NS  # E1's ts
ODD_LOT, AVERAGE_PRICE = 37, 2


def _trades(rows: list[tuple]) -> pl.DataFrame:
    """rows: (event_id, seconds from T, price, size, conditions, correction)."""
    frame = pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "symbol": "ABC",
            "sip_timestamp": [T + round(r[1] * NS) for r in rows],
            "sequence_number": list(range(len(rows))),
            "price": [float(r[2]) for r in rows],
            "size": [float(r[3]) for r in rows],
            "conditions": [r[4] for r in rows],
            "correction": [r[5] for r in rows],
        },
        schema_overrides={"sip_timestamp": pl.Int64, "conditions": pl.List(pl.Int32)},
    )
    return frame.with_columns(pl.col("sip_timestamp").cast(UTC_NS)).select(
        pl.col(c).cast(TRADE_SCHEMA[c]) if c in frame.columns else pl.lit(None, TRADE_SCHEMA[c]).alias(c)
        for c in TRADE_SCHEMA
    )


def _quotes(rows: list[tuple]) -> pl.DataFrame:
    """rows: (event_id, seconds from T, bid, bid_size, ask, ask_size)."""
    frame = pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "symbol": "ABC",
            "sip_timestamp": [T + round(r[1] * NS) for r in rows],
            "bid_price": [float(r[2]) for r in rows],
            "bid_size": [float(r[3]) for r in rows],
            "ask_price": [float(r[4]) for r in rows],
            "ask_size": [float(r[5]) for r in rows],
        },
        schema_overrides={"sip_timestamp": pl.Int64},
    ).with_columns(pl.col("sip_timestamp").cast(UTC_NS))
    frame = frame.with_columns(second=pl.col("sip_timestamp").dt.truncate("1s"))
    return frame.select(
        pl.col(c).cast(QUOTE_SCHEMA[c]) if c in frame.columns else pl.lit(None, QUOTE_SCHEMA[c]).alias(c)
        for c in QUOTE_SCHEMA
    )


def _events(ids_ts: list[tuple[str, int]], window_start: list[int | None] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame({"event_id": [e for e, _ in ids_ts], "ts": [t for _, t in ids_ts]}).with_columns(
        pl.col("ts").cast(UTC_NS)
    )
    if window_start is not None:
        frame = frame.with_columns(window_start=pl.Series(window_start, dtype=pl.Int64).cast(UTC_NS))
    return frame


# E1: every rule once. E2: a window with one quote before ts and trades only after. E3: no window.
QUOTES = _quotes(
    [
        ("E1", -400, 9.00, 100, 9.50, 100),  # before the lookback: spread/imbalance means skip it
        ("E1", -170, 10.00, 300, 10.10, 100),  # q1: mid 10.05
        ("E1", -100, 10.00, 100, 10.00, 100),  # q2: locked
        ("E1", -90, 0.00, 0, 10.20, 100),  # q3: one-sided
        ("E1", -50, 10.00, 100, 10.20, 300),  # q4: mid 10.10
        ("E1", -10, 10.10, 200, 10.20, 200),  # q5: the NBBO standing at ts
        ("E1", 0, 50.00, 900, 60.00, 100),  # at ts: never read
        ("E1", 5, 1.00, 900, 2.00, 100),
        ("E2", -30, 4.00, 100, 4.02, 300),
    ]
)
TRADES = _trades(
    [
        ("E1", -350, 9.40, 100, [], 0),  # tA: before the lookback, the tick rule's first price
        ("E1", -160, 10.09, 200, [], 0),  # t1: above q1's mid -> buy by quote
        ("E1", -140, 10.01, 300, [14], 0),  # t2: below -> sell by quote (ISO is price-eligible)
        ("E1", -120, 10.05, 100, [], 0),  # t3: at the mid -> tick rule, up from 10.01 -> buy
        ("E1", -95, 10.05, 50, [ODD_LOT], 0),  # t4: odd lot: counted, not priced
        ("E1", -55, 10.05, 100, [], 0),  # t5: q3 one-sided -> tick: zero tick carries buy
        ("E1", -50, 10.04, 15_000, [], 0),  # t6: same stamp as q4 -> q3 stands -> tick: sell; large
        ("E1", -30, 10.15, 2_000, [], 0),  # t7: above q4's mid -> buy by quote
        ("E1", -20, 10.10, 9_000, [], 0),  # t8: at q4's mid -> tick: down -> sell
        ("E1", -15, 30.00, 5_000, [AVERAGE_PRICE], 0),  # average price: volume only, not priced
        ("E1", -5, 10.12, 100, [], 1),  # corrected: feeds nothing
        ("E1", 0, 99.00, 1_000_000, [], 0),  # at ts: never read
        ("E1", 30, 1.00, 100, [], 0),
        ("E2", 10, 4.01, 100, [], 0),
    ]
)
EVENTS = _events([("E1", T), ("E2", T), ("E3", T)])


def _spread(bid: float, ask: float) -> float:
    return (ask - bid) / ((bid + ask) / 2) * 1e4


def _row(frame: pl.DataFrame, event_id: str) -> dict:
    rows = frame.filter(pl.col("event_id") == event_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def test_every_feature_of_a_hand_built_window():
    e1 = _row(tape_features(EVENTS, TRADES, QUOTES), "E1")
    spreads = [_spread(10.00, 10.10), _spread(10.00, 10.20), _spread(10.10, 10.20)]
    assert e1["quote_spread_mean_bps"] == pytest.approx(sum(spreads) / 3)
    assert e1["quote_spread_median_bps"] == pytest.approx(_spread(10.00, 10.10))
    assert e1["quote_spread_at_event_bps"] == pytest.approx(_spread(10.10, 10.20))
    assert (e1["quote_crossed_locked_count"], e1["quote_one_sided_count"]) == (1, 1)
    assert e1["quote_imbalance_at_event_ratio"] == pytest.approx(0.0)
    assert e1["quote_imbalance_mean_ratio"] == pytest.approx((0.5 - 0.5 + 0.0) / 3)
    # priced trades of the lookback: t1 +200, t2 -300, t3 +100, t5 +100, t6 -15000, t7 +2000, t8 -9000
    assert e1["tape_trade_imbalance_ratio"] == pytest.approx(-21_900 / 26_700)
    # counted, not weighted: four small buys against three sells, two of them blocks
    assert e1["tape_trade_count_imbalance_ratio"] == pytest.approx((4 - 3) / 7)
    assert e1["tape_quote_signed_pct"] == pytest.approx(100 * 3 / 7)  # t1, t2, t7
    # counted prints: [ts-60 s, ts): t5 t6 t7 t8 avg-price = 5; [ts-120 s, ts-60 s): t3 t4 = 2
    assert e1["tape_speed_tps"] == pytest.approx(5 / 60)
    assert e1["tape_speed_change_tps"] == pytest.approx(5 / 60 - 2 / 60)
    counted_volume = 200 + 300 + 100 + 50 + 100 + 15_000 + 2_000 + 9_000 + 5_000
    assert e1["tape_large_print_volume_pct"] == pytest.approx(100 * 15_000 / counted_volume)
    assert e1["tape_odd_lot_print_pct"] == pytest.approx(100 * 1 / 9)
    # 10-second grid from t1's bucket (15: [ts-160 s, ts-150 s)) to bucket 0, prices carried forward
    last = {15: 10.09, 13: 10.01, 11: 10.05, 5: 10.05, 4: 10.04, 2: 10.15, 1: 10.10}
    grid, price = [], None
    for bucket in range(15, -1, -1):
        price = last.get(bucket, price)
        grid.append(price)
    expected = float(np.std(np.diff(np.log(grid)), ddof=1) * 1e4)
    assert len(grid) == 16
    assert e1["tape_realised_vol_10s_bps"] == pytest.approx(expected, rel=1e-9)
    # q5 at ts-10 s is the latest row used (the corrected print at ts-5 s feeds nothing)
    assert e1["tape_input_ts"] == dt.datetime(2026, 3, 2, 14, 59, 50, tzinfo=dt.UTC)


def test_a_window_without_trades_before_ts_and_an_event_without_a_window():
    out = tape_features(EVENTS, TRADES, QUOTES)
    e2, e3 = _row(out, "E2"), _row(out, "E3")
    assert e2["quote_spread_at_event_bps"] == pytest.approx(_spread(4.00, 4.02))
    assert e2["quote_imbalance_at_event_ratio"] == pytest.approx(-0.5)
    # a window with no print in the last two minutes trades at 0/s: a true zero
    assert (e2["tape_speed_tps"], e2["tape_speed_change_tps"]) == (0.0, 0.0)
    assert (e2["quote_crossed_locked_count"], e2["quote_one_sided_count"]) == (0, 0)
    for col in ("tape_trade_imbalance_ratio", "tape_large_print_volume_pct", "tape_realised_vol_10s_bps"):
        assert e2[col] is None
    assert e2["tape_input_ts"] == dt.datetime(2026, 3, 2, 14, 59, 30, tzinfo=dt.UTC)
    # no window: every feature null, never zero
    assert all(v is None for k, v in e3.items() if k != "event_id")


def test_one_row_per_event_in_order_with_the_family_schema():
    events = _events([("E3", T), ("E1", T), ("E9", T + NS), ("E2", T)])
    out = tape_features(events, TRADES, QUOTES)
    assert out["event_id"].to_list() == ["E3", "E1", "E9", "E2"]
    assert out.schema == pl.Schema(TAPE_SCHEMA)
    with pytest.raises(ValueError, match="once"):
        tape_features(pl.concat([events, events.head(1)]), TRADES, QUOTES)
    empty = tape_features(events, TRADES.clear(), QUOTES.clear())
    assert empty.height == 4 and empty.drop("event_id").null_count().row(0) == (4,) * (len(TAPE_SCHEMA) - 1)


def test_the_window_start_cuts_the_lookback_and_the_speed_minutes():
    out = tape_features(_events([("E1", T)], [T - 100 * NS]), TRADES, QUOTES)
    e1 = _row(out, "E1")
    assert e1["quote_crossed_locked_count"] == 1  # q2 at the window's start is in
    assert e1["quote_spread_mean_bps"] == pytest.approx((_spread(10.00, 10.20) + _spread(10.10, 10.20)) / 2)
    assert e1["tape_speed_change_tps"] == pytest.approx(5 / 60 - 1 / 40)  # t4 in the 40 s covered
    late = _row(tape_features(_events([("E1", T)], [T - 30 * NS]), TRADES, QUOTES), "E1")
    assert late["tape_speed_tps"] == pytest.approx(3 / 30)  # t7, t8, average price
    assert late["tape_speed_change_tps"] is None  # the prior minute is not covered at all


def test_large_prints_by_shares_or_by_notional():
    def large(**kw: float) -> float:
        return _row(tape_features(EVENTS, TRADES, QUOTES, TapeParams(**kw)), "E1")[
            "tape_large_print_volume_pct"
        ]

    by_shares = large()
    assert by_shares == pytest.approx(large(large_print_shares=1e9, large_print_usd=150_500))  # t6: $150.6k
    assert large(large_print_shares=1e9, large_print_usd=1e12) == 0.0
    with pytest.raises(ValueError):
        TapeParams(lookback_s=0)


# --------------------------------------------------------------------------- no look-ahead
def _random_windows(n: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``n`` windows of [ts - 3 min, ts + 7 min), each with a trade and a quote exactly at ts."""
    rng = np.random.default_rng(seed)
    trades, quotes, events = [], [], []
    for i in range(n):
        eid, ts = f"R{i}", T + i * 997 * NS
        events.append((eid, ts))
        k = int(rng.integers(20, 80))
        secs = np.sort(np.r_[rng.uniform(-180, 420, k), 0.0])
        mid = 5 + np.cumsum(rng.normal(0, 0.01, k + 1))
        for s, m in zip(secs, mid, strict=True):
            size = float(rng.choice([50, 100, 300, 12_000]))
            conds = [ODD_LOT] if size < 100 else []
            trades.append(
                (eid, s + (ts - T) / NS, round(m + rng.choice([-0.01, 0, 0.01]), 4), size, conds, 0)
            )
            quotes.append(
                (
                    eid,
                    s + (ts - T) / NS - 0.3,
                    round(m - 0.01, 4) if rng.uniform() > 0.1 else 0.0,  # some one-sided
                    100 * rng.integers(1, 9),
                    round(m + 0.01, 4),
                    100 * rng.integers(1, 9),
                )
            )
        quotes.append((eid, (ts - T) / NS, 1.0, 100, 9.0, 100))  # exactly at ts
    # up and down events alternate, so the side-adjusted flow is covered by the look-ahead check
    directions = pl.Series("direction", [1 if i % 2 else -1 for i in range(n)], dtype=pl.Int64)
    return _events(events).with_columns(directions), _trades(trades), _quotes(quotes)


def _rewrite(frame: pl.DataFrame, events: pl.DataFrame, after: bool, seed: int) -> pl.DataFrame:
    """Every row at/after (``after``) or before ts gets other prices and sizes; a fifth is dropped."""
    rng = np.random.default_rng(seed)
    hit = frame.join(events.select("event_id", "ts"), on="event_id").select(
        (pl.col("sip_timestamp") >= pl.col("ts")) if after else (pl.col("sip_timestamp") < pl.col("ts"))
    )["sip_timestamp"]

    def scale() -> pl.Series:  # one draw per row and column: bid and ask move apart, some cross
        return pl.Series(rng.uniform(0.5, 2.0, frame.height))

    prices = [c for c in ("price", "bid_price", "ask_price") if c in frame.columns]
    sizes = [c for c in ("size", "bid_size", "ask_size") if c in frame.columns]
    out = frame.with_columns(
        *(pl.when(hit).then((pl.col(c) * scale()).round(4)).otherwise(c).alias(c) for c in prices),
        *(pl.when(hit).then((pl.col(c) * scale() * 3).round()).otherwise(c).alias(c) for c in sizes),
    )
    return out.filter(~(hit & pl.Series(rng.uniform(size=frame.height) < 0.2)))


def assert_no_lookahead(features) -> None:
    """Rewriting rows at/after ts leaves ``features`` unchanged; rewriting rows before ts changes
    every feature column for some event."""
    events, trades, quotes = _random_windows(60, seed=5)
    base = features(events, trades, quotes)
    after = features(events, _rewrite(trades, events, True, 1), _rewrite(quotes, events, True, 2))
    assert after.equals(base, null_equal=True), "a row at or after ts moved a feature"
    before = features(events, _rewrite(trades, events, False, 3), _rewrite(quotes, events, False, 4))
    for col in base.columns[1:]:
        assert not before[col].equals(base[col]), f"{col} ignores the rows before ts"


def test_rows_at_or_after_ts_are_never_read():
    assert_no_lookahead(tape_features)


@pytest.mark.parametrize(
    "condition",
    [pl.col("sip_timestamp") <= pl.col("ts"), pl.lit(True)],
    ids=["sip_at_ts_included", "whole_window"],
)
def test_the_look_ahead_check_catches_a_leaky_variant(monkeypatch, condition):
    monkeypatch.setattr(tape, "_readable", condition)  # what the function may read
    with pytest.raises(AssertionError, match="at or after ts"):
        assert_no_lookahead(tape_features)


def test_realised_vol_is_the_std_of_grid_returns():
    """Two prints 30 s apart: 3 returns on the 10 s grid (one non-zero)."""
    trades = _trades([("V", -35, 10.0, 100, [], 0), ("V", -5, 10.5, 100, [], 0)])
    out = _row(tape_features(_events([("V", T)]), trades, QUOTES.clear()), "V")
    r = [0.0, 0.0, math.log(10.5 / 10.0)]
    assert out["tape_realised_vol_10s_bps"] == pytest.approx(float(np.std(r, ddof=1) * 1e4))


def test_flow_in_direction_is_the_imbalance_signed_by_the_event_direction():
    """Selling before a down event reads as flow with the move (positive); without a direction
    column the feature is NULL, never a guess."""
    imbalance = -21_900 / 26_700  # E1's, asserted above
    for direction, expected in ((1, imbalance), (-1, -imbalance)):
        events = EVENTS.with_columns(direction=pl.lit(direction, pl.Int64))
        e1 = _row(tape_features(events, TRADES, QUOTES), "E1")
        assert e1["tape_flow_in_direction_ratio"] == pytest.approx(expected)
    assert _row(tape_features(EVENTS, TRADES, QUOTES), "E1")["tape_flow_in_direction_ratio"] is None


def test_count_flow_in_direction_is_the_count_imbalance_signed_by_the_event_direction():
    for direction in (1, -1):
        events = EVENTS.with_columns(direction=pl.lit(direction, pl.Int64))
        e1 = _row(tape_features(events, TRADES, QUOTES), "E1")
        assert e1["tape_flow_count_in_direction_ratio"] == pytest.approx(direction / 7)
    assert _row(tape_features(EVENTS, TRADES, QUOTES), "E1")["tape_flow_count_in_direction_ratio"] is None


def test_without_quotes_the_tick_rule_signs_and_the_first_print_stays_unsigned():
    trades = _trades(
        [
            ("K", -40, 5.00, 300, [], 0),  # no earlier price: unsigned, but in the volume
            ("K", -30, 5.01, 100, [], 0),  # up-tick: buy
            ("K", -20, 5.01, 200, [], 0),  # zero tick: carries the buy
            ("K", -10, 4.99, 400, [], 0),  # down-tick: sell
        ]
    )
    out = _row(tape_features(_events([("K", T)]), trades, QUOTES.clear()), "K")
    assert out["tape_trade_imbalance_ratio"] == pytest.approx((100 + 200 - 400) / 1000)
    assert out["tape_quote_signed_pct"] == 0.0
    assert out["quote_spread_at_event_bps"] is None and out["quote_crossed_locked_count"] == 0

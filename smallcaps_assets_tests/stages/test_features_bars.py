"""The bar/context feature family on hand-built bars (exact numbers) and its look-ahead test."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.bars import BAR_FEATURES, BarParams, bar_features, price_tier

from . import feature_cases as fc
from .event_cases import DAY, SYM, Bars, at

PRIOR = [dt.date(2024, 2, 26), dt.date(2024, 2, 27), dt.date(2024, 2, 28), dt.date(2024, 2, 29)]
PRIOR += [dt.date(2024, 3, 1), dt.date(2024, 3, 4)]


def day_bars() -> pl.DataFrame:
    b = Bars()
    b.add("07:00", 10.8, o=10.5, h=10.9, l=10.4, v=1000, vw=10.6)
    b.add("09:00", 10.9, o=10.8, h=11.0, l=10.7, v=2000, vw=10.85)
    b.add("09:30", 11.4, o=11.0, h=11.5, l=10.9, v=3000, vw=11.2)
    b.add("09:31", 11.5, o=11.4, h=11.6, l=11.2, v=4000, vw=11.45)
    b.add("09:33", 11.0, o=11.5, h=11.5, l=10.8, v=1000, vw=11.1)  # closes after the 09:32 event
    return b.frame()


def daily(split_today: float = 2.0, last_close: float = 5.0) -> pl.DataFrame:
    """Six prior sessions, each a true range of 0.5 around a close of 5 (raw); D's row carries a
    1-for-2 reverse split: in D's share units the prior close is 10 and ATR14 is 1.0."""
    rows = [
        {"date": d, "open": 5.0, "high": 5.25, "low": 4.75, "close": 5.0, "split_ratio": 1.0} for d in PRIOR
    ]
    rows[-1]["close"] = last_close
    rows.append(
        {"date": DAY, "open": 99.0, "high": 99.0, "low": 99.0, "close": 99.0, "split_ratio": split_today}
    )
    return pl.DataFrame(rows).with_columns(symbol=pl.lit(SYM), volume=pl.lit(1e6), vwap=pl.col("close"))


def universe(prior_close: float = 5.0) -> pl.DataFrame:
    return pl.DataFrame({"symbol": [SYM], "prior_close": [prior_close]})


def baseline(per_minute: float = 200.0, days: int = 20) -> pl.DataFrame:
    minutes = list(range(240, 1200))
    return pl.DataFrame(
        {
            "symbol": [SYM] * len(minutes),
            "minute_of_day": minutes,
            "vol_baseline": [per_minute] * len(minutes),
            "txn_baseline": [1.0] * len(minutes),
            "baseline_days": [days] * len(minutes),
        }
    )


def events(*rows: tuple[str, str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "ts": [at(r[2]) for r in rows],
            "session": [r[3] for r in rows],
        },
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS, "session": pl.String},
    )


def row(frame: pl.DataFrame, event_id: str) -> dict:
    return frame.filter(pl.col("event_id") == event_id).to_dicts()[0]


def test_every_feature_on_a_hand_built_day():
    ev = events(("rth", SYM, "09:32", "RTH"), ("pm", SYM, "08:00", "PM"))
    out = bar_features(ev, day_bars(), daily(), universe(), baseline=baseline())
    assert out.columns == ["event_id", *BAR_FEATURES] and out.schema["bars_input_ts"] == UTC_NS
    assert out["event_id"].to_list() == ["rth", "pm"]
    r = row(out, "rth")  # knowable: 07:00, 09:00, 09:30, 09:31 (the 09:33 bar is not)
    assert r["vwap_distance_pct"] == pytest.approx((11.5 / (111_700 / 10_000) - 1) * 100)
    assert r["vwap_rth_distance_pct"] == pytest.approx((11.5 / (79_400 / 7_000) - 1) * 100)
    assert r["rvol_tod_ratio"] == pytest.approx(10_000 / (200.0 * 332))  # 332 minutes from 04:00 to 09:32
    assert r["gap_pct"] == pytest.approx(10.0)  # open 11.0 vs prior close 5 x 2
    assert r["premarket_change_pct"] == pytest.approx(9.0)
    assert r["premarket_volume_shares"] == 3000.0
    assert r["premarket_high_distance_pct"] == pytest.approx((11.5 / 11.0 - 1) * 100)
    assert r["runup_from_open_pct"] == pytest.approx((11.5 / 11.0 - 1) * 100)
    assert r["move_from_prior_close_atr"] == pytest.approx(1.5)  # (11.5 - 10) / (0.5 x 2)
    assert r["hod_distance_pct"] == pytest.approx((11.5 / 11.6 - 1) * 100)
    assert r["lod_distance_pct"] == pytest.approx((11.5 / 10.4 - 1) * 100)
    assert r["minutes_since_open_min"] == 2.0
    assert (r["event_session"], r["price_tier"]) == ("RTH", "10-20")
    assert r["bars_input_ts"] == at("09:32")  # the 09:31 bar's close

    p = row(out, "pm")  # only the 07:00 bar is knowable
    assert p["vwap_distance_pct"] == pytest.approx((10.8 / 10.6 - 1) * 100)
    assert p["vwap_rth_distance_pct"] is None and p["gap_pct"] is None and p["runup_from_open_pct"] is None
    assert p["rvol_tod_ratio"] == pytest.approx(1000 / (200.0 * 240))
    assert p["premarket_change_pct"] == pytest.approx(8.0)
    assert p["premarket_volume_shares"] == 1000.0
    assert p["premarket_high_distance_pct"] == pytest.approx((10.8 / 10.9 - 1) * 100)
    assert p["move_from_prior_close_atr"] == pytest.approx(0.8)
    assert p["minutes_since_open_min"] == -90.0
    assert (p["event_session"], p["price_tier"]) == ("PM", "10-20")


def test_the_universe_prior_close_wins_and_the_daily_close_fills_in():
    ev = events(("e", SYM, "09:32", "RTH"))
    uni = bar_features(ev, day_bars(), daily(last_close=4.0), universe(5.5))
    assert row(uni, "e")["gap_pct"] == pytest.approx((11.0 / 11.0 - 1) * 100)  # 5.5 x 2
    fallback = bar_features(ev, day_bars(), daily(last_close=4.0), None)
    assert row(fallback, "e")["gap_pct"] == pytest.approx((11.0 / 8.0 - 1) * 100)  # 4.0 x 2


def test_missing_inputs_give_nulls_not_zeros():
    ev = events(("early", SYM, "04:01", "PM"), ("nobody", "ZZZZ", "10:00", "RTH"))
    out = bar_features(ev, day_bars(), None, None)  # no daily bars, universe or baseline
    for r in out.to_dicts():
        assert all(r[c] is None for c in BAR_FEATURES if c not in ("minutes_since_open_min", "event_session"))
    assert out["minutes_since_open_min"].to_list() == [-329.0, 30.0]
    few = bar_features(
        events(("e", SYM, "09:32", "RTH")), day_bars(), daily(), None, baseline=baseline(days=4)
    )
    assert row(few, "e")["rvol_tod_ratio"] is None  # 4 baseline days < min_baseline_days
    short = daily().filter(pl.col("date") >= PRIOR[3])  # three prior sessions < atr_min_sessions
    assert (
        row(bar_features(events(("e", SYM, "09:32", "RTH")), day_bars(), short, None), "e")[
            "move_from_prior_close_atr"
        ]
        is None
    )


def test_one_row_per_event_in_input_order_and_an_empty_input():
    d = fc.small_day(events=50)
    out = bar_features(
        d["events"], d["minute_bars"], d["daily_history"], d["universe"], baseline=d["baseline"]
    )
    assert out["event_id"].to_list() == d["events"]["event_id"].to_list()
    empty = bar_features(d["events"].clear(), d["minute_bars"], None, None)
    assert empty.height == 0 and empty.columns == ["event_id", *BAR_FEATURES]


def test_price_tiers_are_the_documented_buckets():
    prices = pl.Series([0.5, 1.0, 1.99, 2.0, 7.5, 10.0, 19.99, 20.0, None])
    got = pl.select(price_tier(pl.lit(prices), BarParams().price_tiers)).to_series().to_list()
    assert got == ["<1", "1-2", "1-2", "2-5", "5-10", "10-20", "10-20", ">=20", None]


def _family(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    return bar_features(
        ev, inputs["minute_bars"], inputs["daily_history"], inputs["universe"], baseline=inputs["baseline"]
    )


def _leaky(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    """Reads the bar that starts at ts (it closes a minute later): the look-ahead to catch."""
    later = ev.with_columns(pl.col("ts") + pl.duration(minutes=1, time_unit="ns"))
    return _family(later, inputs)


def test_no_look_ahead_rewrites_after_ts_change_nothing():
    d = fc.small_day(events=40)
    assert fc.changed_after(_family, d) == []
    with_input = _family(d["events"], d).filter(pl.col("bars_input_ts").is_not_null())["event_id"]
    assert with_input.len() >= 35
    assert set(with_input) <= set(fc.changed_before(_family, d))  # the comparison can fail
    assert (_family(d["events"], d)["bars_input_ts"] <= d["events"]["ts"]).all()


def test_the_look_ahead_test_catches_a_leaky_variant():
    d = fc.small_day(events=40)
    assert len(fc.changed_after(_leaky, d)) >= 20


def test_each_event_reads_its_own_day():
    """Two days of the same bars: running sums restart at 04:00 and D's daily bar becomes D+1's
    prior close (99 in the fixture), while D's events never read it."""
    nxt = dt.date(2024, 3, 6)
    both = pl.concat(
        [day_bars(), day_bars().with_columns(pl.col("ts") + pl.duration(days=1, time_unit="ns"))]
    )
    ev = pl.concat(
        [
            events(("d", SYM, "09:32", "RTH")),
            events(("d1", SYM, "09:32", "RTH")).with_columns(
                pl.col("ts") + pl.duration(days=1, time_unit="ns")
            ),
        ]
    )
    out = bar_features(ev, both, daily(), None)
    d, d1 = row(out, "d"), row(out, "d1")
    assert d["vwap_distance_pct"] == d1["vwap_distance_pct"]
    assert d["premarket_volume_shares"] == d1["premarket_volume_shares"] == 3000.0
    assert d["gap_pct"] == pytest.approx(10.0) and d1["gap_pct"] == pytest.approx((11.0 / 99.0 - 1) * 100)
    assert d1["bars_input_ts"] == at("09:32", nxt)


def test_rvol_tod_equals_the_detectors_rvol_so_far_on_the_offline_market(small_market):
    """Same baseline, floor and bars: at an event's own bar the two measures are one number."""
    from smallcaps_assets import calendar as cal
    from smallcaps_assets.bench.detect import sim_day
    from smallcaps_assets.stages.events import IntradayParams, baselines, detect_intraday, make_context

    day = dt.date(2024, 3, 14)
    tickers = [p.ticker for p in small_market.profiles() if p.is_small_cap_candidate][:25]
    bars = sim_day(small_market, day, tickers)
    base = baselines(pl.concat([sim_day(small_market, d, tickers) for d in cal.sessions_before(day, 5)]))
    prior = pl.DataFrame({"symbol": tickers, "prior_close": [10.0] * len(tickers)})
    ev = detect_intraday(bars, make_context(prior, base), IntradayParams(in_play={"enabled": False}))
    got = bar_features(ev, bars, None, None, baseline=base).join(ev, on="event_id")
    assert got.height == ev.height >= 50 and got["rvol_tod_ratio"].null_count() == 0
    assert (got["rvol_tod_ratio"] - got["rvol_so_far"]).abs().max() < 1e-9

"""The market-regime feature family: exact numbers from hand-built ETF bars, nulls, look-ahead."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import statistics

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.regime import REGIME_FEATURES, RegimeParams, regime_features

from . import feature_cases as fc
from .event_cases import DAY, at

PARAMS = RegimeParams(broad="AAA", small_cap="BBB")


def etf(symbol: str, closes: list[float], last_open: float, sessions: list[dt.date]) -> pl.DataFrame:
    """Closes on ``sessions`` (oldest first); each open is the previous close except the last one."""
    opens = [closes[0], *closes[:-1]]
    opens[-1] = last_open
    return pl.DataFrame(
        {
            "symbol": symbol,
            "date": sessions,
            "open": opens,
            "high": [max(o, c) for o, c in zip(opens, closes, strict=True)],
            "low": [min(o, c) for o, c in zip(opens, closes, strict=True)],
            "close": closes,
            "volume": 1e6,
            "split_ratio": 1.0,
        }
    )


def history() -> pl.DataFrame:
    """AAA: 21 closes 100..120 before DAY, the last session opening at 121; BBB: only 10 sessions;
    both have a wild bar on DAY itself, which must be ignored."""
    prior = cal.sessions_before(DAY, 21)
    today = [DAY]
    return pl.concat(
        [
            etf("AAA", [100.0 + i for i in range(21)], 121.0, prior),
            etf("BBB", [50.0 + i for i in range(10)], 58.0, prior[-10:]),
            etf("AAA", [999.0], 1.0, today),
            etf("BBB", [999.0], 1.0, today),
        ]
    )


def events(*times: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"event_id": [f"e{i}" for i in range(len(times))], "symbol": "XYZ", "ts": [at(t) for t in times]},
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS},
    )


def test_trend_gap_and_volatility_from_prior_sessions():
    out = regime_features(events("05:00", "10:00", "19:59"), history(), PARAMS)
    assert out.columns == ["event_id", *REGIME_FEATURES]
    closes = [100.0 + i for i in range(21)]
    rets = [math.log(b / a) for a, b in itertools.pairwise(closes)]
    for r in out.to_dicts():  # the same values for every event of the day
        assert r["regime_broad_trend_pct"] == pytest.approx((120.0 / statistics.mean(closes[1:]) - 1) * 100)
        assert r["regime_broad_gap_pct"] == pytest.approx((121.0 / 119.0 - 1) * 100)
        assert r["regime_broad_volatility_pct"] == pytest.approx(
            statistics.stdev(rets) * math.sqrt(252) * 100
        )
        # BBB: ten sessions give a gap but no 20-session trend or volatility
        assert r["regime_small_trend_pct"] is None and r["regime_small_volatility_pct"] is None
        assert r["regime_small_gap_pct"] == pytest.approx((58.0 / 58.0 - 1) * 100)
        assert r["regime_input_ts"] == cal.session(cal.previous_trading_day(DAY)).market_close


def test_missing_or_stale_etfs_give_nulls():
    out = regime_features(events("10:00"), history(), RegimeParams(broad="NOPE", small_cap="NONE"))
    assert all(v is None for k, v in out.to_dicts()[0].items() if k != "event_id")
    assert regime_features(events("10:00"), None, PARAMS)["regime_input_ts"].to_list() == [None]
    # the latest session missing: no overnight gap (the bars before it are not "the latest session")
    stale = history().filter(pl.col("date") != cal.previous_trading_day(DAY))
    assert regime_features(events("10:00"), stale, PARAMS)["regime_broad_gap_pct"].to_list() == [None]


def test_default_etfs_are_the_named_offline_ones():
    assert (RegimeParams().broad, RegimeParams().small_cap) == ("YXRN", "CRNN")


def _family(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    return regime_features(ev, inputs["daily_history"])


def _leaky(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    """Reads the event day's own daily bar (as if it were a day later): the look-ahead to catch."""
    return _family(ev.with_columns(pl.col("ts") + pl.duration(days=1, time_unit="ns")), inputs)


def test_no_look_ahead_and_a_leaky_variant_is_caught():
    d = fc.small_day(events=20)
    whole = _family(d["events"], d)
    assert whole.drop("event_id").null_count().sum_horizontal().item() == 0  # the synthetic ETFs have history
    assert fc.changed_after(_family, d) == []
    assert set(fc.changed_before(_family, d)) == set(d["events"]["event_id"])
    assert set(fc.changed_after(_leaky, d)) == set(d["events"]["event_id"])

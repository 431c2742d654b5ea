"""event_features, event by event: for many events of D, every input row stamped at or after the
event's ts is rewritten (bars, trades, quotes, later events, the SSR trigger, news) and the event's
features must not move; rewriting the last rows before ts must move them. A deliberately leaky
family (the day's high) shows the comparison can fail.

This runs the pure registry on D's inputs from the harness's base lake, one event at a time: the
day-level Dagster case in cases.py covers the asset's wiring, this covers each event's own cutoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.defs.features import feature_inputs
from smallcaps_assets.stages import features as feat
from smallcaps_assets.stages.events.schema import UTC_NS

MINUTE = dt.timedelta(minutes=1)
EVENTS_CHECKED = 40


def _scale_after(frame, time_col, cutoff, cols, factor, *, knowable_after=dt.timedelta(0)):
    """``frame`` with ``cols`` x factor on rows known at or after ``cutoff`` (a row stamped t is
    known at t + knowable_after)."""
    if frame is None:
        return None
    late = (pl.col(time_col) + knowable_after) > cutoff if knowable_after else pl.col(time_col) >= cutoff
    present = [c for c in cols if c in frame.columns]
    return frame.with_columns(
        [pl.when(late).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c) for c in present]
    )


def future_rewritten(inputs: feat.FeatureInputs, ts: dt.datetime) -> feat.FeatureInputs:
    """Every input row not yet known at ``ts``, rewritten so that reading it would show."""
    bars = _scale_after(
        inputs.minute_bars, "ts", ts, ["open", "high", "low", "close", "vwap"], 1.37, knowable_after=MINUTE
    )
    bars = _scale_after(bars, "ts", ts, ["volume"], 5.0, knowable_after=MINUTE)
    trades = _scale_after(inputs.trades, "sip_timestamp", ts, ["price"], 1.37)
    trades = _scale_after(trades, "sip_timestamp", ts, ["size"], 5.0)
    quotes = _scale_after(inputs.quotes, "sip_timestamp", ts, ["bid_price", "ask_price"], 1.37)
    quotes = _scale_after(quotes, "sip_timestamp", ts, ["bid_size", "ask_size"], 5.0)
    later = pl.col("ts") > ts
    events = inputs.events.with_columns(
        strength=pl.when(later).then(pl.col("strength") * 3).otherwise(pl.col("strength")),
        event_type=pl.when(later).then(pl.lit("flush")).otherwise(pl.col("event_type")),
    )
    ssr = inputs.ssr_status
    if ssr is not None:
        # A trigger after ts moves to one nanosecond after ts: still in the future.
        soon = pl.lit(ts, dtype=UTC_NS) + pl.duration(nanoseconds=1)
        moved = pl.col("triggered_at") > ts
        ssr = ssr.with_columns(
            active_from=pl.when(moved & (pl.col("active_from") == pl.col("triggered_at")))
            .then(soon)
            .otherwise(pl.col("active_from")),
            triggered_at=pl.when(moved).then(soon).otherwise(pl.col("triggered_at")),
        )
    news = inputs.news
    if news is not None and "published_utc" in news.columns:
        news = pl.concat([news, news.filter(pl.col("published_utc") >= ts)], how="vertical_relaxed")
    return dataclasses.replace(
        inputs, minute_bars=bars, trades=trades, quotes=quotes, events=events, ssr_status=ssr, news=news
    )


def last_bar_rewritten(inputs: feat.FeatureInputs, symbol: str, ts: dt.datetime) -> feat.FeatureInputs:
    """The symbol's last bar known at ts (start = ts - 1 min): close and high x1.37, volume x5."""
    last = (pl.col("symbol") == symbol) & (pl.col("ts") == ts - MINUTE)
    bars = inputs.minute_bars.with_columns(
        close=pl.when(last).then(pl.col("close") * 1.37).otherwise(pl.col("close")),
        high=pl.when(last).then(pl.col("high") * 1.37).otherwise(pl.col("high")),
        volume=pl.when(last).then(pl.col("volume") * 5).otherwise(pl.col("volume")),
    )
    return dataclasses.replace(inputs, minute_bars=bars)


def _row(inputs: feat.FeatureInputs, event_id: str, families=feat.FAMILIES) -> pl.DataFrame:
    return feat.build_features(inputs, families).filter(pl.col("event_id") == event_id)


@pytest.fixture(scope="module")
def d_inputs(lookahead) -> feat.FeatureInputs:
    inputs = feature_inputs(lookahead.day, lookahead.base)
    assert inputs.events.height >= 10, "D has too few events for a per-event test"
    return inputs


def _sample(inputs: feat.FeatureInputs) -> list[tuple[str, str, dt.datetime]]:
    ev = inputs.events.sort("ts")
    step = max(1, ev.height // EVENTS_CHECKED)
    return list(ev.select("event_id", "symbol", "ts").gather_every(step).iter_rows())


def test_rewriting_everything_from_ts_on_leaves_each_event_unchanged(d_inputs):
    base = feat.build_features(d_inputs)
    checked = 0
    for event_id, _symbol, ts in _sample(d_inputs):
        after = _row(future_rewritten(d_inputs, ts), event_id)
        before = base.filter(pl.col("event_id") == event_id)
        assert after.equals(before, null_equal=True), (
            f"{event_id} at {ts} moved when its future was rewritten"
        )
        checked += 1
    assert checked >= min(EVENTS_CHECKED, d_inputs.events.height) // 2


def test_rewriting_the_last_bar_before_ts_changes_features(d_inputs):
    base = feat.build_features(d_inputs)
    moved = 0
    for event_id, symbol, ts in _sample(d_inputs):
        after = _row(last_bar_rewritten(d_inputs, symbol, ts), event_id)
        moved += not after.equals(base.filter(pl.col("event_id") == event_id), null_equal=True)
    assert moved >= 1, "no feature reads the last bar before ts: the rewrites prove nothing"


def _leaky(inputs: feat.FeatureInputs) -> pl.DataFrame:
    """Reads the whole day's high: look-ahead for every event but the day's last."""
    day_high = inputs.minute_bars.group_by("symbol").agg(day_high=pl.col("high").max())
    return (
        inputs.events.select("event_id", "symbol", "ts")
        .join(day_high, on="symbol", how="left")
        .select("event_id", leak_day_high="day_high", leak_input_ts=pl.col("ts"))
    )


def test_a_leaky_family_is_caught(d_inputs):
    families = (*feat.FAMILIES, feat.Family("leak", _leaky))
    caught = 0
    for event_id, _symbol, ts in _sample(d_inputs):
        before = _row(d_inputs, event_id, families)
        after = _row(future_rewritten(d_inputs, ts), event_id, families)
        caught += not after.equals(before, null_equal=True)
    assert caught >= 1


def test_the_registry_builds_exactly_the_contract(d_inputs):
    """On a real day: the families' columns and dtypes, in order, are FEATURE_SCHEMA's."""
    from smallcaps_assets.stages.features.schema import FEATURE_SCHEMA

    assert dict(feat.build_features(d_inputs).schema) == FEATURE_SCHEMA


def test_a_healthy_day_passes_every_feature_gate(d_inputs):
    from smallcaps_assets.stages import features_quality as fq

    frame = feat.build_features(d_inputs)
    windowed = set(d_inputs.trades["event_id"].unique().to_list())
    assert windowed, "D has no downloaded window: the tape features go untested"
    results = fq.feature_gates(frame, d_inputs.events["event_id"], windowed, "tape_input_ts")
    assert [r.name for r in results if not r.passed] == []
    tape = frame.filter(pl.col("event_id").is_in(list(windowed)))
    assert tape["quote_spread_mean_bps"].is_not_null().mean() >= 0.9
    assert frame.filter(~pl.col("event_id").is_in(list(windowed)))["tape_input_ts"].null_count() == (
        frame.height - tape.height
    )
    # Bars features exist for every event (each has bars before its ts).
    assert frame["bars_input_ts"].null_count() == 0

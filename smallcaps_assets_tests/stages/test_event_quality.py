"""The event quality checklist: a balanced window passes, each kind of skew fails its rule."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages.event_quality import ERROR_RULES, Checklist, checklist, partition_rules

DAYS = cal.trading_days(dt.date(2024, 1, 2), dt.date(2024, 3, 28))[:40]
TYPES = ["volume_spike", "vwap_break", "hod_break", "flush"]


def _balanced() -> pl.DataFrame:
    rows = []
    for i, day in enumerate(DAYS):
        for j in range(8):
            rows.append(
                {
                    "date": day,
                    "symbol": f"S{(i * 8 + j) % 60:02d}",
                    "event_type": TYPES[j % 4],
                    "session": "RTH" if j % 4 else "PM",
                }
            )
    return pl.DataFrame(rows)


def _by_name(frame: pl.DataFrame):
    return {g.name: g for g in checklist(frame)}


def test_a_balanced_window_passes_every_rule():
    gates = _by_name(_balanced())
    assert all(g.passed for g in gates.values()), {n: g.figures for n, g in gates.items() if not g.passed}
    assert gates["events_type_balance"].figures["top_type_share"] == 0.25
    assert gates["events_session_mix"].figures["rth_share"] == 0.75


def test_type_skew_fails_the_type_balance():
    skewed = _balanced().with_columns(
        event_type=pl.when(pl.int_range(pl.len()) % 10 < 7).then(pl.lit("vwap_break")).otherwise("event_type")
    )
    gate = _by_name(skewed)["events_type_balance"]
    assert not gate.passed and gate.figures["top_type"] == "vwap_break"
    assert "events_type_balance" in ERROR_RULES


def test_session_skew_fails_the_session_mix():
    assert not _by_name(_balanced().with_columns(session=pl.lit("AH")))["events_session_mix"].passed
    assert not _by_name(_balanced().with_columns(session=pl.lit("RTH")))["events_session_mix"].passed


def test_concentration_fails_the_symbol_rule():
    skewed = _balanced().with_columns(
        symbol=pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.lit("HOT")).otherwise("symbol")
    )
    assert not _by_name(skewed)["events_symbol_concentration"].passed


def test_one_exploding_day_fails_the_day_share():
    burst = pl.DataFrame(
        {
            "date": [DAYS[5]] * 100,
            "symbol": [f"S{i % 60:02d}" for i in range(100)],
            "event_type": [TYPES[i % 4] for i in range(100)],
            "session": ["RTH"] * 100,
        }
    )
    gate = _by_name(pl.concat([_balanced(), burst]))["events_day_share"]
    assert not gate.passed and gate.figures["top_day"] == str(DAYS[5])


def test_the_day_rule_is_relative_to_the_windows_mean():
    """A day at 8x the window's mean per day passes; one event more fails."""
    base = _balanced()  # 8 events on each of 40 days

    def with_day(extra: int) -> pl.DataFrame:
        more = pl.DataFrame(
            {
                "date": [DAYS[5]] * extra,
                "symbol": [f"S{i % 60:02d}" for i in range(extra)],
                "event_type": [TYPES[i % 4] for i in range(extra)],
                "session": ["RTH"] * extra,
            }
        )
        return pl.concat([base, more])

    # day 5 holds 8 + x of 320 + x events over 40 days: (8 + x) / ((320 + x) / 40) = 8 at x = 70
    assert _by_name(with_day(70))["events_day_share"].passed
    gate = _by_name(with_day(71))["events_day_share"]
    assert not gate.passed and gate.figures["top_day_ratio"] > 8


def test_rules_wait_for_enough_events_and_days():
    few_days = _balanced().filter(pl.col("date").is_in(DAYS[:3])).with_columns(event_type=pl.lit("flush"))
    gates = _by_name(few_days)
    assert gates["events_type_balance"].passed and gates["events_type_balance"].figures["judged"] is False
    few_events = _balanced().filter(pl.int_range(pl.len()) % 2 == 0).with_columns(symbol=pl.lit("HOT"))
    assert few_events.height < Checklist().min_events
    assert _by_name(few_events)["events_symbol_concentration"].passed
    judged = _by_name(_balanced().with_columns(symbol=pl.lit("HOT")))["events_symbol_concentration"]
    assert not judged.passed and judged.figures["judged"] is True


@pytest.mark.parametrize(
    "window",
    [
        pl.DataFrame(
            schema={"date": pl.Date, "symbol": pl.String, "event_type": pl.String, "session": pl.String}
        )
    ],
)
def test_an_empty_window_passes(window):
    assert all(g.passed for g in checklist(window))


def test_thresholds_are_configurable():
    strict = Checklist(max_type_share=0.2)
    assert not {g.name: g for g in checklist(_balanced(), strict)}["events_type_balance"].passed


def test_partition_rules_catch_foreign_symbols_and_off_session_times():
    day = dt.date(2024, 3, 5)
    sess = cal.session(day)
    events = pl.DataFrame(
        {
            "symbol": ["AAA", "ZZZ", "AAA"],
            "ts": [sess.market_open, sess.market_open, sess.post_close + dt.timedelta(minutes=1)],
        },
        schema={"symbol": pl.String, "ts": pl.Datetime("ns", "UTC")},
    )
    universe_rule, session_rule = partition_rules(events, {"AAA"}, day)
    assert not universe_rule.passed and universe_rule.sample["symbol"].to_list() == ["ZZZ"]
    assert not session_rule.passed and session_rule.failures == 1

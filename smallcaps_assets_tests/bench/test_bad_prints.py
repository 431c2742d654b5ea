"""The bad-print gate against the offline market's fault ground truth (issue #17's bar: precision
and recall >= 0.9 on a 5% bad-tick market over >= 20 sessions)."""

from __future__ import annotations

import datetime as dt

import pytest

from smallcaps_assets.bench.bad_prints import measure
from smallcaps_assets.bench.detect import sim_context, sim_day
from smallcaps_assets.sim import SimConfig, SimMarket
from smallcaps_assets.stages import events as ev
from smallcaps_assets.stages.bad_prints import clean_bars


def test_the_gate_finds_the_bad_prints_of_twenty_sessions():
    report = measure(dt.date(2024, 3, 4), dt.date(2024, 4, 1), symbols_per_day=8, bad_tick_rate=0.05)
    assert report["sessions"] == 20
    assert report["truly_bad_bars"] > 1000
    assert report["precision"] >= 0.9 and report["recall"] >= 0.9, report
    assert report["flag_rate_without_faults"] < 0.001
    assert report["cleaned_high_median_error"] < 0.01 and report["cleaned_low_median_error"] < 0.01


@pytest.mark.slow
def test_intraday_events_on_a_bad_tick_market_stay_within_ten_percent_of_the_clean_one():
    """Small scale (the catalyst symbols of two sessions, where the events are): the detectors on
    cleaned bars of a 5% bad-tick market find within 10% as many events as on the fault-free
    market, and the same bars uncleaned find far more (so the test can fail)."""
    clean = SimMarket(SimConfig(seed=7))
    dirty = SimMarket(SimConfig(seed=7, faults={"bad_tick_rate": 0.05}))
    counts = {"clean": 0, "dirty_raw": 0, "dirty_cleaned": 0}
    for day in (dt.date(2024, 3, 13), dt.date(2024, 3, 15)):
        tickers = sorted(set(clean.catalysts(day)["ticker"]))
        for name, market, cleaned in (
            ("clean", clean, False),
            ("dirty_raw", dirty, False),
            ("dirty_cleaned", dirty, True),
        ):
            bars = sim_day(market, day, tickers)
            bars = clean_bars(bars) if cleaned else bars
            counts[name] += ev.detect_intraday(bars, sim_context(market, day, tickers, 3)).height
    assert counts["clean"] >= 40, counts
    assert abs(counts["dirty_cleaned"] / counts["clean"] - 1) <= 0.10, counts
    assert counts["dirty_raw"] > 1.5 * counts["clean"], counts

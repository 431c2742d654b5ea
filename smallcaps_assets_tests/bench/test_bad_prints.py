"""The bad-print gate against the offline market's fault ground truth (issue #17's bar: precision
and recall >= 0.9 on a 5% bad-tick market over >= 20 sessions)."""

from __future__ import annotations

import datetime as dt

import pytest

from smallcaps_assets.bench.bad_prints import events_effect, measure


def test_the_gate_finds_the_bad_prints_of_twenty_sessions():
    report = measure(dt.date(2024, 3, 4), dt.date(2024, 4, 1), symbols_per_day=8, bad_tick_rate=0.05)
    assert report["sessions"] == 20
    assert report["truly_bad_bars"] > 1000
    assert report["precision"] >= 0.9 and report["recall"] >= 0.9, report
    assert report["flag_rate_without_faults"] < 0.001
    assert report["cleaned_high_median_error"] < 0.01 and report["cleaned_low_median_error"] < 0.01


@pytest.mark.slow
def test_intraday_events_on_a_bad_tick_market_stay_within_ten_percent_of_the_clean_one():
    """20 sessions (the catalyst symbols of each, where the events are, and every 20th listed
    symbol): the detectors on cleaned bars of a 5% bad-tick market find within 10% as many events
    as on the fault-free market's raw bars, the same bars uncleaned find several times more (so
    the test can fail), and the gate flags few bars of the fault-free market."""
    r = events_effect(dt.date(2024, 3, 4), dt.date(2024, 4, 1))
    assert r["sessions"] == 20 and r["healthy_raw"] >= 300, r
    assert abs(r["faulty_cleaned_vs_healthy_raw"]) <= 0.10, r
    assert r["faulty_raw"] > 3 * r["healthy_raw"], r
    assert r["healthy_flagged_bars"] / r["healthy_bars"] < 0.005, r


def test_bench_bad_prints_prints_its_figures_as_json():
    import json

    from typer.testing import CliRunner

    from smallcaps_assets.cli import app

    args = ["bench", "bad-prints", "--json", "--start", "2024-03-04", "--end", "2024-03-04"]
    result = CliRunner().invoke(app, [*args, "--symbols-per-day", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["sessions"] == 1 and report["truly_bad_bars"] > 0 and report["precision"] > 0.9

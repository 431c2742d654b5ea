"""The bad-print gate against the offline market's fault ground truth (issue #17's bar: precision
and recall >= 0.9 on a 5% bad-tick market over >= 20 sessions)."""

from __future__ import annotations

import datetime as dt

from smallcaps_assets.bench.bad_prints import measure


def test_the_gate_finds_the_bad_prints_of_twenty_sessions():
    report = measure(dt.date(2024, 3, 4), dt.date(2024, 4, 1), symbols_per_day=8, bad_tick_rate=0.05)
    assert report["sessions"] == 20
    assert report["truly_bad_bars"] > 1000
    assert report["precision"] >= 0.9 and report["recall"] >= 0.9, report
    assert report["flag_rate_without_faults"] < 0.001
    assert report["cleaned_high_median_error"] < 0.01 and report["cleaned_low_median_error"] < 0.01

"""The feature-family benchmark on a small synthetic day: its figures and its inputs."""

from __future__ import annotations

import polars as pl

from smallcaps_assets.bench.features_bars import bench_bar_features, synthetic_day


def test_bench_reports_events_seconds_and_rate():
    out = bench_bar_features(events=2_000, symbols=20)
    assert out["events"] == 2_000 and out["seconds"] > 0
    assert {"events", "seconds", "events_per_s"} <= set(out) and out["events_per_s"] > 0


def test_synthetic_day_is_deterministic_and_events_are_bar_closes():
    a, b = synthetic_day(500, 10, seed=4), synthetic_day(500, 10, seed=4)
    assert all(a[k].equals(b[k]) for k in a)
    ev = a["events"]
    assert ev["event_id"].n_unique() == 500 and set(ev["session"]) <= {"PM", "RTH", "AH"}
    assert (ev["ts"].dt.second() == 0).all()
    assert a["minute_bars"].select(pl.struct("symbol", "ts").is_unique().all()).item()

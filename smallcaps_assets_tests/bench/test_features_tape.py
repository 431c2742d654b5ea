"""Smoke tests of ``bench_tape_features`` (no timing is asserted) and of its replicated windows."""

from __future__ import annotations

import polars as pl
import pytest

from smallcaps_assets.bench.features_tape import bench_tape_features, sim_windows
from smallcaps_assets.stages.features.tape import tape_features


def test_bench_tape_features_reports_the_issue_figures():
    r = bench_tape_features(windows=40, repeats=1)
    assert r["windows"] == 40 and r["seconds"] > 0 and r["windows_per_s"] > 0
    assert r["trades_per_window"] == 400.0 and r["quote_rows_per_window"] == 360.0
    assert 30 <= r["windows_with_spread"] <= 40  # a few standing quotes are locked/crossed/one-sided
    with pytest.raises(ValueError):
        bench_tape_features(windows=2, source="lake")


@pytest.mark.slow
def test_copies_of_an_offline_market_window_get_identical_features():
    """The features are computed for all windows at once: copies of one window under other event
    ids must come out identical, whatever else is in the frames."""
    events, trades, quotes = sim_windows(12, distinct=4)
    out = tape_features(events, trades, quotes).with_columns(
        source=pl.col("event_id").str.split("#").list.first()
    )
    assert out.height == 12 and out["source"].n_unique() == 4
    assert out["quote_spread_at_event_bps"].null_count() == 0
    assert out["tape_speed_tps"].null_count() == 0
    distinct = out.drop("event_id").unique()
    assert distinct.height == 4

"""Smoke test of ``bench_backtest`` (no timing is asserted) and of its synthetic month."""

from __future__ import annotations

import polars as pl

from smallcaps_assets.bench.backtest import bench_backtest, synthetic_month


def test_bench_backtest_reports_the_issue_figures():
    r = bench_backtest(events=1_000, days=2, symbols=20)
    assert r["events"] == 1_000 and r["seconds"] > 0 and r["events_per_s"] > 0
    assert r["cpu_seconds"] > 0 and 0 <= r["import_cpu_seconds"] <= r["cpu_seconds"]
    assert set(r["trades"]) == {"model", "rule_all", "random_matched", "universe_ew"}
    assert r["signals"]["random_matched"] == r["signals"]["model"] > 0
    assert r["trades"]["universe_ew"] == 20


def test_the_synthetic_month_is_seeded_and_shaped_like_the_lake():
    a, b = synthetic_month(500, days=2, symbols=10, seed=3), synthetic_month(500, days=2, symbols=10, seed=3)
    assert [d.day for d in a] == [d.day for d in b] and len(a) == 2
    assert a[0].bars.equals(b[0].bars) and a[1].predictions.equals(b[1].predictions)
    bars = a[0].bars
    assert bars.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()).item()
    assert bars.select((pl.col("low") <= pl.min_horizontal("open", "close")).all()).item()
    # a six-minute pause for some symbol
    gaps = bars.sort("symbol", "ts").select(pl.col("ts").diff().over("symbol").max()).item()
    assert gaps.total_seconds() >= 7 * 60
    assert a[0].quotes.height > 0 and (a[0].quotes["ask_price"] > a[0].quotes["bid_price"]).all()

"""Smoke test of `smallcaps bench detect --json` on a small frame (no timing is asserted), and the
bench group's one registration in the root CLI."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner

from smallcaps_assets.cli import app


def test_bench_detect_prints_one_json_object_with_consistent_figures():
    args = ["bench", "detect", "--json", "--rows", "20000", "--no-per-detector"]
    result = CliRunner().invoke(app, [*args, "--sim-symbols", "20", "--baseline-days", "1"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["bar_rows"] == 20_000 and r["seconds"] > 0 and r["events"] >= 0
    # "seconds" is rounded to 1 ms, which on 20k rows is a few percent of the run: compare through
    # the rounding interval rather than at a fixed relative tolerance
    lo, hi = r["bar_rows"] / (r["seconds"] + 0.0005), r["bar_rows"] / max(r["seconds"] - 0.0005, 1e-9)
    assert lo - 1 <= r["bar_rows_per_s"] <= hi + 1
    assert math.isfinite(r["bar_rows_per_s"]) and "detector_alone_s" not in r
    assert r["machine"]["cpu_count"] >= 1 and r["machine"]["polars_threads"] >= 1


def test_every_benchmark_is_a_command_of_the_bench_group():
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("sim", "detect", "ingest", "windows"):
        assert command in result.output
    detect = CliRunner().invoke(app, ["bench", "detect", "--help"])
    assert detect.exit_code == 0 and "--json" in detect.output and "--rows" in detect.output


def test_the_benchmarks_and_the_calibration_read_the_bars_minute_bars_writes(small_config):
    """sim_day (bench detect, validity, ``events calibrate``) cleans the bad prints as the
    minute_bars asset does, so what they measure is what the detectors see in the pipeline."""
    import datetime as dt

    import polars as pl

    from smallcaps_assets.bench.detect import sim_day
    from smallcaps_assets.sim import SimMarket
    from smallcaps_assets.stages import minute
    from smallcaps_assets.stages.bad_prints import clean_bars

    day = dt.date(2024, 3, 7)
    faulty = SimMarket(type(small_config)(**{**small_config.model_dump(), "faults": {"bad_tick_rate": 0.05}}))
    tickers = [p.ticker for p in faulty.tickers_on(day)][:10]
    raw = sim_day(faulty, day, tickers, cleaned=False)
    seen = sim_day(faulty, day, tickers)
    frames = [minute.vendor_frame(t, faulty.minute_bars(t, day)) for t in tickers]
    as_the_asset = clean_bars(minute.with_session(pl.concat(frames), day).sort("symbol", "ts"))
    assert seen.equals(as_the_asset)
    assert int(seen["bad_print"].sum()) > 0
    bad = seen["bad_print"]
    assert seen.filter(~bad)["high"].equals(raw.filter(~bad)["high"])  # clean bars untouched
    assert seen.filter(bad)["raw_high"].equals(raw.filter(bad)["high"])
    assert (seen.filter(bad)["high"] != raw.filter(bad)["high"]).any()
    assert "bad_print" not in raw.columns

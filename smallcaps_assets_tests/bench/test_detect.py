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

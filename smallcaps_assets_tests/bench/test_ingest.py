"""Smoke test of `smallcaps bench ingest --json` on a tiny market (no timing is asserted)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from smallcaps_assets.cli import app


def test_bench_ingest_prints_one_json_object_with_positive_figures():
    args = ["bench", "ingest", "--json", "--symbols", "12", "--days", "3", "--workers", "1"]
    result = CliRunner().invoke(app, [*args, "--minute-symbols", "3", "--minute-days", "2"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["requests_per_trading_day"] == 1.0
    assert report["daily_history_seconds"] > 0
    assert report["minute_bars_symbol_days_per_s"] > 0
    assert report["daily_history"]["sessions"] == 3 and report["daily_history"]["rows"] > 0
    assert report["minute_bars"]["symbol_days"] == 6 and report["minute_bars"]["bars"] > 0
    assert report["minute_bars"]["requests_per_symbol_day"] == 1.0
    assert report["server"]["server_seconds_per_session"] > 0
    assert (
        report["parameters"] | {"symbols": 12, "days": 3, "workers": 1, "latency_ms": 50.0}
        == (report["parameters"])
    )
    assert report["machine"]["cpu_count"] >= 1

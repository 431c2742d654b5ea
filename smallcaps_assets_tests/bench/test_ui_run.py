"""Smoke test of `smallcaps bench ui-run --json` (no timing is asserted)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from smallcaps_assets.cli import app


def test_bench_ui_run_refuses_an_unknown_executor():
    result = CliRunner().invoke(app, ["bench", "ui-run", "--json", "--executor", "threads"])
    assert result.exit_code == 2
    assert "unknown executor 'threads'" in result.output


@pytest.mark.slow
def test_bench_ui_run_prints_one_json_object_for_a_successful_run():
    result = CliRunner().invoke(app, ["bench", "ui-run", "--json", "--symbols", "10"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["success"] is True
    assert report["job"] == "daily_graph" and report["executor"] == "in_process"
    assert report["steps"] == 10  # one step per asset, event_trades + event_quotes share one
    assert 0 < report["step_seconds"] <= report["seconds"]
    assert report["prepare_seconds"] > 0 and report["machine"]["cpu_count"] >= 1


def test_the_preparation_stays_inside_the_small_market(tmp_path, monkeypatch):
    """The day's lookbacks only: with the monthly models' history the plan reached 2023 and the
    preparation failed on a day the 120-day market does not hold (issue 19)."""
    import datetime as dt

    from smallcaps_assets.bench import ui_run
    from smallcaps_assets.definitions import build_defs

    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    plan = ui_run.prepare_plan(build_defs(), ui_run.DAY)
    assert min(plan) >= ui_run.DAY - dt.timedelta(days=120)
    assert len(plan) == 45  # the 45 earlier sessions of roots the module docstring names

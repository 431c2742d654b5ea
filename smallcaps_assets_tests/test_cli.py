"""`smallcaps materialize`: exit 0 on success, 1 when a step or blocking gate fails, 2 on bad
input (which writes nothing), and a by-date backfill writes one partition per trading day."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.cli import app

from .defs.conftest import DAY, ROOTS

runner = CliRunner()
BROKEN_UNIVERSE = json.dumps({"ops": {"universe": {"config": {"max_market_cap": None}}}})
UNIVERSE = "key:ticker_reference or key:universe"


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def cli_lake(warm_lake, sim_config_file, tmp_path, monkeypatch) -> Path:
    """A private copy of the warm lake; the CLI's default resource serves the test market in-process."""
    root = tmp_path / "lake"
    shutil.copytree(warm_lake, root)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", sim_config_file)
    for name in ("DAGSTER_HOME", "POLYGON_API_KEY", "POLYGON_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return root


def _materialize(*args: str):
    return runner.invoke(app, ["materialize", *args])


def test_success_exits_0(cli_lake):
    result = _materialize("--select", UNIVERSE, "--start", DAY.isoformat())
    assert result.exit_code == 0, result.output
    assert lake.partition_exists("universe", DAY, cli_lake)


def test_a_failed_blocking_gate_exits_1(cli_lake):
    result = _materialize("--select", UNIVERSE, "--start", DAY.isoformat(), "--config-json", BROKEN_UNIVERSE)
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert "universe:no_large_caps" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--select", ROOTS, "--start", "2024-01-15"], "not an NYSE trading day"),  # MLK day
        (["--select", ROOTS, "--start", DAY.isoformat(), "--end", "2024-03-09"], "not an NYSE trading day"),
        (["--select", "key:no_such_asset", "--start", DAY.isoformat()], "matches no asset"),
        (["--select", "key:daily_bars and (", "--start", DAY.isoformat()], "invalid asset selection"),
        (["--select", "key:daily_bars", "--start", DAY.isoformat(), "--symbols", "../etc"], "invalid symbol"),
        (
            ["--select", "key:daily_bars", "--start", DAY.isoformat(), "--symbols", "ABCD,abc;rm"],
            "invalid symbol",
        ),
        (["--select", ROOTS, "--start", DAY.isoformat(), "--config-json", "{not json"], "error"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(cli_lake, args, message):
    before = _files(cli_lake)
    result = _materialize(*args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert _files(cli_lake) == before


def test_by_date_backfill_writes_one_partition_per_trading_day(sim_config_file, tmp_path, monkeypatch):
    root = tmp_path / "fresh_lake"
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", sim_config_file)
    for name in ("DAGSTER_HOME", "POLYGON_API_KEY", "POLYGON_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    start, end = dt.date(2024, 3, 7), dt.date(2024, 3, 11)  # Thu, Fri, (weekend), Mon
    days = cal.trading_days(start, end)
    assert len(days) == 3
    result = _materialize("--select", ROOTS, "--start", start.isoformat(), "--end", end.isoformat())
    assert result.exit_code == 0, result.output
    for asset in ("ticker_reference", "corporate_actions", "daily_bars"):
        written = sorted(p.parent.name for p in (root / asset).glob("date=*/part-0.parquet"))
        assert written == [f"date={d.isoformat()}" for d in days], asset


def test_sql_lists_the_views_and_answers_a_query(cli_lake):
    listing = runner.invoke(app, ["sql"])
    assert listing.exit_code == 0, listing.output
    assert f"database: {cli_lake / 'smallcaps.duckdb'}" in listing.output
    assert {"  daily_bars", "  ticker_reference", "  corporate_actions"} <= set(listing.output.splitlines())
    days = len({p.parent.name for p in (cli_lake / "daily_bars").glob("date=*/part-0.parquet")})
    answer = runner.invoke(app, ["sql", "select count(distinct date) as days from daily_bars"])
    assert answer.exit_code == 0, answer.output
    assert f"│ {days}" in answer.output
    bad = runner.invoke(app, ["sql", "select * from no_such_view"])
    assert bad.exit_code == 2 and "no_such_view" in bad.output

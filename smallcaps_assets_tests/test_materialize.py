"""`materialize_range` on a fresh lake: the lookback plan read from the partition mappings, and
failures reported as one line (the stack trace stays in the run's log)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from typer.testing import CliRunner

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.cli import app
from smallcaps_assets.definitions import defs
from smallcaps_assets.materialize import materialize_range, missing_upstream

from .defs.conftest import DAY

GRAPH = defs.resolve_asset_graph()
K = dg.AssetKey


def _plan(keys: list[str], days: list[dt.date], root) -> dict[str, list[dt.date]]:
    plan = missing_upstream(GRAPH, {K(k) for k in keys}, days, root)
    by_asset: dict[str, list[dt.date]] = {}
    for day, plan_keys in plan.items():
        for key in plan_keys:
            by_asset.setdefault(key.to_user_string(), []).append(day)
    return {k: sorted(v) for k, v in by_asset.items()}


def test_plan_for_intraday_events_is_the_closure_of_every_lookback(tmp_path):
    plan = _plan(["intraday_events"], [DAY], tmp_path)
    # the asset's own warm-up: 5 sessions of events before D, so the first day's score has history
    warm_up = cal.sessions_before(DAY, 5)
    assert plan["intraday_events"] == warm_up
    # minute bars of the 20 sessions before each of those days and D (the time-of-day baselines)
    baseline_days = cal.sessions_before(DAY, 25)
    assert plan["minute_bars"] == [*baseline_days, DAY]
    # each of those minute-bar days needs its universe, and each universe day its 20-session ADV
    assert plan["universe"] == [*baseline_days, DAY]
    assert plan["daily_bars"] == [*cal.sessions_before(baseline_days[0], 20), *baseline_days, DAY]
    assert plan["ticker_details"] == [cal.previous_trading_day(baseline_days[0]), *baseline_days]
    # the rest of the score's 60-session history is left out: it accrues as days run
    assert cal.sessions_before(DAY, 6)[0] not in plan["intraday_events"]


def test_warm_up_skips_days_the_lake_holds(tmp_path):
    held = cal.sessions_before(DAY, 2)[0]
    (tmp_path / "intraday_events" / f"date={held}").mkdir(parents=True)
    (tmp_path / "intraday_events" / f"date={held}" / "part-0.parquet").write_bytes(b"x")
    plan = _plan(["intraday_events"], [DAY], tmp_path)
    assert plan["intraday_events"] == [d for d in cal.sessions_before(DAY, 5) if d != held]
    assert "intraday_events" not in _plan(["minute_bars"], [DAY], tmp_path), "only the selection warms up"


def test_plan_skips_what_the_lake_holds_and_what_the_run_makes(tmp_path):
    prior = cal.previous_trading_day(DAY)
    (tmp_path / "universe" / f"date={prior}").mkdir(parents=True)
    (tmp_path / "universe" / f"date={prior}" / "part-0.parquet").write_bytes(b"x")
    plan = _plan(["minute_bars", "universe"], [DAY], tmp_path)
    assert "universe" not in plan  # D is made by the run; D-1 is in the lake and not needed here
    assert plan["daily_bars"] == [*cal.sessions_before(DAY, 20), DAY]
    held = _plan(["intraday_events"], [DAY], tmp_path)
    assert prior not in held["universe"] and cal.sessions_before(DAY, 2)[0] in held["universe"]


def test_plan_never_pulls_in_a_later_session(tmp_path):
    """event_labels of D read D+1's daily bars (a forward mapping): the plan never runs D+1 ahead."""
    plan = _plan(["event_labels"], [DAY], tmp_path)
    assert max(d for days in plan.values() for d in days) == DAY
    assert DAY in plan["daily_bars"] and cal.next_trading_day(DAY) not in plan["daily_bars"]


def test_a_report_reads_its_history_as_found(tmp_path):
    """signal_report's 20-session window is read as found: the plan runs its inputs for D only."""
    plan = _plan(["signal_report"], [DAY], tmp_path)
    assert plan["event_features"] == [DAY] and plan["event_labels"] == [DAY]
    # its inputs' own lookbacks still come in (the features' baselines, the events' warm-up)
    assert len(plan["minute_bars"]) > 20


def test_plan_is_empty_when_the_lake_is_complete(tmp_path, monkeypatch):
    monkeypatch.setattr(lake, "partition_exists", lambda asset, day, root=None: True)
    assert missing_upstream(GRAPH, {K("event_trades"), K("intraday_events")}, [DAY], tmp_path) == {}


@pytest.fixture
def empty_lake(sim_config_file, tmp_path, monkeypatch):
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path / "lake"))
    monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", sim_config_file)
    for name in ("DAGSTER_HOME", "POLYGON_API_KEY", "POLYGON_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "lake"


def test_a_failed_partition_is_one_line_without_a_traceback(empty_lake):
    result = CliRunner().invoke(
        app, ["materialize", "--select", "key:universe", "--start", DAY.isoformat(), "--no-upstream"]
    )
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.startswith(DAY.isoformat())]
    assert lines == [f"{DAY} universe: ticker_reference for {DAY} is missing"]
    for noise in ("Traceback", "Stack Trace", "dagster._core", 'File "'):
        assert noise not in result.output


def _toy_defs(fail_on: dt.date | None = None) -> dg.Definitions:
    """Two assets on the real trading-day partitions: ``toy_down`` of D reads ``toy_up`` of D-2..D."""
    import polars as pl

    from smallcaps_assets.assetkit import sessions_window
    from smallcaps_assets.partitions import trading_days

    @dg.asset(partitions_def=trading_days)
    def toy_up(context) -> None:
        day = dt.date.fromisoformat(context.partition_key)
        if day == fail_on:
            raise dg.Failure(f"toy_up refuses {day}")
        lake.write_partition("toy_up", day, pl.DataFrame({"symbol": ["A"]}))

    @dg.asset(
        partitions_def=trading_days, deps=[dg.AssetDep(toy_up, partition_mapping=sessions_window(-2, 0))]
    )
    def toy_down(context) -> None:
        day = dt.date.fromisoformat(context.partition_key)
        have = [d for d in cal.sessions_before(day, 2) if lake.partition_exists("toy_up", d)]
        lake.write_partition("toy_down", day, pl.DataFrame({"upstream_days": [len(have)]}))

    return dg.Definitions(assets=[toy_up, toy_down])


def test_upstream_days_run_first_in_date_order(empty_lake):
    seen: list[tuple[dt.date, bool]] = []
    out = materialize_range(
        "key:toy_down",
        DAY,
        DAY,
        defs=_toy_defs(),
        upstream=True,
        on_day=lambda d: seen.append((d.day, d.success)),
    )
    two_before = cal.sessions_before(DAY, 2)
    assert out.success
    assert [d.day for d in out.upstream_days] == [*two_before, DAY]
    assert seen == [(d, True) for d in [*two_before, DAY, DAY]]
    assert lake.read_partition("toy_down", DAY)["upstream_days"].to_list() == [2]
    again = materialize_range("key:toy_down", DAY, DAY, defs=_toy_defs(), upstream=True)
    assert again.success and again.upstream_days == []  # nothing missing any more


def test_a_failed_upstream_day_stops_the_range(empty_lake):
    first = cal.sessions_before(DAY, 2)[0]
    out = materialize_range("key:toy_down", DAY, DAY, defs=_toy_defs(fail_on=first), upstream=True)
    assert not out.success and out.days == []
    assert [(d.day, d.success) for d in out.upstream_days] == [(first, False)]
    assert out.upstream_days[0].error == f"toy_up: toy_up refuses {first}"
    assert not lake.partition_exists("toy_down", DAY, empty_lake)
    without = materialize_range("key:toy_down", DAY, DAY, defs=_toy_defs(fail_on=first))
    assert without.success and lake.read_partition("toy_down", DAY)["upstream_days"].to_list() == [0]


@pytest.mark.slow
def test_readme_line_on_a_fresh_instance_and_lake(empty_lake, tmp_path, monkeypatch):
    """The README's first command on an empty DAGSTER_HOME and data folder: every day succeeds with
    no extra command, the lookbacks filled first (about 3 minutes on the test market)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    start, end = dt.date(2024, 3, 4), dt.date(2024, 3, 8)
    result = CliRunner().invoke(
        app, ["materialize", "--select", "*", "--start", start.isoformat(), "--end", end.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "lookback: " in result.output
    for day in cal.trading_days(start, end):
        for asset in ("universe", "intraday_events", "event_manifest", "event_trades"):
            assert lake.partition_exists(asset, day, empty_lake), (asset, day)
    # the baselines were warm from the first day: 20 sessions of minute bars before it
    assert all(lake.partition_exists("minute_bars", d, empty_lake) for d in cal.sessions_before(start, 20))


@pytest.mark.slow
def test_intraday_events_over_two_months_on_a_fresh_instance_and_lake(empty_lake, tmp_path, monkeypatch):
    """``--select '*intraday_events'`` over 44 sessions from nothing: the lookbacks and the score's
    warm-up run first, and every day passes every blocking gate (the day rule included)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    start, end = dt.date(2024, 1, 2), dt.date(2024, 3, 5)
    result = CliRunner().invoke(
        app,
        [
            "materialize",
            "--select",
            "*intraday_events",
            "--start",
            start.isoformat(),
            "--end",
            end.isoformat(),
        ],
    )
    assert result.exit_code == 0, result.output
    days = cal.trading_days(start, end)
    assert all(
        lake.partition_exists("intraday_events", d, empty_lake)
        for d in [*cal.sessions_before(start, 5), *days]
    )
    events = lake.read_partitions("intraday_events", days, empty_lake)
    assert events.height > 0

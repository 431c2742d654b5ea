"""`smallcaps materialize`: exit 0 on success, 1 when a step or blocking gate fails, 2 on bad
input (which writes nothing), and a by-date backfill writes one partition per trading day."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
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
    assert f"database: in-memory, read-only views of {cli_lake}" in listing.output
    assert {"  daily_bars", "  ticker_reference", "  corporate_actions"} <= set(listing.output.splitlines())
    days = len({p.parent.name for p in (cli_lake / "daily_bars").glob("date=*/part-0.parquet")})
    answer = runner.invoke(app, ["sql", "select count(distinct date) as days from daily_bars"])
    assert answer.exit_code == 0, answer.output
    assert f"│ {days}" in answer.output
    bad = runner.invoke(app, ["sql", "select * from no_such_view"])
    assert bad.exit_code == 2 and "no_such_view" in bad.output


@pytest.fixture
def small_lake(tmp_path, monkeypatch) -> Path:
    """Two days of a tiny universe, enough for `smallcaps sql`."""
    root = tmp_path / "small_lake"
    for day, n in ((dt.date(2024, 3, 4), 3), (dt.date(2024, 3, 5), 2)):
        frame = pl.DataFrame({"symbol": [f"S{i}" for i in range(n)], "close": [1.0] * n})
        lake.write_partition("universe", day, frame, ["symbol"], root=root)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    return root


def _snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every path under the lake with its bytes and mtime: any write, even a touch, shows."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else b"", p.stat().st_mtime_ns)
        for p in [root, *root.rglob("*")]
    }


def _sql(*args: str):
    return runner.invoke(app, ["sql", *args])


@pytest.mark.parametrize(
    ("query", "exit_code", "says"),
    [
        ("select count(*) as n from universe", 0, "5"),
        ("select 1/0 as x", 0, "x"),
        ("select * from no_such_view", 2, "no_such_view"),
        ("create table kept as select 1 as a", 0, "in memory only"),
        ("copy (select 1) to '{lake}/universe/date=2024-03-04/part-1.parquet'", 2, "COPY writes files"),
        ("select 1; export database '{lake}/dump'", 2, "EXPORT writes files"),
        ("attach '{lake}/other.duckdb'", 2, "ATTACH writes files"),
        ("set temp_directory = '{lake}'", 2, "error"),
    ],
)
def test_sql_is_read_only_and_leaves_the_lake_byte_identical(small_lake, query, exit_code, says):
    before = _snapshot(small_lake)
    result = _sql(query.format(lake=small_lake))
    assert result.exit_code == exit_code, result.output
    assert says in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)
    assert _snapshot(small_lake) == before
    assert not (small_lake / "smallcaps.duckdb").exists()


# Root ignores mode bits through these capabilities; without them it is bound by them like any user.
NO_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def test_sql_works_on_a_read_only_lake(small_lake):
    """chmod -R a-w, then `smallcaps sql` in a child process (as root: without the capabilities
    that let root write anyway)."""
    prefix = NO_OVERRIDE if os.geteuid() == 0 and shutil.which("setpriv") else []
    env = {**os.environ, "SMALLCAPS_DATA_DIR": str(small_lake), "PYTHONPATH": str(Path(__file__).parents[1])}
    paths = [small_lake, *small_lake.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        probe = [*prefix, sys.executable, "-c", f"open({str(small_lake / 'probe')!r}, 'w')"]
        if subprocess.run(probe, env=env, capture_output=True).returncode == 0:
            pytest.skip("the lake is still writable for this user: chmod cannot prove read-only here")
        cli = [*prefix, sys.executable, "-c", "from smallcaps_assets.cli import main; main()", "sql"]
        result = subprocess.run(
            [*cli, "select count(*) as n from universe"], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
        assert "│ 5   │" in result.stdout
        listing = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
        assert listing.returncode == 0 and "  universe" in listing.stdout.splitlines(), listing.stderr
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | 0o200)
    assert not (small_lake / "smallcaps.duckdb").exists()


def test_sql_write_persists_the_catalogue_and_its_tables(small_lake):
    made = _sql("--write", "create table kept as select count(*) as n from universe")
    assert made.exit_code == 0, made.output
    assert (small_lake / "smallcaps.duckdb").exists()
    listing = _sql("--write")
    assert f"database: {small_lake / 'smallcaps.duckdb'}" in listing.output
    kept = _sql("--write", "select n from kept")
    assert kept.exit_code == 0 and "5" in kept.output, kept.output
    gone = _sql("select n from kept")  # the read-only reader never opens the file
    assert gone.exit_code == 2 and "kept" in gone.output


# ------------------------------------------------------------------ issue 17, item 5: every input probe
DUPLICATED_BARS = "duplicated bars"


def _aggs_probe(path: str) -> tuple[int, str]:
    """One request to the simulated vendor API in process: (HTTP status, body)."""
    import asyncio

    import httpx

    from smallcaps_assets.sim import SimConfig, SimMarket
    from smallcaps_assets.sim.api import create_app

    app_ = create_app(SimMarket(SimConfig(seed=3, n_symbols=20)))

    async def get() -> httpx.Response:
        transport = httpx.ASGITransport(app=app_, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
            return await client.get(path, headers={"Authorization": "Bearer k"})

    response = asyncio.run(get())
    return response.status_code, response.text


MAT = ["materialize", "--start", DAY.isoformat()]


@pytest.mark.parametrize(
    ("probe", "expected", "says"),
    [
        ("/v2/aggs/ticker/ABC/range/1/day/0001-01-01/9999-12-31", 400, '"9999-12-31\\"; out of range'),
        ("/v2/aggs/ticker/ABC/range/1/minute/2024-03-05/9999-12-31", 400, "out of range"),
        ("/v3/trades/ABC?timestamp.lte=9999-12-31", 400, "out of range"),
        ([*MAT, "--select", "key:daily_bars", "--symbols", ","], 2, "names no symbol"),
        ([*MAT, "--select", "key:daily_bars", "--symbols", " "], 2, "names no symbol"),
        ([*MAT, "--select", ROOTS, "--config-json", '"x"'], 2, "must be a JSON object"),
        ([*MAT, "--select", ROOTS, "--config-json", "[]"], 2, "must be a JSON object"),
        ([*MAT, "--select", ROOTS, "--config-json", "null"], 2, "must be a JSON object"),
        ([*MAT, "--select", ROOTS, "--config-json", '{"ops":{"bogus":{}}}'], 2, 'unexpected config entry "bogus"'),
        ([*MAT, "--select", ROOTS, "--config-json", '{"ops":{"daily_bars":{"config":{"symbols":"A"}}}}'], 2, "must be list"),
        ([*MAT, "--select", "key:daily_bars", "--symbols", "A", "--config-json", '{"ops":[]}'], 2, "'ops' must be"),
        (["sim", "serve", "--fault-rate", "2"], 2, "--fault-rate 2.0: input should be less than or equal to 1"),
        (["sim", "serve", "--latency-ms", "-5"], 2, "--latency-ms -5.0: input should be greater than or equal to 0"),
        (["sim", "serve", "--rate-limit", "0"], 2, "--rate-limit 0.0: input should be greater than 0"),
        (DUPLICATED_BARS, 1, "minute_bars: ContractViolationError: MinuteBars contract violated: duplicated (symbol, ts)"),
        (["materialize", "--help"], 0, "every trading day from --start to --end"),
        # Ranges live in the stages' pydantic models, not in Dagster's config types (issue 19).
        ([*MAT, "--select", "key:event_manifest", "--no-upstream", "--config-json", '{"ops":{"event_manifest":{"config":{"min_score":1.5}}}}'], 2, "invalid config of event_manifest: min_score 1.5: Input should be less than or equal to 1"),
        ([*MAT, "--select", "key:universe", "--no-upstream", "--config-json", '{"ops":{"universe":{"config":{"min_price":-1}}}}'], 2, "invalid config of universe: min_price -1"),
    ],
)  # fmt: skip
def test_every_input_probe_gets_its_documented_answer(
    cli_lake, sim_config_file, tmp_path, monkeypatch, probe, expected, says
):
    """The probes of issue 17 (item 5): a vendor-shaped 400 from the simulator, and from the CLI one
    ``error:`` line with exit 2 for bad input (nothing written), or one line per failed day with exit 1."""
    if isinstance(probe, str) and probe.startswith("/"):
        status, body = _aggs_probe(probe)
        assert status == expected, body
        assert json.loads(body)["status"] == "ERROR" and says in body
        return
    from smallcaps_assets.sim import server

    def must_not_serve(*args, **kwargs):
        raise AssertionError("sim serve started with a value it must refuse")

    monkeypatch.setattr(server, "run", must_not_serve)
    args = probe
    if probe == DUPLICATED_BARS:  # the same market, every symbol-day with a repeated minute bar
        config = json.loads(Path(sim_config_file).read_text())
        config["faults"] = {"duplicate_bar_rate": 1.0}
        (tmp_path / "dup.json").write_text(json.dumps(config))
        monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", str(tmp_path / "dup.json"))
        args = [*MAT, "--select", "key:ticker_reference or key:universe or key:minute_bars", "--no-upstream"]
    before = _files(cli_lake)
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == expected, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert says in " ".join(result.output.split())
    if expected == 2:
        assert [line for line in result.stderr.splitlines() if line.strip()] == [
            next(line for line in result.stderr.splitlines() if line.startswith("error: "))
        ]
        assert _files(cli_lake) == before
    if probe == DUPLICATED_BARS:
        assert [line for line in result.stderr.splitlines() if line.startswith(DAY.isoformat())] == [
            line for line in result.stderr.splitlines() if says in line
        ]
        assert '"symbol":' not in result.stderr and "{" not in result.stderr.split()  # no pandera JSON
        assert not lake.partition_exists("minute_bars", DAY, cli_lake)  # caught before writing


def test_demo_summary_pools_the_barrier_balance_over_days():
    from smallcaps_assets.cli import barrier_balance

    days = [
        {"labelled": 10, "share_sl": 0.1, "share_vertical": 0.5, "share_pt": 0.4},
        {"labelled": 30, "share_sl": 0.2, "share_vertical": 0.5, "share_pt": 0.3},
        {},  # a day whose labels were not run
    ]
    assert barrier_balance(days) == "40 labelled: stop 17.5%, vertical 50.0%, profit 32.5%"
    assert barrier_balance([{}, {"labelled": 0}]) is None


def test_demo_summary_weights_feature_coverage_by_events():
    from smallcaps_assets.cli import feature_coverage

    days = [
        {"events": 30, "features": 97, "coverage/tape": 0.1},
        {"events": 10, "features": 97, "coverage/tape": 0.5},
        {"events": 0, "features": 97},
    ]
    assert feature_coverage(days) == "40 events x 97 features, tape features for 20.0% (events with a window)"
    assert feature_coverage([{}]) is None


def _labels_day(day: dt.date, state: str):
    from smallcaps_assets.materialize import DayOutcome

    return DayOutcome(day, True, metadata={"event_labels": {"next_session": state}})


@pytest.mark.parametrize(
    ("fetch_next", "expected"),
    [
        # A plain range: the days whose next session is in the lake re-run; the last day stays pending.
        (False, [("key:event_labels", 0, 1)]),
        # The demo: the session after the range is fetched first, then every day completes.
        (True, [("key:daily_bars", 3, 3), ("key:event_labels", 0, 2)]),
    ],
)
def test_a_range_finishes_with_its_labels_complete_but_its_last_day(
    tmp_path, monkeypatch, fetch_next, expected
):
    from smallcaps_assets import cli
    from smallcaps_assets.materialize import DayOutcome, RangeOutcome

    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    days = [DAY, *cal.trading_days(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=7))[:3]]
    for d in days[:3]:  # the range's daily bars; days[3] is the session after it
        lake.write_partition("daily_bars", d, pl.DataFrame({"symbol": ["ABC"]}), root=tmp_path)
    calls = []

    def fake_run(selection, start, end, run_config, label, upstream=True):
        calls.append((selection, days.index(start), days.index(end)))
        return RangeOutcome([DayOutcome(start, True)])

    monkeypatch.setattr(cli, "_progress_run", fake_run)
    outcome = RangeOutcome(
        [_labels_day(days[0], "pending"), _labels_day(days[1], "pending"), _labels_day(days[2], "pending")]
    )
    runs = cli._complete_labels(outcome, fetch_next=fetch_next)
    if fetch_next:  # the fake run wrote nothing: say the next session landed
        assert calls[0] == expected[0]
        lake.write_partition("daily_bars", days[3], pl.DataFrame({"symbol": ["ABC"]}), root=tmp_path)
        calls.clear()
        runs = cli._complete_labels(outcome, fetch_next=fetch_next)
        assert calls == expected[1:] and len(runs) == 1
    else:
        assert calls == expected and len(runs) == 1
    # Nothing pending (a selection without the labels, or labels already complete): no run.
    calls.clear()
    complete = RangeOutcome([_labels_day(d, "complete") for d in days[:3]] + [DayOutcome(days[0], True)])
    assert cli._complete_labels(complete, fetch_next=fetch_next) == [] and calls == []


def test_windows_forget_deletes_the_days_ledger_rows_and_path_prints_the_default(tmp_path, monkeypatch):
    """Issue 19: the repair command works with SMALLCAPS_STATE_DIR unset (default <lake>/_state)."""
    import polars as pl

    from smallcaps_assets.stages import windows as win

    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path / "lake"))
    monkeypatch.delenv("SMALLCAPS_STATE_DIR", raising=False)
    path = tmp_path / "lake" / "_state" / win.LEDGER_FILE
    result = runner.invoke(app, ["windows", "path"])
    assert result.exit_code == 0 and result.output.strip() == str(path)
    empty_t, empty_q = pl.DataFrame(schema=win.TRADE_SCHEMA), pl.DataFrame(schema=win.QUOTE_SCHEMA)
    with win.WindowLedger(path) as ledger:
        for day, eid in [
            (dt.date(2024, 3, 14), "a"),
            (dt.date(2024, 3, 15), "b"),
            (dt.date(2024, 3, 15), "c"),
        ]:
            w = win.EventWindow(eid, "ABCD", day, 0, 1)
            ledger.record(win.WindowResult(w, empty_t, empty_q, 0), "sha-1")
    result = runner.invoke(app, ["windows", "versions", "--day", "2024-03-15"])
    assert result.exit_code == 0 and "2 event(s)" in result.output and "sha-1" in result.output
    result = runner.invoke(app, ["windows", "forget", "--day", "2024-03-15", "--event-id", "b"])
    assert result.exit_code == 0 and "forgot 1 event window(s)" in result.output
    result = runner.invoke(app, ["windows", "forget", "--day", "2024-03-15"])
    assert "forgot 1 event window(s)" in result.output
    with win.WindowLedger(path) as ledger:
        assert (ledger.count(dt.date(2024, 3, 14)), ledger.count(dt.date(2024, 3, 15))) == (1, 0)


def test_checks_needs_an_instance_and_lists_every_check(tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    refused = runner.invoke(app, ["checks"])
    assert refused.exit_code == 2 and "DAGSTER_HOME" in refused.output
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    result = runner.invoke(app, ["checks", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {"labels_class_balance", "manifest_session_mix", "next_session_complete"} <= {
        r["check"] for r in rows
    }
    assert all(r["evaluated"] == 0 for r in rows)  # a fresh instance has judged nothing
    assert json.loads(runner.invoke(app, ["checks", "--json", "--failing"]).stdout) == []

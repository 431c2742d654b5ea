"""The shared-deployment profile (deploy/postgres/dagster.yaml) on a real PostgreSQL, with the
lake on S3: storage, the run queue, pools and the daemon. A backfill submitted to the instance
is run by ``dagster-daemon`` through the queued run coordinator, three runs at a time, and gives
byte for byte the files of a serial in-process run of the same days.

Marked ``postgres`` (CI runs ``pytest -m postgres``); the daemon backfill is ``slow`` too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import boto3
import dagster as dg
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range

from .defs.conftest import DAY
from .servers import S3_ENV, moto_s3, postgres, postgres_bin

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_bin() is None and not os.environ.get("CI"),
        reason="needs Debian's postgresql package (make deps installs it as root)",
    ),
]

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "deploy" / "postgres" / "dagster.yaml"
SELECTION = "key:ticker_reference or key:corporate_actions or key:daily_bars or key:ticker_details"
BUCKET = "lake"


@pytest.fixture(scope="module")
def pg():
    with postgres() as server:
        yield server


def _home(tmp_path: Path, profile_text: str | None = None) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").write_text(profile_text or PROFILE.read_text())
    return home


@pytest.fixture
def pg_instance(pg, tmp_path, monkeypatch):
    """A fresh database and a DAGSTER_HOME holding the shipped profile, pointed at it."""
    import psycopg2

    db = f"dagster_{uuid.uuid4().hex[:8]}"
    con = psycopg2.connect(pg.url)
    con.autocommit = True
    con.cursor().execute(f"CREATE DATABASE {db}")
    con.close()
    env = {**pg.env(), "DAGSTER_PG_DB": db}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    home = _home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home, env


def test_the_profile_gives_postgres_storage_a_run_queue_and_pools(
    pg_instance, warm_lake, polygon, monkeypatch
):
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(warm_lake))
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        queue = instance.get_concurrency_config().run_queue_config
        assert queue.max_concurrent_runs == 8
        assert queue.tag_concurrency_limits == [{"key": "dagster/backfill", "limit": 4}]
        out = materialize_range("key:ticker_reference", DAY, DAY, resources={"polygon": polygon})
        assert out.success, out.days[0].error
        run = instance.get_run_by_id(out.days[0].run_id)
        assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
        # the vendor pool: its default limit, then a limit set on the instance
        info = instance.event_log_storage.get_pool_config()
        assert info.default_pool_limit == 2
        instance.event_log_storage.set_concurrency_slots("polygon_api", 3)
        assert instance.event_log_storage.get_concurrency_info("polygon_api").slot_count == 3


def _in_flight(instance, records) -> list[tuple[float, float]]:
    """Each run's span as the queue counts it: from its launch (RUN_STARTING, when the
    coordinator hands it to the launcher) to its end."""
    spans = []
    for r in records:
        (starting,) = instance.all_logs(r.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
        spans.append((starting.timestamp, r.end_time))
    return sorted(spans)


def _max_overlap(spans: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    now = best = 0
    for _, step in edges:
        now += step
        best = max(best, now)
    return best


def _s3_files(endpoint: str, prefix: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{prefix}/"):
        for obj in page.get("Contents", []):
            key = obj["Key"].removeprefix(f"{prefix}/")
            out[key] = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def _daemon_env(pg_env: dict, endpoint: str, home: Path, tmp_path: Path, sim_config_file: str) -> dict:
    """The environment of the daemon and its runs: the instance in Postgres, the lake on S3 under
    ``parallel/``, and the account's token bucket and the window ledger in the instance's database."""
    return {
        **os.environ,
        **S3_ENV,
        **pg_env,
        "AWS_ENDPOINT_URL": endpoint,
        "DAGSTER_HOME": str(home),
        "SMALLCAPS_DATA_DIR": f"s3://{BUCKET}/parallel",
        "SMALLCAPS_STATE_DIR": str(tmp_path / "state"),
        "SMALLCAPS_SIM_CONFIG": sim_config_file,
        "SMALLCAPS_SHARED_STATE_URL": (
            f"postgresql://{pg_env['DAGSTER_PG_USER']}:{pg_env['DAGSTER_PG_PASSWORD']}"
            f"@{pg_env['DAGSTER_PG_HOST']}:{pg_env['DAGSTER_PG_PORT']}/{pg_env['DAGSTER_PG_DB']}"
        ),
        "PYTHONPATH": str(REPO),
    }


def _add_backfill(instance, graph, keys, partitions: list[str]) -> str:
    """An asset backfill of exactly ``keys`` x ``partitions``. The daemon submits each asset
    partition once its upstream partitions inside the backfill are materialised (lookbacks, an
    asset's own earlier partitions, a forward mapping), several at once where none waits.

    (Dagster's ``from_asset_partitions`` would also take in every downstream partition the roots'
    partitions reach through the lookbacks: weeks of later sessions, not the days asked for.)"""
    from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
    from dagster._core.definitions.events import AssetKeyPartitionKey
    from dagster._core.execution.backfill import PartitionBackfill

    backfill_id = uuid.uuid4().hex[:8]
    target = AssetGraphSubset.from_asset_partition_set(
        {AssetKeyPartitionKey(k, p) for k in keys for p in partitions}, graph
    )
    instance.add_backfill(
        PartitionBackfill.from_asset_graph_subset(
            backfill_id=backfill_id,
            backfill_timestamp=time.time(),
            tags={},
            dynamic_partitions_store=instance,
            asset_graph_subset=target,
            title=None,
            description=None,
            run_config=None,
        )
    )
    return backfill_id


# ``dagster-daemon`` itself, with the backfill daemon's pause between iterations at 5 s instead of
# 30 (a module constant): a backfill of the graph takes one iteration per layer of the graph and
# per session a layer waits on, and what is tested (the order, the queue, the bytes) does not
# depend on the pause.
DAEMON = (
    "import sys; import dagster._daemon.controller as c; c.DEFAULT_DAEMON_INTERVAL_SECONDS = 5; "
    "from dagster._daemon.cli import main; sys.argv[0] = 'dagster-daemon'; sys.exit(main())"
)


def _run_daemon(instance, env: dict, tmp_path: Path, timeout: float = 600):
    """Run ``dagster-daemon`` until the instance's one backfill leaves REQUESTED; returns the
    backfill and its runs' records. The daemon's log is in ``tmp_path/daemon.log``."""
    from dagster._core.execution.backfill import BulkActionStatus

    (backfill,) = instance.get_backfills()
    log = open(tmp_path / "daemon.log", "wb")  # noqa: SIM115  (closed below)
    daemon = subprocess.Popen(
        [sys.executable, "-c", DAEMON, "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            backfill = instance.get_backfill(backfill.backfill_id)
            if backfill.status != BulkActionStatus.REQUESTED:
                break
            assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
            time.sleep(2)
        records = instance.get_run_records(dg.RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
    finally:
        daemon.terminate()
        daemon.wait(30)
        log.close()
    return backfill, records


@pytest.mark.slow
def test_a_daemon_backfill_three_runs_at_a_time_equals_a_serial_run(
    pg_instance, polygon, sim_config_file, tmp_path, monkeypatch
):
    from dagster._core.execution.backfill import BulkActionStatus

    from smallcaps_assets.definitions import defs

    home, pg_env = pg_instance
    # The shipped profile, with the backfill tag limit at 3: the test shows three runs at once.
    profile = PROFILE.read_text()
    assert "key: dagster/backfill\n        limit: 4" in profile
    _home(tmp_path / "daemon", profile.replace("limit: 4", "limit: 3"))
    home = tmp_path / "daemon" / "dagster_home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    days = [DAY]
    while len(days) < 6:
        days.append(cal.next_trading_day(days[-1]))
    partitions = [d.isoformat() for d in days]

    with moto_s3(BUCKET) as endpoint:
        env = _daemon_env(pg_env, endpoint, home, tmp_path, sim_config_file)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        with dg.DagsterInstance.get() as instance:
            # The queue holds a run while its pool looks full (a run here is four vendor steps), so
            # the pool gets room for all of them; the backfill tag limit is then what binds.
            instance.event_log_storage.set_concurrency_slots("polygon_api", 12)
            graph = defs.resolve_asset_graph()
            _add_backfill(
                instance, graph, dg.AssetSelection.from_string(SELECTION).resolve(graph), partitions
            )
            backfill, records = _run_daemon(instance, env, tmp_path)
            assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, (
                backfill.status,
                (tmp_path / "daemon.log").read_text()[-3000:],
            )
            assert len(records) == len(days)
            assert all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
            spans = _in_flight(instance, records)
            assert _max_overlap(spans) == 3, spans  # the queue ran three at a time, never more
        parallel = _s3_files(endpoint, "parallel")
    import psycopg2

    with psycopg2.connect(env["SMALLCAPS_SHARED_STATE_URL"]) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM smallcaps.rate_buckets")
        assert cur.fetchone()[0] == 1  # the six runs drew from one account bucket
    monkeypatch.delenv("SMALLCAPS_SHARED_STATE_URL")

    # the same days, one after another in this process, on a local lake
    serial_root = tmp_path / "serial"
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(serial_root))
    monkeypatch.delenv("DAGSTER_HOME")
    out = materialize_range(SELECTION, days[0], days[-1], resources={"polygon": polygon})
    assert out.success
    serial = {
        p.relative_to(serial_root).as_posix(): p.read_bytes() for p in serial_root.rglob("part-*.parquet")
    }
    assert len(serial) == 4 * len(days)
    assert parallel == serial


def _lake_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("part-*.parquet")}


@pytest.mark.slow
def test_a_daemon_backfill_of_the_graph_equals_a_serial_run(
    pg_instance, polygon, warm_lake, sim_config_file, tmp_path, monkeypatch
):
    """Every daily asset (the ingest, the events and their windows, the manifest, features, labels
    and the signal report; the models run by month) over three sessions on top of the warm lake, run by the daemon with three
    runs in flight, the window ledger and the rate bucket in Postgres, the lake on S3.

    The backfill orders asset partitions by their partition dependencies: the lookbacks and the
    self-dependencies (intraday_events' score history, the manifest's per-symbol limits) wait for
    the earlier session, and event_labels of D waits for daily_bars of D+1 (its forward mapping).
    The serial run follows the same order in process: the roots over all days, then the rest day
    by day. A serial run of the whole graph day by day would label D before D+1's bars exist,
    which is a different (earlier) lake, not a different result of the same inputs."""
    from dagster._core.execution.backfill import BulkActionStatus

    from smallcaps_assets.asset_names import DAILY
    from smallcaps_assets.definitions import defs

    _, pg_env = pg_instance
    profile = PROFILE.read_text().replace("limit: 4", "limit: 3")
    home = _home(tmp_path / "daemon", profile)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    days = [DAY, cal.next_trading_day(DAY)]
    days.append(cal.next_trading_day(days[-1]))
    start = _lake_files(warm_lake)
    assert start  # the roots' lookback history (and ticker_details before DAY)

    with moto_s3(BUCKET) as endpoint:
        env = _daemon_env(pg_env, endpoint, home, tmp_path, sim_config_file)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        s3 = boto3.client("s3", endpoint_url=endpoint)
        for path, body in start.items():
            s3.put_object(Bucket=BUCKET, Key=f"parallel/{path}", Body=body)
        with dg.DagsterInstance.get() as instance:
            instance.event_log_storage.set_concurrency_slots("polygon_api", 12)
            graph = defs.resolve_asset_graph()
            keys = {dg.AssetKey(a) for a in DAILY}
            _add_backfill(instance, graph, keys, [d.isoformat() for d in days])
            backfill, records = _run_daemon(instance, env, tmp_path)
            log = (tmp_path / "daemon.log").read_text()[-3000:]
            assert backfill.status == BulkActionStatus.COMPLETED_SUCCESS, (backfill.status, log)
            assert records and all(r.dagster_run.status == dg.DagsterRunStatus.SUCCESS for r in records)
            # each asset partition was materialised exactly once, by one of the backfill's runs
            done = [
                (e.asset_key.to_user_string(), e.partition)
                for r in records
                for e in (
                    ev.dagster_event.step_materialization_data.materialization
                    for ev in instance.all_logs(
                        r.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
                    )
                )
            ]
            assert sorted(done) == sorted((a, d.isoformat()) for a in DAILY for d in days)
            assert _max_overlap(_in_flight(instance, records)) == 3
        parallel = _s3_files(endpoint, "parallel")
    monkeypatch.delenv("SMALLCAPS_SHARED_STATE_URL")

    serial_root = tmp_path / "serial"
    serial_root.mkdir()
    for path, body in start.items():
        (serial_root / path).parent.mkdir(parents=True, exist_ok=True)
        (serial_root / path).write_bytes(body)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(serial_root))
    monkeypatch.setenv("SMALLCAPS_STATE_DIR", str(tmp_path / "serial_state"))
    monkeypatch.delenv("DAGSTER_HOME")
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    res = {"polygon": polygon}
    roots = ("ticker_reference", "corporate_actions", "daily_bars")
    out = materialize_range(" or ".join(f"key:{a}" for a in roots), days[0], days[-1], resources=res)
    assert out.success, [(d.day, d.error) for d in out.days]
    rest = " or ".join(f"key:{a}" for a in DAILY if a not in roots)
    out = materialize_range(rest, days[0], days[-1], resources=res)
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    serial = _lake_files(serial_root)
    # Every asset-day of the backfill is in the serial lake. (Not a count over the warm lake's
    # files: the lake is shared by the session, and an earlier test may already have written one of
    # these partitions into it, e.g. ticker_reference of DAY + 1.)
    expected = {f"{a}/date={d.isoformat()}" for a in DAILY for d in days}
    missing = expected - {k.rsplit("/", 1)[0] for k in serial}
    assert not missing, sorted(missing)
    events = [k for k in serial if k.startswith("intraday_events/")]
    assert len(events) == len(days)
    differ = sorted(k for k in parallel.keys() | serial.keys() if parallel.get(k) != serial.get(k))
    for key in differ:  # kept beside the test's other files, to compare when it fails
        if key in parallel:
            (tmp_path / "parallel" / key).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "parallel" / key).write_bytes(parallel[key])
    assert not differ, differ

"""event_trades / event_quotes as Dagster assets: kill -9 and resume, reruns, a grown manifest.

The manifest here is written directly (48 events of one session, on the pipeline's small market),
so these tests exercise the download step alone; the manifest's own rules are tested in
stages/test_manifest.py and in the pipeline test.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sqlite3
import subprocess
import sys
import time
from itertools import pairwise
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.resources import SimulatedPolygonResource
from smallcaps_assets.sim import SimMarket
from smallcaps_assets.stages import manifest as mf

from .conftest import DAY, PIPE_CONFIG

SELECT = "key:event_trades or key:event_quotes"
N_EVENTS = 48
KILLS = 10
UTC_NS = pl.Datetime("ns", "UTC")


def synthetic_manifest(n: int = N_EVENTS, day: dt.date = DAY) -> pl.DataFrame:
    """One event per traded common stock, at a random regular-hours minute (seeded)."""
    market = SimMarket(PIPE_CONFIG)
    rng = random.Random(5)
    sess = cal.session(day)
    names = [p.ticker for p in market.tickers_on(day) if p.type == "CS" and market.day_plan(p.ticker, day)]
    assert len(names) >= n
    rows = []
    for sym in sorted(names)[:n]:
        ts = sess.market_open + dt.timedelta(minutes=rng.randrange(5, 380))
        rows.append(
            {
                "event_id": f"{sym}-{ts:%H%M}",
                "symbol": sym,
                "ts": ts,
                "event_type": "volume_spike",
                "session": "RTH",
                "direction": 1,
                "strength": 5.0,
                "score": 0.9,
                "bar_volume": 20_000.0,
                "bar_dollar_volume": 200_000.0,
                "est_spread_pct": 0.5,
                "spread_source": "quoted",
                "market_cap": 3e8,
                "prior_window_events": 0,
            }
        )
    frame = pl.DataFrame(rows).with_columns(pl.col("ts").cast(UTC_NS))
    frame = mf.with_windows(frame, day, mf.ManifestRules())
    return frame.select([pl.col(c).cast(t) for c, t in mf.MANIFEST_SCHEMA.items()])


@pytest.fixture(scope="module")
def manifest() -> pl.DataFrame:
    return synthetic_manifest()


def _lake_with(manifest: pl.DataFrame, root: Path, day: dt.date = DAY) -> Path:
    lake.write_partition("event_manifest", day, manifest, sort_by=["symbol", "ts"], root=root)
    return root


@pytest.fixture(scope="module")
def reference(tmp_path_factory, manifest, polygon):
    """An uninterrupted, fault-free run."""
    root = _lake_with(manifest, tmp_path_factory.mktemp("ref_lake"))
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    mp.delenv("SMALLCAPS_STATE_DIR", raising=False)
    out = materialize_range(SELECT, DAY, DAY, resources={"polygon": polygon})
    mp.undo()
    assert out.success, [(d.error, d.failed_checks) for d in out.days]
    return root, out.days[0].metadata


def _bytes(root: Path, asset: str, day: dt.date = DAY) -> bytes:
    return Path(lake.partition_file(asset, day, root).path).read_bytes()


def test_reference_run_covers_every_event_with_two_requests_each(reference, manifest):
    root, meta = reference
    trades = lake.read_partition("event_trades", DAY, root)
    quotes = lake.read_partition("event_quotes", DAY, root)
    t_meta, q_meta = meta["event_trades"], meta["event_quotes"]
    assert t_meta["windows_fetched"] == N_EVENTS and t_meta["windows_failed"] == 0
    assert t_meta["api_requests"] == 2 * N_EVENTS
    assert t_meta["requests_per_fetched_event"] == 2.0
    assert t_meta["manifest_sha256"] == q_meta["manifest_sha256"] == mf.content_hash(manifest)
    assert t_meta["events_with_trades"] + t_meta["events_no_trades"] == N_EVENTS
    assert set(trades["event_id"]) <= set(manifest["event_id"]) and trades.height > 0
    assert quotes.select("event_id", "second").is_unique().all()
    assert q_meta["raw_quotes"] >= quotes.height > 0
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.parquet"))
    assert files == [
        f"event_manifest/date={DAY}/part-0.parquet",
        f"event_quotes/date={DAY}/part-0.parquet",
        f"event_trades/date={DAY}/part-0.parquet",
    ]


def test_rerun_with_unchanged_manifest_makes_no_api_call_and_same_files(reference, polygon, monkeypatch):
    root, _ = reference
    before = _bytes(root, "event_trades"), _bytes(root, "event_quotes")
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    out = materialize_range(SELECT, DAY, DAY, resources={"polygon": polygon})
    assert out.success
    meta = out.days[0].metadata["event_trades"]
    assert meta["windows_fetched"] == 0 and meta["windows_already_done"] == N_EVENTS
    assert meta.get("api_requests", 0) == 0
    assert (_bytes(root, "event_trades"), _bytes(root, "event_quotes")) == before


def test_one_added_event_downloads_only_that_event(tmp_path, manifest, polygon, monkeypatch):
    root = _lake_with(manifest.head(N_EVENTS - 1), tmp_path)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    assert materialize_range(SELECT, DAY, DAY, resources={"polygon": polygon}).success
    _lake_with(manifest, root)
    out = materialize_range(SELECT, DAY, DAY, resources={"polygon": polygon})
    meta = out.days[0].metadata["event_trades"]
    assert meta["windows_fetched"] == 1 and meta["windows_already_done"] == N_EVENTS - 1
    assert meta["api_requests"] == 2
    assert meta["manifest_sha256"] == mf.content_hash(manifest)


def test_faulty_api_gives_identical_files(reference, tmp_path, manifest, sim_config_file, monkeypatch):
    root = _lake_with(manifest, tmp_path)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    faulty = SimulatedPolygonResource(
        sim_config_path=sim_config_file,
        fault_error_rate=0.05,
        fault_429_rate=0.02,
        fault_truncate_rate=0.01,
        fault_seed=3,
        max_retries=10,
    )
    out = materialize_range(SELECT, DAY, DAY, resources={"polygon": faulty})
    assert out.success, [(d.error, d.failed_checks) for d in out.days]
    meta = out.days[0].metadata["event_trades"]
    assert meta["api_retries"] > 0
    ref_root, _ = reference
    for asset in ("event_trades", "event_quotes"):
        assert _bytes(root, asset) == _bytes(ref_root, asset), asset


def test_a_backfill_range_downloads_every_day_in_one_run_with_files_per_day(
    reference, tmp_path, manifest, polygon, monkeypatch
):
    import dagster as dg

    from smallcaps_assets.defs.windows import event_windows

    nxt = cal.next_trading_day(DAY)
    second = synthetic_manifest(20, nxt)
    root = _lake_with(second, _lake_with(manifest, tmp_path), nxt)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [event_windows],
            instance=instance,
            resources={"polygon": polygon},
            tags={
                "dagster/asset_partition_range_start": str(DAY),
                "dagster/asset_partition_range_end": str(nxt),
            },
        )
        assert result.success
        mats = result.asset_materializations_for_node("event_windows")
        assert {(m.asset_key.to_user_string(), m.partition) for m in mats} == {
            (a, str(d)) for a in ("event_trades", "event_quotes") for d in (DAY, nxt)
        }
        meta = next(m for m in mats if m.asset_key.to_user_string() == "event_trades").metadata
        assert meta["api_requests"].value == 2 * (N_EVENTS + 20)
        assert meta["days"].value == 2 and meta["files"].value == 2
        assert all(e.passed for e in result.get_asset_check_evaluations())
    ref_root, _ = reference
    for asset in ("event_trades", "event_quotes"):
        assert _bytes(root, asset) == _bytes(ref_root, asset), asset
        assert lake.read_partition(asset, nxt, root)["event_id"].is_in(second["event_id"].implode()).all()
    assert len(list(root.rglob("event_*/date=*/*.parquet"))) == 6  # 2 manifests + 2 x 2 window files


def test_missing_manifest_fails_clearly(tmp_path, polygon, monkeypatch):
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    out = materialize_range(SELECT, DAY, DAY, resources={"polygon": polygon})
    assert not out.success and "event_manifest" in (out.days[0].error or "")
    assert not any(tmp_path.rglob("*.parquet"))


# ------------------------------------------------------------------------------ kill -9 and resume
CHILD = f"""
import sys
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.resources import SimulatedPolygonResource
import datetime as dt
day = dt.date.fromisoformat(sys.argv[1])
polygon = SimulatedPolygonResource(sim_config_path=sys.argv[2], rate_limit_per_s=8.0, rate_burst=1, max_concurrency=4)
out = materialize_range({SELECT!r}, day, day, resources={{"polygon": polygon}})
sys.exit(0 if out.success else 1)
"""


def _finished(ledger: Path) -> set[str]:
    if not ledger.exists():
        return set()
    con = sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=30)
    try:
        return {r[0] for r in con.execute("SELECT event_id FROM event_windows")}
    except sqlite3.OperationalError:  # the table is not created yet
        return set()
    finally:
        con.close()


def _requests_by_run(journal: Path, by_key: dict[tuple[str, int], str]) -> list[list[str]]:
    """Event ids of the trades/quotes requests of each run, from the simulator's request journal."""
    runs: list[list[str]] = []
    for line in journal.read_text().splitlines():
        if line.startswith("#run"):
            runs.append([])
            continue
        parts = urlsplit(line)
        if not parts.path.startswith(("/v3/trades/", "/v3/quotes/")):
            continue
        gte = int(parse_qs(parts.query)["timestamp.gte"][0])
        runs[-1].append(by_key[(parts.path.rsplit("/", 1)[1], gte)])
    return runs


def test_kill_9_at_random_moments_then_rerun_equals_an_uninterrupted_run(
    reference, tmp_path, manifest, sim_config_file
):
    root = _lake_with(manifest, tmp_path / "lake")
    journal = tmp_path / "requests.log"
    ledger = root / "_state" / "event_windows.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLYGON_", "DAGSTER_HOME"))}
    env |= {
        "SMALLCAPS_DATA_DIR": str(root),
        "SMALLCAPS_SIM_REQUEST_LOG": str(journal),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("SMALLCAPS_STATE_DIR", None)
    cmd = [sys.executable, "-c", CHILD, DAY.isoformat(), sim_config_file]
    rng = random.Random(11)
    finished_before_run: list[set[str]] = []
    for _ in range(KILLS):
        done = _finished(ledger)
        finished_before_run.append(done)
        with journal.open("a") as fh:
            fh.write(f"#run {len(finished_before_run)}\n")
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        # A random moment once this run has finished at least one new event, so every kill lands
        # mid-download (the rate limit keeps a run at ~4 events/s).
        while len(_finished(ledger)) <= len(done):
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.3))
        proc.kill()  # SIGKILL: no cleanup, no flush
        proc.wait()
        assert not lake.partition_exists("event_trades", DAY, root), "a killed run must not leave files"
        assert len(_finished(ledger)) < N_EVENTS, "killed too late to test resumption"
    finished_before_run.append(_finished(ledger))
    with journal.open("a") as fh:
        fh.write(f"#run {len(finished_before_run)}\n")
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]

    ref_root, _ = reference
    for asset in ("event_trades", "event_quotes"):
        assert _bytes(root, asset) == _bytes(ref_root, asset), asset
    assert not list(root.rglob(".tmp-*"))

    starts = dict(
        zip(
            zip(manifest["symbol"], manifest["window_start"].dt.epoch("ns"), strict=True),
            manifest["event_id"],
            strict=True,
        )
    )
    runs = _requests_by_run(journal, starts)
    assert len(runs) == KILLS + 1
    refetched = sum(
        1 for done, asked in zip(finished_before_run, runs, strict=True) for e in asked if e in done
    )
    assert refetched == 0, f"{refetched} requests for events finished before a kill"
    # Each run made progress, and between them every event was fetched; the events in flight at
    # a kill are the only ones asked for twice.
    assert all(len(b) > len(a) for a, b in pairwise(finished_before_run))
    assert {e for asked in runs for e in asked} == set(manifest["event_id"])
    requests = sum(len(asked) for asked in runs)
    assert 2 * N_EVENTS <= requests <= 2 * N_EVENTS + 2 * 4 * KILLS  # at most 4 in flight per kill


def test_a_failed_manifest_gate_stops_the_download_in_the_same_run(tmp_path, manifest, polygon, monkeypatch):
    """The graph wiring of the GO/NO-GO list: a large cap in the manifest (a broken selection)
    fails manifest_no_large_caps, and event_windows never runs: no request, no window file."""
    import dagster as dg

    from smallcaps_assets.defs import manifest as manifest_defs
    from smallcaps_assets.defs.windows import event_windows

    broken = manifest.with_columns(
        market_cap=pl.when(pl.int_range(pl.len()) == 0).then(5e9).otherwise("market_cap")
    )
    monkeypatch.setattr(manifest_defs.mf, "select", lambda *a, **k: (broken, {}))
    no_candidates = pl.DataFrame(schema={"symbol": pl.String, "ts": UTC_NS})
    monkeypatch.setattr(manifest_defs.mf, "spread_candidates", lambda *a, **k: no_candidates)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    stub = pl.DataFrame({"symbol": manifest["symbol"]})
    for asset in ("intraday_events", "minute_bars", "universe"):
        lake.write_partition(asset, DAY, stub, root=tmp_path)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [manifest_defs.event_manifest, event_windows],
            instance=instance,
            partition_key=str(DAY),
            resources={"polygon": polygon},
            raise_on_error=False,
        )
    assert not result.success
    evaluations = result.get_asset_check_evaluations()
    blocking = {
        e.check_name for e in evaluations if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
    }
    assert blocking == {"manifest_no_large_caps"}  # (one type, all RTH: the WARN rules speak up too)
    assert not result.asset_materializations_for_node("event_windows")
    assert not lake.partition_exists("event_trades", DAY, tmp_path)
    assert not (tmp_path / "_state" / "event_windows.sqlite").exists()

"""The shared event-window ledger (PostgreSQL): two download processes asking for the same windows
at once against one served simulator fetch each window once (the server's request journal says
so); a ``kill -9`` of one leaves its unfinished windows to the other; the assembled frames equal a
single run's. Marked ``postgres`` (CI runs ``pytest -m postgres``)."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import signal
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlparse

import pytest

from smallcaps_assets.polygon import connect
from smallcaps_assets.sim import SimMarket
from smallcaps_assets.sim.server import served_sim
from smallcaps_assets.stages import windows as win
from smallcaps_assets.stages.windows_pg import PostgresWindowLedger, claim_key

from ..servers import postgres, postgres_bin
from .test_windows import CONFIG, market_windows

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_bin() is None and not os.environ.get("CI"),
        reason="needs Debian's postgresql package (make deps installs it as root)",
    ),
]

# One download process: the windows from a JSON file, the served simulator of POLYGON_BASE_URL,
# the shared ledger at argv[2]. Says "ready" once its ledger is open, starts on a line on stdin
# (so runs begin together however long each took to import), then prints its report as JSON.
CHILD = """
import asyncio, datetime as dt, json, sys
from smallcaps_assets.polygon import connect
from smallcaps_assets.stages import windows as win
from smallcaps_assets.stages.windows_pg import PostgresWindowLedger

if sys.argv[4:] == ["no-claims"]:  # the leaky variant: every run thinks every window is its own
    PostgresWindowLedger.claim = lambda self, window: True
rows = json.load(open(sys.argv[1]))
windows = [win.EventWindow(e, s, dt.date.fromisoformat(d), a, b) for e, s, d, a, b in rows]

async def main():
    with PostgresWindowLedger(sys.argv[2]) as ledger:
        print("ready", flush=True)
        sys.stdin.readline()
        async with connect(max_concurrency=int(sys.argv[3])) as client:
            report = await win.download(client, windows, ledger, manifest_sha256="m", poll_s=0.1)
    print(json.dumps(report.as_metadata()), flush=True)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def pg():
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def windows():
    return market_windows(SimMarket(CONFIG))


@pytest.fixture
def db(pg):
    """A fresh database for one test (the ledger's schema is created by the first run)."""
    import uuid

    import psycopg2

    name = f"ledger_{uuid.uuid4().hex[:8]}"
    con = psycopg2.connect(pg.url)
    con.autocommit = True
    con.cursor().execute(f"CREATE DATABASE {name}")
    con.close()
    return pg.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
def served(tmp_path, monkeypatch):
    """A served simulator (300 ms per request, so the runs overlap) writing a request journal."""
    journal = tmp_path / "journal.log"
    monkeypatch.setenv("SMALLCAPS_SIM_REQUEST_LOG", str(journal))
    with served_sim(CONFIG, latency_ms=300) as url:
        monkeypatch.delenv("SMALLCAPS_SIM_REQUEST_LOG")
        yield url, journal


def _start(url: str, windows_file, db: str, workers: int = 3, *extra: str) -> subprocess.Popen:
    """A download process, ready (imported, ledger open) but not started: see :func:`_go`."""
    env = {**os.environ, "POLYGON_BASE_URL": url}
    env.pop("POLYGON_API_KEY", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(windows_file), db, str(workers), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    return proc


def _go(*procs: subprocess.Popen) -> None:
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()


def _report(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def _requests_per_window(journal, windows) -> collections.Counter:
    """How many first-page trades and quotes requests the server saw for each window."""
    by_bounds = {(w.symbol, str(w.start_ns)): w.event_id for w in windows}
    seen = collections.Counter()
    for line in journal.read_text().splitlines():
        url = urlparse(line)
        parts = url.path.split("/")
        if len(parts) != 4 or parts[2] not in ("trades", "quotes"):
            continue
        query = parse_qs(url.query)
        if "cursor" in query:
            continue
        event = by_bounds.get((parts[3], query.get("timestamp.gte", [""])[0]))
        if event is not None:
            seen[(event, parts[2])] += 1
    return seen


def _windows_file(tmp_path, windows):
    path = tmp_path / "windows.json"
    path.write_text(
        json.dumps([[w.event_id, w.symbol, w.day.isoformat(), w.start_ns, w.end_ns] for w in windows])
    )
    return path


def _single_run(windows, tmp_path):
    """The same windows downloaded by one run in process into a SQLite ledger."""

    async def go(ledger):
        async with connect(sim_config=CONFIG, rate_limit_per_s=2000) as client:
            await win.download(client, windows, ledger, manifest_sha256="m")

    with win.WindowLedger(tmp_path / "single.sqlite") as ledger:
        asyncio.run(go(ledger))
        return ledger.assemble(windows)


def test_two_runs_at_once_fetch_each_window_once(served, db, windows, tmp_path):
    url, journal = served
    path = _windows_file(tmp_path, windows)
    runs = [_start(url, path, db), _start(url, path, db)]
    _go(*runs)
    reports = [_report(p) for p in runs]
    assert sum(r["windows_fetched"] for r in reports) == len(windows)
    assert all(r["windows_fetched"] > 0 for r in reports)  # both worked: the windows were shared
    assert all(r["windows_failed"] == 0 for r in reports)
    seen = _requests_per_window(journal, windows)
    assert set(seen) == {(w.event_id, kind) for w in windows for kind in ("trades", "quotes")}
    assert set(seen.values()) == {1}, [k for k, n in seen.items() if n > 1]
    with PostgresWindowLedger(db) as ledger:
        assert ledger.count() == len(windows)
        shared = ledger.assemble(windows)
    for a, b in zip(shared, _single_run(windows, tmp_path), strict=True):
        assert a.equals(b)  # deterministic assembly: the same frames as one run alone


def test_without_claims_the_same_race_fetches_windows_twice(served, db, windows, tmp_path):
    """The leaky variant of the test above: it would fail."""
    url, journal = served
    path = _windows_file(tmp_path, windows)
    runs = [_start(url, path, db, 3, "no-claims"), _start(url, path, db, 3, "no-claims")]
    _go(*runs)
    reports = [_report(p) for p in runs]
    assert sum(r["windows_fetched"] for r in reports) > len(windows)
    assert max(_requests_per_window(journal, windows).values()) == 2


def test_a_killed_run_resumes_in_the_other(served, db, windows, tmp_path):
    url, journal = served
    path = _windows_file(tmp_path, windows)
    victim = _start(url, path, db, workers=3)
    survivor = _start(url, path, db, workers=3)
    _go(victim)
    with PostgresWindowLedger(db) as ledger:
        deadline = time.monotonic() + 60
        while ledger.count() < 2:  # it has finished some windows and holds claims on others
            assert time.monotonic() < deadline
            time.sleep(0.02)
        _go(survivor)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        before = ledger.count()
        assert before < len(windows)  # killed mid-way
        report = _report(survivor)
        assert ledger.count() == len(windows)
        assert report["windows_failed"] == 0
        assert report["windows_fetched"] + before >= len(windows)
        # no claim outlives its holder
        for w in windows:
            assert ledger.claim(w)
            ledger.release(w)
    seen = _requests_per_window(journal, windows)
    assert set(seen) == {(w.event_id, kind) for w in windows for kind in ("trades", "quotes")}
    twice = {e for (e, _), n in seen.items() if n > 1}
    assert len(twice) <= 3  # at most the killed run's windows in flight were asked for again


def test_a_claim_keeps_other_runs_off_the_window(db, windows):
    with PostgresWindowLedger(db) as one, PostgresWindowLedger(db) as two:
        assert one.claim(windows[0])
        assert not two.claim(windows[0])
        assert two.claim(windows[1])  # another window is free
        one.release(windows[0])
        assert two.claim(windows[0])
    assert claim_key(windows[0]) != claim_key(windows[1])

"""Crash recovery (``runs_recovery``): runs killed while holding a ``polygon_api`` slot do not block
the next run, and a run waiting for a slot says why and stops on SIGTERM.

Each run is a real child process (``materialize_range`` on a one-asset definition in the vendor
pool, against a DAGSTER_HOME with the project's ``dagster.yaml``), killed the way a user would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

import smallcaps_assets
from smallcaps_assets import runs_recovery as recovery
from smallcaps_assets.assetkit import VENDOR_POOL

REPO = Path(smallcaps_assets.__file__).parent.parent

# One vendor-pool asset that holds its slot for argv[1] seconds.
CHILD = """
import datetime as dt, sys, time
import dagster as dg
from smallcaps_assets.assetkit import VENDOR_POOL
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.partitions import trading_days

@dg.asset(partitions_def=trading_days, pool=VENDOR_POOL)
def vendor_step() -> None:
    time.sleep(float(sys.argv[1]))

out = materialize_range("key:vendor_step", dt.date(2024, 3, 11), defs=dg.Definitions(assets=[vendor_step]))
print("success" if out.success else "failed", flush=True)
"""


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path / "lake"))
    return home


def _start(hold_seconds: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("w") as err:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD, str(hold_seconds)],
            env=env, stdout=subprocess.PIPE, stderr=err, text=True, start_new_session=True,
        )  # fmt: skip


def _wait_for(what, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what.__doc__}")


def _claimed(instance: dg.DagsterInstance) -> list[str]:
    """run ids holding a polygon_api slot"""
    if VENDOR_POOL not in instance.event_log_storage.get_concurrency_keys():
        return []
    return [s.run_id for s in instance.event_log_storage.get_concurrency_info(VENDOR_POOL).claimed_slots]


@pytest.mark.slow  # three child processes, each ~20 s to import on a busy two-core machine
def test_two_runs_killed_holding_slots_do_not_block_the_third(home, tmp_path):
    instance = dg.DagsterInstance.from_config(str(home))
    # Both run at once, so each holds one of the pool's two slots when it is killed.
    children = [_start(120, tmp_path / f"killed{n}.log") for n in (1, 2)]
    _wait_for(lambda: len(_claimed(instance)) == 2)
    for child in children:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    held = _claimed(instance)
    assert len(held) == 2  # the pool (2 slots) is full of dead runs: the hang
    assert {instance.get_run_by_id(r).status for r in held} == {dg.DagsterRunStatus.STARTED}

    third = _start(0, tmp_path / "third.log")
    out, _ = third.communicate(timeout=120)
    err = (tmp_path / "third.log").read_text()
    assert third.returncode == 0 and out.strip() == "success", err
    assert "recovered: 2 run(s) whose process is gone marked failed" in err
    assert "2 concurrency slot(s) freed" in err
    for run_id in held:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
    assert _claimed(instance) == []


@pytest.mark.slow  # two child processes, each ~20 s to import on a busy two-core machine
def test_a_waiting_run_says_why_and_stops_on_sigterm(home, tmp_path):
    instance = dg.DagsterInstance.from_config(str(home))
    instance.event_log_storage.set_concurrency_slots(VENDOR_POOL, 1)
    holder = _start(120, tmp_path / "holder.log")
    try:
        holder_run = _wait_for(lambda: _claimed(instance))[0]
        waiter_log = tmp_path / "waiter.log"
        waiter = _start(0, waiter_log)
        line = _wait_for(lambda: [x for x in waiter_log.read_text().splitlines() if "waiting" in x])[0]
        assert f"waits for a {VENDOR_POOL} slot (1 slots, held by run {holder_run[:8]} (vendor_step))" in line
        assert "SIGTERM stops it" in line
        waiter_run = next(r for r in instance.get_runs() if r.run_id != holder_run)
        os.kill(waiter.pid, signal.SIGTERM)
        sent = time.monotonic()
        waiter.wait(timeout=10)
        assert time.monotonic() - sent < 5.0
        assert waiter.returncode == recovery.INTERRUPTED_EXIT_CODE
        assert instance.get_run_by_id(waiter_run.run_id).status == dg.DagsterRunStatus.FAILURE
        info = instance.event_log_storage.get_concurrency_info(VENDOR_POOL)
        assert [p.run_id for p in info.pending_steps if p.run_id == waiter_run.run_id] == []
        assert _claimed(instance) == [holder_run]  # the live holder keeps its slot
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)


def test_owner_alive_reads_the_process_table():
    assert recovery.owner_alive(recovery.owner_tag()) is True
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = recovery.owner_tag().split(":")[0]
    assert recovery.owner_alive(f"{host}:{dead.pid}:") is False
    # The same pid with another start time is a recycled pid: not the owner.
    assert recovery.owner_alive(f"{host}:{os.getpid()}:1") is False
    assert recovery.owner_alive(f"other-host-{host}:{os.getpid()}:") is None


def test_a_run_waiting_for_a_slot_sleeps_until_its_next_claim_check():
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    recovery.stop_busy_wait()
    context = InstanceConcurrencyContext.__new__(InstanceConcurrencyContext)
    context._pending_claims = {"vendor_step"}
    context._pending_timeouts = {"vendor_step": time.time() + 5}
    assert 4.0 < context.interval_to_next_pending_claim_check() <= 5.0
    context._pending_timeouts = {"vendor_step": time.time() - 5}  # overdue: check now
    assert context.interval_to_next_pending_claim_check() == 0.0

"""Crash recovery for runs and concurrency slots, and a watch on a run waiting for a slot.

A run that is killed (kill -9, a lost terminal, an OOM kill) writes no failure event: Dagster keeps
it ``STARTED`` for ever, and the concurrency slot its step claimed in the ``polygon_api`` pool keeps
the dead run's id. Two such kills fill the pool and every later vendor run waits for ever, silently
(Dagster's in-process wait loop neither logs nor reacts to Ctrl-C or SIGTERM).

So every run ``smallcaps materialize`` starts carries the identity of the process that owns it
(``OWNER_TAG``: host, pid and the process's start time, so a recycled pid is not taken for the
owner). Before each run, :func:`recover` marks failed every unfinished run of this host whose owner
is gone and frees its slots, and frees the slots still held by finished runs. While a run is in
flight, :class:`SlotWatch` says in one line what it waits for, recovers dead holders as they die,
and stops the run on SIGINT/SIGTERM, freeing what it holds.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
from dagster._core.storage.dagster_run import FINISHED_STATUSES

OWNER_TAG = "smallcaps/owner"  # "<host>:<pid>:<process start time>"
UNFINISHED = [dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING]
# A process killed between creating its run and starting it leaves the run NOT_STARTED.
RECOVERABLE = [dg.DagsterRunStatus.NOT_STARTED, *UNFINISHED]
# How often the watch looks at the instance, and how often it repeats its "waiting" line.
POLL_SECONDS = 0.5
REPEAT_WAIT_LINE_SECONDS = 60.0
RECOVER_EVERY_SECONDS = 5.0
INTERRUPTED_EXIT_CODE = 130


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat`` field 22), or ""
    where /proc does not exist; with the pid it names one process, even after the pid is reused."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            # The command name (field 2) may hold spaces; every field after its ")" is plain.
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def owner_tag() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(tag: str) -> bool | None:
    """Whether the process named by an ``OWNER_TAG`` value still runs: None when it is on another
    host (or the tag is malformed), which this process cannot check."""
    host, _, rest = tag.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by another user
        pass
    return not started or _start_time(pid) in ("", started)


@dataclass
class Recovered:
    failed_runs: list[str]  # unfinished runs whose owner was gone, now FAILURE
    freed_slots: dict[str, int]  # run id -> slots freed (dead owners and finished runs)

    def line(self) -> str | None:
        if not self.failed_runs and not self.freed_slots:
            return None
        freed = sum(self.freed_slots.values())
        runs = ", ".join(r[:8] for r in self.failed_runs) or "none"
        return (
            f"recovered: {len(self.failed_runs)} run(s) whose process is gone marked failed ({runs}); "
            f"{freed} concurrency slot(s) freed"
        )


def _slots_held(storage) -> dict[str, int]:
    """Run id -> concurrency slots it holds, over every pool."""
    held: dict[str, int] = {}
    for pool in storage.get_concurrency_keys():
        for slot in storage.get_concurrency_info(pool).claimed_slots:
            held[slot.run_id] = held.get(slot.run_id, 0) + 1
    return held


def recover(instance: dg.DagsterInstance) -> Recovered:
    """Fail the unfinished runs of this host whose owning process is gone and free their slots
    (and queued claims); free the slots still held by finished or deleted runs. Runs of other hosts
    and runs without an owner tag (launched by the daemon or the UI) are left to Dagster."""
    out = Recovered([], {})
    storage = instance.event_log_storage
    slots = storage.supports_global_concurrency_limits
    held = _slots_held(storage) if slots else {}
    for record in instance.get_run_records(dg.RunsFilter(statuses=RECOVERABLE)):
        run = record.dagster_run
        tag = run.tags.get(OWNER_TAG)
        if tag is None or owner_alive(tag) is not False:
            continue
        instance.report_run_failed(
            run, f"The process that ran this run ({tag}) is gone (killed?); marked failed by smallcaps."
        )
        out.failed_runs.append(run.run_id)
        if slots:
            storage.free_concurrency_slots_for_run(run.run_id)
            out.freed_slots[run.run_id] = held.pop(run.run_id, 0)
    if slots:
        holders = set(held) | storage.get_concurrency_run_ids()
        alive = {
            r.dagster_run.run_id
            for r in instance.get_run_records(dg.RunsFilter(run_ids=sorted(holders)))
            if r.dagster_run.status not in FINISHED_STATUSES
        } if holders else set()  # fmt: skip
        for run_id in sorted(holders - alive):  # finished, or deleted from the run storage
            storage.free_concurrency_slots_for_run(run_id)
            if held.get(run_id):
                out.freed_slots[run_id] = held[run_id]
    return out


def waiting_for(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    """One description per pool in which ``run_id`` has a step waiting for a slot: the pool, its
    limit and which runs (and steps) hold its slots."""
    storage = instance.event_log_storage
    out = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        waiting = [
            p.step_key for p in info.pending_steps if p.run_id == run_id and p.assigned_timestamp is None
        ]
        if not waiting:
            continue
        holders = ", ".join(f"run {s.run_id[:8]} ({s.step_key})" for s in info.claimed_slots) or "nobody"
        verb = "waits" if len(waiting) == 1 else "wait"
        out.append(
            f"{', '.join(waiting)} {verb} for a {pool} slot ({info.slot_count} slots, held by {holders})"
        )
    return out


def _time_to_next_claim_check(self) -> float:
    """Seconds until the first of a run's pending claims may be retried, never negative."""
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    return max(0.0, min(ready_at - time.time() for ready_at in self._pending_timeouts.values()))


def stop_busy_wait() -> None:
    """Make a run waiting for a slot sleep between claim attempts instead of spinning a core.

    Dagster 1.13's ``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` returns
    ``min([0, *intervals])``, never positive, so its wait loop never sleeps (the issue's ~80% CPU);
    the intervals it computes (1 s growing to 15 s) are what it meant to wait."""
    from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext

    InstanceConcurrencyContext.interval_to_next_pending_claim_check = _time_to_next_claim_check


def _interrupt_captured() -> bool:
    """Dagster turns SIGINT and SIGTERM into a flag during a run and acts on it only when a step
    starts or runs, never while the run waits for a slot; this reads that flag."""
    from dagster._utils.interrupts import check_captured_interrupt

    return check_captured_interrupt()


class SlotWatch:
    """A daemon thread beside one in-process run of this process (found by its ``OWNER_TAG``).

    While the run waits for a slot it prints one line saying so (then every minute), recovers
    holders that die meanwhile, and on SIGINT/SIGTERM marks the run failed, frees its slots and
    pending claims, and exits the process with ``INTERRUPTED_EXIT_CODE``: nothing else would stop it."""

    def __init__(self, instance: dg.DagsterInstance, label: str, notice: Callable[[str], None]):
        self.instance, self.label, self.notice = instance, label, notice
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="smallcaps-slot-watch", daemon=True)

    def __enter__(self) -> SlotWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run_id(self) -> str | None:
        records = self.instance.get_run_records(
            dg.RunsFilter(tags={OWNER_TAG: owner_tag()}, statuses=UNFINISHED), limit=1
        )
        return records[0].dagster_run.run_id if records else None

    def _loop(self) -> None:
        waiting_since: float | None = None
        last_line = last_recovery = 0.0
        while not self._stop.wait(POLL_SECONDS):
            try:
                run_id = self._run_id()
                reasons = waiting_for(self.instance, run_id) if run_id else []
            except Exception:  # a busy SQLite file: look again at the next poll
                continue
            if not run_id or not reasons:
                waiting_since = None
                continue
            now = time.monotonic()
            if _interrupt_captured():
                self._give_up(run_id, now - (waiting_since or now))
            if waiting_since is None:
                waiting_since, last_line = now, -REPEAT_WAIT_LINE_SECONDS
            if now - last_recovery >= RECOVER_EVERY_SECONDS:  # a holder may have died meanwhile
                last_recovery = now
                line = recover(self.instance).line()
                if line:
                    self.notice(line)
            if now - last_line >= REPEAT_WAIT_LINE_SECONDS:
                last_line = now
                self.notice(
                    f"{self.label}: run {run_id[:8]} waiting {now - waiting_since:.0f} s: "
                    f"{'; '.join(reasons)}. Ctrl-C or SIGTERM stops it."
                )

    def _give_up(self, run_id: str, waited: float) -> None:
        run = self.instance.get_run_by_id(run_id)
        if run is not None:
            self.instance.report_run_failed(
                run, f"Stopped by a signal after waiting {waited:.0f} s for a slot."
            )
        # Its claimed slots and its place in the pools' queues.
        self.instance.event_log_storage.free_concurrency_slots_for_run(run_id)
        self.notice(f"{self.label}: interrupted while waiting for a slot; run {run_id[:8]} marked failed")
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(INTERRUPTED_EXIT_CODE)

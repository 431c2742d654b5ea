"""The account-wide rate limit across processes: two download processes, each configured with the
whole account's rate, against a served simulator that enforces that rate per key. With the shared
bucket in PostgreSQL (``SMALLCAPS_SHARED_STATE_URL``) they stay within the limit (429s within the
stated budget) and together achieve it within 5%; with per-process buckets (the leaky variant)
they send twice the rate and the server refuses a large share. Marked ``postgres``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from smallcaps_assets.sim import SimConfig
from smallcaps_assets.sim.server import served_sim

from ..servers import postgres, postgres_bin

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        postgres_bin() is None and not os.environ.get("CI"),
        reason="needs Debian's postgresql package (make deps installs it as root)",
    ),
]

LIMIT = 5.0  # the account's requests/s, enforced by the server per key
BURST = 5  # the server's burst allowance: absorbs 0.8 s of scheduling jitter on a loaded machine
PER_PROCESS = 40  # requests per process: 16 s of the account's rate for the two together
# The clients are configured 3% under the account's limit: the server's bucket then refills a
# little faster than they drain it, and the spare tokens absorb a late-woken process's jitter.
CLIENT_RATE = 0.97 * LIMIT
BUDGET_429 = 0.01  # at most 1% of the requests may be answered 429

# One process: PER_PROCESS cheap requests, at most 32 in flight, configured with the account's
# whole rate (CLIENT_RATE); it starts at the epoch argv[1] (both together) and prints its usage as JSON.
CHILD = """
import asyncio, json, sys, time
from smallcaps_assets.polygon import connect

async def main(n, start_at):
    time.sleep(max(0.0, start_at - time.time()))
    async with connect(rate_limit_per_s=float(sys.argv[3]), burst=1, max_concurrency=32, max_retries=20) as c:
        t0 = time.time()
        await asyncio.gather(*[c.market_holidays() for _ in range(n)])
        t1 = time.time()
        total = c.usage.total()
    print(json.dumps({"start": t0, "end": t1, "requests": total.http_requests, "http_429": total.http_429}))

asyncio.run(main(int(sys.argv[2]), float(sys.argv[1])))
"""


@pytest.fixture(scope="module")
def pg():
    with postgres() as server:
        yield server


@pytest.fixture(scope="module")
def served():
    config = SimConfig(seed=3, n_symbols=20)
    with served_sim(config, rate_limit=LIMIT, rate_burst=BURST) as url:
        yield url


def _two_processes(url: str, shared_state: str | None) -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("POLYGON_API_KEY", "SMALLCAPS_SHARED_STATE_URL")}
    env["POLYGON_BASE_URL"] = url
    if shared_state:
        env["SMALLCAPS_SHARED_STATE_URL"] = shared_state
    start_at = time.time() + 4.0  # both import, connect, then begin together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(start_at), str(PER_PROCESS), str(CLIENT_RATE)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        for _ in range(2)
    ]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=180)
        assert p.returncode == 0, stderr[-3000:]
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _combined(runs: list[dict]) -> tuple[float, float]:
    """(achieved rate of answered requests, share of 429s) over both processes."""
    requests = sum(r["requests"] for r in runs)
    refused = sum(r["http_429"] for r in runs)
    span = max(r["end"] for r in runs) - min(r["start"] for r in runs)
    return (requests - refused) / span, refused / requests


def test_two_processes_share_the_account_limit(pg, served):
    runs = _two_processes(served, pg.url)
    rate, refused = _combined(runs)
    print(f"shared bucket: {rate:.2f} req/s answered (limit {LIMIT:g}), 429 share {refused:.3f}")
    assert refused <= BUDGET_429, runs
    assert abs(rate / LIMIT - 1) <= 0.05, (rate, runs)
    assert all(r["end"] - r["start"] > 6 for r in runs)  # they really ran at the same time


def test_per_process_buckets_exceed_the_account_limit(served):
    """The leaky variant: each process alone keeps the rate, both together send twice it; the
    server's 429s (each pausing its process for the Retry-After) push them back, over budget."""
    runs = _two_processes(served, None)
    rate, refused = _combined(runs)
    print(f"per-process buckets: {rate:.2f} req/s answered (limit {LIMIT:g}), 429 share {refused:.3f}")
    assert refused > BUDGET_429, runs

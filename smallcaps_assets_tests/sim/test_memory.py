"""The served simulator's allocator policy (``sim/memory.py``): repeated tick windows stop faulting
their pages back in. Measured in child processes, since the policy is process-wide."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

CHILD = """
import datetime as dt, json, resource, sys
from smallcaps_assets import calendar as cal
from smallcaps_assets.sim import SimConfig, SimMarket
from smallcaps_assets.sim.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
cfg = SimConfig(seed=11, n_symbols=60, start=dt.date(2024, 1, 2), end=dt.date(2024, 3, 28))
day = dt.date(2024, 1, 19)
lo = int(dt.datetime.combine(day, dt.time(9, 30), tzinfo=cal.NY).timestamp()) * 10**9
hi = lo + 600 * 10**9 - 1
def window():
    m = SimMarket(cfg)
    return m.trades("HK", day, lo, hi).height + m.quotes("HK", day, lo, hi).height
rows = [window() for _ in range(3)]
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
rows += [window() for _ in range(5)]
faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
print(json.dumps({"kept": kept, "rows": rows, "faults": faults}))
"""


def _run(mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_kept_freed_memory_removes_the_page_faults_of_repeated_windows():
    default, kept = _run("default"), _run("keep")
    assert kept["kept"] is True
    assert default["rows"] == kept["rows"] and min(kept["rows"]) > 20_000  # the same tape, a busy window
    assert default["faults"] > 1_000  # glibc hands the heap back after every window...
    assert kept["faults"] < default["faults"] / 4  # ...unless told to keep it

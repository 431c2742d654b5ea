"""The code location: ``dagster dev -m smallcaps_assets.definitions`` (or ``dg dev``).

Every module in ``defs/`` is loaded the ``dg`` way (``[tool.dg]`` in pyproject.toml names the
project; ``dg.load_from_defs_folder`` finds ``smallcaps_assets/defs``): assets, checks, jobs,
the schedule, the sensor and the resources, with nothing listed by hand here. Every asset then
gets its owners and a reference to its source (``assetkit.metadata.catalogued``), and every job
(the UI's asset runs, the named jobs, the schedule's) runs its steps with the location's executor
(``assetkit.executors``: in process, no per-step interpreter start-up).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .assetkit.executors import EXECUTORS, LOCATION_EXECUTOR
from .assetkit.metadata import catalogued


def build_defs(executor: str = LOCATION_EXECUTOR) -> dg.Definitions:
    """The code location; ``executor`` names another entry of ``EXECUTORS`` (the benchmark's
    comparisons)."""
    loaded = catalogued(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))
    return dg.Definitions.merge(loaded, dg.Definitions(executor=EXECUTORS[executor]))


defs = build_defs()

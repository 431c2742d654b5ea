"""The code location: ``dagster dev -m smallcaps_assets.definitions`` (or ``dg dev``).

Every module in ``defs/`` is loaded the ``dg`` way (``[tool.dg]`` in pyproject.toml names the
project; ``dg.load_from_defs_folder`` finds ``smallcaps_assets/defs``): assets, checks, jobs,
the schedule, the sensor and the resources, with nothing listed by hand here. Every asset then
gets its owners and a reference to its source (``assetkit.metadata.catalogued``).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from .assetkit.metadata import catalogued


def build_defs() -> dg.Definitions:
    return catalogued(dg.load_from_defs_folder(path_within_project=Path(__file__).parent))


defs = build_defs()

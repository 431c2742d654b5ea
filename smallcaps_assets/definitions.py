"""The code location: ``dagster dev -m smallcaps_assets.definitions`` (or ``dg dev``)."""

from __future__ import annotations

import os

import dagster as dg
from dagster_duckdb import DuckDBResource

from .checks import latest_partition_check
from .defs import automation, bars_daily, bars_minute, events, manifest, reference, universe, windows
from .resources import PolygonResource

DAILY_ASSET_MODULES = [reference, bars_daily, universe, bars_minute, events, manifest, windows]


def build_defs() -> dg.Definitions:
    assets = dg.load_assets_from_modules(DAILY_ASSET_MODULES)
    return dg.Definitions(
        assets=assets,
        asset_checks=[
            latest_partition_check(name) for name in automation.DAILY_ASSETS + automation.DERIVED_ASSETS
        ],
        jobs=[automation.daily_ingest_job],
        schedules=[automation.daily_close],
        sensors=[automation.automation_sensor],
        resources={
            "polygon": PolygonResource(),
            "duckdb": DuckDBResource(
                database=os.path.join(os.environ.get("SMALLCAPS_DATA_DIR", "data"), "smallcaps.duckdb")
            ),
        },
    )


defs = build_defs()

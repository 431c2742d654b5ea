"""The DuckDB catalogue: one view per lake asset over its hive-partitioned Parquet files."""

from __future__ import annotations

import os
from pathlib import Path

from . import lake

LAKE_ASSETS = (
    "ticker_reference",
    "ticker_details",
    "corporate_actions",
    "daily_bars",
    "universe",
    "minute_bars",
    "daily_events",
    "intraday_events",
    "event_manifest",
    "event_trades",
    "event_quotes",
)


def database_path(root: str | os.PathLike | None = None) -> Path:
    return Path(str(lake.lake_root(root))) / "smallcaps.duckdb"


def view_sql(asset: str, root: str | os.PathLike | None = None) -> str:
    pattern = lake.asset_glob(asset, root).replace("'", "''")
    return (
        f"CREATE OR REPLACE VIEW {asset} AS "
        f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true, union_by_name = true)"
    )


def refresh_views(con, root: str | os.PathLike | None = None) -> list[str]:
    """(Re)create a view for every asset that has at least one partition; returns their names."""
    made = []
    for asset in LAKE_ASSETS:
        if any(Path(str(lake.lake_root(root) / asset)).glob("date=*/*.parquet")):
            con.execute(view_sql(asset, root))
            made.append(asset)
    return made


def connect(root: str | os.PathLike | None = None, read_only: bool = False):
    import duckdb

    path = database_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), read_only=read_only)
    if not read_only:
        refresh_views(con, root)
    return con

"""The DuckDB catalogue: one view per lake asset over its hive-partitioned Parquet files.

It is opened through dagster-duckdb's ``DuckDBResource`` (:func:`duckdb_resource`), the one place
that knows where the database lives; its connection retries while another process holds DuckDB's
single write lock. ``smallcaps sql`` and the demo's summary query the lake this way.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import lake
from .asset_names import ALL


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
    for asset in ALL:
        if any(Path(str(lake.lake_root(root) / asset)).glob("date=*/*.parquet")):
            con.execute(view_sql(asset, root))
            made.append(asset)
    return made


def duckdb_resource(root: str | os.PathLike | None = None):
    """The catalogue as a ``dagster_duckdb.DuckDBResource`` (the lake root is read now, at call time)."""
    from dagster_duckdb import DuckDBResource  # imports Dagster: only when the catalogue is opened

    path = database_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    return DuckDBResource(database=str(path))


@contextmanager
def catalogue(root: str | os.PathLike | None = None) -> Iterator:
    """A DuckDB connection with a fresh view per asset that has data; closed on exit."""
    with duckdb_resource(root).get_connection() as con:
        refresh_views(con, root)
        yield con

"""The DuckDB catalogue: one view per lake asset over its hive-partitioned Parquet files.

Two ways in. :func:`reader` (``smallcaps sql``'s default) builds the views in an in-memory database
and refuses statements that write files, so a query can never change the lake and works on a
read-only one. :func:`catalogue` (``smallcaps sql --write`` and the demo's summary) opens the
persistent catalogue file through dagster-duckdb's ``DuckDBResource`` (:func:`duckdb_resource`),
the one place that knows where the database lives; its connection retries while another process
holds DuckDB's single write lock.

A lake in an object store (``s3://``) is read through its fsspec filesystem, registered with each
connection (:func:`open_lake`): DuckDB's own httpfs extension needs a download, this needs nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from . import lake
from .asset_names import ALL


def database_path(root: str | os.PathLike | None = None) -> Path:
    """The catalogue file: beside the lake, or in the state folder when the lake is remote (a
    DuckDB database is a local file)."""
    if lake.is_remote(root):
        return lake.state_dir(root) / "smallcaps.duckdb"
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
    open_lake(con, root)
    for asset in ALL:
        if next(iter((lake.lake_root(root) / asset).glob(f"date=*/{lake.PART_GLOB}")), None):
            con.execute(view_sql(asset, root))
            made.append(asset)
    return made


def open_lake(con, root: str | os.PathLike | None = None) -> None:
    """Let ``con`` read a remote lake: register its fsspec filesystem (once per connection)."""
    if not lake.is_remote(root):
        return
    fs = lake.filesystem(root)
    if fs.protocol[0] not in con.list_filesystems():
        con.register_filesystem(fs)


# Statements that write files outside the in-memory database (an export, a new database file, an
# installed extension). Anything else, CREATE TABLE included, only touches memory and vanishes.
FILE_WRITING = frozenset({"COPY", "COPY_DATABASE", "EXPORT", "ATTACH", "EXTENSION", "LOAD"})


class ReadOnlyError(ValueError):
    """A statement that would write files, sent to the read-only reader."""


# Statements that change the database: in the reader they change its memory only.
CHANGES_TABLES = frozenset({"CREATE", "INSERT", "UPDATE", "DELETE", "DROP", "ALTER", "MERGE_INTO"})


def refuse_writes(con, query: str) -> list[str]:
    """The kinds of ``query``'s statements; :class:`ReadOnlyError` names the first that would write a file."""
    kinds = [statement.type.name for statement in con.extract_statements(query)]
    for kind in kinds:
        if kind in FILE_WRITING:
            raise ReadOnlyError(
                f"{kind} writes files and the lake is opened read-only; pass --write to allow it"
            )
    return kinds


@contextmanager
def reader(root: str | os.PathLike | None = None) -> Iterator:
    """An in-memory DuckDB connection with one view per asset that has data; nothing is written.

    Spill files go to a private temporary folder (removed on exit), and the configuration is then
    locked, so no ``SET`` can point them at the lake. Run user SQL through :func:`refuse_writes` first.
    """
    import duckdb

    with tempfile.TemporaryDirectory(prefix="smallcaps-sql-") as spill:
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET temp_directory = ?", [spill])
            refresh_views(con, root)
            con.execute("SET lock_configuration = true")
            yield con
        finally:
            con.close()


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

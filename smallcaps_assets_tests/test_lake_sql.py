"""DuckDB views over the hive-partitioned lake, opened through the DuckDB resource."""

from __future__ import annotations

import datetime as dt

import polars as pl
from dagster_duckdb import DuckDBResource

from smallcaps_assets import lake, lake_sql


def test_views_read_every_partition_with_its_date(tmp_path):
    for day, close in ((dt.date(2024, 3, 4), 1.0), (dt.date(2024, 3, 5), 2.0)):
        frame = pl.DataFrame({"symbol": ["A", "B"], "close": [close, close * 10]})
        lake.write_partition("daily_bars", day, frame, ["symbol"], root=tmp_path)
    with lake_sql.catalogue(tmp_path) as con:
        rows = con.execute(
            "select cast(date as varchar), symbol, close from daily_bars where symbol = 'B' order by date"
        ).fetchall()
        assert rows == [("2024-03-04", "B", 10.0), ("2024-03-05", "B", 20.0)]
        views = {
            r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()
        }
        assert views == {"daily_bars"}  # assets without partitions get no view
    assert lake_sql.database_path(tmp_path).exists()


def test_the_catalogue_is_the_dagster_duckdb_resource_on_the_lake(tmp_path, monkeypatch):
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path / "lake"))
    resource = lake_sql.duckdb_resource()  # the lake root is read at call time, not at import
    assert isinstance(resource, DuckDBResource)
    assert resource.database == str(tmp_path / "lake" / "smallcaps.duckdb")

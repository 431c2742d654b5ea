"""DuckDB views over the hive-partitioned lake, opened through the DuckDB resource."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
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


def _two_days(root) -> None:
    for day, n in ((dt.date(2024, 3, 4), 3), (dt.date(2024, 3, 5), 2)):
        frame = pl.DataFrame(
            {"symbol": [f"S{i}" for i in range(n)], "close": [float(i + 1) for i in range(n)]}
        )
        lake.write_partition("universe", day, frame, ["symbol"], root=root)


def _stray(root, kind: str) -> None:
    """A writer's leftover beside a committed file: a complete copy, or one cut short by a crash."""
    part = lake.partition_file("universe", "2024-03-04", root)
    data = Path(part.path).read_bytes()
    body = data if kind == "complete" else data[: len(data) // 3]
    (Path(part.path).parent / ".tmp-x.parquet").write_bytes(body)
    (Path(part.path).parent / ".hidden.parquet").write_bytes(body)


QUERIES = (
    "select cast(date as varchar) as d, count(*) as n, sum(close) as c from universe group by 1 order by 1",
    "select count(*) from universe where date = '2024-03-04'",
)


@pytest.mark.parametrize("kind", ["complete", "truncated"])
@pytest.mark.parametrize("opener", ["reader", "catalogue"])
def test_a_stray_temp_file_changes_no_view_result_and_breaks_no_query(tmp_path, kind, opener):
    _two_days(tmp_path)
    with getattr(lake_sql, opener)(tmp_path) as con:
        before = [con.execute(q).fetchall() for q in QUERIES]
    assert before[0] == [("2024-03-04", 3, 6.0), ("2024-03-05", 2, 3.0)]
    _stray(tmp_path, kind)
    with getattr(lake_sql, opener)(tmp_path) as con:
        assert [con.execute(q).fetchall() for q in QUERIES] == before


@pytest.mark.parametrize("kind", ["complete", "truncated"])
def test_a_stray_temp_file_is_invisible_to_the_python_readers(tmp_path, kind):
    _two_days(tmp_path)
    days = ["2024-03-04", "2024-03-05"]
    one, both = (
        lake.read_partition("universe", days[0], tmp_path),
        lake.read_partitions("universe", days, tmp_path),
    )
    _stray(tmp_path, kind)
    assert lake.read_partition("universe", days[0], tmp_path).equals(one)
    assert lake.read_partitions("universe", days, tmp_path).equals(both)
    assert lake.partition_exists("universe", days[0], tmp_path)

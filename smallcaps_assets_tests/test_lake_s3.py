"""The lake in an object store: the whole graph over two sessions on an S3 endpoint (moto's
server, started here) writes the same bytes as on a local disk, in the hive layout, with no
temporary key ever visible; DuckDB reads it through the registered fsspec filesystem, and
``smallcaps sql`` works against it."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import boto3
import polars as pl
import pytest
from typer.testing import CliRunner

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake, lake_sql
from smallcaps_assets.cli import app
from smallcaps_assets.materialize import materialize_range

from .defs.conftest import DAY, RULES_ONLY_RUN
from .servers import S3_ENV, moto_s3

# Beyond one machine: CI runs these with the Postgres tests (``pytest -m "postgres or s3"``).
pytestmark = [pytest.mark.s3, pytest.mark.slow]

BUCKET = "lake"
ROOT = f"s3://{BUCKET}/smallcaps"
DAYS = (DAY, cal.next_trading_day(DAY))
KEY = re.compile(r"^smallcaps/([a-z_]+)/date=(\d{4}-\d{2}-\d{2})/part-0\.parquet$")


def _keys(endpoint: str) -> dict[str, bytes]:
    s3 = boto3.client("s3", endpoint_url=endpoint)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
    return out


def _local_files(root: Path) -> dict[str, bytes]:
    return {
        f"smallcaps/{p.relative_to(root).as_posix()}": p.read_bytes()
        for p in root.rglob("part-*.parquet")
        if "_state" not in p.parts
    }


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    with moto_s3(BUCKET) as endpoint, pytest.MonkeyPatch.context() as mp:
        for k, v in {**S3_ENV, "AWS_ENDPOINT_URL": endpoint}.items():
            mp.setenv(k, v)
        mp.delenv("DAGSTER_HOME", raising=False)
        yield endpoint, mp


@pytest.fixture(scope="module")
def lakes(s3_env, warm_lake, polygon, tmp_path_factory):
    """The graph over DAYS twice from the same warm lake: on a local disk, then on S3."""
    endpoint, mp = s3_env
    local = tmp_path_factory.mktemp("local") / "lake"
    shutil.copytree(warm_lake, local, ignore=shutil.ignore_patterns("_state", "*.duckdb*"))
    s3 = boto3.client("s3", endpoint_url=endpoint)
    for path, body in _local_files(local).items():
        s3.put_object(Bucket=BUCKET, Key=path, Body=body)
    runs = {}
    for name, root in (("local", str(local)), ("s3", ROOT)):
        mp.setenv("SMALLCAPS_DATA_DIR", root)
        mp.setenv("SMALLCAPS_STATE_DIR", str(tmp_path_factory.mktemp(f"state-{name}")))
        out = materialize_range(
            "*", DAYS[0], DAYS[-1], run_config=RULES_ONLY_RUN, resources={"polygon": polygon}
        )
        assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
        runs[name] = out
    return local, runs


def test_the_graph_on_s3_writes_the_same_bytes_in_the_hive_layout(s3_env, lakes):
    endpoint, _ = s3_env
    local, runs = lakes
    remote = _keys(endpoint)
    # every object is a committed partition file: no temporary key, no catalogue, no state
    assert all(KEY.match(k) for k in remote), [k for k in remote if not KEY.match(k)]
    written = {m["path"] for d in runs["s3"].days for m in d.metadata.values() if "path" in m}
    assert len(written) >= 15 and all(p.startswith(f"{ROOT}/") for p in written)
    assert {KEY.match(k).group(1) for k in remote} >= {"intraday_events", "event_trades", "event_quotes"}
    assert remote == _local_files(local)  # the same files, byte for byte


def test_duckdb_and_smallcaps_sql_read_the_s3_lake(s3_env, lakes, monkeypatch):
    local, _ = lakes
    query = "select cast(date as varchar) d, count(*) n from intraday_events group by 1 order by 1"
    with lake_sql.reader(str(local)) as con:
        expected = con.execute(query).fetchall()
    with lake_sql.reader(ROOT) as con:
        assert con.execute(query).fetchall() == expected
    assert [d for d, _ in expected] == [d.isoformat() for d in DAYS]
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", ROOT)
    out = CliRunner().invoke(app, ["sql", query])
    assert out.exit_code == 0, out.output
    for d, n in expected:
        assert re.search(rf"{d}\s*┆\s*{n}\b", out.output), out.output
    listed = CliRunner().invoke(app, ["sql"])
    assert f"in-memory, read-only views of {ROOT}" in listed.output and "event_trades" in listed.output


def test_a_failed_write_to_s3_keeps_the_old_object(s3_env, monkeypatch):
    endpoint, _ = s3_env
    day = dt.date(2024, 1, 3)
    old = lake.write_partition("universe", day, pl.DataFrame({"symbol": ["A"]}), root=ROOT)

    def broken(self, *args, **kwargs):
        raise OSError("disk gone")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", broken)
    with pytest.raises(OSError, match="disk gone"):
        lake.write_partition("universe", day, pl.DataFrame({"symbol": ["B"]}), root=ROOT)
    monkeypatch.undo()
    assert lake.read_partition("universe", day, ROOT)["symbol"].to_list() == ["A"]
    keys = [k for k in _keys(endpoint) if "universe/date=2024-01-03" in k]
    assert keys == ["smallcaps/universe/date=2024-01-03/part-0.parquet"]
    assert old.path == f"{ROOT}/universe/date=2024-01-03/part-0.parquet"

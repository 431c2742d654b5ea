"""daily_bars and minute_bars from the vendor's flat files (a folder or S3) equal the REST path.

The aggregate flat files carry no VWAP; it is rebuilt from trades_v1 with the vendor's bar rules
(stages/trade_rules.py), so the partitions are identical (``DataFrame.equals``) to REST ones.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.polygon import sim_market
from smallcaps_assets.sim.flatfiles import write_flatfiles

from ..servers import S3_ENV, moto_s3
from .conftest import DAY, PIPE_CONFIG, ROOTS

DAYS = [cal.previous_trading_day(DAY), DAY]
BARS = "key:daily_bars or key:minute_bars"
CONTEXT_ASSETS = ("ticker_reference", "corporate_actions", "universe")
AGGS = ("day_aggs_v1", "minute_aggs_v1")


def _flat_config(root: str, assets=("daily_bars", "minute_bars")) -> dict:
    return {"ops": {a: {"config": {"source": "flatfiles", "flatfiles_root": root}} for a in assets}}


def _lake_with_context(src: Path, dst: Path, days=DAYS) -> Path:
    """A lake holding only what the bar assets read besides the vendor: reference, actions, universe."""
    for asset in CONTEXT_ASSETS:
        for d in days:
            frame = lake.read_partition(asset, d, src)
            assert frame is not None, (asset, d)
            lake.write_partition(asset, d, frame, root=dst)
    return dst


@pytest.fixture(scope="module")
def rest_lake(warm_lake, polygon, tmp_path_factory) -> Path:
    """A copy of the warm lake plus, for DAYS, the roots, universe and minute bars over REST."""
    root = tmp_path_factory.mktemp("rest_lake")
    shutil.copytree(warm_lake, root, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMALLCAPS_DATA_DIR", str(root))
        out = materialize_range(
            f"{ROOTS} or key:universe or key:minute_bars", DAYS[0], DAYS[-1], resources={"polygon": polygon}
        )
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    return root


@pytest.fixture(scope="module")
def flat_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("flatfiles")
    write_flatfiles(sim_market(PIPE_CONFIG), root, DAYS[0], DAYS[-1], datasets=(*AGGS, "trades_v1"))
    return root


@pytest.fixture(scope="module")
def flat_run(rest_lake, flat_root, polygon, tmp_path_factory):
    """daily_bars and minute_bars for DAYS from the local flat files, in a second lake."""
    root = _lake_with_context(rest_lake, tmp_path_factory.mktemp("flat_lake"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMALLCAPS_DATA_DIR", str(root))
        out = materialize_range(
            BARS, DAYS[0], DAYS[-1], run_config=_flat_config(str(flat_root)), resources={"polygon": polygon}
        )
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    return root, out


@pytest.mark.parametrize("asset", ["daily_bars", "minute_bars"])
def test_flat_file_partitions_equal_rest(rest_lake, flat_run, asset):
    flat_lake, out = flat_run
    for i, day in enumerate(DAYS):
        rest = lake.read_partition(asset, day, rest_lake)
        flat = lake.read_partition(asset, day, flat_lake)
        assert rest.height > 0 and rest["vwap"].null_count() == 0
        assert flat.equals(rest), (asset, day)
        meta = out.days[i].metadata[asset]
        assert meta["source"] == "flatfiles"
        assert meta["vwap_source"] == "trades_v1"
        assert meta["vwap_volume_mismatches"] == 0
        assert "api_calls" not in meta  # no vendor request on this path


def test_without_trades_vwap_is_null_and_says_so(rest_lake, flat_root, polygon, tmp_path, monkeypatch):
    aggs_only = tmp_path / "aggs_only"
    for dataset in AGGS:
        shutil.copytree(flat_root / "us_stocks_sip" / dataset, aggs_only / "us_stocks_sip" / dataset)
    target = _lake_with_context(rest_lake, tmp_path / "lake", days=[DAY])
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(target))
    out = materialize_range(
        BARS, DAY, DAY, run_config=_flat_config(str(aggs_only)), resources={"polygon": polygon}
    )
    assert out.success, out.days[0].error
    for asset in ("daily_bars", "minute_bars"):
        assert out.days[0].metadata[asset]["vwap_source"] == "none"
        flat = lake.read_partition(asset, DAY, target)
        rest = lake.read_partition(asset, DAY, rest_lake)
        assert flat["vwap"].null_count() == flat.height
        if asset == "minute_bars":
            # Without a VWAP no bar is judged for bad prints: the vendor's prices, everywhere.
            assert not flat["bad_print"].any()
            raw = ["raw_open", "raw_high", "raw_low", "raw_close", "raw_vwap"]
            vendor = {c: pl.coalesce(f"raw_{c}", c) for c in ("open", "high", "low", "close")}
            flat, rest = flat.drop(raw, "bad_print"), rest.with_columns(**vendor).drop(raw, "bad_print")
        assert flat.drop("vwap").equals(rest.drop("vwap")), asset


def test_a_missing_aggregate_file_fails_clearly_and_writes_nothing(rest_lake, polygon, tmp_path, monkeypatch):
    target = _lake_with_context(rest_lake, tmp_path / "lake", days=[DAY])
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(target))
    empty = tmp_path / "no_files"
    empty.mkdir()
    cfg = _flat_config(str(empty), ("daily_bars",))
    out = materialize_range("key:daily_bars", DAY, DAY, run_config=cfg, resources={"polygon": polygon})
    assert not out.success
    assert f"no day_aggs_v1 flat file for {DAY}" in out.days[0].error
    assert not lake.partition_exists("daily_bars", DAY, target)
    # A holiday is not a partition at all: refused before any run.
    with pytest.raises(ValueError, match="not an NYSE trading day"):
        materialize_range("key:daily_bars", dt.date(2024, 1, 15), run_config=cfg)


# ------------------------------------------------------------------------------------------ S3


@pytest.fixture(scope="module")
def s3_endpoint(flat_root):
    """A local S3-compatible server (moto) with bucket ``flatfiles`` holding the flat files."""
    import boto3

    with moto_s3("flatfiles") as endpoint, pytest.MonkeyPatch.context() as mp:
        for k, v in {**S3_ENV, "SMALLCAPS_FLATFILES_ENDPOINT": endpoint}.items():
            mp.setenv(k, v)
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        for path in sorted(flat_root.rglob("*.csv.gz")):
            s3.upload_file(str(path), "flatfiles", path.relative_to(flat_root).as_posix())
        yield endpoint


def test_s3_flat_files_equal_rest(s3_endpoint, rest_lake, polygon, tmp_path, monkeypatch):
    target = _lake_with_context(rest_lake, tmp_path / "lake", days=[DAY])
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(target))
    cfg = _flat_config("s3://flatfiles", ("daily_bars",))
    out = materialize_range("key:daily_bars", DAY, DAY, run_config=cfg, resources={"polygon": polygon})
    assert out.success, out.days[0].error
    assert out.days[0].metadata["daily_bars"]["vwap_source"] == "trades_v1"
    assert lake.read_partition("daily_bars", DAY, target).equals(
        lake.read_partition("daily_bars", DAY, rest_lake)
    )


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (
            "s3://flatfiles/not-uploaded",
            "no day_aggs_v1 flat file for 2024-03-06 at s3://flatfiles/not-uploaded/",
        ),
        ("s3://no-such-bucket", "NoSuchBucket"),
    ],
)
def test_s3_missing_object_fails_clearly_and_writes_nothing(
    s3_endpoint, rest_lake, polygon, tmp_path, monkeypatch, root, message
):
    target = _lake_with_context(rest_lake, tmp_path / "lake", days=[DAY])
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(target))
    cfg = _flat_config(root, ("daily_bars",))
    out = materialize_range("key:daily_bars", DAY, DAY, run_config=cfg, resources={"polygon": polygon})
    assert not out.success
    assert message in out.days[0].error
    assert "testing" not in out.days[0].error  # no credential in the message
    assert not lake.partition_exists("daily_bars", DAY, target)


def test_trade_vwap_is_the_same_in_small_batches(flat_root, monkeypatch):
    """Streaming trades_v1 in tiny record batches gives the same sums (exact tick arithmetic)."""
    from smallcaps_assets import flatfiles_source

    whole = flatfiles_source.trade_vwap(str(flat_root), DAY, daily=False)
    monkeypatch.setattr(flatfiles_source, "BATCH_BYTES", 1 << 16)
    batched = flatfiles_source.trade_vwap(str(flat_root), DAY, daily=False)
    assert batched.equals(whole)
    # A minute whose only prints count in no volume (e.g. the official close) has v == 0 and no VWAP.
    priced = whole.filter(pl.col("v") > 0)
    assert priced.height and priced.filter(pl.col("vw").is_null() | pl.col("vw").is_nan()).is_empty()

"""The lake's storage footprint: bytes and files per asset per partition as measured, and a
projection of both to another span of sessions and another market size.

Pure polars over a file listing (local disk or object store through fsspec): nothing here knows
about Dagster. ``smallcaps storage`` prints it; docs/operations.md records the projection of the
full history beside the old system's size.

The projection is linear and says so: an asset's mean bytes and files per partition, times the
partitions it would have in the target span, times the ratio of the target market's tickers to the
measured market's. An asset that does not write every session (it skips days with nothing to
hold) keeps its measured coverage: partitions written / sessions between its first and last.
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl

from . import calendar as cal
from . import lake
from .asset_names import MONTHLY, TICKER_REFERENCE

# <asset>/date=<YYYY-MM-DD>/part-N.parquet under the lake root: committed files only, as the
# readers see them (a writer's temporary dot-file and the _state folder never match).
_FILE = re.compile(r"(?:^|/)([a-z_][a-z0-9_]*)/date=(\d{4}-\d{2}-\d{2})/part-[^/]*\.parquet$")

MEASURED_SCHEMA = {"asset": pl.String, "date": pl.Date, "files": pl.Int64, "bytes": pl.Int64}


def measure(root: str | None = None) -> pl.DataFrame:
    """One row per (asset, partition) of the lake: its committed files and their bytes."""
    base = lake.lake_root(root)
    fs = base.fs
    prefix = base.path.rstrip("/")
    listing = fs.glob(f"{prefix}/*/date=*/{lake.PART_GLOB}", detail=True)
    rows = []
    for path, info in listing.items():
        m = _FILE.search(str(path))
        if m and not m.group(1).startswith("_"):
            rows.append((m.group(1), dt.date.fromisoformat(m.group(2)), int(info["size"])))
    files = pl.DataFrame(rows, schema=["asset", "date", "bytes"], orient="row")
    files = files.cast({"asset": pl.String, "date": pl.Date, "bytes": pl.Int64})
    return (
        files.group_by("asset", "date")
        .agg(pl.len().cast(pl.Int64).alias("files"), pl.col("bytes").sum())
        .select(list(MEASURED_SCHEMA))
        .sort("asset", "date")
    )


def _sessions(asset: str, start: dt.date, end: dt.date) -> int:
    """The partitions ``asset`` has between two dates: trading days, or months for a monthly asset."""
    days = cal.trading_days(start, end)
    if asset in MONTHLY:
        return len({(d.year, d.month) for d in days})
    return len(days)


def per_partition(measured: pl.DataFrame) -> pl.DataFrame:
    """Per asset: the partitions measured, their mean files and bytes, and the coverage (the
    share of the sessions between the asset's first and last partition that have one)."""
    if measured.is_empty():
        raise ValueError("the lake holds no partition file to measure")
    out = (
        measured.group_by("asset")
        .agg(
            pl.len().alias("partitions"),
            pl.col("date").min().alias("first"),
            pl.col("date").max().alias("last"),
            pl.col("files").mean().alias("files_per_partition"),
            pl.col("bytes").mean().alias("bytes_per_partition"),
            pl.col("bytes").sum().alias("bytes"),
            pl.col("files").sum().alias("files"),
        )
        .sort("asset")
    )
    span = [_sessions(a, f, last) for a, f, last in zip(out["asset"], out["first"], out["last"], strict=True)]
    return out.with_columns((pl.col("partitions") / pl.Series(span, dtype=pl.Float64)).alias("coverage"))


def measured_tickers(root: str | None = None, measured: pl.DataFrame | None = None) -> float:
    """The measured market's size: the mean row count of its ``ticker_reference`` partitions
    (every listed ticker of the day)."""
    measured = measure(root) if measured is None else measured
    days = measured.filter(pl.col("asset") == TICKER_REFERENCE)["date"].to_list()
    if not days:
        raise ValueError("the lake holds no ticker_reference partition: the market size is unknown")
    rows = [lake.read_partition(TICKER_REFERENCE, d, root).height for d in days]
    return sum(rows) / len(rows)


def project(measured: pl.DataFrame, start: dt.date, end: dt.date, scale: float = 1.0) -> pl.DataFrame:
    """Each asset's projected partitions, files and bytes over ``start``..``end`` (inclusive),
    the market ``scale`` times the measured one. Files scale with partitions only (one file per
    asset per partition); bytes with partitions and the market."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    if scale <= 0:
        raise ValueError(f"the market scale must be positive, not {scale}")
    stats = per_partition(measured)
    target = pl.Series([_sessions(a, start, end) for a in stats["asset"]], dtype=pl.Float64)
    return stats.select(
        "asset",
        pl.col("partitions").alias("measured_partitions"),
        "files_per_partition",
        "bytes_per_partition",
        "coverage",
        (target * pl.col("coverage")).round(0).cast(pl.Int64).alias("partitions"),
    ).with_columns(
        (pl.col("partitions") * pl.col("files_per_partition")).round(0).cast(pl.Int64).alias("files"),
        (pl.col("partitions") * pl.col("bytes_per_partition") * scale).round(0).cast(pl.Int64).alias("bytes"),
    )


def human_bytes(n: float) -> str:
    """``n`` bytes in the largest binary unit that keeps it at or above 1 (1536 -> '1.5 KiB')."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")

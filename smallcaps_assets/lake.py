"""The data lake: hive-partitioned Parquet under ``$SMALLCAPS_DATA_DIR`` (default ``data/``).

Layout: ``<root>/<asset>/date=YYYY-MM-DD/part-0.parquet``, zstd, sorted by the asset's key.
Paths go through universal-pathlib so ``s3://bucket/prefix`` works the same way (s3fs; the
endpoint and credentials come from the standard ``AWS_*`` variables, ``AWS_ENDPOINT_URL`` included).

Our own small IO layer (not an IO manager) because range runs and symbol backfills must write
their own files, and Dagster's UPath IO managers refuse multi-partition outputs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import io
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from upath import UPath

DEFAULT_ROOT = "data"
PART_FILE = "part-0.parquet"
# Committed files only: a writer's ``.tmp-*`` file (complete or cut short by a crash) and any other
# dot-file never match, so a stray one can neither double a day's rows nor break a query.
PART_GLOB = "part-*.parquet"


def lake_root(root: str | os.PathLike | None = None) -> UPath:
    text = str(root or os.environ.get("SMALLCAPS_DATA_DIR") or DEFAULT_ROOT)
    if "://" not in text:
        return UPath(text)
    # No listings cache: other processes and machines write the same prefixes, and a cached
    # listing would call their new partitions missing (s3fs answers ``exists`` from it).
    return UPath(text, use_listings_cache=False)


def is_remote(root: str | os.PathLike | None = None) -> bool:
    """Whether the lake lives in an object store (``s3://...``) rather than on a local disk."""
    return not _is_local(lake_root(root))


def filesystem(root: str | os.PathLike | None = None):
    """The lake's fsspec filesystem (what DuckDB registers to read an object-store lake)."""
    return lake_root(root).fs


def state_dir(root: str | os.PathLike | None = None) -> Path:
    """Local working state beside the lake (download ledgers): ``$SMALLCAPS_STATE_DIR``, else
    ``<lake root>/_state`` when the lake is local. The underscore keeps it out of every asset glob.
    A remote lake needs ``SMALLCAPS_STATE_DIR`` on a local disk: SQLite cannot live on S3."""
    env = os.environ.get("SMALLCAPS_STATE_DIR")
    if env:
        return Path(env)
    base = lake_root(root)
    if not _is_local(base):
        raise ValueError(f"the lake at {base} is remote: set SMALLCAPS_STATE_DIR to a local folder")
    return Path(base.path) / "_state"


def partition_dir(asset: str, date: dt.date | str, root: str | os.PathLike | None = None) -> UPath:
    day = date if isinstance(date, str) else date.isoformat()
    dt.date.fromisoformat(day)  # refuse anything that is not a calendar date
    if not asset.isidentifier():
        raise ValueError(f"asset name {asset!r} is not a plain identifier")
    return lake_root(root) / asset / f"date={day}"


def partition_file(asset: str, date: dt.date | str, root: str | os.PathLike | None = None) -> UPath:
    return partition_dir(asset, date, root) / PART_FILE


@dataclass(frozen=True)
class WrittenPartition:
    path: str
    rows: int
    bytes: int
    sha256: str

    def metadata(self) -> dict[str, object]:
        """The partition's file facts for its materialisation. ``files`` is always 1 (a partition
        is one committed file); it is there so the storage footprint reads per asset per
        partition from the event log as from the lake (storage.py)."""
        return {
            "path": self.path,
            "rows": self.rows,
            "bytes": self.bytes,
            "files": 1,
            "content_sha256": self.sha256,
        }


def _is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def _lock_file(asset: str, date: dt.date | str, root: str | os.PathLike | None) -> Path:
    day = partition_dir(asset, date, root).name  # validates the asset and the date
    try:
        base = state_dir(root)
    except ValueError:  # a remote lake without SMALLCAPS_STATE_DIR: serialise writers on this machine
        lake_id = hashlib.sha256(str(lake_root(root)).encode()).hexdigest()[:16]
        base = Path(tempfile.gettempdir()) / "smallcaps-state" / lake_id
    return base / "locks" / asset / f"{day}.lock"


@contextlib.contextmanager
def partition_lock(asset: str, date: dt.date | str, root: str | os.PathLike | None = None) -> Iterator[None]:
    """Hold the exclusive write lock of one partition (blocking until it is free).

    A by-symbol repair reads a partition, swaps some symbols' rows and writes it back; two repairs
    of one day at once would each write the file they read plus their own rows, and the second
    rename would drop the first's. Every writer takes this lock, so the read-modify-write is atomic.
    It is an ``flock`` on a file under the state folder (``_state/locks``, never beside the
    partition files): it serialises threads and processes on one machine and is released when its
    holder dies, so a killed writer never leaves a stale lock. A remote lake serialises the writers
    of one machine only.
    """
    path = _lock_file(asset, date, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def write_partition(
    asset: str,
    date: dt.date | str,
    frame: pl.DataFrame,
    sort_by: list[str] | None = None,
    root: str | os.PathLike | None = None,
) -> WrittenPartition:
    """Replace one partition atomically: write a temporary file beside it, then rename.

    A reader sees either the old file or the new one, never half of one; a crash leaves at most a
    stray ``.tmp-*`` file, which readers ignore. The write holds the partition's lock, so it never
    lands in the middle of a by-symbol repair of the same day.
    """
    with partition_lock(asset, date, root):
        return _write_unlocked(asset, date, frame, sort_by, root)


def _write_unlocked(
    asset: str,
    date: dt.date | str,
    frame: pl.DataFrame,
    sort_by: list[str] | None,
    root: str | os.PathLike | None,
) -> WrittenPartition:
    if sort_by:
        frame = frame.sort(sort_by)
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    data = buf.getvalue()
    target = partition_file(asset, date, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _is_local(target):
        tmp = target.parent / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            with open(tmp.path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp.path, target.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp.path)
            raise
    else:
        # An object store has no rename, and needs none: a PUT (or a multipart upload's final
        # CompleteMultipartUpload) makes the whole object visible at once, the old one until then.
        # No temporary key is written, so nothing can ever match the readers' ``part-*`` glob.
        target.write_bytes(data)
    return WrittenPartition(str(target), frame.height, len(data), hashlib.sha256(data).hexdigest())


def read_partition(
    asset: str, date: dt.date | str, root: str | os.PathLike | None = None
) -> pl.DataFrame | None:
    path = partition_file(asset, date, root)
    if not path.exists():
        return None
    with path.open("rb") as fh:
        return pl.read_parquet(fh)


def read_partitions(
    asset: str, dates: list[dt.date] | list[str], root: str | os.PathLike | None = None
) -> pl.DataFrame | None:
    """Concatenate several partitions, adding a ``date`` column; None if none exist."""
    frames = []
    for d in dates:
        df = read_partition(asset, d, root)
        if df is not None:
            day = d if isinstance(d, dt.date) else dt.date.fromisoformat(d)
            frames.append(
                df.with_columns(date=pl.lit(day, dtype=pl.Date)) if "date" not in df.columns else df
            )
    return pl.concat(frames, how="diagonal_relaxed") if frames else None


def partition_exists(asset: str, date: dt.date | str, root: str | os.PathLike | None = None) -> bool:
    return partition_file(asset, date, root).exists()


def replace_symbols(
    asset: str,
    date: dt.date | str,
    fresh: pl.DataFrame,
    symbols: list[str],
    sort_by: list[str],
    symbol_column: str = "symbol",
    root: str | os.PathLike | None = None,
) -> WrittenPartition:
    """Backfill by symbol: swap only ``symbols``' rows of one partition, keep every other row.

    Read, swap and write happen under the partition's lock: a concurrent repair of other symbols
    of the same day waits, then reads this one's result, so both repairs' rows are kept."""
    with partition_lock(asset, date, root):
        existing = read_partition(asset, date, root)
        keep = fresh.filter(pl.col(symbol_column).is_in(symbols))
        if existing is not None:
            others = existing.filter(~pl.col(symbol_column).is_in(symbols))
            keep = pl.concat([others, keep.select(others.columns)], how="vertical_relaxed")
        return _write_unlocked(asset, date, keep, sort_by, root)


def asset_glob(asset: str, root: str | os.PathLike | None = None) -> str:
    """Every committed partition file of ``asset`` (temp and hidden files excluded)."""
    return str(lake_root(root) / asset / "date=*" / PART_GLOB)


def partitions_sha256(asset: str, dates: list[dt.date], root: str | os.PathLike | None = None) -> str:
    """One content hash of ``asset``'s partition files over ``dates`` (the missing ones left
    out): the sha256 of each day and its file's sha256, in date order. It changes when any file's
    bytes do, or when a day appears or goes."""
    digest = hashlib.sha256()
    for day in sorted(dates):
        path = partition_file(asset, day, root)
        if path.exists():
            digest.update(f"{day.isoformat()}:{hashlib.sha256(path.read_bytes()).hexdigest()}\n".encode())
    return digest.hexdigest()

"""Reading the vendor's flat files from a local folder or an S3 URL (real or S3-compatible).

``root`` is a folder or ``s3://bucket[/prefix]`` holding ``us_stocks_sip/<dataset>/YYYY/MM/
YYYY-MM-DD.csv.gz``. S3 goes through boto3 with SigV4 and path-style addressing; the endpoint
comes from ``SMALLCAPS_FLATFILES_ENDPOINT`` (default the vendor's ``https://files.massive.com``)
and the keys from the standard AWS variables, never from our config.

Day and minute aggregate files are small and read whole (``read``). ``trades_v1`` is the whole
SIP's prints of a session (gigabytes on the real feed), so ``trade_vwap`` streams it in record
batches and keeps only additive sums per (ticker, bucket): memory is bounded by the number of
bars, not by the number of trades.

A missing object is ``None`` (the caller decides what that means); any other storage error
(wrong bucket, credentials, endpoint) raises ``FlatFileError`` naming the object, never a secret.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO
from urllib.parse import urlparse

import polars as pl

from . import calendar as cal
from .sim.flatfiles import SCHEMAS, flatfile_key, read_flatfile
from .stages import trade_rules

DEFAULT_ENDPOINT = "https://files.massive.com"
ENDPOINT_ENV = "SMALLCAPS_FLATFILES_ENDPOINT"
# Columns of trades_v1 the bar rules need (the rest is never parsed).
TRADE_RULE_COLUMNS = ("ticker", "conditions", "correction", "price", "size", "sip_timestamp")
# Uncompressed CSV bytes per record batch when streaming trades_v1.
BATCH_BYTES = 32 << 20


class FlatFileError(RuntimeError):
    """A flat file could not be read for a reason other than its absence."""


def location(root: str, dataset: str, day: dt.date) -> str:
    """Where ``dataset``'s file for ``day`` lives under ``root`` (for messages)."""
    return f"{root.rstrip('/')}/{flatfile_key(dataset, day)}"


def _s3_client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get(ENDPOINT_ENV, DEFAULT_ENDPOINT),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    )


def _s3_target(root: str, dataset: str, day: dt.date) -> tuple[str, str]:
    url = urlparse(root)
    prefix = url.path.strip("/")
    key = flatfile_key(dataset, day)
    return url.netloc, (f"{prefix}/{key}" if prefix else key)


@contextlib.contextmanager
def open_stream(root: str, dataset: str, day: dt.date) -> Iterator[IO[bytes] | None]:
    """The (gzip) bytes of one day's file as a binary stream, or None when there is no such file."""
    if root.startswith("s3://"):
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, key = _s3_target(root, dataset, day)
        body = None
        try:
            body = _s3_client().get_object(Bucket=bucket, Key=key)["Body"]
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code not in ("NoSuchKey", "404", "NotFound"):
                raise FlatFileError(f"cannot read s3://{bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, no credentials, ...
            raise FlatFileError(f"cannot read s3://{bucket}/{key}: {type(exc).__name__}: {exc}") from exc
        try:
            yield body
        finally:
            if body is not None:
                body.close()
        return
    path = Path(root) / flatfile_key(dataset, day)
    if not path.exists():
        yield None
        return
    with path.open("rb") as fh:
        yield fh


def fetch(root: str, dataset: str, day: dt.date) -> bytes | None:
    """The raw gzip bytes of one day's file, or None when the vendor has no file (no session)."""
    with open_stream(root, dataset, day) as stream:
        return None if stream is None else stream.read()


def read(root: str, dataset: str, day: dt.date) -> pl.DataFrame | None:
    raw = fetch(root, dataset, day)
    return None if raw is None else read_flatfile(raw, dataset)


def iter_batches(
    stream: IO[bytes],
    dataset: str,
    columns: tuple[str, ...],
    tickers: set[str] | None = None,
    batch_bytes: int | None = None,
) -> Iterator[pl.DataFrame]:
    """Record batches of a gzip CSV flat file with ``columns`` typed as ``read_flatfile`` types them
    (condition lists as ``list[int32]``), optionally only the rows of ``tickers``."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    schema = SCHEMAS[dataset]
    list_cols = [c for c in columns if schema[c] == pl.List(pl.Int32)]
    arrow_types = {
        pl.String: pa.string(),
        pl.Int32: pa.int32(),
        pl.Int64: pa.int64(),
        pl.Float64: pa.float64(),
    }
    types = {c: (pa.string() if c in list_cols else arrow_types[schema[c]]) for c in columns}
    try:
        reader = pacsv.open_csv(
            pa.input_stream(stream, compression="gzip"),
            read_options=pacsv.ReadOptions(block_size=batch_bytes or BATCH_BYTES),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=list(columns), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, KeyError) as exc:
        raise ValueError(f"unexpected {dataset} file: {exc}") from exc
    empty = pl.lit([], dtype=pl.List(pl.Int32))
    wanted = None if tickers is None else sorted(tickers)
    for batch in reader:
        frame = pl.from_arrow(pa.Table.from_batches([batch]))
        assert isinstance(frame, pl.DataFrame)
        if wanted is not None:
            frame = frame.filter(pl.col("ticker").is_in(wanted))
        yield frame.with_columns(
            [
                pl.when(pl.col(c).is_null() | (pl.col(c) == ""))
                .then(empty)
                .otherwise(pl.col(c).str.split(",").cast(pl.List(pl.Int32)))
                .alias(c)
                for c in list_cols
            ]
        )


def trade_vwap(
    root: str, day: dt.date, *, daily: bool, tickers: list[str] | None = None
) -> pl.DataFrame | None:
    """VWAP per ticker (``daily``: one session bar, consolidated rules) or per ticker-minute
    (``bucket`` = the minute's start in ns) from the day's ``trades_v1`` file, by exactly the
    vendor's bar rules (``stages.trade_rules``). Columns: ticker, bucket, v, vw.

    ``v`` is the volume of the volume-eligible prints, to compare with the aggregate files'
    volume. None when the day has no trades_v1 file under ``root``.
    """
    if daily:
        bucket = trade_rules.DAY_BUCKET
    else:
        sess = cal.session(day)
        if sess is None:
            raise ValueError(f"{day} is not an NYSE trading day")
        midnight_ns = int(dt.datetime.combine(day, dt.time(0), tzinfo=cal.NY).timestamp()) * 1_000_000_000
        bucket = trade_rules.minute_bucket(midnight_ns)
    wanted = None if tickers is None else set(tickers)
    with open_stream(root, "trades_v1", day) as stream:
        if stream is None:
            return None
        parts = (
            trade_rules.vwap_parts(batch, bucket, daily=daily)
            for batch in iter_batches(stream, "trades_v1", TRADE_RULE_COLUMNS, wanted)
        )
        empty = pl.DataFrame(
            schema={"ticker": pl.String, "bucket": pl.Int64, "pv": pl.Float64, "v": pl.Float64}
        )
        return trade_rules.vwap_from_parts(itertools.chain([empty], parts))

"""Reading the vendor's flat files from a local folder or an S3 URL (real or S3-compatible).

``root`` is a folder or ``s3://bucket[/prefix]`` holding ``us_stocks_sip/<dataset>/YYYY/MM/
YYYY-MM-DD.csv.gz``. S3 goes through boto3 with SigV4 and path-style addressing; the endpoint
comes from ``SMALLCAPS_FLATFILES_ENDPOINT`` (default the vendor's ``https://files.massive.com``)
and the keys from the standard AWS variables, never from our config.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from urllib.parse import urlparse

import polars as pl

from .sim.flatfiles import flatfile_key, read_flatfile

DEFAULT_ENDPOINT = "https://files.massive.com"


def _s3_client():
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get("SMALLCAPS_FLATFILES_ENDPOINT", DEFAULT_ENDPOINT),
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 5}),
    )


def fetch(root: str, dataset: str, day: dt.date) -> bytes | None:
    """The raw gzip bytes of one day's file, or None when the vendor has no file (no session)."""
    key = flatfile_key(dataset, day)
    if root.startswith("s3://"):
        url = urlparse(root)
        prefix = url.path.strip("/")
        full = f"{prefix}/{key}" if prefix else key
        client = _s3_client()
        try:
            return client.get_object(Bucket=url.netloc, Key=full)["Body"].read()
        except client.exceptions.NoSuchKey:
            return None
    path = Path(root) / key
    return path.read_bytes() if path.exists() else None


def read(root: str, dataset: str, day: dt.date) -> pl.DataFrame | None:
    raw = fetch(root, dataset, day)
    return None if raw is None else read_flatfile(raw, dataset)

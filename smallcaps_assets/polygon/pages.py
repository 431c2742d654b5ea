"""Page bodies: the ``results`` of an envelope, and tick pages parsed straight into polars frames."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import polars as pl

from . import models as m


def results(body: Any) -> list[Any]:
    """The ``results`` list of an envelope (``[]`` when absent); a bare array as is."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return []
    results = body.get("results")
    if results is None:
        return []
    return results if isinstance(results, list) else [results]


def tick_parser(struct: pl.Struct, required: tuple[str, ...]) -> Callable[[bytes], dict]:
    """A page parser for ``ticks_frame``: the envelope's keys plus ``frame``, the results."""
    schema = {
        "results": pl.List(struct),
        "status": pl.String,
        "request_id": pl.String,
        "next_url": pl.String,
        "error": pl.String,
        "message": pl.String,
    }
    columns = {f.name: f.dtype for f in struct.fields}

    def parse(content: bytes) -> dict:
        env = pl.read_json(io.BytesIO(content), schema=schema)
        if env.height != 1:
            raise ValueError("expected one JSON object")
        status, request_id, next_url, error, message = env.select(
            "status", "request_id", "next_url", "error", "message"
        ).row(0)
        inner = env.get_column("results")[0]  # the page's list as a struct Series (no Python rows)
        frame = pl.DataFrame(schema=columns) if inner is None or len(inner) == 0 else inner.struct.unnest()
        missing = [c for c in required if frame[c].null_count()]
        if missing:
            raise ValueError(f"results without {', '.join(missing)}")
        return {
            "status": status,
            "request_id": request_id,
            "next_url": next_url,
            "message": error or message,
            "frame": frame,
        }

    return parse


TICK_PARSERS = {
    "trades": tick_parser(m.TRADE_STRUCT, ("sip_timestamp", "price", "size")),
    "quotes": tick_parser(m.QUOTE_STRUCT, ("sip_timestamp",)),
}

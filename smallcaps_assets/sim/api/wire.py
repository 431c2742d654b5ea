"""What goes on the wire: JSON bytes, the vendor's number formats, JSON and error responses."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pydantic_core
from starlette.responses import Response

from .params import ApiError


def native(value: Any) -> Any:
    """Plain Python values for JSON: numpy scalars converted, NaN/inf dropped from objects."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = native(v)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                continue
            out[k] = v
        return out
    if isinstance(value, (list, tuple)):
        items = [native(v) for v in value]
        return [v for v in items if not (isinstance(v, float) and not math.isfinite(v))]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


class RawJson(bytes):
    """JSON text already encoded (a tick page's rows, written column-wise), spliced into a body's
    top-level object as is by ``dumps``."""


def dumps(body: Any) -> bytes:
    if isinstance(body, dict) and any(isinstance(v, RawJson) for v in body.values()):
        parts = (_dumps(k) + b":" + (v if isinstance(v, RawJson) else _dumps(v)) for k, v in body.items())
        return b"{" + b",".join(parts) + b"}"
    return _dumps(body)


def _dumps(body: Any) -> bytes:
    # pydantic-core's Rust encoder is ~3x faster than json.dumps on tick pages, which made it the
    # simulator's largest cost after generation. It writes NaN/Infinity literally where json.dumps
    # would raise, so any body containing those tokens takes the strict, slower path instead.
    try:
        out = pydantic_core.to_json(body)
    except pydantic_core.PydanticSerializationError:
        out = b"NaN"
    if b"NaN" not in out and b"Infinity" not in out:
        return out
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError):
        return json.dumps(native(body), separators=(",", ":"), allow_nan=False).encode()


def num(x: float) -> int | float:
    """A size or volume as the vendor prints it: an int when whole, else a float."""
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def px(x: float) -> float:
    """Split-adjusted prices lose the tick grid; round them like the vendor (4 dp, 6 below $1)."""
    return round(x, 4) if abs(x) >= 1.0 else round(x, 6)


def json_response(body: Any, status: int, rid: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"X-Request-Id": rid, **(headers or {})},
    )


def error_response(err: ApiError, rid: str, headers: dict[str, str] | None = None) -> Response:
    key = "error" if err.status == "ERROR" else "message"
    return json_response(
        {"status": err.status, "request_id": rid, key: err.text}, err.http_status, rid, headers
    )

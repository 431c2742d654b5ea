"""Request parameters: validation of what callers pass, and its encoding as path segments and query values.

Every check raises ``ValueError`` before any request is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

TIMESPANS = frozenset({"second", "minute", "hour", "day", "week", "month", "quarter", "year"})
MAX_TICKER_LEN = 40


def ticker_segment(ticker: str) -> str:
    """Validate a ticker and percent-encode it as one path segment (``../x`` -> ``..%2Fx``)."""
    if not isinstance(ticker, str):
        raise ValueError(f"ticker must be a str, got {type(ticker).__name__}")
    if not ticker.strip():
        raise ValueError("ticker must be a non-empty string")
    if len(ticker) > MAX_TICKER_LEN:
        raise ValueError(
            f"ticker is {len(ticker)} characters long (max {MAX_TICKER_LEN}): {ticker[:20]!r}..."
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in ticker):
        raise ValueError(f"ticker contains control characters: {ticker!r}")
    if ticker in (".", ".."):
        raise ValueError(f"ticker {ticker!r} is not a symbol")
    return quote(ticker, safe="")


def date_param(value: dt.date | str, name: str = "date") -> str:
    """``YYYY-MM-DD`` from a date or an ISO date string."""
    if isinstance(value, dt.datetime):
        raise ValueError(f"{name} must be a date, not a datetime: {value!r}")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            raise ValueError(f"{name} must be YYYY-MM-DD, got {value!r}") from None
    raise ValueError(f"{name} must be a date or YYYY-MM-DD string, got {type(value).__name__}")


def agg_bound(value: dt.date | dt.datetime | int | str, name: str) -> str:
    """An aggs ``from``/``to`` path segment: a date, or epoch ms (ints and aware datetimes)."""
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a date, an aware datetime or epoch ms, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name} must be >= 0 ms, got {value}")
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{name} must be timezone-aware, got {value!r}")
        return str(round(value.timestamp() * 1000))
    if isinstance(value, str) and value.isdigit():
        return value
    return date_param(value, name)


def bool_param(value: bool) -> str:
    return "true" if value else "false"


def clean(params: Mapping[str, Any]) -> dict[str, str]:
    """Drop ``None``; booleans as ``true``/``false``; dates as ISO; everything else ``str``."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = bool_param(value)
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


def check_limit(limit: int, maximum: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValueError(f"limit must be an int in [1, {maximum}], got {limit!r}")
    return limit


def check_choice(value: str, name: str, choices: frozenset[str] | tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def opt_date(value: dt.date | str | None, name: str) -> str | None:
    return None if value is None else date_param(value, name)


def utc_instant(value: dt.datetime | None, name: str) -> str | None:
    """An optional aware datetime as RFC 3339 UTC to the second (``2024-03-06T01:00:00Z``), the
    form the news endpoint documents for ``published_utc``; sub-second parts are refused."""
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    if value.microsecond:
        raise ValueError(f"{name} must be a whole second, got {value!r}")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ticker_param(ticker: str | None) -> str | None:
    """An optional ``ticker`` query value, validated like a path segment (httpx encodes query values)."""
    if ticker is None:
        return None
    ticker_segment(ticker)
    return ticker


def tick_request(
    kind: str,
    ticker: str,
    gte_ns: int | None,
    lte_ns: int | None,
    date: dt.date | str | None,
    limit: int,
    order: str,
) -> tuple[str, dict[str, Any], str]:
    """(path, query, endpoint template) of a ``/v3/trades`` or ``/v3/quotes`` request."""
    path = f"/v3/{kind}/{ticker_segment(ticker)}"
    for name, value in (("gte_ns", gte_ns), ("lte_ns", lte_ns)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"{name} must be a non-negative int (epoch ns), got {value!r}")
    check_choice(order, "order", ("asc", "desc"))
    query = {
        "timestamp": date_param(date) if date is not None else None,
        "timestamp.gte": gte_ns,
        "timestamp.lte": lte_ns,
        "order": order,
        "limit": check_limit(limit, 50_000),
    }
    return path, query, f"/v3/{kind}/{{ticker}}"

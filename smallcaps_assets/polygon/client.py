"""Async httpx client of the Polygon.io / Massive REST API (``polygon_api.md`` §1-§4, §8.3).

One ``PolygonClient`` per event loop. Every HTTP attempt:

1. takes a slot of the client's ``asyncio.Semaphore`` (bounded concurrency);
2. takes a token of the process-wide bucket of its account (``ratelimit.bucket_for``): all clients
   of the process that share ``(base_url, key)`` share the vendor's limit, and retries pay too;
3. runs under ``asyncio.timeout(timeout_s)`` (httpx timeouts do not apply to ``ASGITransport``).

Failures that can pass (413/429/499/500/502/503/504, timeouts, transport errors, truncated or
invalid JSON) are retried with exponential backoff and full jitter, or after ``Retry-After`` when
the server sends one. Anything else raises ``PolygonError`` at once.

The key travels only in the ``Authorization`` header: never in a URL, a log line, an exception, a
repr or the usage metadata. Pages are followed by rebuilding ``next_url`` on the configured base URL
(path and query only, ``apiKey`` dropped), so the key is never sent to a host named by a response.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import io
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
import polars as pl
import pydantic_core
from pydantic import TypeAdapter

from . import models as m
from .ratelimit import TokenBucket, bucket_for
from .usage import ApiUsage

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "PolygonClient",
    "PolygonError",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.massive.com"
RETRYABLE_STATUSES = frozenset({413, 429, 499, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})
SUCCESS_STATUSES = frozenset({"OK", "DELAYED"})
ERROR_STATUSES = frozenset({"ERROR", "NOT_AUTHORIZED", "NOT_FOUND"})
MAX_RETRY_AFTER_S = 120.0
TIMESPANS = frozenset({"second", "minute", "hour", "day", "week", "month", "quarter", "year"})
MAX_TICKER_LEN = 40

try:
    _VERSION = metadata.version("smallcaps_assets")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
USER_AGENT = f"smallcaps_assets/{_VERSION}"


class PolygonError(Exception):
    """A request the vendor refused, or one that kept failing after every retry.

    - ``status``: HTTP status (``None`` when no response came back: timeouts, transport errors);
    - ``vendor_status``: the body's ``status`` (``ERROR``, ``NOT_AUTHORIZED``, ``NOT_FOUND``) if any;
    - ``message``: the body's ``error`` or ``message`` (or the start of a non-JSON body);
    - ``request_id``: the body's ``request_id``, else the ``X-Request-Id`` header;
    - ``endpoint``: the endpoint template (``/v3/trades/{ticker}``); ``path`` the concrete path;
    - ``attempts``: HTTP attempts made for this request.
    """

    def __init__(
        self,
        status: int | None,
        vendor_status: str | None,
        message: str,
        request_id: str | None,
        endpoint: str,
        *,
        path: str | None = None,
        attempts: int = 1,
    ):
        super().__init__(status, vendor_status, message, request_id, endpoint)
        self.status = status
        self.vendor_status = vendor_status
        self.message = message
        self.request_id = request_id
        self.endpoint = endpoint
        self.path = path or endpoint
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_error,
            (self.status, self.vendor_status, self.message, self.request_id, self.endpoint, self.path),
        )

    def __str__(self) -> str:
        status = "no response" if self.status is None else f"HTTP {self.status}"
        vendor = f" {self.vendor_status}" if self.vendor_status else ""
        rid = f" (request_id={self.request_id})" if self.request_id else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{status}{vendor} on GET {self.path}{tries}: {self.message}{rid}"


def _rebuild_error(*args: Any) -> PolygonError:
    status, vendor_status, message, request_id, endpoint, path = args
    return PolygonError(status, vendor_status, message, request_id, endpoint, path=path)


class _Secret:
    """Holds the key; prints as ``***`` in reprs, f-strings and tracebacks' locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


class _RetryableError(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        vendor_status: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.vendor_status = vendor_status
        self.request_id = request_id
        self.retry_after = retry_after


# --------------------------------------------------------------------------- parameter helpers
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


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _clean(params: Mapping[str, Any]) -> dict[str, str]:
    """Drop ``None``; booleans as ``true``/``false``; dates as ISO; everything else ``str``."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = _bool(value)
        elif isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            out[key] = value.isoformat()
        else:
            out[key] = str(value)
    return out


def _check_limit(limit: int, maximum: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValueError(f"limit must be an int in [1, {maximum}], got {limit!r}")
    return limit


def _check_choice(value: str, name: str, choices: frozenset[str] | tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def _results(body: Any) -> list[Any]:
    """The ``results`` list of an envelope (``[]`` when absent); a bare array as is."""
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return []
    results = body.get("results")
    if results is None:
        return []
    return results if isinstance(results, list) else [results]


def _tick_parser(struct: pl.Struct, required: tuple[str, ...]) -> Callable[[bytes], dict]:
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


_TICK_PARSERS = {
    "trades": _tick_parser(m.TRADE_STRUCT, ("sip_timestamp", "price", "size")),
    "quotes": _tick_parser(m.QUOTE_STRUCT, ("sip_timestamp",)),
}


def _retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds (fractions tolerated) or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        seconds = (when - dt.datetime.now(dt.UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


# --------------------------------------------------------------------------- the client
class PolygonClient:
    """Async client of the vendor REST API; see the module docstring for the contract.

    ``rate_limit_per_s``/``burst`` configure the account's shared token bucket (the newest client's
    setting wins). ``max_retries`` is the number of *re*-tries, so a request makes at most
    ``max_retries + 1`` HTTP attempts. ``max_pages`` bounds one paginated call.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_limit_per_s: float = 50.0,
        burst: int = 10,
        max_concurrency: int = 16,
        max_retries: int = 5,
        backoff_base_s: float = 0.1,
        backoff_cap_s: float = 8.0,
        timeout_s: float = 30.0,
        max_pages: int = 100_000,
        usage: ApiUsage | None = None,
    ):
        if not isinstance(api_key, str) or not api_key.strip():
            raise ValueError("api_key must be a non-empty string")
        parts = urlsplit(base_url or "")
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base_url.split('?')[0]!r}")
        if parts.query or parts.fragment:  # (not echoed: a query may hold an apiKey)
            raise ValueError(f"base_url must not carry a query or fragment: {parts.netloc}{parts.path}?...")
        if max_concurrency < 1 or max_retries < 0 or max_pages < 1 or not timeout_s > 0:
            raise ValueError("need max_concurrency >= 1, max_retries >= 0, max_pages >= 1, timeout_s > 0")
        if backoff_base_s < 0 or backoff_cap_s < 0:
            raise ValueError("backoff_base_s and backoff_cap_s must be >= 0")
        self.base_url = base_url.rstrip("/")
        self._base_path = parts.path.rstrip("/")
        self._key = _Secret(api_key)
        self.rate_limit_per_s = float(rate_limit_per_s)
        self.burst = int(burst)
        self.max_concurrency = int(max_concurrency)
        self.max_retries = int(max_retries)
        self.backoff_base_s = float(backoff_base_s)
        self.backoff_cap_s = float(backoff_cap_s)
        self.timeout_s = float(timeout_s)
        self.max_pages = int(max_pages)
        self.usage = usage if usage is not None else ApiUsage()
        self.mode: str | None = None  # set by ``connect``: "real" | "http" | "in_process"
        self._bucket: TokenBucket = bucket_for(self.base_url, api_key, self.rate_limit_per_s, self.burst)
        self._rng = random.Random()
        self._sleep: Callable[[float], Awaitable[object]] = asyncio.sleep
        self._sem: asyncio.Semaphore | None = None
        self._sem_loop: asyncio.AbstractEventLoop | None = None
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "Accept-Encoding": "gzip",
                "User-Agent": USER_AGENT,
            },
            timeout=httpx.Timeout(self.timeout_s, connect=min(10.0, self.timeout_s)),
            limits=httpx.Limits(
                max_connections=self.max_concurrency, max_keepalive_connections=self.max_concurrency
            ),
            follow_redirects=False,
        )

    # ------------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> PolygonClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

    def __repr__(self) -> str:
        return (
            f"PolygonClient(base_url={self.base_url!r}, mode={self.mode!r}, "
            f"rate_limit_per_s={self.rate_limit_per_s:g}, burst={self.burst}, "
            f"max_concurrency={self.max_concurrency}, max_retries={self.max_retries})"
        )

    # ------------------------------------------------------------------ transport core
    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._sem is None or self._sem_loop is not loop:
            self._sem = asyncio.Semaphore(self.max_concurrency)
            self._sem_loop = loop
        return self._sem

    def _redact(self, text: str) -> str:
        key = self._key.get()
        return text.replace(key, "***") if key in text else text

    def _backoff(self, retry_no: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(retry_no - 1))]."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2.0 ** (retry_no - 1))
        return self._rng.uniform(0.0, ceiling)

    def _interpret(
        self, resp: httpx.Response, endpoint: str, path: str, parse: Callable[[bytes], dict] | None = None
    ) -> Any:
        """The parsed body of a good response; raises ``_RetryableError`` or ``PolygonError`` otherwise.
        ``parse`` replaces the generic JSON parse for 2xx bodies (see ``ticks_frame``)."""
        status = resp.status_code
        if parse is not None and 200 <= status < 300 and resp.content:
            try:
                body = parse(resp.content)
            except (ValueError, pl.exceptions.PolarsError) as exc:
                self.usage.record(endpoint, bad_bodies=1)
                raise _RetryableError(
                    f"invalid body ({len(resp.content)} bytes): {str(exc)[:200]}",
                    status=status,
                    request_id=resp.headers.get("x-request-id"),
                ) from None
            if body.get("status") in ERROR_STATUSES:
                raise PolygonError(
                    status, body["status"], self._redact(body.get("message") or "error status in a 200 response"),
                    body.get("request_id"), endpoint, path=path,
                )  # fmt: skip
            return body
        header_rid = resp.headers.get("x-request-id")
        try:
            body = pydantic_core.from_json(resp.content) if resp.content else None
            parse_error = None if resp.content else "empty body"
        except ValueError as exc:
            body, parse_error = None, f"invalid JSON body ({len(resp.content)} bytes): {exc}"
        info = body if isinstance(body, dict) else {}
        vendor_status = info.get("status") if isinstance(info.get("status"), str) else None
        request_id = str(info.get("request_id") or header_rid or "") or None
        message = info.get("error") or info.get("message")
        if not isinstance(message, str) or not message:
            # a non-JSON error page (proxy HTML, "404 page not found"): its start, on one line
            head = resp.content[:300].decode("utf-8", "replace")
            message = " ".join(head.split())[:120] if parse_error else ""

        if 200 <= status < 300:
            if parse_error:
                self.usage.record(endpoint, bad_bodies=1)
                raise _RetryableError(parse_error, status=status, request_id=request_id)
            if vendor_status in ERROR_STATUSES:
                raise PolygonError(
                    status, vendor_status, self._redact(message or "error status in a 200 response"),
                    request_id, endpoint, path=path,
                )  # fmt: skip
            return body

        if status == 429:
            self.usage.record(endpoint, http_429=1)
        elif status >= 500:
            self.usage.record(endpoint, http_5xx=1)
        if status in RETRYABLE_STATUSES:
            retry_after = (
                _retry_after(resp.headers.get("retry-after")) if status in RETRY_AFTER_STATUSES else None
            )
            raise _RetryableError(
                f"HTTP {status}" + (f": {self._redact(message)}" if message else ""),
                status=status,
                vendor_status=vendor_status,
                request_id=request_id,
                retry_after=retry_after,
            )
        raise PolygonError(
            status,
            vendor_status,
            self._redact(message or resp.reason_phrase),
            request_id,
            endpoint,
            path=path,
        )

    async def _fetch(
        self,
        endpoint: str,
        url: str,
        params: Mapping[str, str] | None,
        parse: Callable[[bytes], dict] | None = None,
    ) -> Any:
        """One page: GET with retries. Returns the parsed JSON body."""
        path = urlsplit(url).path
        last: _RetryableError | None = None
        for attempt in range(self.max_retries + 1):
            if last is not None:
                if last.retry_after is not None:
                    delay = last.retry_after
                    if last.status == 429:
                        self._bucket.pause(delay)
                else:
                    delay = self._backoff(attempt)
                self.usage.record(endpoint, retries=1)
                log.info(
                    "polygon GET %s failed (%s); retry %d/%d in %.2fs",
                    path, last.reason, attempt, self.max_retries, delay,
                )  # fmt: skip
                await self._sleep(delay)
            started = time.monotonic()
            try:
                async with self._semaphore():
                    await self._bucket.acquire(self._sleep)
                    self.usage.record(endpoint, http_requests=1)
                    started = time.monotonic()
                    async with asyncio.timeout(self.timeout_s):
                        resp = await self._http.get(url, params=params)
            except (TimeoutError, httpx.TimeoutException) as exc:
                self.usage.record(endpoint, timeouts=1)
                last = _RetryableError(
                    f"timeout after {time.monotonic() - started:.2f}s ({type(exc).__name__})"
                )
                continue
            except httpx.DecodingError as exc:  # a corrupt gzip stream: a bad body, not a bad link
                self.usage.record(endpoint, bad_bodies=1)
                last = _RetryableError(f"undecodable body ({type(exc).__name__})")
                continue
            except httpx.RequestError as exc:
                last = _RetryableError(
                    f"transport error {type(exc).__name__}: {self._redact(str(exc))[:200]}"
                )
                continue
            # wire bytes (compressed); a response built in memory (mock transports) reports 0 there
            nbytes = resp.num_bytes_downloaded or len(resp.content)
            self.usage.record(endpoint, bytes=nbytes)
            log.debug(
                "polygon GET %s -> %d (%d bytes, %.3fs)",
                resp.request.url.raw_path.decode("ascii", "replace"),
                resp.status_code, nbytes, time.monotonic() - started,
            )  # fmt: skip
            try:
                body = self._interpret(resp, endpoint, path, parse)
            except _RetryableError as retry:
                last = retry
                continue
            except PolygonError as err:
                err.attempts = attempt + 1
                raise
            self.usage.record(endpoint, pages=1)
            return body
        assert last is not None
        raise PolygonError(
            last.status, last.vendor_status, f"giving up: {last.reason}", last.request_id, endpoint,
            path=path, attempts=self.max_retries + 1,
        )  # fmt: skip

    def _rebase(self, next_url: str) -> str:
        """``next_url`` as a path + query on our own base URL, with any ``apiKey`` dropped."""
        parts = urlsplit(next_url)
        path = parts.path or "/"
        if self._base_path and path.startswith(self._base_path + "/"):
            path = path[len(self._base_path) :]
        query = parts.query
        if "apikey" in query.lower():
            kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() != "apikey"]
            query = urlencode(kept)
        return f"{path}?{query}" if query else path

    # ------------------------------------------------------------------ generic access
    async def iter_pages(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        endpoint: str | None = None,
        parse: Callable[[bytes], dict] | None = None,
    ) -> AsyncIterator[Any]:
        """Yield each page's parsed body, following ``next_url`` until it is absent.

        ``path`` is relative to the base URL and must be already quoted; ``endpoint`` is the
        template the usage is counted under (default: ``path``). Raises ``PolygonError`` on a
        repeated ``next_url`` or beyond ``max_pages`` pages.
        """
        endpoint = endpoint or path
        started = time.monotonic()
        self.usage.record(endpoint, calls=1)
        try:
            url, query = path, _clean(params or {})
            seen: set[str] = set()
            pages = 0
            while True:
                body = await self._fetch(endpoint, url, query, parse)
                pages += 1
                yield body
                next_url = body.get("next_url") if isinstance(body, dict) else None
                if not next_url or not isinstance(next_url, str):
                    return
                url, query = self._rebase(next_url), None
                if url in seen:
                    raise PolygonError(
                        200, None, f"repeated next_url cursor after {pages} pages", None, endpoint,
                        path=urlsplit(url).path,
                    )  # fmt: skip
                if pages >= self.max_pages:
                    raise PolygonError(
                        200, None, f"more than max_pages={self.max_pages} pages", None, endpoint,
                        path=urlsplit(url).path,
                    )  # fmt: skip
                seen.add(url)
        finally:
            self.usage.record(endpoint, seconds=time.monotonic() - started)

    async def get_json(
        self, path: str, params: Mapping[str, Any] | None = None, *, endpoint: str | None = None
    ) -> Any:
        """One request, no pagination: the parsed body."""
        endpoint = endpoint or path
        started = time.monotonic()
        self.usage.record(endpoint, calls=1)
        try:
            return await self._fetch(endpoint, path, _clean(params or {}))
        finally:
            self.usage.record(endpoint, seconds=time.monotonic() - started)

    async def get_all(
        self,
        path: str,
        params: Mapping[str, Any] | None,
        adapter: TypeAdapter[list[Any]],
        *,
        endpoint: str | None = None,
    ) -> list[Any]:
        """Every page's ``results``, validated with ``adapter`` (a ``TypeAdapter(list[Model])``)."""
        out: list[Any] = []
        pages = self.iter_pages(path, params, endpoint=endpoint)
        try:
            async for body in pages:
                out.extend(adapter.validate_python(_results(body)))
        finally:
            await pages.aclose()
        return out

    # ------------------------------------------------------------------ aggregates
    async def grouped_daily(
        self, date: dt.date | str, adjusted: bool = False, include_otc: bool = False
    ) -> list[m.GroupedBar]:
        """The whole market's daily bars for one date (empty on holidays and weekends)."""
        day = date_param(date)
        return await self.get_all(
            f"/v2/aggs/grouped/locale/us/market/stocks/{day}",
            {"adjusted": adjusted, "include_otc": include_otc},
            m.GROUPED_BAR_LIST,
            endpoint="/v2/aggs/grouped/locale/us/market/stocks/{date}",
        )

    async def aggs(
        self,
        ticker: str,
        multiplier: int,
        timespan: str,
        start: dt.date | dt.datetime | int | str,
        end: dt.date | dt.datetime | int | str,
        adjusted: bool = False,
        sort: Literal["asc", "desc"] = "asc",
        limit: int = 50_000,
    ) -> list[m.AggBar]:
        """Bars of one ticker over ``[start, end]`` (dates, aware datetimes or epoch ms), all pages."""
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
            raise ValueError(f"multiplier must be a positive int, got {multiplier!r}")
        _check_choice(timespan, "timespan", TIMESPANS)
        _check_choice(sort, "sort", ("asc", "desc"))
        path = (
            f"/v2/aggs/ticker/{ticker_segment(ticker)}/range/{multiplier}/{timespan}/"
            f"{agg_bound(start, 'start')}/{agg_bound(end, 'end')}"
        )
        return await self.get_all(
            path,
            {"adjusted": adjusted, "sort": sort, "limit": _check_limit(limit, 50_000)},
            m.AGG_BAR_LIST,
            endpoint="/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}",
        )

    async def previous_close(self, ticker: str, adjusted: bool = False) -> m.GroupedBar | None:
        """The previous session's bar (``t`` = 16:00 ET), or None when there is none."""
        body = await self.get_json(
            f"/v2/aggs/ticker/{ticker_segment(ticker)}/prev",
            {"adjusted": adjusted},
            endpoint="/v2/aggs/ticker/{ticker}/prev",
        )
        rows = m.GROUPED_BAR_LIST.validate_python(_results(body))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ ticks
    def _tick_params(
        self,
        gte_ns: int | None,
        lte_ns: int | None,
        date: dt.date | str | None,
        limit: int,
        order: str,
    ) -> dict[str, Any]:
        for name, value in (("gte_ns", gte_ns), ("lte_ns", lte_ns)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise ValueError(f"{name} must be a non-negative int (epoch ns), got {value!r}")
        _check_choice(order, "order", ("asc", "desc"))
        return {
            "timestamp": date_param(date) if date is not None else None,
            "timestamp.gte": gte_ns,
            "timestamp.lte": lte_ns,
            "order": order,
            "limit": _check_limit(limit, 50_000),
        }

    async def trades(
        self,
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[m.Trade]:
        """Trades of one ticker (by SIP time, ns bounds inclusive, or a whole ``date``), all pages."""
        return await self.get_all(
            f"/v3/trades/{ticker_segment(ticker)}",
            self._tick_params(gte_ns, lte_ns, date, limit, order),
            m.TRADE_LIST,
            endpoint="/v3/trades/{ticker}",
        )

    async def quotes(
        self,
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[m.Quote]:
        """NBBO quotes of one ticker, same filters as ``trades``, all pages."""
        return await self.get_all(
            f"/v3/quotes/{ticker_segment(ticker)}",
            self._tick_params(gte_ns, lte_ns, date, limit, order),
            m.QUOTE_LIST,
            endpoint="/v3/quotes/{ticker}",
        )

    async def ticks_frame(
        self,
        kind: Literal["trades", "quotes"],
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> pl.DataFrame:
        """Trades or quotes as one polars frame (columns as the vendor names them), for bulk tick
        downloads. Same filters, pagination, retries and usage counters as ``trades``/``quotes``.

        Each page is parsed and type-checked straight from the response bytes by polars' JSON
        reader against the vendor schema (``models.TRADE_STRUCT``/``QUOTE_STRUCT``): a wrong type,
        a missing required field or a truncated body is a bad body and is retried. Building a
        pydantic model per print cost more CPU than the download itself at 100 requests/s."""
        _check_choice(kind, "kind", ("trades", "quotes"))
        parse = _TICK_PARSERS[kind]
        frames = []
        pages = self.iter_pages(
            f"/v3/{kind}/{ticker_segment(ticker)}",
            self._tick_params(gte_ns, lte_ns, date, limit, order),
            endpoint=f"/v3/{kind}/{{ticker}}",
            parse=parse,
        )
        try:
            async for body in pages:
                frames.append(body["frame"])
        finally:
            await pages.aclose()
        return pl.concat(frames) if len(frames) > 1 else frames[0]

    # ------------------------------------------------------------------ reference
    async def tickers(
        self,
        date: dt.date | str | None = None,
        active: bool = True,
        market: str | None = "stocks",
        type: str | None = None,
        limit: int = 1000,
    ) -> list[m.Ticker]:
        """Tickers that existed on ``date`` (``active=False``: delisted by then), all pages."""
        return await self.get_all(
            "/v3/reference/tickers",
            {
                "date": date_param(date) if date is not None else None,
                "active": active,
                "market": market,
                "type": type,
                "limit": _check_limit(limit, 1000),
            },
            m.TICKER_LIST,
            endpoint="/v3/reference/tickers",
        )

    async def ticker_details(self, ticker: str, date: dt.date | str | None = None) -> m.TickerDetails | None:
        """Point-in-time overview; None when the vendor answers NOT_FOUND (not listed on ``date``)."""
        try:
            body = await self.get_json(
                f"/v3/reference/tickers/{ticker_segment(ticker)}",
                {"date": date_param(date) if date is not None else None},
                endpoint="/v3/reference/tickers/{ticker}",
            )
        except PolygonError as err:
            if err.vendor_status == "NOT_FOUND":
                return None
            raise
        results = body.get("results") if isinstance(body, dict) else None
        return m.TickerDetails.model_validate(results) if results else None

    async def ticker_types(
        self, asset_class: str | None = "stocks", locale: str | None = "us"
    ) -> list[m.TickerType]:
        return await self.get_all(
            "/v3/reference/tickers/types",
            {"asset_class": asset_class, "locale": locale},
            m.TICKER_TYPE_LIST,
            endpoint="/v3/reference/tickers/types",
        )

    async def exchanges(
        self, asset_class: str | None = "stocks", locale: str | None = "us"
    ) -> list[m.Exchange]:
        return await self.get_all(
            "/v3/reference/exchanges",
            {"asset_class": asset_class, "locale": locale},
            m.EXCHANGE_LIST,
            endpoint="/v3/reference/exchanges",
        )

    async def conditions(
        self, data_type: str | None = None, asset_class: str | None = "stocks", limit: int = 1000
    ) -> list[m.Condition]:
        """Condition codes (``data_type`` ``trade``, ``bbo`` or ``nbbo``; None: all), all pages."""
        if data_type is not None:
            _check_choice(data_type, "data_type", ("trade", "bbo", "nbbo"))
        return await self.get_all(
            "/v3/reference/conditions",
            {"asset_class": asset_class, "data_type": data_type, "limit": _check_limit(limit, 1000)},
            m.CONDITION_LIST,
            endpoint="/v3/reference/conditions",
        )

    async def splits(
        self,
        ticker: str | None = None,
        execution_date_gte: dt.date | str | None = None,
        execution_date_lte: dt.date | str | None = None,
        limit: int = 1000,
    ) -> list[m.Split]:
        """Splits (v3), optionally of one ticker and an execution-date range, all pages."""
        return await self.get_all(
            "/v3/reference/splits",
            {
                "ticker": self._ticker_param(ticker),
                "execution_date.gte": _opt_date(execution_date_gte, "execution_date_gte"),
                "execution_date.lte": _opt_date(execution_date_lte, "execution_date_lte"),
                "limit": _check_limit(limit, 1000),
            },
            m.SPLIT_LIST,
            endpoint="/v3/reference/splits",
        )

    async def dividends(
        self,
        ticker: str | None = None,
        ex_dividend_date_gte: dt.date | str | None = None,
        ex_dividend_date_lte: dt.date | str | None = None,
        limit: int = 1000,
    ) -> list[m.Dividend]:
        """Cash dividends (v3), optionally of one ticker and an ex-date range, all pages."""
        return await self.get_all(
            "/v3/reference/dividends",
            {
                "ticker": self._ticker_param(ticker),
                "ex_dividend_date.gte": _opt_date(ex_dividend_date_gte, "ex_dividend_date_gte"),
                "ex_dividend_date.lte": _opt_date(ex_dividend_date_lte, "ex_dividend_date_lte"),
                "limit": _check_limit(limit, 1000),
            },
            m.DIVIDEND_LIST,
            endpoint="/v3/reference/dividends",
        )

    async def market_status_now(self) -> m.MarketStatusNow:
        body = await self.get_json("/v1/marketstatus/now")
        return m.MarketStatusNow.model_validate(body if isinstance(body, dict) else {})

    async def market_holidays(self) -> list[m.MarketHoliday]:
        """Upcoming holidays and early closes (the endpoint never looks backwards)."""
        body = await self.get_json("/v1/marketstatus/upcoming")
        return m.MARKET_HOLIDAY_LIST.validate_python(_results(body))

    async def short_interest(
        self,
        ticker: str | None = None,
        settlement_date_gte: dt.date | str | None = None,
        settlement_date_lte: dt.date | str | None = None,
        limit: int = 50_000,
    ) -> list[m.ShortInterest]:
        """FINRA bi-monthly short interest, all pages."""
        return await self.get_all(
            "/stocks/v1/short-interest",
            {
                "ticker": self._ticker_param(ticker),
                "settlement_date.gte": _opt_date(settlement_date_gte, "settlement_date_gte"),
                "settlement_date.lte": _opt_date(settlement_date_lte, "settlement_date_lte"),
                "limit": _check_limit(limit, 50_000),
            },
            m.SHORT_INTEREST_LIST,
            endpoint="/stocks/v1/short-interest",
        )

    async def short_volume(
        self, ticker: str | None = None, date: dt.date | str | None = None, limit: int = 50_000
    ) -> list[m.ShortVolume]:
        """FINRA daily off-exchange short volume, all pages."""
        return await self.get_all(
            "/stocks/v1/short-volume",
            {
                "ticker": self._ticker_param(ticker),
                "date": _opt_date(date, "date"),
                "limit": _check_limit(limit, 50_000),
            },
            m.SHORT_VOLUME_LIST,
            endpoint="/stocks/v1/short-volume",
        )

    async def free_float(self, ticker: str | None = None, limit: int = 5000) -> list[m.FreeFloat]:
        """Latest free float (no history), all pages."""
        return await self.get_all(
            "/stocks/vX/float",
            {"ticker": self._ticker_param(ticker), "limit": _check_limit(limit, 5000)},
            m.FREE_FLOAT_LIST,
            endpoint="/stocks/vX/float",
        )

    @staticmethod
    def _ticker_param(ticker: str | None) -> str | None:
        if ticker is None:
            return None
        ticker_segment(ticker)  # same validation as in paths; query values are encoded by httpx
        return ticker


def _opt_date(value: dt.date | str | None, name: str) -> str | None:
    return None if value is None else date_param(value, name)

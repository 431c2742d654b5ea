"""The client's HTTP core: every attempt, its retries, and pagination (docs/vendor_api.md §2-§3).

One client per event loop. Every HTTP attempt:

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
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata
from typing import Any, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import polars as pl
import pydantic_core
from pydantic import TypeAdapter

from .errors import PolygonError, RetryableError
from .pages import results
from .params import clean
from .ratelimit import TokenBucket, bucket_for
from .usage import ApiUsage

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.massive.com"
RETRYABLE_STATUSES = frozenset({413, 429, 499, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({413, 429, 503})
SUCCESS_STATUSES = frozenset({"OK", "DELAYED"})
ERROR_STATUSES = frozenset({"ERROR", "NOT_AUTHORIZED", "NOT_FOUND"})
MAX_RETRY_AFTER_S = 120.0

try:
    _VERSION = metadata.version("smallcaps_assets")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    _VERSION = "0"
USER_AGENT = f"smallcaps_assets/{_VERSION}"


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


def parse_retry_after(value: str | None) -> float | None:
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


class ClientCore:
    """Construction, the retry loop and pagination of ``PolygonClient`` (whose docstring has the
    parameters; the module docstring has the contract)."""

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
    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def closed(self) -> bool:
        return self._http.is_closed

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
        """The parsed body of a good response; raises ``RetryableError`` or ``PolygonError`` otherwise.
        ``parse`` replaces the generic JSON parse for 2xx bodies (see ``ticks_frame``)."""
        status = resp.status_code
        if parse is not None and 200 <= status < 300 and resp.content:
            try:
                body = parse(resp.content)
            except (ValueError, pl.exceptions.PolarsError) as exc:
                self.usage.record(endpoint, bad_bodies=1)
                raise RetryableError(
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
                raise RetryableError(parse_error, status=status, request_id=request_id)
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
                parse_retry_after(resp.headers.get("retry-after")) if status in RETRY_AFTER_STATUSES else None
            )
            raise RetryableError(
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
        last: RetryableError | None = None
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
                last = RetryableError(
                    f"timeout after {time.monotonic() - started:.2f}s ({type(exc).__name__})"
                )
                continue
            except httpx.DecodingError as exc:  # a corrupt gzip stream: a bad body, not a bad link
                self.usage.record(endpoint, bad_bodies=1)
                last = RetryableError(f"undecodable body ({type(exc).__name__})")
                continue
            except httpx.RequestError as exc:
                last = RetryableError(f"transport error {type(exc).__name__}: {self._redact(str(exc))[:200]}")
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
            except RetryableError as retry:
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
            url, query = path, clean(params or {})
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
            return await self._fetch(endpoint, path, clean(params or {}))
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
                out.extend(adapter.validate_python(results(body)))
        finally:
            await pages.aclose()
        return out

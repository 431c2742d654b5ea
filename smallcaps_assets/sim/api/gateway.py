"""The gateway in front of the routes: the request journal, unknown routes, authentication, then faults.

Per request, in this order (``docs/vendor_api.md`` §2 and §6):

1. the journal line, when a request log is configured;
2. an unknown route answers the plain-text 404 (before authentication);
3. a missing or unknown key answers 401;
4. with ``ApiFaults``: seven uniforms are drawn (always, so the fault sequence depends only on the
   request count), the key's token is taken, the latency is slept, then in turn a rate-limit 429
   (``Retry-After`` from the bucket), a random 429, a random 5xx, a timeout sleep and a truncated body.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Match

from ..config import MARKET_PATH, ApiFaults
from .context import SimApi
from .params import ApiError
from .wire import error_response, json_response

RATE_LIMIT_MESSAGE = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. "
    "https://polygon.io/pricing"
)
# At most this many API keys have a token bucket; the least recently seen key is forgotten first.
MAX_RATE_LIMIT_KEYS = 4096


def api_key(scope: dict) -> str | None:
    """The key of ``?apiKey=`` or ``Authorization: Bearer`` (the query wins); None when absent or empty."""
    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if k == "apiKey" and v:
            return v
    auth = Headers(scope=scope).get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


@dataclass(frozen=True)
class FaultDraw:
    """One request's dice: its latency, the uniforms each fault is compared with, the 5xx code, the cut."""

    latency_s: float
    u429: float
    u5xx: float
    code: int
    utimeout: float
    utrunc: float
    cut: float


class FaultDice:
    """The seeded fault generator: seven uniforms per request, always, so the fault sequence depends only
    on the request count (and is reproducible with one worker)."""

    def __init__(self, faults: ApiFaults):
        self.faults = faults
        self.rng = random.Random(faults.seed)

    def draw(self) -> FaultDraw:
        f = self.faults
        u = [self.rng.random() for _ in range(7)]
        z = math.sqrt(-2.0 * math.log(max(u[0], 1e-300))) * math.cos(2.0 * math.pi * u[1])
        latency = max(0.0, f.latency_ms + f.latency_jitter_ms * z) / 1000.0
        return FaultDraw(latency, u[2], u[3], (500, 502, 503, 504)[min(3, int(u[4] * 4))], u[5], u[6], u[4])


class RateLimiter:
    """A token bucket per API key: ``rate`` tokens a second, ``burst`` at most.

    The buckets are bounded: at most ``max_keys`` (default ``MAX_RATE_LIMIT_KEYS``) are kept, the least
    recently seen key is dropped first, so a server that sees ever new keys keeps a bounded state. A
    dropped key starts again with a full bucket; that grants nothing a new key would not get anyway.
    """

    def __init__(self, rate: float, burst: int, max_keys: int | None = None):
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys if max_keys is not None else MAX_RATE_LIMIT_KEYS
        if self.max_keys < 1:
            raise ValueError("max_keys must be >= 1")
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last)

    def __len__(self) -> int:
        return len(self.buckets)

    def take(self, key: str) -> int:
        """0 when the request may pass, else the seconds to wait (>= 1)."""
        now = time.monotonic()
        tokens, last = self.buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0 if tokens >= 1.0 else max(1, math.ceil((1.0 - tokens) / self.rate))
        self.buckets[key] = (tokens - 1.0 if wait == 0 else tokens, now)
        if len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return wait


class Gateway:
    """ASGI middleware in front of the routes: 404 for unknown paths, 401, then the configured faults."""

    def __init__(
        self,
        app: Any,
        sim: SimApi,
        routes: list[BaseRoute],
        keys: Collection[str] | None,
        dice: FaultDice | None,
        limiter: RateLimiter | None,
        journal: str | None = None,
    ):
        self.app = app
        self.sim = sim
        self.routes = routes
        self.keys = keys
        self.dice = dice
        self.limiter = limiter
        # O_APPEND + one write per line: lines from several workers or processes never interleave
        self._journal = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if journal else None

    def _log_request(self, scope: dict) -> None:
        qs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = urlencode([(k, v) for k, v in qs if k != "apiKey"])  # never a key in the journal
        os.write(self._journal, f"{scope.get('path', '')}?{query}\n".encode("utf-8", "replace"))

    def _routed(self, scope: dict) -> bool:
        return any(r.matches(scope)[0] != Match.NONE for r in self.routes)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._journal is not None:
            self._log_request(scope)
        rid = self.sim.request_id(scope)
        scope["sim.request_id"] = rid
        if scope.get("path") == MARKET_PATH:  # which market this is: no key, no faults, no rate limit
            await json_response({"market": self.sim.market_id}, 200, rid)(scope, receive, send)
            return
        if not self._routed(scope):
            await PlainTextResponse("404 page not found", status_code=404)(scope, receive, send)
            return
        key = api_key(scope)
        if key is None:
            await error_response(ApiError(401, "API Key was not provided"), rid)(scope, receive, send)
            return
        if self.keys is not None and key not in self.keys:
            await error_response(ApiError(401, "Unknown API Key"), rid)(scope, receive, send)
            return
        if self.dice is None:
            await self.app(scope, receive, send)
            return
        f = self.dice.faults
        draw = self.dice.draw()
        wait = self.limiter.take(key) if self.limiter is not None else 0
        if draw.latency_s > 0:
            await asyncio.sleep(draw.latency_s)
        if wait:
            resp = error_response(ApiError(429, RATE_LIMIT_MESSAGE), rid, {"Retry-After": str(wait)})
            await resp(scope, receive, send)
            return
        if draw.u429 < f.too_many_requests_rate:
            resp = error_response(ApiError(429, RATE_LIMIT_MESSAGE), rid, {"Retry-After": "1"})
            await resp(scope, receive, send)
            return
        if draw.u5xx < f.error_rate:
            await _server_error(draw.code, rid)(scope, receive, send)
            return
        if draw.utimeout < f.timeout_rate:
            await asyncio.sleep(f.timeout_seconds)
        if draw.utrunc < f.truncate_rate:
            await self._truncated(scope, receive, send, draw.cut)
            return
        await self.app(scope, receive, send)

    async def _truncated(self, scope: dict, receive: Any, send: Any, cut: float) -> None:
        """Run the route, then cut a 200 body short (Content-Length matches the cut body)."""
        messages: list[dict] = []

        async def capture(message: dict) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if start["status"] == 200 and len(body) > 1:
            body = body[: max(1, min(len(body) - 1, int(len(body) * (0.2 + 0.6 * cut))))]
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


def _server_error(code: int, rid: str) -> Response:
    """A 500 JSON answer, or the HTML page a proxy sends for 502/503/504."""
    if code == 500:
        return error_response(ApiError(500, "Internal server error"), rid)
    text = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[code]
    html = (
        f"<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n"
        f"<center><h1>{code} {text}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    headers = {"Retry-After": "1"} if code == 503 else None
    return Response(html, status_code=code, media_type="text/html", headers=headers)

"""PolygonClient over scripted httpx.MockTransport handlers: retries, errors, paging, limits, secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import pickle
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from smallcaps_assets.polygon import ApiUsage, PolygonClient, PolygonError, TokenBucket
from smallcaps_assets.polygon.client import USER_AGENT

from .conftest import BASE, SECRET

OK_TRADES = {"results": [{"sip_timestamp": 1, "price": 1.0, "size": 100}], "status": "OK", "request_id": "r1"}


def ok(body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(200, json=OK_TRADES if body is None else body, headers=headers)


def scripted(*responses: httpx.Response | Callable[[httpx.Request], Any]) -> tuple[Callable, list]:
    """A handler answering ``responses`` in order (the last one repeats); records the requests."""
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = responses[min(len(seen), len(responses)) - 1]
        if callable(item):
            out = item(request)
            return await out if asyncio.iscoroutine(out) else out
        return item

    return handler, seen


def error(status: int, vendor: str | None = "ERROR", text: str = "boom", **headers: str) -> httpx.Response:
    if vendor is None:
        return httpx.Response(status, text=text, headers=headers)
    key = "error" if vendor == "ERROR" else "message"
    return httpx.Response(
        status, json={"status": vendor, "request_id": "rid-" + str(status), key: text}, headers=headers
    )


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def raised(client: PolygonClient, call: Callable[[PolygonClient], Awaitable[Any]]) -> PolygonError:
    """The ``PolygonError`` that ``call(client)`` raises inside the client's context."""

    async def go() -> PolygonError:
        async with client:
            with pytest.raises(PolygonError) as info:
                await call(client)
            return info.value

    return run(go())


# --------------------------------------------------------------------------- headers and secrets
def test_headers_and_key_only_in_authorization(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(ok())
    client = make_client(handler)

    async def go() -> None:
        async with client:
            await client.trades("AAPL", date="2024-01-02")

    run(go())
    (request,) = seen
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert request.headers["accept-encoding"] == "gzip"
    assert request.headers["user-agent"] == USER_AGENT and USER_AGENT.startswith("smallcaps_assets/")
    assert SECRET not in str(request.url)
    assert request.url.params["timestamp"] == "2024-01-02"
    assert request.url.params["order"] == "asc" and request.url.params["limit"] == "50000"
    assert "apiKey" not in request.url.params


def test_secret_absent_from_logs_reprs_errors_and_metadata(
    make_client: Callable[..., PolygonClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Unknown API Key {SECRET}"  # a hostile server echoing the key must not leak it either
    handler, _ = scripted(error(503), httpx.Response(200, content=b'{"results": ['), error(401, text=echo))
    client = make_client(handler)

    err = raised(client, lambda c: c.trades("AAPL"))
    assert err.status == 401 and err.vendor_status == "ERROR" and "***" in err.message
    texts = [
        caplog.text,
        repr(client),
        str(client.__dict__),
        str(err),
        repr(err),
        str(err.args),
        json.dumps(client.usage.as_metadata()),
        client.usage.as_table(),
        repr(client.usage),
        repr(client._bucket),
        repr(client._http.headers),
    ]
    for text in texts:
        assert SECRET not in text
    assert "retry" in caplog.text  # the log did see the retries
    assert pickle.loads(pickle.dumps(err)).status == 401


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="api_key"):
        PolygonClient(BASE, "")
    with pytest.raises(ValueError, match="base_url"):
        PolygonClient("api.massive.com", SECRET)
    with pytest.raises(ValueError, match="query") as info:
        PolygonClient(f"{BASE}?apiKey={SECRET}", SECRET)
    assert SECRET not in str(info.value)


# --------------------------------------------------------------------------- retries
@pytest.mark.parametrize("status", [413, 429, 499, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(make_client: Callable[..., PolygonClient], status: int) -> None:
    handler, seen = scripted(error(status), error(status), ok())
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.trades("AAPL")

    trades = run(go())
    assert len(seen) == 3 and trades[0].size == 100.0
    u = client.usage["/v3/trades/{ticker}"]
    assert (u.calls, u.http_requests, u.retries, u.pages) == (1, 3, 2, 1)
    assert u.http_429 == (2 if status == 429 else 0)
    assert u.http_5xx == (2 if status >= 500 else 0)


def test_usage_counters_exact_for_scripted_sequence(make_client: Callable[..., PolygonClient]) -> None:
    handler, _ = scripted(error(500), error(500), ok())
    usage = ApiUsage()
    client = make_client(handler, usage=usage)

    async def go() -> None:
        async with client:
            await client.trades("AAPL")

    run(go())
    u = usage["/v3/trades/{ticker}"]
    assert (u.calls, u.http_requests, u.pages, u.retries, u.http_5xx, u.http_429) == (1, 3, 1, 2, 2, 0)
    assert (u.timeouts, u.bad_bodies) == (0, 0)
    assert u.bytes > 0 and u.seconds > 0
    meta = usage.as_metadata()  # a few totals; the endpoints are rows of the table
    assert set(meta) == {
        "api_calls",
        "api_requests",
        "api_retries",
        "api_429",
        "api_5xx",
        "api_bytes",
        "api_seconds",
    }
    assert (
        meta["api_calls"],
        meta["api_requests"],
        meta["api_retries"],
        meta["api_5xx"],
        meta["api_429"],
    ) == (1, 3, 2, 2, 0)
    assert meta["api_bytes"] == u.bytes and meta["api_seconds"] == round(u.seconds, 3)
    assert all(isinstance(v, int | float) for v in meta.values())
    table = usage.as_table()
    assert "| `/v3/trades/{ticker}` | 1 | 3 | 1 | 2 | 0 | 2 | 0 | 0 |" in table
    merged = ApiUsage().merge(usage).merge(usage)
    assert merged.total().http_requests == 6 and usage.total().http_requests == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_other_4xx_not_retried(make_client: Callable[..., PolygonClient], status: int) -> None:
    vendor = {400: "ERROR", 401: "ERROR", 403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}[status]
    handler, seen = scripted(error(status, vendor, text=f"nope {status}"))
    client = make_client(handler)

    err = raised(client, lambda c: c.quotes("AAPL", gte_ns=1, lte_ns=2))
    assert len(seen) == 1
    assert (err.status, err.vendor_status, err.message) == (status, vendor, f"nope {status}")
    assert err.request_id == f"rid-{status}" and err.endpoint == "/v3/quotes/{ticker}"
    assert err.path == "/v3/quotes/AAPL" and err.attempts == 1
    assert client.usage["/v3/quotes/{ticker}"].retries == 0


def test_request_id_falls_back_to_header_and_plain_text_404(
    make_client: Callable[..., PolygonClient],
) -> None:
    handler, _ = scripted(error(404, None, text="404 page not found", **{"X-Request-Id": "hdr-1"}))
    client = make_client(handler)

    # A plain-text 404 is a wrong route, not "no ticker".
    err = raised(client, lambda c: c.ticker_details("AAPL"))
    assert (err.status, err.vendor_status, err.request_id) == (404, None, "hdr-1")
    assert err.message == "404 page not found"


def test_ticker_details_none_on_not_found(make_client: Callable[..., PolygonClient]) -> None:
    body = {"results": {"ticker": "AAPL", "name": "Apple", "address": {"city": "X"}}, "status": "OK"}
    handler, seen = scripted(error(404, "NOT_FOUND", text="Ticker not found."), ok(body))
    client = make_client(handler)

    async def go() -> tuple:
        async with client:
            return await client.ticker_details("GONE", date="2020-01-02"), await client.ticker_details("AAPL")

    gone, found = run(go())
    assert gone is None and found.ticker == "AAPL" and found.address.city == "X"
    assert seen[0].url.params["date"] == "2020-01-02"


@pytest.mark.parametrize("vendor", ["NOT_AUTHORIZED", "ERROR"])
def test_200_with_error_status_raises(make_client: Callable[..., PolygonClient], vendor: str) -> None:
    handler, seen = scripted(error(200, vendor, text="You are not entitled to this data."))
    client = make_client(handler)

    err = raised(client, lambda c: c.trades("AAPL"))
    assert (err.status, err.vendor_status, err.message) == (200, vendor, "You are not entitled to this data.")
    assert len(seen) == 1


def test_delayed_status_is_success(make_client: Callable[..., PolygonClient]) -> None:
    handler, _ = scripted(ok({**OK_TRADES, "status": "DELAYED"}))
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.trades("AAPL")

    assert len(run(go())) == 1


@pytest.mark.parametrize("body", [b'{"results": [{"sip_timestamp": 1, "pri', b"", b"<html>oops</html>"])
def test_truncated_or_invalid_body_retried(make_client: Callable[..., PolygonClient], body: bytes) -> None:
    handler, seen = scripted(httpx.Response(200, content=body), ok())
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.trades("AAPL")

    assert len(run(go())) == 1 and len(seen) == 2
    u = client.usage["/v3/trades/{ticker}"]
    assert (u.bad_bodies, u.retries, u.http_requests) == (1, 1, 2)


def test_timeout_retried_via_asyncio_timeout(make_client: Callable[..., PolygonClient]) -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(10)
        return ok()

    handler, seen = scripted(hang, ok())
    client = make_client(handler, timeout_s=0.05)
    assert seen == []

    async def go() -> list:
        async with client:
            return await client.trades("AAPL")

    started = time.monotonic()
    assert len(run(go())) == 1
    assert time.monotonic() - started < 2.0
    u = client.usage["/v3/trades/{ticker}"]
    assert (u.timeouts, u.retries, u.http_requests, u.calls) == (1, 1, 2, 1)


def test_transport_error_retried(make_client: Callable[..., PolygonClient]) -> None:
    def reset(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset by peer", request=request)

    handler, seen = scripted(reset, ok())
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.trades("AAPL")

    assert len(run(go())) == 1 and len(seen) == 2


def test_gives_up_after_max_retries(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(error(503, None, text="<html>503</html>"))
    client = make_client(handler, max_retries=3)

    err = raised(client, lambda c: c.trades("AAPL"))
    assert len(seen) == 4 and err.status == 503 and err.attempts == 4
    u = client.usage["/v3/trades/{ticker}"]
    assert (u.http_requests, u.retries, u.http_5xx, u.pages) == (4, 3, 4, 0)


def test_backoff_is_exponential_with_full_jitter(make_client: Callable[..., PolygonClient]) -> None:
    handler, _ = scripted(error(502))
    client = make_client(handler, max_retries=6, backoff_base_s=0.1, backoff_cap_s=1.0)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    client._sleep = fake_sleep

    raised(client, lambda c: c.trades("AAPL"))
    assert len(sleeps) == 6
    for i, s in enumerate(sleeps):
        assert 0.0 <= s <= min(1.0, 0.1 * 2**i)


@pytest.mark.parametrize(("status", "header"), [(429, "0.3"), (503, "0.3"), (429, "0")])
def test_retry_after_honoured(make_client: Callable[..., PolygonClient], status: int, header: str) -> None:
    handler, seen = scripted(error(status, **{"Retry-After": header}), ok())
    # huge backoff: only Retry-After can make the retry come this early
    client = make_client(handler, backoff_base_s=30.0, backoff_cap_s=30.0)

    async def go() -> None:
        async with client:
            await client.trades("AAPL")

    started = time.monotonic()
    run(go())
    elapsed = time.monotonic() - started
    assert len(seen) == 2
    assert float(header) <= elapsed < float(header) + 1.0


def test_429_retry_after_pauses_the_whole_account(make_client: Callable[..., PolygonClient]) -> None:
    """A 429 with Retry-After holds every client of the account, not just the one that got it."""
    first, _ = scripted(error(429, **{"Retry-After": "0.4"}), ok())
    sent_at: list[float] = []

    def stamp(request: httpx.Request) -> httpx.Response:
        sent_at.append(time.monotonic())
        return ok()

    second, _ = scripted(stamp)
    a, b = make_client(first), make_client(second)

    async def later() -> None:
        await asyncio.sleep(0.1)  # after a's 429 arrived
        await b.trades("MSFT")

    async def go() -> float:
        async with a, b:
            started = time.monotonic()
            await asyncio.gather(a.trades("AAPL"), later())
            return started

    started = run(go())
    assert sent_at[0] - started >= 0.38


# --------------------------------------------------------------------------- pagination
def _page(n: int, next_url: str | None) -> dict:
    body: dict = {
        "results": [{"sip_timestamp": n, "price": 1.0, "size": 1}],
        "status": "OK",
        "request_id": f"p{n}",
    }
    if next_url:
        body["next_url"] = next_url
    return body


def test_pagination_follows_next_url_on_own_host_with_header_key(
    make_client: Callable[..., PolygonClient],
) -> None:
    handler, seen = scripted(
        ok(_page(1, "https://evil.example.com/v3/trades/AAPL?cursor=c2")),
        ok(_page(2, f"https://api.massive.com:443/v3/trades/AAPL?cursor=c3&apiKey={SECRET}")),
        ok(_page(3, None)),
    )
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.trades("AAPL", gte_ns=5, lte_ns=9, limit=1)

    trades = run(go())
    assert [t.sip_timestamp for t in trades] == [1, 2, 3]
    assert len(seen) == 3
    for r in seen:
        assert r.url.host == "api.test.invalid"  # never the host a response named
        assert SECRET not in str(r.url) and r.headers["authorization"] == f"Bearer {SECRET}"
    assert dict(seen[0].url.params) == {
        "timestamp.gte": "5",
        "timestamp.lte": "9",
        "order": "asc",
        "limit": "1",
    }
    assert str(seen[1].url) == f"{BASE}/v3/trades/AAPL?cursor=c2"  # exactly the cursor, no params added
    assert str(seen[2].url) == f"{BASE}/v3/trades/AAPL?cursor=c3"  # a stray apiKey is dropped
    u = client.usage["/v3/trades/{ticker}"]
    assert (u.calls, u.pages, u.http_requests) == (1, 3, 3)


def test_aggs_pagination_keeps_rewritten_path(make_client: Callable[..., PolygonClient]) -> None:
    bar = {"t": 1, "o": 1, "h": 1, "l": 1, "c": 1, "v": 10}
    nxt = "https://api.massive.com/v2/aggs/ticker/AAPL/range/1/minute/1704205860000/2024-01-02?cursor=bGltaXQ9MQ"
    handler, seen = scripted(
        ok({"ticker": "AAPL", "results": [bar], "status": "OK", "next_url": nxt}),
        ok({"ticker": "AAPL", "results": [{**bar, "t": 2}], "status": "OK"}),
    )
    client = make_client(handler)

    async def go() -> list:
        async with client:
            return await client.aggs("AAPL", 1, "minute", "2024-01-02", "2024-01-02", limit=1)

    bars = run(go())
    assert [b.t for b in bars] == [1, 2]
    assert seen[0].url.path == "/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-01-02"
    assert dict(seen[0].url.params) == {"adjusted": "false", "sort": "asc", "limit": "1"}
    assert seen[1].url.path == "/v2/aggs/ticker/AAPL/range/1/minute/1704205860000/2024-01-02"
    assert client.usage["/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}"].pages == 2


def test_repeated_cursor_guard(make_client: Callable[..., PolygonClient]) -> None:
    loop_url = "https://api.massive.com/v3/trades/AAPL?cursor=same"
    handler, seen = scripted(ok(_page(1, loop_url)), ok(_page(2, loop_url)))
    client = make_client(handler)

    async def go() -> PolygonError:
        async with client:
            with pytest.raises(PolygonError, match="repeated next_url") as info:
                await client.trades("AAPL")
            return info.value

    run(go())
    assert len(seen) == 2


def test_max_pages_guard(make_client: Callable[..., PolygonClient]) -> None:
    counter = iter(range(1000))

    def endless(request: httpx.Request) -> httpx.Response:
        n = next(counter)
        return ok(_page(n, f"https://api.massive.com/v3/trades/AAPL?cursor=c{n + 1}"))

    handler, seen = scripted(endless)
    client = make_client(handler, max_pages=5)

    async def go() -> None:
        async with client:
            with pytest.raises(PolygonError, match="max_pages=5"):
                await client.trades("AAPL")

    run(go())
    assert len(seen) == 5


def test_empty_results_and_bare_bodies(make_client: Callable[..., PolygonClient]) -> None:
    holiday = [{"exchange": "NYSE", "name": "Christmas", "date": "2024-12-25", "status": "closed"}]
    now = {
        "market": "closed",
        "earlyHours": False,
        "afterHours": False,
        "serverTime": "2024-12-25T10:00:00-05:00",
    }
    handler, _ = scripted(
        ok({"queryCount": 0, "resultsCount": 0, "adjusted": False, "status": "OK", "request_id": "x"}),
        ok(holiday),
        ok(now),
    )
    client = make_client(handler)

    async def go() -> tuple:
        async with client:
            return (
                await client.grouped_daily("2024-12-25"),
                await client.market_holidays(),
                await client.market_status_now(),
            )

    grouped, holidays, status = run(go())
    assert grouped == [] and holidays[0].name == "Christmas" and status.market == "closed"


# --------------------------------------------------------------------------- tickers in paths
@pytest.mark.parametrize(
    ("ticker", "raw"),
    [("../x", b"/v3/trades/..%2Fx"), ("A B", b"/v3/trades/A%20B"), ("BRK.A", b"/v3/trades/BRK.A"),
     ("a/../../v1/marketstatus/now", b"/v3/trades/a%2F..%2F..%2Fv1%2Fmarketstatus%2Fnow"),
     ("X?apiKey=1#f", b"/v3/trades/X%3FapiKey%3D1%23f")],
)  # fmt: skip
def test_hostile_tickers_stay_in_their_segment(
    make_client: Callable[..., PolygonClient], ticker: str, raw: bytes
) -> None:
    handler, seen = scripted(ok())
    client = make_client(handler)

    async def go() -> None:
        async with client:
            await client.trades(ticker)

    run(go())
    assert seen[0].url.raw_path.split(b"?")[0] == raw
    assert "apiKey" not in seen[0].url.params


@pytest.mark.parametrize("bad", ["", "   ", "..", ".", "A" * 41, "AB\nC", "A\x00", 123, None])
def test_absurd_tickers_rejected(make_client: Callable[..., PolygonClient], bad: Any) -> None:
    handler, seen = scripted(ok())
    client = make_client(handler)

    async def go() -> None:
        async with client:
            with pytest.raises(ValueError, match="ticker"):
                await client.trades(bad)

    run(go())
    assert seen == []


def test_parameter_validation(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(ok())
    client = make_client(handler)

    async def go() -> None:
        async with client:
            with pytest.raises(ValueError, match="limit"):
                await client.trades("AAPL", limit=50_001)
            with pytest.raises(ValueError, match="timespan"):
                await client.aggs("AAPL", 1, "minutes", "2024-01-02", "2024-01-03")
            with pytest.raises(ValueError, match="date"):
                await client.grouped_daily("2024-13-01")
            with pytest.raises(ValueError, match="aware"):
                import datetime as dt

                await client.aggs("AAPL", 1, "day", dt.datetime(2024, 1, 2), "2024-01-03")

    run(go())
    assert seen == []


# --------------------------------------------------------------------------- rate limit and concurrency
def test_token_bucket_schedule_with_fake_clock() -> None:
    now = [100.0]
    bucket = TokenBucket(10.0, burst=3, clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(6)]
    assert waits == pytest.approx([0, 0, 0, 0.1, 0.2, 0.3])
    now[0] += 10.0  # long idle: the burst is back, not more
    assert [bucket.reserve() for _ in range(4)] == pytest.approx([0, 0, 0, 0.1])
    now[0] += 10.0
    bucket.pause(2.0)
    assert bucket.reserve() == pytest.approx(2.0)
    assert bucket.reserve() == pytest.approx(2.1)  # resumes at the steady rate, no fresh burst


def test_late_wakers_are_spaced_out_by_the_dispatch_gate() -> None:
    now = [100.0]
    bucket = TokenBucket(10.0, burst=1, clock=lambda: now[0])
    waits = [bucket.reserve() for _ in range(5)]
    assert waits == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    now[0] += 1.0  # the loop was busy: every reserved slot has passed when the sleepers wake
    gate = [bucket._dispatch() for _ in range(5)]
    assert gate[0] == 0 and all(g == pytest.approx(0.1) for g in gate[1:])
    now[0] += 0.1
    assert bucket._dispatch() == 0 and bucket._dispatch() == pytest.approx(0.1)


def test_rate_limit_paces_requests(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(ok())
    client = make_client(handler, rate_limit_per_s=100.0, burst=1, max_concurrency=20)

    async def go() -> float:
        async with client:
            started = time.monotonic()
            await asyncio.gather(*(client.trades("AAPL") for _ in range(20)))
            return time.monotonic() - started

    elapsed = run(go())
    assert len(seen) == 20
    # 19 intervals of 10 ms after the first token; the upper bound leaves room for a loaded CI host
    assert 0.17 <= elapsed <= 1.5


def test_clients_of_one_account_share_the_bucket(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(ok())
    a = make_client(handler, rate_limit_per_s=100.0, burst=1)
    b = make_client(handler, rate_limit_per_s=100.0, burst=1)
    other = make_client(handler, rate_limit_per_s=100.0, burst=1, api_key="another-account")
    assert a._bucket is b._bucket and a._bucket is not other._bucket

    async def go() -> float:
        async with a, b:
            started = time.monotonic()
            await asyncio.gather(*(c.trades("AAPL") for c in (a, b) for _ in range(10)))
            return time.monotonic() - started

    elapsed = run(go())
    assert len(seen) == 20 and 0.17 <= elapsed <= 1.5


def test_concurrency_is_bounded(make_client: Callable[..., PolygonClient]) -> None:
    state = {"now": 0, "peak": 0}

    async def slow(request: httpx.Request) -> httpx.Response:
        state["now"] += 1
        state["peak"] = max(state["peak"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return ok()

    handler, seen = scripted(slow)
    client = make_client(handler, max_concurrency=3)

    async def go() -> None:
        async with client:
            await asyncio.gather(*(client.trades("AAPL") for _ in range(12)))

    run(go())
    assert len(seen) == 12 and state["peak"] == 3


def test_retries_take_rate_limit_tokens(make_client: Callable[..., PolygonClient]) -> None:
    handler, seen = scripted(error(500), error(500), ok())
    client = make_client(handler, rate_limit_per_s=1000.0, burst=1)
    taken: list[float] = []
    original = client._bucket.reserve

    def spy() -> float:
        taken.append(1)
        return original()

    client._bucket.reserve = spy  # type: ignore[method-assign]

    async def go() -> None:
        async with client:
            await client.trades("AAPL")

    run(go())
    assert len(taken) == len(seen) == 3

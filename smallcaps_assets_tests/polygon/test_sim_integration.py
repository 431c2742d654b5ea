"""PolygonClient against the offline market in process (httpx.ASGITransport over sim.api.create_app)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from smallcaps_assets.polygon import PolygonClient, PolygonError
from smallcaps_assets.sim import ApiFaults, SimMarket
from smallcaps_assets.sim.api import create_app

DAY = dt.date(2024, 2, 14)
FAST: dict[str, Any] = {
    "rate_limit_per_s": 10_000.0,
    "burst": 1000,
    "backoff_base_s": 0.001,
    "backoff_cap_s": 0.01,
}


def sim_client(market: SimMarket, faults: ApiFaults | None = None, **kwargs: Any) -> PolygonClient:
    app = create_app(market, faults=faults)
    return PolygonClient(
        "http://offline.sim", "any-key", transport=httpx.ASGITransport(app=app), **{**FAST, **kwargs}
    )


def run(client: PolygonClient, fn: Callable[[PolygonClient], Any]) -> Any:
    async def go() -> Any:
        async with client:
            return await fn(client)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def liquid(small_market: SimMarket) -> str:
    """The most traded listed symbol on DAY (a few thousand trades, so paging has work to do)."""
    g = small_market.grouped_daily(DAY, adjusted=False)
    return g.sort("n", descending=True)["T"][len(g) // 3]


def test_grouped_daily_round_trip(small_market: SimMarket) -> None:
    bars = run(sim_client(small_market), lambda c: c.grouped_daily(DAY))
    expected = small_market.grouped_daily(DAY, adjusted=False).sort("T")
    got = sorted(bars, key=lambda b: b.ticker)
    assert [b.ticker for b in got] == expected["T"].to_list()
    for bar, row in zip(got, expected.iter_rows(named=True), strict=True):
        assert bar.v == pytest.approx(row["v"]) and bar.n == row["n"]
        assert (bar.o, bar.h, bar.l, bar.c) == pytest.approx(
            (row["o"], row["h"], row["l"], row["c"]), rel=1e-6
        )
        assert type(bar.t) is int
    assert (
        run(sim_client(small_market), lambda c: c.grouped_daily(dt.date(2024, 2, 19))) == []
    )  # Presidents Day


def test_aggs_round_trip_across_pages(small_market: SimMarket, liquid: str) -> None:
    client = sim_client(small_market)
    bars = run(client, lambda c: c.aggs(liquid, 1, "minute", DAY, DAY, limit=120))
    expected = small_market.minute_bars(liquid, DAY)
    assert [b.t for b in bars] == expected["t"].to_list()
    assert [b.v for b in bars] == pytest.approx(expected["v"].to_list())
    assert [b.c for b in bars] == pytest.approx(expected["c"].to_list(), rel=1e-6)
    u = client.usage["/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}"]
    assert u.calls == 1 and u.pages == u.http_requests > 1


def test_trades_and_quotes_round_trip(small_market: SimMarket, liquid: str) -> None:
    session_open = int(
        dt.datetime(2024, 2, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5))).timestamp()
    )
    lo, hi = session_open * 10**9, (session_open + 1800) * 10**9
    client = sim_client(small_market)

    async def fetch(c: PolygonClient) -> tuple:
        return (
            await c.trades(liquid, date=DAY, limit=1000),
            await c.trades(liquid, gte_ns=lo, lte_ns=hi, limit=1000),
            await c.quotes(liquid, gte_ns=lo, lte_ns=hi, limit=5000),
        )

    day_trades, window_trades, window_quotes = run(client, fetch)
    expected = small_market.trades(liquid, DAY)
    assert [t.sip_timestamp for t in day_trades] == expected["sip_timestamp"].to_list()
    assert [t.size for t in day_trades] == pytest.approx(expected["size"].to_list())
    assert client.usage["/v3/trades/{ticker}"].pages > 2
    assert window_trades and all(lo <= t.sip_timestamp <= hi for t in window_trades)
    assert [t.sip_timestamp for t in window_trades] == [
        t.sip_timestamp for t in day_trades if lo <= t.sip_timestamp <= hi
    ]
    eq = small_market.quotes(liquid, DAY, lo, hi)
    assert [q.sip_timestamp for q in window_quotes] == eq["sip_timestamp"].to_list()
    assert all(isinstance(q.sip_timestamp, int) and q.bid_price is not None for q in window_quotes)


def test_tickers_and_details_round_trip(small_market: SimMarket, liquid: str) -> None:
    async def fetch(c: PolygonClient) -> tuple:
        return (
            await c.tickers(date=DAY, limit=7),
            await c.tickers(date=DAY, active=False),
            await c.ticker_details(liquid, date=DAY),
            await c.ticker_details("NOPE", date=DAY),
        )

    active, inactive, details, missing = run(sim_client(small_market), fetch)
    listed = small_market.tickers_on(DAY, active=True)
    assert [t.ticker for t in active] == sorted(p.ticker for p in listed if p.market == "stocks")
    delisted = small_market.tickers_on(DAY, active=False)
    assert {t.ticker for t in inactive} == {p.ticker for p in delisted if p.market == "stocks"}
    want = small_market.ticker_details(liquid, DAY)
    assert details.ticker == liquid and details.weighted_shares_outstanding == pytest.approx(
        want["weighted_shares_outstanding"]
    )
    assert details.branding is not None and details.branding.logo_url.startswith("http://offline.sim/")
    assert missing is None


def test_reference_endpoints_parse(small_market: SimMarket, liquid: str) -> None:
    async def fetch(c: PolygonClient) -> dict:
        return {
            "types": await c.ticker_types(),
            "exchanges": await c.exchanges(),
            "conditions": await c.conditions("trade", limit=7),
            "splits": await c.splits(),
            "dividends": await c.dividends(limit=5),
            "status": await c.market_status_now(),
            "holidays": await c.market_holidays(),
            "si": await c.short_interest(liquid),
            "sv": await c.short_volume(liquid, DAY),
            "float": await c.free_float(liquid),
            "prev": await c.previous_close(liquid),
        }

    got = run(sim_client(small_market), fetch)
    assert {t.code for t in got["types"]} >= {"CS", "ETF", "WARRANT"}
    assert any(e.id == 4 for e in got["exchanges"])
    assert got["conditions"] and all("trade" in c.data_types for c in got["conditions"])
    assert len(got["splits"]) == len(small_market.all_splits)
    assert len(got["dividends"]) == len(small_market.all_dividends)
    assert got["status"].market in ("open", "closed", "extended-hours")
    assert got["holidays"] and got["sv"][0].date == DAY and got["prev"].ticker == liquid


def test_hostile_ticker_cannot_reach_another_route(small_market: SimMarket) -> None:
    async def fetch(c: PolygonClient) -> None:
        with pytest.raises(PolygonError) as info:
            await c.trades("../../v1/marketstatus/now")
        assert info.value.status in (400, 404)

    run(sim_client(small_market), fetch)


async def _workload(c: PolygonClient, ticker: str) -> tuple:
    """About 65 requests, served one at a time so the seeded fault sequence is reproducible."""
    return (
        await c.grouped_daily(DAY),
        await c.aggs(ticker, 1, "minute", DAY, DAY, limit=30),
        await c.trades(ticker, date=DAY, limit=200),
        await c.tickers(date=DAY, limit=2),
        await c.ticker_details(ticker, date=DAY),
    )


def test_fault_run_returns_the_fault_free_result(small_market: SimMarket, liquid: str) -> None:
    clean_client = sim_client(small_market)
    clean = run(clean_client, lambda c: _workload(c, liquid))
    faults = ApiFaults(error_rate=0.05, too_many_requests_rate=0.02, truncate_rate=0.01, seed=1)
    faulty_client = sim_client(small_market, faults)
    faulty = run(faulty_client, lambda c: _workload(c, liquid))
    assert faulty == clean
    t, c = faulty_client.usage.total(), clean_client.usage.total()
    assert t.calls == c.calls and t.pages == c.pages
    assert t.http_5xx > 0 and t.http_429 > 0 and t.bad_bodies > 0
    assert t.http_requests == c.http_requests + t.retries
    assert t.retries == t.http_5xx + t.http_429 + t.bad_bodies


def test_sim_timeouts_retried(small_market: SimMarket) -> None:
    faults = ApiFaults(timeout_rate=0.3, timeout_seconds=30.0, seed=1)
    client = sim_client(small_market, faults, timeout_s=0.2)
    started = time.monotonic()
    got = run(client, lambda c: c.tickers(date=DAY, limit=5))
    assert len(got) == sum(p.market == "stocks" for p in small_market.tickers_on(DAY, active=True))
    u = client.usage["/v3/reference/tickers"]
    assert u.timeouts > 0 and u.retries == u.timeouts
    assert time.monotonic() - started < 0.2 * u.timeouts + 5


def test_client_limit_keeps_sim_rate_limit_quiet(small_market: SimMarket) -> None:
    """Paced at 20/s against a server allowing 40/s: no 429 at all.

    The server's burst of 5 absorbs requests that a loaded event loop hands to it together; the
    client's pacing (not the burst) is what keeps 10 requests under 40/s."""
    faults = ApiFaults(rate_limit=40.0, rate_burst=5)
    client = sim_client(small_market, faults, rate_limit_per_s=20.0, burst=1)

    async def burst(c: PolygonClient) -> None:
        await asyncio.gather(*(c.exchanges() for _ in range(10)))

    run(client, burst)
    u = client.usage["/v3/reference/exchanges"]
    assert (u.http_requests, u.http_429) == (10, 0)


@pytest.mark.parametrize("kind", ["trades", "quotes"])
def test_ticks_frame_equals_the_model_path_across_pages(
    small_market: SimMarket, liquid: str, kind: str
) -> None:
    """The bulk path (polars' JSON reader) returns exactly what the pydantic models hold."""
    sess_open = int(dt.datetime.combine(DAY, dt.time(14, 30), tzinfo=dt.UTC).timestamp()) * 10**9
    lo, hi = sess_open, sess_open + 20 * 60 * 10**9

    async def both(c: PolygonClient):
        fetch = c.trades if kind == "trades" else c.quotes
        models = await fetch(liquid, gte_ns=lo, lte_ns=hi, limit=50)
        frame = await c.ticks_frame(kind, liquid, gte_ns=lo, lte_ns=hi, limit=50)
        return models, frame, c.usage.total().pages

    models, frame, pages = run(sim_client(small_market), both)
    assert len(models) > 100 and pages > 4  # several pages each way
    expected = [m.model_dump(exclude={"decimal_size"}) for m in models]
    got = frame.to_dicts()
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert {k: v for k, v in g.items() if v is not None} == {k: v for k, v in e.items() if v is not None}


def test_ticks_frame_retries_a_body_of_the_wrong_type(make_client) -> None:
    from .test_client import ok, scripted

    bad = {"results": [{"sip_timestamp": "soon", "price": 1.0, "size": 100}], "status": "OK"}
    handler, seen = scripted(ok(bad), ok())
    frame = run(make_client(handler), lambda c: c.ticks_frame("trades", "ABCD"))
    assert len(seen) == 2 and frame["sip_timestamp"].to_list() == [1]
    handler, seen = scripted(ok({"results": [{"price": 1.0, "size": 1}], "status": "OK"}))
    with pytest.raises(PolygonError, match="results without sip_timestamp"):
        run(make_client(handler, max_retries=2), lambda c: c.ticks_frame("trades", "ABCD"))
    assert len(seen) == 3


def test_ticks_frame_raises_the_vendor_message_of_an_error_status(make_client) -> None:
    from .test_client import ok, scripted

    handler, seen = scripted(
        ok({"status": "ERROR", "request_id": "r9", "error": "plan does not include quotes"})
    )
    with pytest.raises(PolygonError, match="plan does not include quotes") as info:
        run(make_client(handler), lambda c: c.ticks_frame("quotes", "ABCD"))
    assert len(seen) == 1 and info.value.vendor_status == "ERROR"


def test_ticks_before_is_one_request_for_the_last_quotes_strictly_before(
    small_market: SimMarket, liquid: str
) -> None:
    """The manifest's quoted spread: the last ``limit`` quotes before an instant, newest first, in
    one request however many older pages exist."""
    at = int(dt.datetime.combine(DAY, dt.time(15, 0), tzinfo=dt.UTC).timestamp()) * 10**9
    sess = int(dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=dt.UTC).timestamp()) * 10**9
    client = sim_client(small_market)
    frame = run(client, lambda c: c.ticks_before("quotes", liquid, at, limit=100))
    expected = small_market.quotes(liquid, DAY, sess, at - 1).sort("sip_timestamp", "sequence_number")
    assert expected.height > 100  # older pages exist, and are not fetched
    want = expected.tail(100).reverse()
    assert frame["sip_timestamp"].to_list() == want["sip_timestamp"].to_list()
    assert frame["bid_price"].to_list() == want["bid_price"].to_list()
    assert frame["sip_timestamp"].max() < at
    usage = client.usage["/v3/quotes/{ticker}"]
    assert (usage.calls, usage.http_requests, usage.pages) == (1, 1, 1)
    with pytest.raises(ValueError, match="before_ns"):
        run(sim_client(small_market), lambda c: c.ticks_before("quotes", liquid, -5))

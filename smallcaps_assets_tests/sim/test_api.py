"""The simulated vendor REST API (``smallcaps_assets.sim.api``): shapes, paging, errors, faults.

Everything runs in-process through ``httpx.ASGITransport`` (one event loop per client helper), except one
test that serves the app over HTTP with uvicorn.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import socket
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.sim import ApiFaults, SimMarket
from smallcaps_assets.sim.api import RateLimiter, create_app, gateway
from smallcaps_assets_tests.conftest import CAPTURES, load_capture

NY = cal.NY
DAY = dt.date(2024, 2, 5)  # a Monday
HOLIDAY = dt.date(2024, 2, 19)  # Presidents Day
CLOCK = dt.datetime(2024, 2, 5, 21, 48, 8, tzinfo=dt.UTC)  # 16:48:08 ET: after hours
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------------------------- helpers
class Client:
    """A synchronous wrapper over ``httpx.AsyncClient`` + ``ASGITransport`` with its own event loop."""

    def __init__(self, app, key: str | None = "test-key"):
        self.loop = asyncio.new_event_loop()
        self.http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sim")
        self.key = key

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def get(self, url: str, params=None, headers=None, key: str | None = "") -> httpx.Response:
        key = self.key if key == "" else key
        hdrs = {"Authorization": f"Bearer {key}"} if key else {}
        hdrs.update(headers or {})
        return self.run(self.http.get(url, params=params, headers=hdrs))

    def json(self, url: str, params=None):
        r = self.get(url, params)
        assert r.status_code == 200, r.text
        return r.json()

    def walk(self, url: str, params=None, max_pages: int = 400) -> tuple[list, list[dict]]:
        """Every result following ``next_url``; also returns the pages."""
        pages = [self.json(url, params)]
        while "next_url" in pages[-1]:
            assert len(pages) < max_pages
            nxt = pages[-1]["next_url"]
            assert nxt.startswith("http://sim/") and "apiKey" not in nxt
            pages.append(self.json(nxt))
        return [r for p in pages for r in p.get("results", [])], pages

    def close(self) -> None:
        self.run(self.http.aclose())
        self.loop.close()


def _et_ms(d: dt.date, hour: int = 0) -> int:
    return int(dt.datetime.combine(d, dt.time(hour), tzinfo=NY).timestamp()) * 1000


def _decode_cursor(url: str) -> str:
    cursor = parse_qs(urlsplit(url).query)["cursor"][0]
    assert "=" not in cursor
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()


def json_type(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if v is None:
        return "null"
    return "array" if isinstance(v, list) else "object"


def shape_diff(capture, ours, path: str = "$", optional: frozenset[str] = frozenset()) -> list[str]:
    """Differences in keys and JSON types, nested included. Arrays of objects compare the union of
    their items' keys (vendors omit empty optional keys per item). ``optional`` lists paths a capture
    has that we may omit, e.g. ``$.results[].correction``."""
    t1, t2 = json_type(capture), json_type(ours)
    if t1 != t2:
        return [f"{path}: capture {t1}, ours {t2}"]
    out: list[str] = []
    if t1 == "object":
        for k, v in capture.items():
            p = f"{path}.{k}"
            if k not in ours:
                if p not in optional:
                    out.append(f"{p}: missing")
                continue
            out.extend(shape_diff(v, ours[k], p, optional))
    elif t1 == "array" and capture and ours:
        if all(isinstance(x, dict) for x in capture) and all(isinstance(x, dict) for x in ours):
            merged_c: dict = {}
            for x in capture:
                for k, v in x.items():
                    merged_c.setdefault(k, v)
            merged_o: dict = {}
            for x in ours:
                for k, v in x.items():
                    merged_o.setdefault(k, v)
            out.extend(shape_diff(merged_c, merged_o, f"{path}[]", optional))
        else:
            for x in ours:
                out.extend(shape_diff(capture[0], x, f"{path}[]", optional))
    return out


def extra_keys(capture, ours, path: str = "$") -> set[str]:
    """Paths we send that the capture does not have."""
    out: set[str] = set()
    if isinstance(capture, dict) and isinstance(ours, dict):
        for k, v in ours.items():
            p = f"{path}.{k}"
            if k not in capture:
                out.add(p)
            else:
                out |= extra_keys(capture[k], v, p)
    elif (
        isinstance(capture, list)
        and isinstance(ours, list)
        and capture
        and ours
        and isinstance(capture[0], dict)
        and isinstance(ours[0], dict)
    ):
        mc = {k: v for x in capture for k, v in x.items()}
        mo = {k: v for x in ours for k, v in x.items()}
        out |= extra_keys(mc, mo, f"{path}[]")
    return out


def _aggregate_trades(trades: list[dict], conds: dict[int, dict]) -> dict[int, dict]:
    """Minute bars from trades with the vendor's intraday eligibility rules (docs/market_rules.md):
    Form T (12) and extended-hours out-of-sequence (13) count in intraday bars."""
    bars: dict[int, dict] = {}
    for tr in sorted(trades, key=lambda r: (r["sip_timestamp"], r["sequence_number"])):
        if tr.get("correction", 0):  # cancelled or corrected: in no bar
            continue
        codes = [c for c in tr.get("conditions", []) if c not in (12, 13)]
        rules = [conds[c]["update_rules"]["consolidated"] for c in codes if c in conds]
        oc = all(r["updates_open_close"] for r in rules)
        hl = all(r["updates_high_low"] for r in rules)
        vol = all(r["updates_volume"] for r in rules)
        t = tr["sip_timestamp"] // 60_000_000_000 * 60_000
        b = bars.setdefault(t, {"o": None, "c": None, "h": None, "l": None, "v": 0.0, "n": 0, "pv": 0.0})
        if oc:
            b["o"] = tr["price"] if b["o"] is None else b["o"]
            b["c"] = tr["price"]
        if hl:
            b["h"] = tr["price"] if b["h"] is None else max(b["h"], tr["price"])
            b["l"] = tr["price"] if b["l"] is None else min(b["l"], tr["price"])
        if vol:
            b["v"] += tr["size"]
            b["n"] += 1
            b["pv"] += tr["price"] * tr["size"]
    return {t: b for t, b in bars.items() if b["o"] is not None and b["h"] is not None}


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def app(small_market: SimMarket):
    return create_app(small_market, clock=lambda: CLOCK)


@pytest.fixture(scope="module")
def api(app):
    client = Client(app)
    yield client
    client.close()


@pytest.fixture(scope="module")
def ticker(small_market: SimMarket) -> str:
    """A listed common stock with a CIK, trading over the whole span (the busiest on DAY)."""
    first, last = small_market.sessions()[0], small_market.today
    cands = [
        p.ticker
        for p in small_market.profiles()
        if p.type == "CS"
        and p.market == "stocks"
        and p.cik
        and small_market.is_listed(p, first)
        and small_market.is_listed(p, last)
    ]
    assert cands
    return max(sorted(cands), key=lambda t: small_market.trades(t, DAY).height)


# --------------------------------------------------------------------------------------------- aggregates
BAR_KEYS = {"v", "vw", "o", "c", "h", "l", "t", "n"}


def _check_bar(bar: dict, grouped: bool = False) -> None:
    assert set(bar) - {"otc"} == BAR_KEYS | ({"T"} if grouped else set())
    assert isinstance(bar["t"], int) and isinstance(bar["n"], int)
    for k in ("v", "vw", "o", "c", "h", "l"):
        assert isinstance(bar[k], float), k
    assert bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]
    assert bar.get("otc", True) is True


def test_aggs_day_fields_and_values(api, small_market, ticker):
    body = api.json(f"/v2/aggs/ticker/{ticker}/range/1/day/2024-02-01/2024-02-07", {"adjusted": "false"})
    days = cal.trading_days(dt.date(2024, 2, 1), dt.date(2024, 2, 7))
    assert list(body) == [
        "ticker",
        "queryCount",
        "resultsCount",
        "adjusted",
        "results",
        "status",
        "request_id",
        "count",
    ]
    assert body["ticker"] == ticker and body["status"] == "OK" and body["adjusted"] is False
    assert body["queryCount"] == body["resultsCount"] == body["count"] == len(days) == len(body["results"])
    assert HEX32.match(body["request_id"])
    for bar, d in zip(body["results"], days, strict=True):
        _check_bar(bar)
        assert bar["t"] == _et_ms(d)  # day bars: 00:00 ET of the session
        ref = small_market.daily_bar(ticker, d, adjusted=False)
        assert {k: bar[k] for k in ("o", "h", "l", "c", "v", "vw", "n")} == ref


def test_aggs_minute_equals_market_bars(api, small_market, ticker):
    body = api.json(
        f"/v2/aggs/ticker/{ticker}/range/1/minute/{DAY}/{DAY}", {"adjusted": "false", "limit": 50000}
    )
    ref = small_market.minute_bars(ticker, DAY).rows(named=True)
    assert len(body["results"]) == len(ref) == body["queryCount"]
    for bar, r in zip(body["results"], ref, strict=True):
        _check_bar(bar)
        assert bar == {k: r[k] for k in ("v", "vw", "o", "c", "h", "l", "t", "n")}


@pytest.mark.parametrize(
    ("mult", "timespan", "start", "end", "limit", "sort"),
    [
        (1, "minute", "2024-02-05", "2024-02-07", 250, "asc"),
        (1, "minute", "2024-02-05", "2024-02-06", 300, "desc"),
        (5, "minute", "2024-02-05", "2024-02-06", 97, "asc"),
        (2, "hour", "2024-02-05", "2024-02-07", 200, "desc"),
        (15, "second", "2024-02-05", "2024-02-05", 500, "asc"),
        (1, "day", "2024-01-02", "2024-03-28", 17, "asc"),
        (3, "day", "2024-01-02", "2024-03-28", 10, "desc"),
        (1, "week", "2024-01-02", "2024-03-28", 9, "asc"),
        (1, "month", "2024-01-02", "2024-03-28", 25, "desc"),
    ],
)
def test_aggs_pagination_reassembles(api, ticker, mult, timespan, start, end, limit, sort):
    url = f"/v2/aggs/ticker/{ticker}/range/{mult}/{timespan}/{start}/{end}"
    full = api.json(url, {"limit": 50000, "sort": sort})
    paged, pages = api.walk(url, {"limit": limit, "sort": sort})
    assert len(pages) > 1
    assert paged == full["results"]
    assert sum(p["queryCount"] for p in pages) == full["queryCount"]
    ts = [b["t"] for b in paged]
    assert ts == sorted(ts, reverse=sort == "desc") and len(set(ts)) == len(ts)
    for p in pages[:-1]:
        assert p["queryCount"] <= limit or p["resultsCount"] == 1
        assert _decode_cursor(p["next_url"]) == f"limit={limit}&sort={sort}"
    nxt = urlsplit(pages[0]["next_url"]).path.split("/")
    following = pages[1]["results"][0]["t"]
    if sort == "asc":  # the vendor's rule: {from} becomes the next bar's t
        assert nxt[-2] == str(following) and nxt[-1] == end
    else:
        assert nxt[-2] == start and int(nxt[-1]) >= following


def test_aggs_unadjusted_paging_keeps_adjusted_false(api, ticker):
    url = f"/v2/aggs/ticker/{ticker}/range/1/day/2024-01-02/2024-03-28"
    body = api.json(url, {"limit": 5, "adjusted": "false"})
    assert _decode_cursor(body["next_url"]) == "limit=5&sort=asc&adjusted=false"
    assert api.json(body["next_url"])["adjusted"] is False


def test_aggs_week_month_anchors_and_merge(api, small_market, ticker):
    weeks = api.json(f"/v2/aggs/ticker/{ticker}/range/1/week/2024-01-02/2024-03-28", {"adjusted": "false"})
    days = small_market.sessions()
    for bar in weeks["results"]:
        start = dt.datetime.fromtimestamp(bar["t"] / 1000, tz=NY)
        assert start.weekday() == 6 and start.time() == dt.time(0)  # Sunday 00:00 ET
        members = [d for d in days if start.date() <= d < start.date() + dt.timedelta(days=7)]
        refs = [small_market.daily_bar(ticker, d) for d in members]
        assert bar["o"] == refs[0]["o"] and bar["c"] == refs[-1]["c"]
        assert bar["h"] == max(r["h"] for r in refs) and bar["l"] == min(r["l"] for r in refs)
        assert bar["v"] == sum(r["v"] for r in refs) and bar["n"] == sum(r["n"] for r in refs)
        assert bar["vw"] == pytest.approx(sum(r["v"] * r["vw"] for r in refs) / bar["v"], abs=1e-4)
    assert weeks["queryCount"] == len(days)
    months = api.json(f"/v2/aggs/ticker/{ticker}/range/1/month/2024-01-02/2024-03-28")
    assert [b["t"] for b in months["results"]] == [_et_ms(dt.date(2024, m, 1)) for m in (1, 2, 3)]
    quarter = api.json(f"/v2/aggs/ticker/{ticker}/range/1/quarter/2024-01-02/2024-03-28")
    assert [b["t"] for b in quarter["results"]] == [_et_ms(dt.date(2024, 1, 1))]


def test_aggs_ms_bounds_and_hour_alignment(api, ticker):
    lo, hi = _et_ms(DAY, 9) + 30 * 60_000, _et_ms(DAY, 11) - 1
    body = api.json(f"/v2/aggs/ticker/{ticker}/range/1/hour/{lo}/{hi}")
    assert [b["t"] for b in body["results"]] == [_et_ms(DAY, 9), _et_ms(DAY, 10)]
    minutes = api.json(f"/v2/aggs/ticker/{ticker}/range/1/minute/{lo}/{hi}")
    assert minutes["results"][0]["t"] >= lo and minutes["results"][-1]["t"] <= hi
    assert body["queryCount"] == minutes["queryCount"]


def test_aggs_split_adjustment(api, small_market):
    split = small_market.all_splits[0]
    before = cal.previous_trading_day(split.execution_date)
    url = f"/v2/aggs/ticker/{split.ticker}/range/1/day/{before}/{before}"
    raw = api.json(url, {"adjusted": "false"})["results"][0]
    adj = api.json(url)["results"][0]
    f = small_market.split_factor(split.ticker, before)
    assert f != 1.0
    for k in ("o", "h", "l", "c"):
        assert adj[k] == pytest.approx(raw[k] / f, abs=1e-4 if raw[k] / f >= 1 else 1e-6)
    assert adj["v"] == pytest.approx(raw["v"] * f) and adj["n"] == raw["n"]
    minute = api.json(f"/v2/aggs/ticker/{split.ticker}/range/1/minute/{before}/{before}")["results"]
    assert all(isinstance(b["vw"], float) for b in minute)


def test_duplicate_bar_fault_is_served(small_config):
    from smallcaps_assets.sim import DataFaults

    market = SimMarket(small_config.model_copy(update={"faults": DataFaults(duplicate_bar_rate=1.0)}))
    client = Client(create_app(market))
    try:
        tk = next(p.ticker for p in market.profiles() if market.minute_bars(p.ticker, DAY).height > 5)
        bars = client.json(f"/v2/aggs/ticker/{tk}/range/1/minute/{DAY}/{DAY}", {"adjusted": "false"})
    finally:
        client.close()
    ts = [b["t"] for b in bars["results"]]
    assert len(ts) == market.minute_bars(tk, DAY).height == len(set(ts)) + 1


def test_aggs_empty_and_unknown(api, ticker):
    for url in (
        "/v2/aggs/ticker/NOPE/range/1/day/2024-01-02/2024-03-28",
        f"/v2/aggs/ticker/{ticker}/range/1/minute/{HOLIDAY}/{HOLIDAY}",
        f"/v2/aggs/ticker/{ticker}/range/1/day/2030-01-01/2030-02-01",
        f"/v2/aggs/ticker/{ticker}/range/1/day/2024-03-01/2024-02-01",
    ):
        body = api.json(url)
        assert "results" not in body and "next_url" not in body
        assert body["queryCount"] == body["resultsCount"] == body["count"] == 0


def test_grouped_daily(api, small_market):
    body = api.json(f"/v2/aggs/grouped/locale/us/market/stocks/{DAY}", {"adjusted": "true"})
    assert list(body) == [
        "queryCount",
        "resultsCount",
        "adjusted",
        "results",
        "status",
        "request_id",
        "count",
    ]
    rows = body["results"]
    assert body["resultsCount"] == body["count"] == body["queryCount"] == len(rows) > 10
    assert [r["T"] for r in rows] == sorted(r["T"] for r in rows)
    for r in rows:
        _check_bar(r, grouped=True)
        assert r["t"] == _et_ms(DAY, 16) and "otc" not in r
    ref = small_market.grouped_daily(DAY, adjusted=True, include_otc=False)
    assert len(rows) == ref.height
    with_otc = api.json(f"/v2/aggs/grouped/locale/us/market/stocks/{DAY}", {"include_otc": "true"})["results"]
    otc = {p.ticker for p in small_market.profiles() if p.market == "otc"}
    assert {r["T"] for r in with_otc if r.get("otc")} == {r["T"] for r in with_otc} & otc
    assert len(with_otc) >= len(rows)
    for d in (HOLIDAY, dt.date(2024, 2, 3)):
        empty = api.json(f"/v2/aggs/grouped/locale/us/market/stocks/{d}")
        assert "results" not in empty and empty["resultsCount"] == 0


def test_prev_uses_clock_and_clamps(small_market, ticker):
    morning = Client(create_app(small_market, clock=lambda: dt.datetime(2024, 2, 6, 15, 0, tzinfo=dt.UTC)))
    future = Client(create_app(small_market))  # the real clock: long after the simulated span
    try:
        body = morning.json(f"/v2/aggs/ticker/{ticker}/prev")
        assert list(body) == [
            "ticker",
            "queryCount",
            "resultsCount",
            "adjusted",
            "results",
            "status",
            "request_id",
            "count",
        ]
        (bar,) = body["results"]
        _check_bar(bar, grouped=True)
        assert bar["T"] == ticker and bar["t"] == _et_ms(DAY, 16)
        ref = small_market.daily_bar(ticker, DAY, adjusted=True)
        assert bar["c"] == pytest.approx(ref["c"]) and bar["n"] == ref["n"]
        last = future.json(f"/v2/aggs/ticker/{ticker}/prev")["results"][0]
        assert last["t"] == _et_ms(small_market.today, 16)
        assert future.json("/v2/aggs/ticker/NOPE/prev")["resultsCount"] == 0
    finally:
        morning.close()
        future.close()


def test_open_close(api, small_market, ticker):
    body = api.json(f"/v1/open-close/{ticker}/{DAY}", {"adjusted": "false"})
    assert set(body) <= {
        "status",
        "from",
        "symbol",
        "open",
        "high",
        "low",
        "close",
        "volume",
        "afterHours",
        "preMarket",
        "otc",
    }
    assert body["from"] == DAY.isoformat() and body["symbol"] == ticker and body["status"] == "OK"
    ref = small_market.daily_bar(ticker, DAY)
    assert (body["open"], body["high"], body["low"], body["close"]) == (
        ref["o"],
        ref["h"],
        ref["l"],
        ref["c"],
    )
    assert body["volume"] == ref["v"]
    assert isinstance(body["preMarket"], float) and isinstance(body["afterHours"], float)
    r = api.get(f"/v1/open-close/{ticker}/{HOLIDAY}")
    assert (
        r.status_code == 404
        and r.json()["message"] == "Data not found."
        and r.json()["status"] == "NOT_FOUND"
    )


# --------------------------------------------------------------------------------------------- trades, quotes
TRADE_KEYS = {
    "conditions",
    "correction",
    "decimal_size",
    "exchange",
    "id",
    "participant_timestamp",
    "price",
    "sequence_number",
    "sip_timestamp",
    "size",
    "tape",
    "trf_id",
    "trf_timestamp",
}
QUOTE_KEYS = {
    "ask_exchange",
    "ask_price",
    "ask_size",
    "bid_exchange",
    "bid_price",
    "bid_size",
    "conditions",
    "indicators",
    "participant_timestamp",
    "sequence_number",
    "sip_timestamp",
    "tape",
}


def test_trades_fields(api, ticker):
    body = api.json(f"/v3/trades/{ticker}", {"timestamp": DAY.isoformat(), "limit": 5000, "order": "asc"})
    assert set(body) - {"next_url"} == {"results", "status", "request_id"}  # no count on trades
    rows = body["results"]
    assert rows
    lo, hi = _et_ms(DAY) * 1_000_000, _et_ms(DAY + dt.timedelta(days=1)) * 1_000_000
    assert any("trf_id" in r for r in rows) and any("trf_id" not in r for r in rows)
    for r in rows:
        assert set(r) <= TRADE_KEYS
        assert {
            "exchange",
            "id",
            "participant_timestamp",
            "price",
            "sequence_number",
            "sip_timestamp",
            "size",
            "tape",
            "decimal_size",
        } <= set(r)
        for k in ("exchange", "participant_timestamp", "sequence_number", "sip_timestamp", "tape"):
            assert type(r[k]) is int, k
        assert lo <= r["sip_timestamp"] < hi and r["sip_timestamp"] > 1.7e18
        assert isinstance(r["price"], float) and isinstance(r["id"], str)
        assert float(r["decimal_size"]) == r["size"]
        assert r.get("conditions", [1]) and all(type(c) is int for c in r.get("conditions", []))
        assert ("trf_id" in r) == ("trf_timestamp" in r) == (r["exchange"] == 4)
        assert r.get("correction", 1) != 0  # 0 (a normal trade) is omitted; cancels carry their code


def _vendor_num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _reference_trade_row(r: dict) -> dict:
    """A trade as the vendor prints it, one dict per print (the specification the column-wise JSON
    writer of sim/api/ticks.py must meet): empty conditions, a zero correction and a zero TRF
    are omitted, the size is an integer when whole and ``decimal_size`` its float text."""
    out = {"conditions": r["conditions"]} if r["conditions"] else {}
    if r["correction"]:
        out["correction"] = r["correction"]
    out |= {
        "decimal_size": repr(float(r["size"])),
        "exchange": r["exchange"],
        "id": r["id"],
        "participant_timestamp": r["participant_timestamp"],
        "price": r["price"],
        "sequence_number": r["sequence_number"],
        "sip_timestamp": r["sip_timestamp"],
        "size": _vendor_num(r["size"]),
        "tape": r["tape"],
    }
    if r["trf_id"]:
        out["trf_id"] = r["trf_id"]
    if r["trf_timestamp"]:
        out["trf_timestamp"] = r["trf_timestamp"]
    return out


def _reference_quote_row(r: dict) -> dict:
    out = {
        "ask_exchange": r["ask_exchange"],
        "ask_price": r["ask_price"],
        "ask_size": _vendor_num(r["ask_size"]),
        "bid_exchange": r["bid_exchange"],
        "bid_price": r["bid_price"],
        "bid_size": _vendor_num(r["bid_size"]),
    }
    if r["conditions"]:
        out["conditions"] = r["conditions"]
    if r["indicators"]:
        out["indicators"] = r["indicators"]
    for k in ("participant_timestamp", "sequence_number", "sip_timestamp", "tape"):
        out[k] = r[k]
    return out


def test_tick_pages_are_exactly_the_vendor_rows_of_the_library(api, small_market, ticker):
    """The served JSON (written column-wise) holds, key for key, value for value and in key order,
    the rows a per-print builder makes from the library's frame: a whole day with corrections,
    average-price, official and off-exchange prints, and locked/crossed quotes."""
    lo = int(dt.datetime.combine(DAY, dt.time(4, 0), tzinfo=NY).timestamp()) * 10**9
    hi = int(dt.datetime.combine(DAY, dt.time(20, 0), tzinfo=NY).timestamp()) * 10**9 - 1
    params = {"timestamp.gte": lo, "timestamp.lte": hi, "order": "asc", "limit": 50000}
    for kind, build in (("trades", _reference_trade_row), ("quotes", _reference_quote_row)):
        lib = getattr(small_market, kind)(ticker, DAY, lo, hi).sort("sip_timestamp", "sequence_number")
        served, _ = api.walk(f"/v3/{kind}/{ticker}", params)
        expected = [build(r) for r in lib.iter_rows(named=True)]
        assert len(served) == len(expected) > 1000
        assert [list(r) for r in served] == [list(r) for r in expected]  # key order too
        assert served == expected
        for r, e in zip(served[:2000], expected[:2000], strict=True):
            assert all(type(r[k]) is type(e[k]) for k in e)  # 100 stays an int, 10.0 a float
    trades = small_market.trades(ticker, DAY, lo, hi)
    assert (trades["correction"] != 0).any() and (trades["trf_id"] != 0).any()


def test_quotes_fields(api, ticker):
    rows = api.json(f"/v3/quotes/{ticker}", {"timestamp": DAY.isoformat(), "limit": 3000})["results"]
    assert rows
    for r in rows:
        assert set(r) <= QUOTE_KEYS
        assert QUOTE_KEYS - {"conditions", "indicators"} <= set(r)
        for k in (
            "ask_exchange",
            "bid_exchange",
            "participant_timestamp",
            "sequence_number",
            "sip_timestamp",
        ):
            assert type(r[k]) is int
        assert r.get("conditions", [1]) and r.get("indicators", [1])
    ts = [r["sip_timestamp"] for r in rows]
    assert ts == sorted(ts, reverse=True)  # order defaults to desc


@pytest.mark.parametrize("kind", ["trades", "quotes"])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_ticks_pagination_reassembles(api, ticker, kind, order):
    lo = int(dt.datetime.combine(DAY, dt.time(9, 0), tzinfo=NY).timestamp()) * 10**9
    params = {"timestamp.gte": lo, "timestamp.lt": lo + 7200 * 10**9, "order": order}
    full = api.json(f"/v3/{kind}/{ticker}", {**params, "limit": 50000})
    assert "next_url" not in full
    limit = max(50, len(full["results"]) // 4 + 1)
    paged, pages = api.walk(f"/v3/{kind}/{ticker}", {**params, "limit": limit})
    assert len(pages) >= 4
    assert paged == full["results"]
    assert all(len(p["results"]) == limit for p in pages[:-1])
    key = [(r["sip_timestamp"], r["sequence_number"]) for r in paged]
    assert key == sorted(key, reverse=order == "desc")


def test_ticks_timestamp_formats_and_multi_session(api, ticker):
    start = dt.datetime.combine(DAY, dt.time(10, 0), tzinfo=NY)
    lo = int(start.timestamp()) * 1_000_000_000
    hi = lo + 10 * 60 * 1_000_000_000
    by_ns = api.json(f"/v3/trades/{ticker}", {"timestamp.gte": lo, "timestamp.lt": hi, "limit": 50000})[
        "results"
    ]
    rfc = {
        "timestamp.gte": start.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000000000Z"),
        "timestamp.lt": (start + dt.timedelta(minutes=10)).isoformat(),
        "limit": 50000,
    }
    assert api.json(f"/v3/trades/{ticker}", rfc)["results"] == by_ns
    assert by_ns and all(lo <= r["sip_timestamp"] < hi for r in by_ns)
    # gt/lte with nanosecond RFC3339 precision around one print
    edge = by_ns[len(by_ns) // 2]["sip_timestamp"]
    sec, frac = divmod(edge, 1_000_000_000)
    text = dt.datetime.fromtimestamp(sec, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"
    only = api.json(f"/v3/trades/{ticker}", {"timestamp": text})["results"]
    assert [r["sip_timestamp"] for r in only] == [edge]
    after = api.json(f"/v3/trades/{ticker}", {"timestamp.gt": text, "timestamp.lt": hi, "limit": 50000})
    assert all(r["sip_timestamp"] > edge for r in after["results"])
    # a range over two sessions (and the weekend between them)
    two, _ = api.walk(  # the busiest name prints more than one page a day
        f"/v3/trades/{ticker}",
        {"timestamp.gte": "2024-02-02", "timestamp.lte": "2024-02-05", "order": "asc", "limit": 50000},
    )
    days = {dt.datetime.fromtimestamp(r["sip_timestamp"] // 10**9, tz=NY).date() for r in two}
    assert days == {dt.date(2024, 2, 2), DAY}
    before = api.json(f"/v3/trades/{ticker}", {"timestamp.lt": "2024-02-05", "limit": 1})["results"]
    assert dt.datetime.fromtimestamp(before[0]["sip_timestamp"] // 10**9, tz=NY).date() == dt.date(2024, 2, 2)


def test_ticks_cost_follows_the_window(small_config):
    """A 10-minute window generates only that window (bounded calls), never a whole day."""
    market = SimMarket(small_config)
    calls: list[tuple] = []
    orig_trades, orig_quotes = market.trades, market.quotes

    def trades(ticker, date, start_ns=None, end_ns=None):
        calls.append(("trades", start_ns, end_ns))
        return orig_trades(ticker, date, start_ns, end_ns)

    def quotes(ticker, date, start_ns=None, end_ns=None):
        calls.append(("quotes", start_ns, end_ns))
        return orig_quotes(ticker, date, start_ns, end_ns)

    market.trades, market.quotes = trades, quotes
    client = Client(create_app(market))
    try:
        tk = next(p.ticker for p in market.profiles() if p.type == "CS" and market.day_plan(p.ticker, DAY))
        lo = int(dt.datetime.combine(DAY, dt.time(9, 30), tzinfo=NY).timestamp()) * 10**9
        hi = lo + 600 * 10**9
        for kind in ("trades", "quotes"):
            client.json(f"/v3/{kind}/{tk}", {"timestamp.gte": lo, "timestamp.lte": hi, "limit": 50000})
        window_calls = list(calls)
        calls.clear()
        latest = client.json(f"/v3/trades/{tk}", {"limit": 10})["results"]  # the end of the last session
    finally:
        client.close()
    assert {k for k, _, _ in window_calls} == {"trades", "quotes"}
    assert all(s is not None and e is not None and lo <= s <= e <= hi for _, s, e in window_calls)
    assert len(latest) == 10 and calls
    assert all(s is not None and e is not None for _, s, e in calls)
    # chunks grow from 30 minutes until the page is full; a quiet end of day never costs the whole day
    assert calls[0][2] - calls[0][1] < 30 * 60 * 10**9
    sess = cal.session(market.today)
    assert all(s >= sess.ns("pre_open") for _, s, _ in calls)


def test_trades_aggregate_to_minute_bars(api, ticker):
    conds = {
        c["id"]: c
        for c in api.json("/v3/reference/conditions", {"data_type": "trade", "limit": 1000})["results"]
    }
    trades, _ = api.walk(
        f"/v3/trades/{ticker}", {"timestamp": DAY.isoformat(), "order": "asc", "limit": 50000}
    )
    bars = api.json(
        f"/v2/aggs/ticker/{ticker}/range/1/minute/{DAY}/{DAY}", {"adjusted": "false", "limit": 50000}
    )
    mine = _aggregate_trades(trades, conds)
    assert [b["t"] for b in bars["results"]] == sorted(mine)
    for b in bars["results"]:
        m = mine[b["t"]]
        assert (b["o"], b["h"], b["l"], b["c"], b["n"]) == (m["o"], m["h"], m["l"], m["c"], m["n"])
        assert b["v"] == pytest.approx(m["v"], rel=1e-12)
        assert b["vw"] == pytest.approx(m["pv"] / m["v"], abs=6e-5)


# --------------------------------------------------------------------------------------------- reference
TICKER_ROW_KEYS = {
    "ticker",
    "name",
    "market",
    "locale",
    "primary_exchange",
    "type",
    "active",
    "currency_name",
    "cik",
    "composite_figi",
    "share_class_figi",
    "last_updated_utc",
    "delisted_utc",
}


def test_tickers_fields_filters_and_paging(api, small_market):
    full = api.json("/v3/reference/tickers", {"limit": 1000})
    rows = full["results"]
    assert list(full) == ["results", "status", "request_id", "count"] and full["count"] == len(rows)
    assert [r["ticker"] for r in rows] == sorted(r["ticker"] for r in rows)
    listed = {p.ticker for p in small_market.tickers_on(small_market.today)}
    assert {r["ticker"] for r in rows} == listed
    for r in rows:
        assert set(r) <= TICKER_ROW_KEYS and r["active"] is True and r["locale"] == "us"
        assert {"ticker", "name", "market", "type", "currency_name", "composite_figi"} <= set(r)
        assert ("primary_exchange" in r) == (r["market"] == "stocks")
    paged, pages = api.walk("/v3/reference/tickers", {"limit": 7})
    assert len(pages) > 2 and paged == rows and all(p["count"] == len(p["results"]) for p in pages)
    assert "Y3Vyc29y" not in pages[0]["next_url"]
    desc = api.json("/v3/reference/tickers", {"limit": 1000, "order": "desc"})["results"]
    assert desc == rows[::-1]
    etf = api.json("/v3/reference/tickers", {"type": "ETF"})["results"]
    assert etf and all(r["type"] == "ETF" for r in etf)
    otc = api.json("/v3/reference/tickers", {"market": "otc"})["results"]
    assert all(r["market"] == "otc" and "primary_exchange" not in r for r in otc)
    some = rows[len(rows) // 2]["ticker"]
    assert api.json("/v3/reference/tickers", {"ticker": some})["results"] == [rows[len(rows) // 2]]
    gte = api.json("/v3/reference/tickers", {"ticker.gte": some, "limit": 1000})["results"]
    assert gte == [r for r in rows if r["ticker"] >= some]
    word = rows[0]["name"].split()[0]
    assert all(
        word.lower() in r["name"].lower() or word.lower() in r["ticker"].lower()
        for r in api.json("/v3/reference/tickers", {"search": word})["results"]
    )
    by_name = api.json("/v3/reference/tickers", {"sort": "name", "limit": 1000})["results"]
    assert [r["name"] for r in by_name] == sorted(r["name"] for r in rows)


def test_tickers_point_in_time(api, small_market):
    early = dt.date(2024, 1, 3)
    rows = api.json("/v3/reference/tickers", {"date": early.isoformat(), "limit": 1000})["results"]
    assert {r["ticker"] for r in rows} == {p.ticker for p in small_market.tickers_on(early)}
    later = [p for p in small_market.profiles() if p.list_date > early]
    assert all(p.ticker not in {r["ticker"] for r in rows} for p in later)
    gone = api.json("/v3/reference/tickers", {"active": "false", "limit": 1000})["results"]
    assert {r["ticker"] for r in gone} == {
        p.ticker for p in small_market.tickers_on(small_market.today, False)
    }
    assert all(r["active"] is False and r["delisted_utc"].endswith("T00:00:00Z") for r in gone)


def test_ticker_details(api, small_market, ticker):
    body = api.json(f"/v3/reference/tickers/{ticker}")
    assert list(body) == ["results", "status", "request_id"]
    res = body["results"]
    ref = small_market.ticker_details(ticker)
    for k, v in ref.items():
        assert res[k] == v, k
    assert set(res["branding"]) == {"logo_url", "icon_url"}
    assert res["branding"]["logo_url"].startswith("http://sim/v1/reference/company-branding/")
    for k in (
        "market_cap",
        "share_class_shares_outstanding",
        "weighted_shares_outstanding",
        "total_employees",
    ):
        assert isinstance(res[k], (int, float)) and not isinstance(res[k], bool)
    past = api.json(f"/v3/reference/tickers/{ticker}", {"date": "2024-01-10"})["results"]
    assert past == {**small_market.ticker_details(ticker, dt.date(2024, 1, 10)), "branding": past["branding"]}
    for url in ("/v3/reference/tickers/NOPE", "/v3/reference/tickers/nope.x"):
        r = api.get(url)
        assert r.status_code == 404
        assert r.json() == {
            "status": "NOT_FOUND",
            "request_id": r.headers["x-request-id"],
            "message": "Ticker not found.",
        }
    ipo = [p for p in small_market.profiles() if p.list_date > small_market.config.start]
    if ipo:
        before = (ipo[0].list_date - dt.timedelta(days=1)).isoformat()
        assert api.get(f"/v3/reference/tickers/{ipo[0].ticker}", {"date": before}).status_code == 404


def test_types_exchanges_conditions(api):
    types = api.json("/v3/reference/tickers/types")
    assert types["count"] == len(types["results"]) > 5
    assert all(set(r) == {"code", "description", "asset_class", "locale"} for r in types["results"])
    assert api.json("/v3/reference/tickers/types", {"asset_class": "crypto"})["results"] == []
    ex = api.json("/v3/reference/exchanges")
    assert ex["count"] == len(ex["results"]) and all(type(r["id"]) is int for r in ex["results"])
    assert [r for r in ex["results"] if r["id"] == 4 and r["type"] == "TRF"]
    first = api.json("/v3/reference/conditions", {"asset_class": "stocks"})
    assert first["count"] == 10 and "next_url" in first
    everything, pages = api.walk("/v3/reference/conditions", {"limit": 7})
    assert len(pages) > 2
    assert everything == api.json("/v3/reference/conditions", {"limit": 1000})["results"]
    for c in everything:
        assert {"id", "type", "name", "asset_class", "sip_mapping", "data_types"} <= set(c)
        if "trade" in c["data_types"]:
            rules = c["update_rules"]
            assert set(rules) == {"consolidated", "market_center"}
            assert all(isinstance(v, bool) for r in rules.values() for v in r.values())
    assert [c["legacy"] for c in everything if "legacy" in c] == [True]
    quotes = api.json("/v3/reference/conditions", {"data_type": "bbo", "limit": 1000})["results"]
    assert quotes and all("bbo" in c["data_types"] and "update_rules" not in c for c in quotes)
    same_id = api.json("/v3/reference/conditions", {"id": 37})["results"]  # ids are unique per data type
    assert {c["id"] for c in same_id} == {37} and len({tuple(c["data_types"]) for c in same_id}) == len(
        same_id
    )
    by_id = api.json("/v3/reference/conditions", {"sort": "id", "order": "desc", "limit": 1000})["results"]
    assert [c["id"] for c in by_id] == sorted((c["id"] for c in everything), reverse=True)
    assert all(
        "CTA" in c["sip_mapping"] for c in api.json("/v3/reference/conditions", {"sip": "CTA"})["results"]
    )


def test_splits_and_dividends(api, small_market):
    splits = api.json("/v3/reference/splits", {"limit": 1000})
    assert list(splits) == ["results", "status", "request_id"]
    rows = splits["results"]
    assert len(rows) == len(small_market.all_splits) > 0
    for r in rows:
        assert list(r) == ["execution_date", "id", "split_from", "split_to", "ticker"]
        assert isinstance(r["split_from"], (int, float)) and r["id"].startswith("E")
    assert [r["execution_date"] for r in rows] == sorted((r["execution_date"] for r in rows), reverse=True)
    assert len(api.json("/v3/reference/splits")["results"]) == min(10, len(rows))
    rev = api.json("/v3/reference/splits", {"reverse_split": "true", "limit": 1000})["results"]
    assert rev == [r for r in rows if r["split_from"] > r["split_to"]]
    one = rows[0]
    got = api.json(
        "/v3/reference/splits", {"ticker": one["ticker"], "execution_date.gte": one["execution_date"]}
    )
    assert one in got["results"]
    divs = api.json("/v3/reference/dividends")
    assert list(divs) in (
        ["results", "status", "request_id"],
        ["results", "status", "request_id", "next_url"],
    )
    assert len(divs["results"]) == min(10, len(small_market.all_dividends))
    alld = api.json("/v3/reference/dividends", {"limit": 1000})["results"]
    for r in alld:
        assert list(r) == [
            "cash_amount",
            "currency",
            "declaration_date",
            "dividend_type",
            "ex_dividend_date",
            "frequency",
            "id",
            "pay_date",
            "record_date",
            "ticker",
        ]
        assert type(r["frequency"]) is int and isinstance(r["cash_amount"], float)
    assert [r["ex_dividend_date"] for r in alld] == sorted(
        (r["ex_dividend_date"] for r in alld), reverse=True
    )
    monthly = api.json("/v3/reference/dividends", {"frequency": 12, "limit": 1000})["results"]
    assert monthly == [r for r in alld if r["frequency"] == 12]
    big = api.json("/v3/reference/dividends", {"cash_amount.gte": 0.5, "limit": 1000})["results"]
    assert big == [r for r in alld if r["cash_amount"] >= 0.5]


def test_stocks_v1_splits_adjustment_factor(api, small_market):
    rows, _ = api.walk("/stocks/v1/splits", {"limit": 2})
    assert len(rows) == len(small_market.all_splits)
    assert [r["execution_date"] for r in rows] == sorted((r["execution_date"] for r in rows), reverse=True)
    for r in rows:
        assert set(r) == {
            "adjustment_type",
            "execution_date",
            "historical_adjustment_factor",
            "id",
            "split_from",
            "split_to",
            "ticker",
        }
        assert r["adjustment_type"] == (
            "reverse_split" if r["split_from"] > r["split_to"] else "forward_split"
        )
        # the documented rule: a price on D times the factor of the first split after D is split-adjusted
        d = dt.date.fromisoformat(r["execution_date"]) - dt.timedelta(days=1)
        assert r["historical_adjustment_factor"] == pytest.approx(
            1.0 / small_market.split_factor(r["ticker"], d)
        )
    fwd = api.json("/stocks/v1/splits", {"adjustment_type": "reverse_split"})["results"]
    assert all(r["adjustment_type"] == "reverse_split" for r in fwd)
    asc = api.json("/stocks/v1/splits", {"sort": "ticker.asc,execution_date.asc", "limit": 5000})["results"]
    assert [(r["ticker"], r["execution_date"]) for r in asc] == sorted(
        (r["ticker"], r["execution_date"]) for r in rows
    )


def test_short_interest_volume_float(api, small_market, ticker):
    si = api.json("/stocks/v1/short-interest")
    assert len(si["results"]) == si["count"] == 10 and "next_url" in si
    mine = api.json("/stocks/v1/short-interest", {"ticker": ticker, "limit": 50000})["results"]
    assert mine == small_market.short_interest(ticker)
    for r in mine:
        assert set(r) == {"ticker", "settlement_date", "short_interest", "avg_daily_volume", "days_to_cover"}
        assert type(r["short_interest"]) is int and type(r["avg_daily_volume"]) is int
        assert isinstance(r["days_to_cover"], float)
    everything, pages = api.walk("/stocks/v1/short-interest", {"limit": 1000})
    assert [(r["ticker"], r["settlement_date"]) for r in everything] == sorted(
        (r["ticker"], r["settlement_date"]) for r in everything
    )
    newest = api.json("/stocks/v1/short-interest", {"sort": "settlement_date.desc", "limit": 50000})[
        "results"
    ]
    assert len(newest) == len(everything)
    assert newest[0]["settlement_date"] == max(r["settlement_date"] for r in everything)

    sv = api.json(
        "/stocks/v1/short-volume", {"ticker": ticker, "date.gte": "2024-02-01", "date.lte": "2024-02-07"}
    )
    assert [r["date"] for r in sv["results"]] == [
        d.isoformat() for d in cal.trading_days(dt.date(2024, 2, 1), dt.date(2024, 2, 7))
    ]
    assert sv["results"][0] == small_market.short_volume(ticker, dt.date(2024, 2, 1))
    for r in sv["results"]:
        assert all(type(v) is int for k, v in r.items() if k not in ("ticker", "date", "short_volume_ratio"))
    paged, pages = api.walk("/stocks/v1/short-volume", {"ticker": ticker, "limit": 25})
    assert len(pages) > 1 and len(paged) == len(small_market.sessions())
    by_date = api.json("/stocks/v1/short-volume", {"sort": "date.desc,ticker.asc", "limit": 30})["results"]
    assert by_date[0]["date"] == small_market.today.isoformat()
    assert [r["ticker"] for r in by_date if r["date"] == by_date[0]["date"]] == sorted(
        r["ticker"] for r in by_date if r["date"] == by_date[0]["date"]
    )
    ratio = api.json("/stocks/v1/short-volume", {"ticker": ticker, "short_volume_ratio.gt": 50, "limit": 500})
    assert all(r["short_volume_ratio"] > 50 for r in ratio["results"])

    fl = api.json("/stocks/vX/float", {"limit": 5000})
    assert list(fl) == ["results", "status", "request_id"]
    for r in fl["results"]:
        assert set(r) == {"ticker", "effective_date", "free_float", "free_float_percent"}
        assert type(r["free_float"]) is int and 0 < r["free_float_percent"] <= 100
    expected = sorted(t for t in (p.ticker for p in small_market.profiles()) if small_market.free_float(t))
    assert [r["ticker"] for r in fl["results"]] == expected
    hi = api.json("/stocks/vX/float", {"free_float_percent.gte": 80, "sort": "free_float_percent.desc"})[
        "results"
    ]
    assert all(r["free_float_percent"] >= 80 for r in hi)
    assert [r["free_float_percent"] for r in hi] == sorted(
        (r["free_float_percent"] for r in hi), reverse=True
    )


def test_news(api):
    body = api.json("/v2/reference/news", {"limit": 5})
    assert body["count"] == len(body["results"]) == 5 and "next_url" in body
    ts = [r["published_utc"] for r in body["results"]]
    assert ts == sorted(ts, reverse=True)
    tk = body["results"][0]["tickers"][0]
    mine = api.json("/v2/reference/news", {"ticker": tk, "limit": 1000})["results"]
    assert mine and all(tk in r["tickers"] for r in mine)


# --------------------------------------------------------------------------------------------- market status
@pytest.mark.parametrize(
    ("et", "market", "early", "after"),
    [
        (dt.datetime(2024, 2, 5, 10, 0), "open", False, False),
        (dt.datetime(2024, 2, 5, 5, 0), "extended-hours", True, False),
        (dt.datetime(2024, 2, 5, 16, 48, 8), "extended-hours", False, True),
        (dt.datetime(2024, 2, 5, 21, 0), "closed", False, False),
        (dt.datetime(2024, 2, 3, 12, 0), "closed", False, False),
        (dt.datetime(2024, 2, 19, 12, 0), "closed", False, False),
        (dt.datetime(2024, 7, 3, 14, 0), "extended-hours", False, True),  # early close at 13:00
    ],
)
def test_market_status_now(small_market, et, market, early, after):
    now = et.replace(tzinfo=NY)
    client = Client(create_app(small_market, clock=lambda: now.astimezone(dt.UTC)))
    try:
        r = client.get("/v1/marketstatus/now")
        body = r.json()
    finally:
        client.close()
    assert r.status_code == 200 and HEX32.match(r.headers["x-request-id"])
    assert (body["market"], body["earlyHours"], body["afterHours"]) == (market, early, after)
    assert body["serverTime"] == now.isoformat()
    assert body["exchanges"] == {"nyse": market, "nasdaq": market, "otc": market}
    assert body["currencies"]["crypto"] == "open"
    assert body["currencies"]["fx"] == ("closed" if et.weekday() == 5 else "open")
    assert "status" not in body and "request_id" not in body


def test_market_status_upcoming(api):
    rows = api.json("/v1/marketstatus/upcoming")
    assert isinstance(rows, list) and rows
    dates = [r["date"] for r in rows]
    assert dates == sorted(dates) and dates[0] > CLOCK.date().isoformat()
    assert {r["exchange"] for r in rows} == {"NYSE", "NASDAQ", "OTC"}
    closed = {r["date"]: r["name"] for r in rows if r["status"] == "closed"}
    assert closed["2024-02-19"] == "Washington's Birthday" and closed["2024-03-29"] == "Good Friday"
    assert closed["2024-07-04"] == "Independence Day" and closed["2024-12-25"] == "Christmas"
    early = [r for r in rows if r["status"] == "early-close"]
    assert {r["date"] for r in early} >= {"2024-07-03", "2024-11-29", "2024-12-24"}
    for r in rows:
        assert set(r) == (
            {"exchange", "name", "date", "status", "open", "close"}
            if r["status"] == "early-close"
            else {"exchange", "name", "date", "status"}
        )
    nov = next(r for r in early if r["date"] == "2024-11-29")
    assert (nov["open"], nov["close"], nov["name"]) == (
        "2024-11-29T14:30:00.000Z",
        "2024-11-29T18:00:00.000Z",
        "Thanksgiving",
    )


# --------------------------------------------------------------------------------------------- captures
def _capture_requests(ticker: str, small_market: SimMarket) -> dict[str, tuple[str, dict, frozenset[str]]]:
    """capture file -> (our request, params, capture paths we may legitimately omit)."""
    trades = small_market.trades(ticker, DAY)
    trf_sip = int(trades.filter(trades["trf_id"] > 0)["sip_timestamp"][0])
    return {
        "v1__marketstatus__now.json": ("/v1/marketstatus/now", {}, frozenset()),
        "v1__marketstatus__upcoming.json": ("/v1/marketstatus/upcoming", {}, frozenset()),
        "v2__aggs__grouped__locale__us__market__stocks__2005-04-04__adjusted-true.json": (
            f"/v2/aggs/grouped/locale/us/market/stocks/{DAY}",
            {"adjusted": "true"},
            frozenset(),
        ),
        "v2__aggs__ticker__AAPL__prev.json": (f"/v2/aggs/ticker/{ticker}/prev", {}, frozenset()),
        "v2__aggs__ticker__AAPL__range__1__day__2005-04-01__2005-04-04.json": (
            f"/v2/aggs/ticker/{ticker}/range/1/day/2024-02-01/2024-02-05",
            {},
            frozenset(),
        ),
        "v2__reference__news__ticker-NFLX.json": ("/v2/reference/news", {}, frozenset()),
        "v3__quotes__AAPL.json": (
            f"/v3/quotes/{ticker}",
            {"timestamp": DAY.isoformat(), "limit": 10},
            frozenset(),
        ),
        "v3__reference__conditions__asset_class-stocks.json": (
            "/v3/reference/conditions",
            {"asset_class": "stocks"},
            frozenset(),
        ),
        "v3__reference__dividends.json": ("/v3/reference/dividends", {}, frozenset()),
        "v3__reference__exchanges.json": ("/v3/reference/exchanges", {}, frozenset()),
        "v3__reference__splits.json": ("/v3/reference/splits", {}, frozenset()),
        "v3__reference__tickers.json": ("/v3/reference/tickers", {"limit": 2}, frozenset()),
        "v3__reference__tickers__AAPL.json": (f"/v3/reference/tickers/{ticker}", {}, frozenset()),
        "v3__reference__tickers__AAPL__date-2020-10-01.json": (
            f"/v3/reference/tickers/{ticker}",
            {"date": "2024-02-01"},
            frozenset(),
        ),
        "v3__reference__tickers__types.json": ("/v3/reference/tickers/types", {}, frozenset()),
        # ``correction`` is optional: the vendor omits it on normal trades (its trades reference), and the
        # simulation never corrects a trade, so it never appears. Everything else is produced.
        "v3__trades__AAPL__limit-2.json": (
            f"/v3/trades/{ticker}",
            {"limit": 2, "order": "asc", "timestamp.gte": trf_sip},
            frozenset({"$.results[].correction"}),
        ),
    }


# Keys we send beyond a capture: each is in the vendor's public docs or its 2026 OpenAPI spec.
ALLOWED_EXTRAS = {
    "v1__marketstatus__now.json": {"$.indicesGroups"},  # market status, new in 2025/26
    "v3__quotes__AAPL.json": {"$.results[].conditions", "$.results[].indicators"},  # optional quote fields
    "v3__reference__dividends.json": {
        "$.results[].id",
        "$.results[].currency",
        "$.next_url",
    },  # v3 dividends fields
    "v3__reference__splits.json": {"$.results[].id", "$.next_url"},  # v3 splits fields
    "v3__trades__AAPL__limit-2.json": {"$.results[].decimal_size", "$.next_url"},  # trades, 2026 spec
    "v2__reference__news__ticker-NFLX.json": {"$.next_url"},
    "v3__reference__tickers__AAPL.json": {"$.results.round_lot"},  # ticker details
    "v3__reference__tickers__AAPL__date-2020-10-01.json": {"$.results.round_lot"},
    "v3__reference__conditions__asset_class-stocks.json": {"$.next_url"},
}


def test_every_capture_has_a_request(small_market, ticker):
    names = {p.name for p in Path(CAPTURES).glob("*.json")}
    assert names == set(_capture_requests(ticker, small_market))


@pytest.mark.parametrize("name", sorted(p.name for p in Path(CAPTURES).glob("*.json")))
def test_capture_shapes(api, small_market, ticker, name):
    url, params, optional = _capture_requests(ticker, small_market)[name]
    capture = load_capture(name)
    ours = api.json(url, params)
    assert shape_diff(capture, ours, optional=optional) == []
    assert extra_keys(capture, ours) <= ALLOWED_EXTRAS.get(name, set())


# --------------------------------------------------------------------------------------------- errors
def _assert_error(r: httpx.Response, status: int, text: str | None = None) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert list(body) == ["status", "request_id", "error"] and body["status"] == "ERROR"
    assert body["request_id"] == r.headers["x-request-id"] and HEX32.match(body["request_id"])
    assert r.headers["content-type"] == "application/json"
    if text is not None:
        assert body["error"] == text
    return body


def test_auth(app, small_market, ticker):
    client = Client(app, key=None)
    keyed = Client(create_app(small_market, api_keys={"good"}))
    try:
        _assert_error(client.get("/v3/reference/exchanges"), 401, "API Key was not provided")
        _assert_error(client.get("/v3/reference/exchanges", {"apiKey": ""}), 401, "API Key was not provided")
        assert client.get("/v3/reference/exchanges", {"apiKey": "any"}).status_code == 200
        _assert_error(keyed.get("/v3/reference/exchanges", key="bad"), 401, "Unknown API Key")
        assert keyed.get("/v3/reference/exchanges", key="good").status_code == 200
        assert keyed.get("/v3/reference/exchanges", {"apiKey": "good"}, key=None).status_code == 200
        # the key never changes the request id, and never appears in next_url
        a = keyed.get("/v3/reference/tickers", {"limit": 2, "apiKey": "good"}, key=None)
        b = keyed.get("/v3/reference/tickers", {"limit": 2}, key="good")
        assert a.content == b.content and "good" not in a.json()["next_url"]
    finally:
        client.close()
        keyed.close()


def test_unknown_route(api):
    for url in ("/v9/nothing", "/v3/trades", "/v2/aggs/ticker/X/range/1/day/2024-01-01"):
        r = api.get(url)
        assert r.status_code == 404 and r.text == "404 page not found"
        assert r.headers["content-type"].startswith("text/plain")
    assert api.get("/v9/nothing", key=None).status_code == 404


@pytest.mark.parametrize(
    ("url", "params", "needle"),
    [
        ("/v2/aggs/ticker/{t}/range/1/day/2024-13-01/2024-02-01", {}, "from"),
        ("/v2/aggs/ticker/{t}/range/1/day/2024-02-01/yesterday", {}, "to"),
        ("/v2/aggs/ticker/{t}/range/1/fortnight/2024-02-01/2024-02-05", {}, "timespan"),
        ("/v2/aggs/ticker/{t}/range/0/day/2024-02-01/2024-02-05", {}, "multiplier"),
        ("/v2/aggs/ticker/{t}/range/1/day/2024-02-01/2024-02-05", {"limit": "50001"}, "limit"),
        ("/v2/aggs/ticker/{t}/range/1/day/2024-02-01/2024-02-05", {"limit": "ten"}, "limit"),
        ("/v2/aggs/ticker/{t}/range/1/day/2024-02-01/2024-02-05", {"sort": "up"}, "sort"),
        ("/v2/aggs/ticker/{t}/range/1/day/2024-02-01/2024-02-05", {"adjusted": "maybe"}, "adjusted"),
        ("/v2/aggs/grouped/locale/us/market/stocks/20240205", {}, "date"),
        ("/v2/aggs/grouped/locale/us/market/stocks/2024-02-30", {}, "date"),
        ("/v1/open-close/{t}/2024-2-5", {}, "date"),
        ("/v3/trades/{t}", {"limit": "0"}, "limit"),
        ("/v3/trades/{t}", {"limit": "50001"}, "limit"),
        ("/v3/trades/{t}", {"limit": "1.5"}, "limit"),
        ("/v3/trades/{t}", {"order": "newest"}, "order"),
        ("/v3/trades/{t}", {"sort": "price"}, "sort"),
        ("/v3/quotes/{t}", {"timestamp.gte": "yesterday"}, "timestamp.gte"),
        ("/v3/quotes/{t}", {"timestamp": "2024-02-05T25:00:00Z"}, "timestamp"),
        ("/v3/quotes/{t}", {"timestamp": "99999999999999999999"}, "timestamp"),
        ("/v3/quotes/{t}", {"cursor": "!!!"}, "cursor"),
        ("/v3/quotes/{t}", {"cursor": "bm90IGEgY3Vyc29y&x"}, "cursor"),
        ("/v3/reference/tickers", {"limit": "1001"}, "limit"),
        ("/v3/reference/tickers", {"type": "STOCK"}, "type"),
        ("/v3/reference/tickers", {"date": "02/05/2024"}, "date"),
        ("/v3/reference/tickers", {"sort": "price"}, "sort"),
        ("/v3/reference/tickers/{t}", {"date": "soon"}, "date"),
        ("/v3/reference/conditions", {"limit": "1001"}, "limit"),
        ("/v3/reference/conditions", {"data_type": "bar"}, "data_type"),
        ("/v3/reference/splits", {"execution_date.gte": "2024"}, "execution_date.gte"),
        ("/v3/reference/splits", {"reverse_split": "yes"}, "reverse_split"),
        ("/v3/reference/dividends", {"frequency": "3"}, "frequency"),
        ("/v3/reference/dividends", {"cash_amount.gt": "lots"}, "cash_amount.gt"),
        ("/stocks/v1/splits", {"limit": "5001"}, "limit"),
        ("/stocks/v1/splits", {"adjustment_type": "merger"}, "adjustment_type"),
        ("/stocks/v1/short-interest", {"limit": "50001"}, "limit"),
        ("/stocks/v1/short-interest", {"sort": "price.asc"}, "sort"),
        ("/stocks/v1/short-volume", {"date": "today"}, "date"),
        ("/stocks/v1/short-volume", {"short_volume_ratio.gt": "nan"}, "short_volume_ratio.gt"),
        ("/stocks/vX/float", {"limit": "5001"}, "limit"),
        ("/v2/reference/news", {"published_utc.gte": "last week"}, "published_utc.gte"),
    ],
)
def test_bad_input_is_400(api, ticker, url, params, needle):
    body = _assert_error(api.get(url.format(t=ticker), params), 400)
    assert needle in body["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/v3/trades/%00",
        "/v3/trades/%3Cscript%3E",
        "/v3/quotes/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "/v2/aggs/ticker/%E2%82%AC/range/1/day/2024-02-01/2024-02-05",
        "/v1/open-close/'%20OR%201=1/2024-02-05",
        "/v3/reference/tickers/%F0%9F%92%A5",
    ],
)
def test_hostile_tickers_are_400(api, path):
    body = _assert_error(api.get(path), 400)
    assert "ticker" in body["error"].lower() and "Traceback" not in body["error"]


def test_path_tricks_never_reach_a_route(api):
    for path in ("/v2/aggs/ticker/..%2F..%2Fetc/prev", "/v3/trades/a%2Fb", "/v3/reference/tickers/%2F"):
        r = api.get(path)
        assert r.status_code == 404 and r.text == "404 page not found"


def test_headers_request_id_and_gzip(api, ticker):
    urls = [
        f"/v2/aggs/ticker/{ticker}/range/1/day/2024-02-01/2024-02-07",
        f"/v3/trades/{ticker}",
        "/v3/reference/tickers",
        "/v1/marketstatus/upcoming",
        "/stocks/vX/float",
    ]
    for url in urls:
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        rid = r.headers["x-request-id"]
        assert HEX32.match(rid)
        if isinstance(r.json(), dict) and "request_id" in r.json():
            assert r.json()["request_id"] == rid
        assert api.get(url).headers["x-request-id"] == rid  # deterministic
    raw = api.run(api.http.get(urls[1], headers={"Authorization": "Bearer k", "Accept-Encoding": "gzip"}))
    assert raw.headers["content-encoding"] == "gzip"
    assert json.loads(raw.content)["results"]  # httpx decoded the gzip body
    plain = api.run(
        api.http.get(urls[1], headers={"Authorization": "Bearer k", "Accept-Encoding": "identity"})
    )
    assert "content-encoding" not in plain.headers and plain.content == raw.content


def test_cursor_replaces_other_params(api, ticker):
    first = api.json(f"/v3/trades/{ticker}", {"timestamp": DAY.isoformat(), "limit": 5, "order": "asc"})
    second = api.json(first["next_url"])
    tampered = api.json(first["next_url"] + "&limit=1&order=desc&timestamp=2024-03-01")
    assert tampered["results"] == second["results"] and len(second["results"]) == 5
    assert first["results"][-1]["sip_timestamp"] <= second["results"][0]["sip_timestamp"]


# --------------------------------------------------------------------------------------------- faults
def test_rate_limit_429_with_retry_after(small_market):
    client = Client(create_app(small_market, faults=ApiFaults(rate_limit=0.5, rate_burst=2)))
    try:
        codes = [client.get("/v3/reference/exchanges").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = client.get("/v3/reference/exchanges")
        body = _assert_error(r, 429)
        assert body["error"].startswith("You've exceeded the maximum requests per minute")
        assert int(r.headers["retry-after"]) >= 1
        assert client.get("/v3/reference/exchanges", key="other-key").status_code == 200  # per key
    finally:
        client.close()


def test_rate_limit_state_is_bounded(small_market, monkeypatch):
    """A server seeing ever new keys keeps at most ``MAX_RATE_LIMIT_KEYS`` token buckets."""
    monkeypatch.setattr(gateway, "MAX_RATE_LIMIT_KEYS", 8)
    app = create_app(small_market, faults=ApiFaults(rate_limit=0.001, rate_burst=1))
    client = Client(app)
    try:
        assert all(client.get("/v3/reference/exchanges", key=f"k{i}").status_code == 200 for i in range(30))
        assert len(app.state.rate_limiter) == 8
        assert client.get("/v3/reference/exchanges", key="k29").status_code == 429  # recent: still drained
        assert client.get("/v3/reference/exchanges", key="k0").status_code == 200  # forgotten: a full bucket
    finally:
        client.close()


def test_rate_limiter_forgets_the_least_recently_seen_key():
    limiter = RateLimiter(rate=0.001, burst=1, max_keys=2)
    assert limiter.take("a") == 0 and limiter.take("b") == 0
    assert limiter.take("a") >= 1  # drained, and now the most recently seen
    assert limiter.take("c") == 0  # drops b, not a
    assert list(limiter.buckets) == ["a", "c"]
    assert limiter.take("a") >= 1 and limiter.take("b") == 0
    assert list(limiter.buckets) == ["a", "b"]


def test_random_429_and_5xx(small_market):
    client = Client(create_app(small_market, faults=ApiFaults(too_many_requests_rate=1.0)))
    try:
        r = client.get("/v3/reference/exchanges")
        _assert_error(r, 429)
        assert r.headers["retry-after"] == "1"
    finally:
        client.close()

    def statuses(seed: int) -> list[int]:
        c = Client(create_app(small_market, faults=ApiFaults(error_rate=0.4, seed=seed)))
        try:
            return [c.get("/v3/reference/tickers/types").status_code for _ in range(60)]
        finally:
            c.close()

    codes = statuses(3)
    errors = [c for c in codes if c != 200]
    assert 8 <= len(errors) <= 40 and set(errors) <= {500, 502, 503, 504} and len(set(errors)) >= 3
    assert statuses(3) == codes  # same seed, same sequence
    assert statuses(4) != codes


def test_truncated_bodies(small_market, ticker):
    client = Client(create_app(small_market, faults=ApiFaults(truncate_rate=1.0)))
    try:
        for url in (f"/v3/trades/{ticker}", "/v3/reference/exchanges", "/v1/marketstatus/upcoming"):
            r = client.get(url, headers={"Accept-Encoding": "identity"})
            assert r.status_code == 200
            assert int(r.headers["content-length"]) == len(r.content) > 0
            with pytest.raises(json.JSONDecodeError):
                json.loads(r.content)
        zipped = client.get(f"/v3/trades/{ticker}")  # gzip wraps the cut body: it decodes, then fails
        assert zipped.headers["content-encoding"] == "gzip"
        with pytest.raises(json.JSONDecodeError):
            json.loads(zipped.content)
        assert client.get("/v3/reference/tickers/NOPE").json()["status"] == "NOT_FOUND"  # only 200s are cut
    finally:
        client.close()


def test_latency_and_timeout(small_market):
    slow = Client(create_app(small_market, faults=ApiFaults(latency_ms=150)))
    hang = Client(create_app(small_market, faults=ApiFaults(timeout_rate=1.0, timeout_seconds=0.4)))
    try:
        t0 = time.perf_counter()
        assert slow.get("/v3/reference/exchanges").status_code == 200
        assert time.perf_counter() - t0 >= 0.14
        headers = {"Authorization": "Bearer k"}
        with pytest.raises(TimeoutError):
            hang.run(asyncio.wait_for(hang.http.get("/v3/reference/exchanges", headers=headers), 0.1))
        t0 = time.perf_counter()
        assert hang.get("/v3/reference/exchanges").status_code == 200
        assert time.perf_counter() - t0 >= 0.39
    finally:
        slow.close()
        hang.close()


def test_default_faults_are_off(small_market):
    client = Client(create_app(small_market, faults=ApiFaults()))
    try:
        assert {client.get("/v3/reference/tickers/types").status_code for _ in range(30)} == {200}
    finally:
        client.close()


# --------------------------------------------------------------------------------------------- determinism
def _bodies(market: SimMarket, ticker: str) -> list[bytes]:
    client = Client(create_app(market, clock=lambda: CLOCK))
    try:
        urls = [
            f"/v2/aggs/ticker/{ticker}/range/1/minute/{DAY}/{DAY}?limit=200",
            f"/v3/trades/{ticker}?timestamp={DAY}&limit=300",
            f"/v3/quotes/{ticker}?timestamp={DAY}&limit=300&order=asc",
            "/v3/reference/tickers?limit=20",
            f"/v3/reference/tickers/{ticker}",
            "/stocks/v1/short-volume?limit=20",
        ]
        return [client.get(u).content for u in urls]
    finally:
        client.close()


def test_same_seed_byte_identical_different_seed_differs(small_config, ticker):
    a = _bodies(SimMarket(small_config), ticker)
    b = _bodies(SimMarket(small_config), ticker)
    assert a == b
    other = SimMarket(small_config.model_copy(update={"seed": small_config.seed + 1}))
    c = _bodies(other, ticker)
    assert all(x != y for x, y in zip(a, c, strict=True))


# --------------------------------------------------------------------------------------------- over HTTP
def test_served_by_uvicorn(app, ticker):
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer k"}, timeout=10) as http:
            r = http.get(f"/v3/trades/{ticker}", params={"limit": 3})
            assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
            body = r.json()
            assert body["next_url"].startswith(f"{base}/v3/trades/{ticker}?cursor=")
            assert len(http.get(body["next_url"]).json()["results"]) == 3
            assert http.get("/nope").text == "404 page not found"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_short_interest_rows_are_simulated_once_per_market(small_market, ticker, monkeypatch):
    """Every asset step opens its own app on the process's market: the second app answers from
    the first one's rows (the simulation runs once per ticker), and another market has its own."""
    from smallcaps_assets.sim.api.context import SimApi

    calls: list[str] = []
    simulate = SimMarket.short_interest

    def counted(self, t):
        calls.append(t)
        return simulate(self, t)

    monkeypatch.setattr(SimMarket, "short_interest", counted)
    market = SimMarket(small_market.config)  # a market of its own: the cache starts empty
    first, second = SimApi(market), SimApi(market)
    rows = first.short_interest(ticker)
    assert rows and second.short_interest(ticker) == rows and calls == [ticker]
    other = SimMarket(small_market.config.model_copy(update={"seed": small_market.config.seed + 1}))
    SimApi(other).short_interest(ticker)
    assert calls == [ticker, ticker]


def test_news_articles_are_built_once_per_market(small_market, monkeypatch):
    """Like short interest: a second app (the next step's client) answers from the articles the
    first built, with the same page; another market builds its own."""
    from smallcaps_assets.sim.api import news as news_api

    built: list[int] = []
    build = news_api._build_news_rows

    def counted(market):
        built.append(market.config.seed)
        return build(market)

    monkeypatch.setattr(news_api, "_build_news_rows", counted)
    market = SimMarket(small_market.config)  # a market of its own: the cache starts empty
    clients = [Client(create_app(market)) for _ in range(2)]
    pages = [c.json("/v2/reference/news", {"limit": 50})["results"] for c in clients]
    assert pages[0] and pages[1] == pages[0] and len(built) == 1
    other = Client(create_app(SimMarket(small_market.config.model_copy(update={"seed": 8}))))
    other.json("/v2/reference/news")
    assert len(built) == 2
    for c in [*clients, other]:
        c.close()

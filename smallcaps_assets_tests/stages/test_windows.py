"""The event-window downloader: 1 Hz quotes, the ledger, resumption and faults (in-process market)."""

from __future__ import annotations

import asyncio
import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.polygon import PolygonError, connect, models
from smallcaps_assets.sim import SimConfig, SimMarket
from smallcaps_assets.sim.config import ApiFaults
from smallcaps_assets.stages import windows as win

NS = 1_000_000_000
T0 = 1_709_735_400 * NS  # 2024-03-06 14:30:00 UTC (09:30 ET)


def quote(t_ns: int, seq: int, bid: float, ask: float) -> dict:
    return {
        "sip_timestamp": t_ns,
        "participant_timestamp": t_ns - 1000,
        "sequence_number": seq,
        "bid_price": bid,
        "ask_price": ask,
        "bid_size": 100,
        "ask_size": 200,
        "bid_exchange": 11,
        "ask_exchange": 12,
        "tape": 3,
        "conditions": [1],
    }


def raw(rows: list[dict], struct: pl.Struct) -> pl.DataFrame:
    """Rows as ``ticks_frame`` returns them (the vendor's columns, typed by the struct)."""
    return pl.DataFrame(rows, schema={f.name: f.dtype for f in struct.fields})


WINDOW = win.EventWindow("ev1", "ABCD", dt.date(2024, 3, 6), T0, T0 + 600 * NS)


def test_quotes_keep_the_last_nbbo_of_each_second_and_skip_empty_seconds():
    rows = [
        quote(T0 + 100, 1, 5.00, 5.02),
        quote(T0 + 900_000_000, 3, 5.01, 5.03),  # last of second 0 by time
        quote(T0 + 900_000_000, 2, 4.00, 4.10),  # same time, lower sequence: not last
        quote(T0 + 3 * NS + 5, 4, 5.05, 5.04),  # second 3 (1 and 2 are empty): crossed
        quote(T0 + 4 * NS, 5, 5.05, 5.05),  # locked
        quote(T0 + 5 * NS, 6, 0.0, 5.06),  # empty bid side: neither crossed nor locked
    ]
    frame, n_raw = win.quotes_1hz(WINDOW, raw(rows, models.QUOTE_STRUCT))
    assert n_raw == 6
    assert frame["second"].dt.epoch("ns").to_list() == [T0, T0 + 3 * NS, T0 + 4 * NS, T0 + 5 * NS]
    first = frame.row(0, named=True)
    assert (first["bid_price"], first["ask_price"], first["sequence_number"]) == (5.01, 5.03, 3)
    assert frame["quotes_in_second"].to_list() == [3, 1, 1, 1]
    assert frame["crossed"].to_list() == [False, True, False, False]
    assert frame["locked"].to_list() == [False, False, True, False]
    assert set(frame["event_id"]) == {"ev1"} and dict(frame.schema) == win.QUOTE_SCHEMA


def test_trades_keep_tick_level_fields():
    rows = [
        {
            "sip_timestamp": T0 + 2,
            "participant_timestamp": T0,
            "sequence_number": 9,
            "price": 5.0,
            "size": 100,
            "exchange": 4,
            "id": "t9",
            "conditions": [12, 37],
            "tape": 3,
            "trf_id": 202,
            "trf_timestamp": T0 + 1,
        },
        {
            "sip_timestamp": T0 + 1,
            "sequence_number": 8,
            "price": 5.01,
            "size": 50,
            "exchange": 11,
            "id": "t8",
        },
    ]
    frame = win.trades_frame(WINDOW, raw(rows, models.TRADE_STRUCT))
    assert frame["sequence_number"].to_list() == [8, 9]  # SIP order
    last = frame.row(1, named=True)
    assert last["conditions"] == [12, 37] and last["trf_id"] == 202 and last["trade_id"] == "t9"
    assert frame.row(0, named=True)["conditions"] == [] and dict(frame.schema) == win.TRADE_SCHEMA


# ------------------------------------------------------------------ downloads against the market
CONFIG = SimConfig(seed=21, n_symbols=80, start=dt.date(2024, 1, 2), end=dt.date(2024, 3, 28))


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(CONFIG)


def market_windows(market: SimMarket) -> list[win.EventWindow]:
    """Windows around every planted catalyst of three sessions, plus quiet names at 10:00 ET."""
    out = []
    for day in (dt.date(2024, 3, 5), dt.date(2024, 3, 6), dt.date(2024, 3, 7)):
        for row in market.catalysts(day).iter_rows(named=True):
            start = row["trigger_ns"] - 180 * NS
            out.append(
                win.EventWindow(f"c-{row['ticker']}-{day}", row["ticker"], day, start, start + 600 * NS)
            )
        for p in market.tickers_on(day)[:4]:
            t = int(dt.datetime.combine(day, dt.time(15, 0), tzinfo=dt.UTC).timestamp()) * NS
            out.append(win.EventWindow(f"q-{p.ticker}-{day}", p.ticker, day, t, t + 600 * NS))
    return out


@pytest.fixture(scope="module")
def windows(market) -> list[win.EventWindow]:
    out = market_windows(market)
    assert len(out) >= 12
    return out


def _download(windows, ledger, faults=None, **kw):
    async def go():
        async with connect(
            sim_config=CONFIG, api_faults=faults, rate_limit_per_s=2000, backoff_base_s=0.001, **kw
        ) as c:
            report = await win.download(c, windows, ledger, manifest_sha256="m1")
            return report, c.usage.total()

    return asyncio.run(go())


@pytest.fixture(scope="module")
def clean(tmp_path_factory, windows):
    ledger = win.WindowLedger(tmp_path_factory.mktemp("clean") / "ledger.sqlite")
    report, usage = _download(windows, ledger)
    yield ledger, report, usage
    ledger.close()


def test_every_window_is_fetched_with_two_requests_and_lands_inside_it(clean, windows):
    ledger, report, usage = clean
    assert report.fetched == len(windows) and not report.failed
    assert usage.http_requests == 2 * len(windows) and usage.pages == 2 * len(windows)
    trades, quotes, outcomes = ledger.assemble(windows)
    assert outcomes.height == len(windows) and set(outcomes["manifest_sha256"]) == {"m1"}
    assert (outcomes["outcome"] == "data").sum() > len(windows) // 2
    bounds = pl.DataFrame(
        {
            "event_id": [w.event_id for w in windows],
            "lo": [w.start_ns for w in windows],
            "hi": [w.end_ns for w in windows],
        }
    )
    for frame in (trades, quotes):
        j = frame.join(bounds, on="event_id").with_columns(t=pl.col("sip_timestamp").dt.epoch("ns"))
        assert j.height == frame.height > 0
        assert ((j["t"] >= j["lo"]) & (j["t"] < j["hi"])).all()
    assert trades.select("event_id", "sequence_number").is_unique().all()
    assert quotes.select("event_id", "second").is_unique().all()


def test_trades_equal_the_market_slice(clean, windows, market):
    ledger, _, _ = clean
    trades, _, _ = ledger.assemble(windows)
    w = next(w for w in windows if w.event_id.startswith("c-"))
    truth = market.trades(w.symbol, w.day, w.start_ns, w.end_ns - 1)
    got = trades.filter(pl.col("event_id") == w.event_id)
    assert (
        got["sequence_number"].to_list()
        == truth.sort("sip_timestamp", "sequence_number")["sequence_number"].to_list()
    )
    assert got["price"].to_list() == truth.sort("sip_timestamp", "sequence_number")["price"].to_list()


def test_rerun_with_an_unchanged_manifest_makes_no_call(clean, windows):
    ledger, _, _ = clean
    report, usage = _download(windows, ledger)
    assert report.fetched == 0 and report.already_done == len(windows)
    assert usage.http_requests == 0


def test_one_added_event_downloads_only_that_event(tmp_path, windows):
    with win.WindowLedger(tmp_path / "l.sqlite") as ledger:
        _download(windows[:-1], ledger)
        report, usage = _download(windows, ledger)
        assert report.fetched == 1 and report.already_done == len(windows) - 1
        assert usage.http_requests == 2


def test_a_moved_window_is_fetched_again(tmp_path, windows):
    with win.WindowLedger(tmp_path / "l.sqlite") as ledger:
        _download(windows[:3], ledger)
        w = windows[0]
        moved = win.EventWindow(w.event_id, w.symbol, w.day, w.start_ns + NS, w.end_ns)
        report, usage = _download([moved, *windows[1:3]], ledger)
        assert report.fetched == 1 and usage.http_requests == 2


def test_faults_give_output_identical_to_a_clean_run(clean, windows, tmp_path):
    faults = ApiFaults(error_rate=0.05, too_many_requests_rate=0.02, truncate_rate=0.01, seed=5)
    with win.WindowLedger(tmp_path / "f.sqlite") as ledger:
        report, usage = _download(windows, ledger, faults=faults, max_retries=10)
        assert report.fetched == len(windows) and not report.failed
        assert usage.retries > 0 and usage.http_requests > 2 * len(windows)
        for a, b in zip(ledger.assemble(windows), clean[0].assemble(windows), strict=True):
            assert a.equals(b)


class _Broken:
    """A client whose calls for one symbol fail for good."""

    max_concurrency = 4

    def __init__(self, inner, bad: str):
        self.inner, self.bad = inner, bad

    async def ticks_frame(self, kind, symbol, **kw):
        if symbol == self.bad and kind == "trades":
            raise PolygonError(503, "ERROR", "giving up", None, "/v3/trades/{ticker}")
        return await self.inner.ticks_frame(kind, symbol, **kw)


def test_a_window_that_fails_for_good_is_reported_and_left_for_the_next_run(tmp_path, windows):
    bad = windows[0].symbol

    async def go(ledger):
        async with connect(sim_config=CONFIG, rate_limit_per_s=2000) as c:
            return await win.download(_Broken(c, bad), windows, ledger)

    with win.WindowLedger(tmp_path / "l.sqlite") as ledger:
        report = asyncio.run(go(ledger))
        failed = {w.event_id for w in windows if w.symbol == bad}
        assert set(report.failed) == failed and report.fetched == len(windows) - len(failed)
        assert ledger.count() == len(windows) - len(failed)
        report, usage = _download(windows, ledger)
        assert report.fetched == len(failed) and usage.http_requests == 2 * len(failed)


def test_request_key_names_the_market_only_when_one_is_given():
    assert WINDOW.request_key == f"ABCD|{T0}|{T0 + 600 * NS}"  # vendor keys unchanged
    other = win.EventWindow("ev1", "ABCD", WINDOW.day, WINDOW.start_ns, WINDOW.end_ns, "sim-abc")
    assert other.request_key == f"{WINDOW.request_key}|sim-abc"

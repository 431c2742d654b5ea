"""``smallcaps bench ingest``: how fast the vendor client ingests bars from a served simulator.

What is measured (one JSON object; nothing here is a unit test):

- ``requests_per_trading_day``: HTTP requests the grouped-daily endpoint took per session, read
  from the client's own usage counters (the design's budget is 1: one request for the whole
  market, never one per ticker);
- ``daily_history_seconds``: wall-clock seconds to fetch ``days`` sessions (default 252, a year)
  of whole-market daily bars with ``PolygonClient`` against ``smallcaps sim serve`` started as a
  child process on 127.0.0.1 with ``--latency-ms 50``;
- ``minute_bars_symbol_days_per_s``: symbol-days of minute bars per second, one aggregates request
  per symbol-day as ``minute_bars`` makes them, parsed into the asset's frame.

The simulator, not the client, is the bottleneck, and the report makes that visible. A
whole-market grouped-daily day makes the simulator generate every ticker's trades for the day
(~3 s of CPU on the default 600-ticker market; the real vendor answers from storage in well under a
second), so a year of the default market is ~13 minutes of server CPU. Measured on a 2-CPU box,
the options compare as follows:

- concurrency alone does not help much: one server process generates one day at a time (its
  request handlers share one GIL), so concurrent requests mostly queue;
- ``--workers N`` (uvicorn worker processes, one ``SimMarket`` each) scales with cores, and the
  client's bounded concurrency (``concurrency``, default 2 per worker) keeps every worker busy
  while the 50 ms latency of other requests elapses. The client must not keep connections alive
  here, or every request sticks to the first worker (16 days on 2 workers: 15.2 s kept alive,
  8.7 s with a fresh connection per request, against a floor of 8.8 s);
- a smaller market (``symbols``) scales the server's cost linearly.

So the benchmark combines all three: ``workers`` = the CPU count (max 4), concurrent fetching,
and a default market of 200 tickers (~1.1 s per day), which finishes in about 2-3 minutes on
2 CPUs. ``server_seconds_per_session`` (the in-process generation time of one grouped-daily day,
measured before the server starts) and ``server_floor_seconds`` (= that x days / workers) sit next
to the measured figure; ``client_overhead_ratio`` = measured / floor is ~1 when the client adds
nothing, i.e. the measured time is the simulator's, and the client alone would fetch the year in
about days x latency / concurrency.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import time

import httpx
import polars as pl

from .. import calendar as cal
from ..polygon.client import PolygonClient
from ..polygon.usage import ApiUsage
from . import machine_info

GROUPED_ENDPOINT = "/v2/aggs/grouped/locale/us/market/stocks/{date}"
AGGS_ENDPOINT = "/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}"
HISTORY_END = dt.date(2024, 12, 31)  # fixed, so runs on different days measure the same market
BENCH_KEY = "bench"


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def bench_config(symbols: int, days: int, seed: int):
    """The benchmark's market: ``symbols`` tickers, simulated from a quarter before the history."""
    from ..sim import SimConfig

    sessions = history_sessions(days)
    start = sessions[0] - dt.timedelta(days=92)
    return SimConfig(seed=seed, n_symbols=symbols, start=start, end=HISTORY_END)


def history_sessions(days: int) -> list[dt.date]:
    """The last ``days`` NYSE sessions up to HISTORY_END."""
    if days < 1:
        raise ValueError("days must be >= 1")
    out: list[dt.date] = []
    d = cal.previous_trading_day(HISTORY_END + dt.timedelta(days=1))
    while len(out) < days:
        assert d is not None
        out.append(d)
        d = cal.previous_trading_day(d)
    return sorted(out)


def _server_cost(config, sessions: list[dt.date], samples: int) -> dict:
    """In-process generation time of the simulator, measured before the server runs (no contention)."""
    from ..sim import SimMarket
    from ..sim.server import warm

    market = SimMarket(config)
    t0 = time.perf_counter()
    warm(market)  # what the server does before it answers
    warmup = time.perf_counter() - t0
    picks = sessions[:: max(1, len(sessions) // samples)][:samples]
    per_day = []
    for d in picks:
        t0 = time.perf_counter()
        market.grouped_daily(d, adjusted=False)
        per_day.append(time.perf_counter() - t0)
    day = picks[-1]
    tickers = sorted(market.grouped_daily(day, adjusted=False)["T"])[:samples]
    per_minute = []
    for t in tickers:
        fresh = SimMarket(config)  # cold ticks, as a server sees a symbol-day for the first time
        fresh.skeleton(fresh.profile(t))
        t0 = time.perf_counter()
        fresh.minute_bars(t, day)
        per_minute.append(time.perf_counter() - t0)
    return {
        "server_warmup_seconds": round(warmup, 3),
        "server_seconds_per_session": round(statistics.median(per_day), 4),
        "server_seconds_per_minute_symbol_day": round(statistics.median(per_minute), 5)
        if per_minute
        else None,
    }


async def _fetch_history(client: PolygonClient, sessions: list[dt.date]) -> tuple[float, int, list[str]]:
    t0 = time.perf_counter()
    results = await asyncio.gather(*(client.grouped_daily(d, adjusted=False) for d in sessions))
    elapsed = time.perf_counter() - t0
    rows = sum(len(r) for r in results)
    last = sorted(bar.ticker for bar in results[-1] if (bar.v or 0) > 0)
    return elapsed, rows, last


async def _fetch_minutes(
    client: PolygonClient, symbols: list[str], sessions: list[dt.date]
) -> tuple[float, int]:
    from ..stages import minute

    async def one(sym: str, day: dt.date) -> pl.DataFrame:
        rows = await client.aggs(sym, 1, "minute", day, day, adjusted=False)
        return minute.minute_frame(sym, [r.model_dump(mode="json") for r in rows])

    t0 = time.perf_counter()
    frames = await asyncio.gather(*(one(s, d) for d in sessions for s in symbols))
    elapsed = time.perf_counter() - t0
    return elapsed, sum(f.height for f in frames)


def bench_ingest(
    *,
    symbols: int = 200,
    days: int = 252,
    workers: int | None = None,
    latency_ms: float = 50.0,
    concurrency: int | None = None,
    minute_symbols: int = 50,
    minute_days: int = 5,
    seed: int = 7,
    rate_limit_per_s: float = 100.0,
) -> dict:
    """Run the benchmark (see the module docstring); returns the JSON-able report."""
    from ..sim.server import served_sim

    workers = workers or default_workers()
    concurrency = concurrency or 2 * workers
    if minute_days > days:
        raise ValueError("minute_days must be <= days")
    t_total = time.perf_counter()
    config = bench_config(symbols, days, seed)
    sessions = history_sessions(days)
    cost = _server_cost(config, sessions, samples=min(3, days))

    usage = ApiUsage()
    with served_sim(config, latency_ms=latency_ms, workers=workers) as url:

        async def go():
            # No keep-alive: each request opens a fresh localhost connection (~0.1 ms), which the
            # kernel hands to whichever worker accepts first, i.e. an idle one. Kept-alive
            # connections all stick to the worker that accepted them first: measured 15.2 s
            # instead of 8.7 s for 16 days on 2 workers (the floor being 8.8 s).
            transport = httpx.AsyncHTTPTransport(
                limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
            )
            async with PolygonClient(
                url,
                BENCH_KEY,
                transport=transport,
                rate_limit_per_s=rate_limit_per_s,
                burst=max(10, concurrency),
                max_concurrency=concurrency,
                timeout_s=300.0,
                usage=usage,
            ) as client:
                daily = await _fetch_history(client, sessions)
                traded = daily[2]
                step = max(1, len(traded) // max(1, minute_symbols))
                picked = traded[::step][:minute_symbols]
                minutes = await _fetch_minutes(client, picked, sessions[-minute_days:])
                return daily, picked, minutes

        (daily_s, daily_rows, _), picked, (minute_s, minute_rows) = asyncio.run(go())

    grouped = usage[GROUPED_ENDPOINT]
    aggs = usage[AGGS_ENDPOINT]
    floor = cost["server_seconds_per_session"] * days / workers
    symbol_days = len(picked) * minute_days
    return {
        "requests_per_trading_day": grouped.http_requests / days,
        "daily_history_seconds": round(daily_s, 3),
        "minute_bars_symbol_days_per_s": round(symbol_days / minute_s, 2) if minute_s > 0 else None,
        "daily_history": {
            "sessions": days,
            "first": sessions[0].isoformat(),
            "last": sessions[-1].isoformat(),
            "rows": daily_rows,
            "sessions_per_s": round(days / daily_s, 3),
            "calls": grouped.calls,
            "http_requests": grouped.http_requests,
            "retries": grouped.retries,
            "bytes": grouped.bytes,
        },
        "server": {
            **cost,
            "server_floor_seconds": round(floor, 3),
            "client_overhead_ratio": round(daily_s / floor, 3) if floor > 0 else None,
            "latency_only_seconds": round(days * latency_ms / 1000 / concurrency, 3),
        },
        "minute_bars": {
            "symbols": len(picked),
            "sessions": minute_days,
            "symbol_days": symbol_days,
            "seconds": round(minute_s, 3),
            "bars": minute_rows,
            "http_requests": aggs.http_requests,
            "requests_per_symbol_day": aggs.http_requests / symbol_days if symbol_days else None,
        },
        "parameters": {
            "symbols": symbols,
            "seed": seed,
            "days": days,
            "workers": workers,
            "latency_ms": latency_ms,
            "concurrency": concurrency,
            "rate_limit_per_s": rate_limit_per_s,
            "minute_symbols": minute_symbols,
            "minute_days": minute_days,
            "server": "smallcaps sim serve (child process, 127.0.0.1)",
        },
        "machine": machine_info(),
        "total_seconds": round(time.perf_counter() - t_total, 3),
    }


def format_report(report: dict) -> str:
    p, d, s, m = report["parameters"], report["daily_history"], report["server"], report["minute_bars"]
    return "\n".join(
        [
            f"market: {p['symbols']} tickers (seed {p['seed']}); server: {p['workers']} workers, "
            f"{p['latency_ms']:g} ms latency; client concurrency {p['concurrency']}",
            f"requests per trading day (grouped daily): {report['requests_per_trading_day']:g}",
            f"daily history: {d['sessions']} sessions ({d['first']}..{d['last']}, {d['rows']:,} rows) "
            f"in {report['daily_history_seconds']:.1f} s",
            f"  server generation {s['server_seconds_per_session']:.3f} s/session -> floor "
            f"{s['server_floor_seconds']:.1f} s with {p['workers']} workers "
            f"(measured / floor = {s['client_overhead_ratio']})",
            f"minute bars: {m['symbol_days']} symbol-days in {m['seconds']:.2f} s = "
            f"{report['minute_bars_symbol_days_per_s']} symbol-days/s",
            f"total {report['total_seconds']:.1f} s",
        ]
    )

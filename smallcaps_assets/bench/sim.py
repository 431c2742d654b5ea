"""How fast the simulated market answers: generation through the library, and serving through the ASGI app.

``bench_sim`` measures, in seconds:

* ``minute_bars_normal``: one symbol-day of minute bars of a liquid common stock on a normal day (the
  listed ``stocks``-market CS with the largest planned dollar volume among the tickers without a catalyst
  on the middle session of the span);
* ``minute_bars_catalyst``: the same for a catalyst symbol-day (``market.catalysts(date)``): the
  ``stocks``-market catalyst with the largest planned dollar volume on the first session from the middle
  of the span that has one;
* ``minute_bars_busiest``: the same for the busiest catalyst symbol-day of the whole span (the
  ``stocks``-market catalyst day with the largest planned volume in shares, hence the most prints);
* ``ticks_10min_normal`` / ``ticks_10min_catalyst`` / ``ticks_10min_busiest``: trades plus quotes of
  09:30-09:40 ET of those symbol-days (the busiest minutes of the day);
* ``grouped_daily``: the whole market's daily bars for the normal day;
* ``serve_*``: the same questions through ``create_app(market)`` in-process (``httpx.ASGITransport``,
  following ``next_url`` to the last page): JSON, gzip and paging included.

Each timing has ``median_s`` (median over ``repeats`` calls, each on a fresh ``SimMarket`` of the same
config, so per-market caches are empty and the work is really done, while the process-wide caches of
profiles, daily skeletons and day plans are warm, as in a long-running server, whose allocator keeps
freed memory as ``sim/server.py`` sets it: ``sim/memory.py``) and ``cold_s`` (the very first call
with those process-wide sim caches cleared as well; the trading calendar, which is not part
of the simulation, stays loaded). ``rows`` counts what the call returned (bars, trades + quotes).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import calendar as cal
from ..sim.market import SimMarket
from . import machine_info

NS = 1_000_000_000
BENCH_KEY = "bench"


def _clear_sim_caches() -> None:
    """Empty the process-wide caches of the simulation (pure functions: only speed changes)."""
    from ..sim import conditions, prices, reference

    for fn in (
        getattr(reference, "profiles", None),
        getattr(reference, "profile_index", None),
        getattr(prices, "skeleton", None),
        getattr(prices, "day_plan", None),
        getattr(conditions, "ineligible_sets", None),
    ):
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _measure(market: SimMarket, call: Callable[[SimMarket], int], repeats: int) -> dict:
    """cold: first call after clearing sim caches; median over ``repeats`` fresh markets (warm process)."""
    _clear_sim_caches()
    cold, rows = _timed(lambda: call(SimMarket(market.config)))
    runs = []
    for _ in range(repeats):
        fresh = SimMarket(market.config)
        elapsed, rows = _timed(lambda fresh=fresh: call(fresh))
        runs.append(elapsed)
    return {"cold_s": cold, "median_s": statistics.median(runs), "rows": int(rows)}


# ------------------------------------------------------------------------------------------ choosing cases


def _normal_case(market: SimMarket) -> tuple[str, dt.date]:
    days = market.sessions()
    day = days[len(days) // 2]
    busy = set(market.catalysts(day)["ticker"])
    best, best_dollars = None, -1.0
    for p in market.profiles():
        if p.type != "CS" or p.market != "stocks" or p.ticker in busy or not market.is_listed(p, day):
            continue
        sk = market.skeleton(p)
        i = sk.pos.get(day)
        if i is None:
            continue
        dollars = float(sk.econ_volume[i] * sk.econ_close[i])
        if dollars > best_dollars:
            best, best_dollars = p.ticker, dollars
    if best is None:
        raise RuntimeError(f"no listed common stock on {day}")
    return best, day


def _catalyst_case(market: SimMarket) -> tuple[str, dt.date, str]:
    """The catalyst (stocks market) with the largest planned dollar volume, on the first session from the
    middle of the span that has one: the heaviest symbol-day a client typically asks for."""
    days = market.sessions()
    mid = len(days) // 2
    for day in days[mid:] + days[:mid][::-1]:
        best, best_dollars = None, -1.0
        for r in market.catalysts(day).iter_rows(named=True):
            p = market.profile(r["ticker"])
            if p is None or p.market != "stocks":
                continue
            sk = market.skeleton(p)
            i = sk.pos[day]
            dollars = float(sk.econ_volume[i] * sk.econ_close[i])
            if dollars > best_dollars:
                best, best_dollars = (r["ticker"], day, r["shape"]), dollars
        if best is not None:
            return best
    raise RuntimeError("no catalyst day in the simulated span")


def _busiest_catalyst_case(market: SimMarket) -> tuple[str, dt.date, str]:
    """The catalyst symbol-day (stocks market) with the largest planned volume in shares over the
    whole span: the most prints a client can ask for. Read from the daily skeletons (no day plan is
    built for the scan)."""
    from ..sim.prices import NO_CATALYST

    ranked = []
    for p in market.profiles():
        if p.market != "stocks":
            continue
        sk = market.skeleton(p)
        shares = np.where(sk.shape != NO_CATALYST, sk.econ_volume / sk.factor, -1.0)
        if len(shares) and shares.max() > 0:
            i = int(np.argmax(shares))
            ranked.append((-float(shares[i]), p.ticker, sk.dates[i]))
    for _, ticker, day in sorted(ranked):
        plan = market.day_plan(ticker, day)
        if plan is not None:
            return ticker, day, plan.shape
    raise RuntimeError("no catalyst day in the simulated span")


def _window(day: dt.date) -> tuple[int, int]:
    """09:30:00 to 09:39:59.999999999 ET of ``day`` in ns (inclusive bounds, as the library takes them)."""
    start = int(dt.datetime.combine(day, dt.time(9, 30), tzinfo=cal.NY).timestamp()) * NS
    return start, start + 10 * 60 * NS - 1


# ------------------------------------------------------------------------------------------ serving


async def _get_all(client, url: str) -> int:
    """GET ``url`` and every ``next_url`` after it; returns the number of results."""
    n = 0
    while url:
        r = await client.get(url)
        if r.status_code != 200:
            raise RuntimeError(f"GET {url} answered {r.status_code}: {r.text[:300]}")
        body = r.json()
        n += len(body.get("results") or [])
        url = body.get("next_url")
    return n


def _serve(market: SimMarket, urls: list[str]) -> int:
    import httpx

    from ..sim.api import create_app

    async def run() -> int:
        app = create_app(market)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {BENCH_KEY}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sim", headers=headers) as client:
            total = 0
            for url in urls:
                total += await _get_all(client, url)
            return total

    return asyncio.run(run())


def _bars_url(ticker: str, day: dt.date) -> str:
    return f"/v2/aggs/ticker/{ticker}/range/1/minute/{day}/{day}?adjusted=false&sort=asc&limit=50000"


def _ticks_urls(ticker: str, lo: int, hi: int) -> list[str]:
    q = f"timestamp.gte={lo}&timestamp.lte={hi}&order=asc&sort=timestamp&limit=50000"
    return [f"/v3/trades/{ticker}?{q}", f"/v3/quotes/{ticker}?{q}"]


# ------------------------------------------------------------------------------------------ entry point


def bench_sim(market: SimMarket | None = None, repeats: int = 5) -> dict:
    """Time the simulated market; see the module docstring for what each figure means."""
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    market = market or SimMarket()
    t_total = time.perf_counter()
    # The figures model a long-running server: its allocator keeps freed memory (sim/server.py).
    from ..sim.memory import keep_freed_memory

    kept = keep_freed_memory()
    # Imports are not what "cold" measures: load the app and the HTTP client up front.
    import httpx  # noqa: F401

    from ..sim import api  # noqa: F401

    normal, normal_day = _normal_case(market)
    cat, cat_day, shape = _catalyst_case(market)
    busy, busy_day, busy_shape = _busiest_catalyst_case(market)
    n_lo, n_hi = _window(normal_day)
    c_lo, c_hi = _window(cat_day)
    b_lo, b_hi = _window(busy_day)

    def ticks(m: SimMarket, t: str, d: dt.date, lo: int, hi: int) -> int:
        return m.trades(t, d, lo, hi).height + m.quotes(t, d, lo, hi).height

    timings = {
        "minute_bars_normal": _measure(market, lambda m: m.minute_bars(normal, normal_day).height, repeats),
        "minute_bars_catalyst": _measure(market, lambda m: m.minute_bars(cat, cat_day).height, repeats),
        "minute_bars_busiest": _measure(market, lambda m: m.minute_bars(busy, busy_day).height, repeats),
        "ticks_10min_normal": _measure(market, lambda m: ticks(m, normal, normal_day, n_lo, n_hi), repeats),
        "ticks_10min_catalyst": _measure(market, lambda m: ticks(m, cat, cat_day, c_lo, c_hi), repeats),
        "ticks_10min_busiest": _measure(market, lambda m: ticks(m, busy, busy_day, b_lo, b_hi), repeats),
        "grouped_daily": _measure(market, lambda m: m.grouped_daily(normal_day).height, repeats),
    }
    serve_cases = {
        "serve_minute_bars_normal": [_bars_url(normal, normal_day)],
        "serve_minute_bars_catalyst": [_bars_url(cat, cat_day)],
        "serve_minute_bars_busiest": [_bars_url(busy, busy_day)],
        "serve_ticks_10min_normal": _ticks_urls(normal, n_lo, n_hi),
        "serve_ticks_10min_catalyst": _ticks_urls(cat, c_lo, c_hi),
        "serve_ticks_10min_busiest": _ticks_urls(busy, b_lo, b_hi),
        "serve_grouped_daily": [f"/v2/aggs/grouped/locale/us/market/stocks/{normal_day}?adjusted=true"],
    }
    for name, urls in serve_cases.items():
        timings[name] = _measure(market, lambda m, urls=urls: _serve(m, urls), repeats)

    cfg = market.config
    return {
        "machine": machine_info(),
        "market": {
            "seed": cfg.seed,
            "n_symbols": cfg.n_symbols,
            "start": cfg.start.isoformat(),
            "end": cfg.end.isoformat(),
            "sessions": len(market.sessions()),
        },
        "repeats": repeats,
        "keeps_freed_memory": kept,
        "cases": {
            "normal": {"ticker": normal, "date": normal_day.isoformat()},
            "catalyst": {"ticker": cat, "date": cat_day.isoformat(), "shape": shape},
            "busiest": {"ticker": busy, "date": busy_day.isoformat(), "shape": busy_shape},
            "window_et": "09:30-09:40",
        },
        "timings": timings,
        "total_s": time.perf_counter() - t_total,
    }


def format_report(report: dict) -> str:
    """A readable table of ``bench_sim``'s result."""
    m, mk, cases = report["machine"], report["market"], report["cases"]
    cat, busy = cases["catalyst"], cases["busiest"]
    lines = [
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, polars {m['polars']}",
        f"market: seed {mk['seed']}, {mk['n_symbols']} tickers, {mk['start']}..{mk['end']} "
        f"({mk['sessions']} sessions); repeats {report['repeats']}",
        f"normal: {cases['normal']['ticker']} {cases['normal']['date']}; "
        f"catalyst: {cat['ticker']} {cat['date']} ({cat['shape']}); "
        f"busiest catalyst day: {busy['ticker']} {busy['date']} ({busy['shape']}); "
        f"tick window {cases['window_et']} ET",
        "",
    ]
    width = max(len(k) for k in report["timings"])
    lines.append(f"{'operation':<{width}}  {'rows':>8}  {'cold ms':>10}  {'median ms':>10}")
    lines.append("-" * (width + 34))
    for name, t in report["timings"].items():
        lines.append(
            f"{name:<{width}}  {t['rows']:>8}  {t['cold_s'] * 1e3:>10.1f}  {t['median_s'] * 1e3:>10.1f}"
        )
    lines.append("")
    lines.append(f"total {report['total_s']:.1f} s")
    return "\n".join(lines)

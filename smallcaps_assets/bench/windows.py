"""``smallcaps bench windows``: event-window downloads against a served simulator at a rate limit.

What is measured (one JSON object; nothing here is a unit test): the event-window downloader of
``event_trades``/``event_quotes`` (``stages.windows``: ledger, async worker pool, the client's
shared token bucket) fetching ``events`` windows of 10 minutes from ``smallcaps sim serve``
started as a child process with ``--latency-ms 50 --rate-limit 100``, then the per-day Parquet
files assembled from the ledger and written atomically, as a range run of the asset does.

The events are a synthetic manifest over the last ``days`` sessions of the market, built to look
like a real one (whose liquidity rule keeps the busy names): the planted catalysts of each day
first (their trigger minute), then common stocks drawn from the day's most-traded 40% by dollar volume, at a
seeded random regular-hours minute with 40% in the first hour, one event per symbol per day (the
manifest's own rule). Their windows are heavier than the demo manifest's (~160 trades and ~400
quotes per window; ``trades_per_event`` and ``raw_quotes_per_event`` print this run's), so the
figure errs on the slow side. The manifest's selection is not
what is measured, the download is.

Figures: ``seconds`` (download + assembly + files, wall clock), ``download_seconds``,
``events_per_min`` (= events / seconds x 60), ``requests`` (HTTP attempts, retries included),
``requests_per_event``, ``achieved_req_per_s`` (= requests / download_seconds), ``rate_limit``,
``rate_utilisation`` (= achieved / limit), ``files_written`` and ``files_per_day``, the 429 and
retry counts, the window sizes, the CPU the client spent per event and the simulator per request
during the download (they share the machine's cores), and the machine. The server counts arrivals in a token bucket holding one second
of its limit (100 requests); the client paces at the limit with its default burst of 10, which
lets a worker that woke late (the event loop was parsing a page) catch up instead of losing its
slot: with a burst of 1 the same run reached only ~80% of the limit.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import tempfile
import time
from pathlib import Path

from .. import calendar as cal
from .. import lake
from ..asset_names import EVENT_QUOTES, EVENT_TRADES
from . import machine_info
from .ingest import BENCH_KEY, bench_config, history_sessions

NS = 1_000_000_000
LIQUID_SHARE = 0.4  # events come from the day's most-traded 40% of common stocks


def synthetic_windows(market, days: int, events: int, seed: int = 3) -> list:
    """About ``events`` windows spread evenly over the last ``days`` sessions (see module doc)."""
    from ..stages.windows import EventWindow

    rng = random.Random(seed)
    sessions = history_sessions(days)
    per_day = -(-events // len(sessions))
    out: list[EventWindow] = []
    for day in sessions:
        sess = cal.session(day)
        assert sess is not None
        picked: dict[str, int] = {}
        for row in market.catalysts(day).iter_rows(named=True):
            picked.setdefault(row["ticker"], int(row["trigger_ns"]))
        names = sorted(
            (p.ticker for p in market.tickers_on(day) if p.type == "CS" and p.ticker not in picked),
            key=lambda t: -_dollar_volume(market, t, day),
        )
        names = names[: max(per_day, int(len(names) * LIQUID_SHARE))]
        rng.shuffle(names)
        open_ns = sess.ns("market_open")
        for name in names:
            if len(picked) >= per_day:
                break
            if market.day_plan(name, day) is not None:
                minute = rng.randrange(5, 60) if rng.random() < 0.4 else rng.randrange(5, 385)
                picked[name] = open_ns + minute * 60 * NS
        for sym, ts in sorted(picked.items())[:per_day]:
            start = max(ts - 3 * 60 * NS, sess.ns("pre_open"))
            end = min(ts + 7 * 60 * NS, sess.ns("post_close"))
            out.append(EventWindow(f"{sym}-{day}-{ts}", sym, day, start, end))
    return out[:events]


def _dollar_volume(market, ticker: str, day: dt.date) -> float:
    """The session's planned dollar volume, read off the daily path (no ticks generated)."""
    sk = market.skeleton(market.profile(ticker))
    i = sk.pos.get(day)
    return 0.0 if i is None else float(sk.econ_volume[i] * sk.econ_close[i])


def _children_cpu_s() -> float | None:
    """CPU seconds (user + system) of this process's children and grandchildren so far: the
    served simulator. Read from /proc, so None where there is none (not Linux)."""
    me = str(os.getpid())
    ticks = os.sysconf("SC_CLK_TCK")
    try:
        stats = {}
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the process ended while we looked
            stats[pid] = (fields[1], (int(fields[11]) + int(fields[12])) / ticks)  # ppid, utime + stime
    except OSError:
        return None
    ours, frontier = set(), {me}
    while frontier:
        frontier = {pid for pid, (ppid, _) in stats.items() if ppid in frontier} - ours
        ours |= frontier
    return sum(stats[pid][1] for pid in ours)


def bench_windows(
    *,
    events: int = 3000,
    days: int = 60,
    symbols: int = 600,
    rate_limit: float = 100.0,
    latency_ms: float = 50.0,
    concurrency: int = 16,
    seed: int = 7,
) -> dict:
    from ..polygon import connect
    from ..sim import SimMarket
    from ..sim.server import served_sim
    from ..stages import windows as win

    config = bench_config(symbols, days, seed)
    market = SimMarket(config)
    windows = synthetic_windows(market, days, events)
    by_day: dict[dt.date, list] = {}
    for w in windows:
        by_day.setdefault(w.day, []).append(w)

    with tempfile.TemporaryDirectory(prefix="smallcaps-bench-windows-") as tmp:
        root = Path(tmp) / "lake"
        with served_sim(
            config, latency_ms=latency_ms, rate_limit=rate_limit, rate_burst=max(1, int(rate_limit))
        ) as url:

            async def fetch(ledger):
                async with connect(
                    api_key=BENCH_KEY,
                    base_url=url,
                    rate_limit_per_s=rate_limit,
                    burst=10,
                    max_concurrency=concurrency,
                ) as client:
                    report = await win.download(client, windows, ledger)
                    return report, client.usage.total()

            with win.WindowLedger(Path(tmp) / "ledger.sqlite") as ledger:
                server_cpu0, client_cpu0 = _children_cpu_s(), time.process_time()
                started = time.monotonic()
                report, usage = asyncio.run(fetch(ledger))
                downloaded = time.monotonic()
                server_cpu1, client_cpu1 = _children_cpu_s(), time.process_time()
                files = 0
                trades_n = raw_quotes_n = 0
                for day, day_windows in sorted(by_day.items()):
                    trades, quotes, outcomes = ledger.assemble(day_windows)
                    trades_n += trades.height
                    raw_quotes_n += int(outcomes["raw_quotes"].sum())
                    lake.write_partition(EVENT_TRADES, day, trades, root=root)
                    lake.write_partition(EVENT_QUOTES, day, quotes, root=root)
                    files += 2
                finished = time.monotonic()
        on_disk = sum(1 for _ in root.rglob("*.parquet"))
    download_s = downloaded - started
    seconds = finished - started
    achieved = usage.http_requests / download_s if download_s else 0.0
    return {
        "events": len(windows),
        "days": len(by_day),
        "seconds": round(seconds, 3),
        "download_seconds": round(download_s, 3),
        "events_per_min": round(len(windows) / seconds * 60, 1),
        "requests": usage.http_requests,
        "requests_per_event": round(usage.http_requests / max(1, len(windows)), 4),
        "achieved_req_per_s": round(achieved, 2),
        "rate_limit": rate_limit,
        "rate_utilisation": round(achieved / rate_limit, 4),
        "files_written": files,
        "files_on_disk": on_disk,
        "files_per_day": round(files / max(1, len(by_day)), 3),
        "fetched": report.fetched,
        "failed": len(report.failed),
        "http_429": usage.http_429,
        "retries": usage.retries,
        "latency_ms": latency_ms,
        "concurrency": concurrency,
        "trades_per_event": round(trades_n / max(1, len(windows)), 1),
        "raw_quotes_per_event": round(raw_quotes_n / max(1, len(windows)), 1),
        # CPU during the download: where the 2 cores went (client and simulator share them)
        "client_cpu_ms_per_event": round((client_cpu1 - client_cpu0) / max(1, len(windows)) * 1e3, 2),
        "server_cpu_ms_per_request": round((server_cpu1 - server_cpu0) / max(1, usage.http_requests) * 1e3, 2)
        if server_cpu0 is not None and server_cpu1 is not None
        else None,
        "machine": machine_info(),
    }


def format_report(report: dict) -> str:
    """One figure per line, then the machine."""
    lines = [f"{key:<22} {value}" for key, value in report.items() if key != "machine"]
    m = report["machine"]
    lines.append(f"{'machine':<22} {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}")
    return "\n".join(lines)

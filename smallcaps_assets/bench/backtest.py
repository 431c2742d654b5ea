"""``smallcaps bench backtest``: the backtest of every registered strategy over a synthetic month.

What is measured: one call of ``stages.backtest.run.run_backtest`` (the model strategy, the rule on
every manifest event, random entries matched to the model's, the equal-weight universe) over
``events`` intraday events spread over ``days`` sessions, wall clock, **in the process's first
call**: vectorbt's import and its first ``from_orders`` (Rust engine) are inside the figure, as on
a fresh CI worker. Building the inputs is not timed.

The inputs (``synthetic_month``, also the tests' tiny lake) are seeded numpy: ``symbols`` names on
a driftless random walk of regular-hours minute bars (09:30-16:00), a few of them paused for six
minutes (a halt) and a tenth under SSR from 10:00; events at random minutes in random directions,
20% of them in the manifest, half of those with a 1 Hz quote window of two minutes; and
predictions drawn uniformly (a null model). Sizing uses a large account so that most signals
become trades (the engine's cost grows with the trades, not the refusals).

Figures: ``events``, ``seconds``, ``events_per_s`` (the issue's target: >= 20,000 on 2 cores),
``import_seconds`` (vectorbt's import alone, measured inside the same call),
``events_per_s_after_import`` (the same run without it), ``cpu_seconds`` and
``import_cpu_seconds`` (the process's CPU time over the same spans), the 1-minute load average at
the start, trades and signals by strategy, and the machine.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time

import numpy as np
import polars as pl

from .. import calendar as cal
from ..stages.events.schema import MINUTE_NS, UTC_NS
from . import machine_info

NS = 1_000_000_000
EVENT_TYPES = ("volume_spike", "orb_break", "halt_resumption")


def _day_bars(rng, day: dt.date, symbols: list[str], start_px: np.ndarray, paused: set[int]) -> pl.DataFrame:
    sess = cal.session(day)
    n_min = int((sess.ns("market_close") - sess.ns("market_open")) // MINUTE_NS)
    ts = sess.ns("market_open") + np.arange(n_min, dtype=np.int64) * MINUTE_NS
    s = len(symbols)
    r = rng.normal(0, 0.002, (s, n_min))
    close = start_px[:, None] * np.exp(np.cumsum(r, axis=1))
    open_ = np.c_[start_px, close[:, :-1]] * np.exp(rng.normal(0, 0.0005, (s, n_min)))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.001, (s, n_min))))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.001, (s, n_min))))
    vol = np.round(np.exp(rng.normal(9.5, 1.0, (s, n_min))))
    keep = np.ones((s, n_min), bool)
    for i in paused:  # a six-minute trading pause at a random minute
        k = int(rng.integers(60, n_min - 60))
        keep[i, k : k + 6] = False
    frame = pl.DataFrame(
        {
            "symbol": np.repeat(np.array(symbols), n_min),
            "ts": np.tile(ts, s),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": vol.ravel(),
        }
    ).filter(pl.Series(keep.ravel()))
    return frame.with_columns(pl.col("ts").cast(UTC_NS), session=pl.lit("RTH")), close[:, -1]


def synthetic_month(
    events: int, days: int = 21, symbols: int = 200, seed: int = 13, start: dt.date = dt.date(2024, 3, 1)
) -> list:
    """``DayInputs`` of ``days`` sessions from ``start`` with about ``events`` events in all."""
    from ..stages.backtest.strategies import DayInputs

    rng = np.random.default_rng(seed)
    sessions = cal.trading_days(start, start + dt.timedelta(days=days * 2 + 10))[:days]
    names = [f"S{i:03d}" for i in range(symbols)]
    px = np.exp(rng.uniform(np.log(1.5), np.log(30), symbols))
    paused = set(rng.choice(symbols, max(1, symbols // 20), replace=False).tolist())
    ssr_syms = rng.choice(symbols, max(1, symbols // 10), replace=False)
    per_day = -(-events // days)
    out = []
    for day in sessions:
        bars, px = _day_bars(rng, day, names, px, paused)
        sess = cal.session(day)
        minute = rng.integers(5, 360, per_day)
        ts = sess.ns("market_open") + minute * MINUTE_NS + rng.integers(0, 60, per_day) * NS
        sym = rng.integers(0, symbols, per_day)
        ev = pl.DataFrame(
            {
                "event_id": [f"{day:%Y%m%d}-{i:06d}" for i in range(per_day)],
                "symbol": np.array(names)[sym],
                "ts": ts,
                "event_type": np.array(EVENT_TYPES)[rng.integers(0, len(EVENT_TYPES), per_day)],
                "session": "RTH",
                "direction": rng.choice([-1, 1], per_day).astype(np.int64),
            }
        ).with_columns(pl.col("ts").cast(UTC_NS))
        manifest = ev.filter(pl.Series(rng.random(per_day) < 0.2))
        windowed = manifest.filter(pl.Series(rng.random(manifest.height) < 0.5))
        quotes = _quotes(rng, windowed, bars)
        preds = ev.select("event_id", "symbol", "ts", prob=pl.Series(rng.random(per_day)))
        ssr = pl.DataFrame(
            {
                "symbol": np.array(names)[ssr_syms],
                "active_from": sess.ns("market_open") + 30 * MINUTE_NS,
                "active_until": sess.ns("post_close"),
            }
        ).with_columns(pl.col("active_from", "active_until").cast(UTC_NS))
        out.append(DayInputs(day, bars, ev, manifest, preds, quotes, ssr))
    return out


def _quotes(rng, windowed: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """120 one-second NBBO rows after each windowed event around its minute's open, 2 bps wide."""
    if windowed.is_empty():
        return pl.DataFrame(
            schema={
                "event_id": pl.String,
                "symbol": pl.String,
                "sip_timestamp": UTC_NS,
                "bid_price": pl.Float64,
                "ask_price": pl.Float64,
            }
        )
    ref = windowed.sort("ts").join_asof(
        bars.select("symbol", "ts", "open").sort("ts"),
        on="ts",
        by="symbol",
        strategy="backward",
        check_sortedness=False,
    )
    n = 120
    rows = ref.height
    mid = np.repeat(ref["open"].fill_null(10.0).to_numpy(), n) * np.exp(
        np.cumsum(rng.normal(0, 0.0003, (rows, n)), axis=1).ravel()
    )
    t = np.repeat(ref["ts"].dt.epoch("ns").to_numpy(), n) + np.tile(np.arange(n, dtype=np.int64) * NS, rows)
    half = np.maximum(0.005, mid * 0.001)
    return pl.DataFrame(
        {
            "event_id": np.repeat(ref["event_id"].to_numpy(), n),
            "symbol": np.repeat(ref["symbol"].to_numpy(), n),
            "sip_timestamp": t,
            "bid_price": np.round(mid - half, 2),
            "ask_price": np.round(mid + half, 2) + 0.01,
        }
    ).with_columns(pl.col("sip_timestamp").cast(UTC_NS))


def bench_backtest(events: int = 105_000, days: int = 21, symbols: int = 200, seed: int = 13) -> dict:
    from ..stages.backtest.engine import EngineParams
    from ..stages.backtest.run import BacktestParams, run_backtest

    fresh = "vectorbt" not in sys.modules
    inputs = synthetic_month(events, days, symbols, seed)
    n_events = sum(d.events.height for d in inputs)
    params = BacktestParams(engine=EngineParams(init_cash=50_000_000.0, position_value=10_000.0))
    load = os.getloadavg()[0]
    t0, c0 = time.perf_counter(), time.process_time()
    import vectorbt  # noqa: F401  (timed: part of a fresh process's first run)

    imported, import_cpu = time.perf_counter() - t0, time.process_time() - c0
    results = run_backtest(inputs, params=params)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "events": n_events,
        "days": days,
        "symbols": symbols,
        "seconds": round(seconds, 3),
        "events_per_s": round(n_events / seconds, 1),
        "import_seconds": round(imported, 3),
        # The same run without vectorbt's import: what a warm worker (or a second month) pays.
        "events_per_s_after_import": round(n_events / (seconds - imported), 1),
        "first_run_in_process": fresh,
        # CPU seconds of the process over the same span (every thread): on a shared machine the
        # wall clock follows the load, the CPU time much less.
        "cpu_seconds": round(cpu, 3),
        "import_cpu_seconds": round(import_cpu, 3),
        "load_average_1min": round(load, 2),
        "signals": {r.strategy: r.signals for r in results},
        "trades": {r.strategy: r.trades.height for r in results},
        "machine": machine_info(),
    }


def format_report(r: dict) -> str:
    return (
        f"backtest: {r['events']:,} events over {r['days']} sessions in {r['seconds']:.2f} s "
        f"({r['events_per_s']:,.0f} events/s; vectorbt import {r['import_seconds']:.2f} s, "
        f"{r['events_per_s_after_import']:,.0f} events/s after it, "
        f"first run in process: {r['first_run_in_process']})\n"
        f"trades by strategy: {r['trades']}"
    )

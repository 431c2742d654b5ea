"""``smallcaps bench detect``: how fast ``detect_intraday`` runs over a large day of minute bars.

The frame is built from the offline market: real simulated symbol-days (catalyst days and normal
days of one session) are tiled under new symbol names with a small multiplicative price
perturbation per copy until the requested row count is reached, all stamped onto one trading day.
Building it is not timed. The timed call is one ``detect_intraday(bars, context)`` over all rows
(every detector), then each detector alone (``only=(type,)``; these share the common preparation, so
their sum exceeds the total).
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl

from .. import calendar as cal
from ..stages import minute as minute_stage
from ..stages.bad_prints import clean_bars
from ..stages.events import EVENT_TYPES, baselines, detect_intraday, make_context
from . import machine_info

BENCH_DAY = dt.date(2024, 3, 7)


def sim_day(market, day: dt.date, tickers: list[str], cleaned: bool = True) -> pl.DataFrame:
    """One session's minute bars of ``tickers`` from the offline market, as ``MinuteBars`` rows:
    with ``cleaned`` (the default) after the bad-print cleaning ``minute_bars`` applies
    (``stages.bad_prints.clean_bars``: cleaned prices, the flag and the raw prices), so what is
    measured here is what the assets see; without it the vendor's prices as served."""
    frames = []
    for t in tickers:
        raw = market.minute_bars(t, day)
        if raw.height:
            frames.append(minute_stage.vendor_frame(t, raw))
    if not frames:
        bars = pl.DataFrame(schema={**minute_stage.MINUTE_SCHEMA, "session": pl.String})
        return clean_bars(bars) if cleaned else bars
    bars = minute_stage.with_session(pl.concat(frames), day).sort("symbol", "ts")
    return clean_bars(bars) if cleaned else bars


def sim_context(market, day: dt.date, tickers: list[str], baseline_days: int = 5) -> pl.DataFrame:
    """Context for ``tickers`` on ``day``: prior close (the simulator's, in today's share units) and
    time-of-day baselines from the ``baseline_days`` previous sessions' minute bars."""
    pcs = []
    for t in tickers:
        plan = market.day_plan(t, day)
        if plan is not None:
            pcs.append({"symbol": t, "prior_close": plan.prev_close})
    prior = pl.DataFrame(pcs, schema={"symbol": pl.String, "prior_close": pl.Float64})
    days, d = [], day
    while len(days) < baseline_days:
        d = cal.previous_trading_day(d)
        if d is None or d < market.config.start:
            break
        days.append(d)
    hist = [sim_day(market, d, tickers) for d in days]
    hist = [h for h in hist if h.height]
    base = baselines(pl.concat(hist)) if hist else None
    return make_context(prior, base)


def _restamp(bars: pl.DataFrame, day: dt.date, target: dt.date) -> pl.DataFrame:
    """Move a session's bars onto ``target`` keeping the ET clock time (both full sessions)."""
    shift = cal.session(target).ns("pre_open") - cal.session(day).ns("pre_open")
    return bars.with_columns(pl.col("ts") + pl.duration(nanoseconds=shift))


def build_frame(
    rows: int, seed: int = 5, sim_symbols: int = 200, baseline_days: int = 5
) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """(bars, context, info): ``rows`` minute bars of one day (BENCH_DAY) from tiled simulator days.

    The source market has ``sim_symbols`` tickers (catalyst rate 8%); baselines come from the
    ``baseline_days`` sessions before BENCH_DAY.
    """
    from ..sim import SimConfig, SimMarket

    cfg = SimConfig(
        seed=seed, n_symbols=sim_symbols, start=dt.date(2024, 2, 1), end=BENCH_DAY, catalyst_rate=0.08
    )
    market = SimMarket(cfg)
    day = BENCH_DAY
    tickers = [p.ticker for p in market.tickers_on(day) if p.market == "stocks"]
    base_bars = sim_day(market, day, tickers)
    ctx = sim_context(market, day, tickers, baseline_days=baseline_days)
    src_syms = base_bars["symbol"].unique().sort().to_list()
    per_copy = base_bars.height
    copies = max(1, -(-rows // per_copy))
    rng = np.random.default_rng(seed)
    scale = pl.DataFrame({"copy": np.arange(copies, dtype=np.int32), "k": rng.uniform(0.9, 1.1, copies)})

    def tile(frame: pl.DataFrame, prices: tuple[str, ...]) -> pl.DataFrame:
        """``frame`` once per copy: symbols suffixed with the copy's number, ``prices`` times its factor."""
        return (
            frame.join(scale, how="cross")
            .with_columns(
                pl.format("{}{}", pl.col("symbol"), pl.col("copy").cast(pl.String).str.zfill(4)).alias(
                    "symbol"
                ),
                *[pl.col(c) * pl.col("k") for c in prices],
            )
            .drop("copy", "k")
        )

    big = tile(base_bars, ("open", "high", "low", "close", "vwap")).head(rows).sort("symbol", "ts")
    big_ctx = tile(ctx, ("prior_close",))
    info = {
        "source_day": day.isoformat(),
        "source_symbols": len(src_syms),
        "source_rows": per_copy,
        "copies": copies,
        "symbols": big["symbol"].n_unique(),
        "catalyst_symbols_in_source": market.catalysts(day).height,
    }
    return big, big_ctx, info


def bench_detect(
    rows: int = 20_000_000,
    per_detector: bool = True,
    repeats: int = 1,
    sim_symbols: int = 200,
    baseline_days: int = 5,
) -> dict:
    """Time ``detect_intraday`` over ``rows`` minute-bar rows (construction not timed).

    Returns bar_rows, symbols, seconds (best of ``repeats`` full runs), bar_rows_per_s, events,
    events_by_type, per-detector seconds (each type alone) and machine info.
    """
    t0 = time.perf_counter()
    bars, ctx, info = build_frame(rows, sim_symbols=sim_symbols, baseline_days=baseline_days)
    build_s = time.perf_counter() - t0
    runs = []
    events = None
    for _ in range(repeats):
        t = time.perf_counter()
        events = detect_intraday(bars, ctx)
        runs.append(time.perf_counter() - t)
    seconds = min(runs)
    report = {
        "bar_rows": bars.height,
        "symbols": info["symbols"],
        "seconds": round(seconds, 3),
        "bar_rows_per_s": round(bars.height / seconds),
        "events": events.height,
        "events_by_type": dict(sorted(events.group_by("event_type").len().iter_rows())),
        "events_by_session": dict(sorted(events.group_by("session").len().iter_rows())),
        "target_rows_per_s": 5_000_000,
        "meets_target": bars.height / seconds >= 5_000_000,
        "runs_s": [round(r, 3) for r in runs],
        "build_s": round(build_s, 1),
        "frame": info,
        "machine": {**machine_info(), "polars_threads": pl.thread_pool_size()},
    }
    if per_detector:
        alone = {}
        for etype in EVENT_TYPES:
            t = time.perf_counter()
            detect_intraday(bars, ctx, only=(etype,))
            alone[etype] = round(time.perf_counter() - t, 3)
        report["detector_alone_s"] = alone
        report["slowest_detector"] = max(alone, key=alone.get)
    return report


def format_report(r: dict) -> str:
    lines = [
        f"machine: {r['machine']['platform']}, {r['machine']['cpu_count']} CPUs, polars {r['machine']['polars']}",
        f"bars: {r['bar_rows']:,} rows, {r['symbols']:,} symbols (tiled from {r['frame']['source_symbols']} "
        f"simulated symbol-days of {r['frame']['source_day']})",
        f"detect_intraday: {r['seconds']:.2f} s = {r['bar_rows_per_s'] / 1e6:.2f} M rows/s "
        f"(target 5 M: {'met' if r['meets_target'] else 'MISSED'}); {r['events']:,} events",
    ]
    for k, v in r.get("events_by_type", {}).items():
        lines.append(f"  {k:<22} {v:>9,}")
    if "detector_alone_s" in r:
        lines.append("each detector alone (incl. shared preparation):")
        for k, v in r["detector_alone_s"].items():
            lines.append(f"  {k:<22} {v:>7.2f} s")
    return "\n".join(lines)

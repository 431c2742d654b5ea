"""Tape and quote features (``stages.features.tape``) over many event windows: windows per second.

What is measured: one call of ``tape_features(events, trades, quotes)`` over ``windows`` events
whose ``event_trades``/``event_quotes`` rows are already in memory (as the asset reads them from the
day's Parquet files), wall clock, the median of ``repeats`` calls. Building the inputs is not timed.

Two sources of windows, both shaped like the lake's tables (``stages.windows`` schemas):

- ``synthetic`` (default): seeded numpy windows of [ts - 3 min, ts + 7 min), the manifest's default
  window, with ``trades_per_window`` prints and ``quote_rows_per_window`` 1 Hz quote rows spread
  over it (defaults 400 and 360: heavier than the offline market's windows, ~160 prints and ~400 raw
  quotes per window in ``bench windows``, so the figure errs on the slow side). Mids follow a
  random walk of one-cent steps, spreads are 1-5 cents with a few locked, crossed and one-sided
  quotes, prints sit at the bid, the ask or inside, sizes are log-normal whole shares (odd lots
  carry condition 37, a few are intermarket sweeps, average-price prints or corrections).
- ``sim``: real windows of the offline market (``SimMarket.trades``/``quotes`` of liquid names on
  one session, downsampled to 1 Hz by the downloader's own ``quotes_1hz``), replicated with
  distinct event ids up to ``windows``.

Figures: ``windows``, ``seconds``, ``windows_per_s`` (the issue's target: >= 500 on 2 cores),
the rows per window and the machine.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import polars as pl

from . import machine_info

NS = 1_000_000_000
BEFORE_S, AFTER_S = 180, 420  # the manifest's default window around ts
_TS0 = 1_772_463_600 * NS  # 2026-03-02 15:00 UTC (10:00 ET): the first synthetic event


def synthetic_windows(
    windows: int, seed: int = 11, trades_per_window: int = 400, quote_rows_per_window: int = 360
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(events, trades, quotes) of ``windows`` seeded synthetic windows (see the module doc)."""
    from ..stages.events.schema import UTC_NS
    from ..stages.windows import QUOTE_SCHEMA, TRADE_SCHEMA

    rng = np.random.default_rng(seed)
    ids = np.array([f"BENCH{i:06d}" for i in range(windows)])
    ts = _TS0 + np.arange(windows, dtype=np.int64) * 7 * NS
    base = rng.uniform(1.0, 20.0, windows)

    # quotes: distinct seconds of the window, last quote of each second at a random offset
    nq = min(quote_rows_per_window, BEFORE_S + AFTER_S)
    secs = np.sort(np.argsort(rng.random((windows, BEFORE_S + AFTER_S)), axis=1)[:, :nq], axis=1)
    q_win = np.repeat(np.arange(windows), nq)
    second = ts[q_win] - BEFORE_S * NS + secs.ravel() * NS
    mid_c = np.round(base * 100)[:, None] + np.cumsum(rng.choice([-1, 0, 0, 1], (windows, nq)), axis=1)
    half = rng.integers(1, 6, (windows, nq)) / 2
    bid = ((mid_c - np.floor(half)) / 100).ravel()
    ask = ((mid_c + np.ceil(half)) / 100).ravel()
    state = rng.random(bid.size)
    ask = np.where(state < 0.01, bid, ask)  # locked
    bid = np.where((state >= 0.01) & (state < 0.015), ask + 0.01, bid)  # crossed
    bid = np.where((state >= 0.015) & (state < 0.02), 0.0, bid)  # one-sided
    quotes = pl.DataFrame(
        {
            "event_id": ids[q_win],
            "symbol": "BENCH",
            "second": second,
            "sip_timestamp": second + rng.integers(0, NS, bid.size),
            "bid_price": bid,
            "bid_size": rng.integers(1, 30, bid.size) * 100.0,
            "ask_price": ask,
            "ask_size": rng.integers(1, 30, bid.size) * 100.0,
            "quotes_in_second": rng.integers(1, 5, bid.size),
        }
    )

    # trades: uniform over the window, priced off the window's mid path at that time
    nt = trades_per_window
    t_win = np.repeat(np.arange(windows), nt)
    offset = np.sort(rng.integers(0, (BEFORE_S + AFTER_S) * NS, (windows, nt)), axis=1)
    at_quote = np.minimum((offset // NS * nq) // (BEFORE_S + AFTER_S), nq - 1)
    mid = (mid_c[np.arange(windows)[:, None], at_quote] / 100).ravel()
    price = np.round(mid + rng.choice([-0.02, -0.01, 0.0, 0.01, 0.02], mid.size), 2)
    size = np.maximum(1, np.round(np.exp(rng.normal(5.0, 1.3, mid.size))))
    code = np.where(size < 100, 37, np.where(rng.random(mid.size) < 0.05, 14, -1))
    code = np.where(rng.random(mid.size) < 0.005, 2, code)
    trades = pl.DataFrame(
        {
            "event_id": ids[t_win],
            "symbol": "BENCH",
            "sip_timestamp": ts[t_win] - BEFORE_S * NS + offset.ravel(),
            "sequence_number": np.arange(mid.size, dtype=np.int64),
            "price": price,
            "size": size,
            "code": code,
            "correction": (rng.random(mid.size) < 0.002).astype(np.int32),
        }
    ).with_columns(
        conditions=pl.when(pl.col("code") >= 0)
        .then(pl.concat_list(pl.col("code").cast(pl.Int32)))
        .otherwise(pl.lit([], dtype=pl.List(pl.Int32)))
    )
    events = pl.DataFrame({"event_id": ids, "ts": ts}).with_columns(
        pl.col("ts").cast(UTC_NS), window_start=(pl.col("ts") - BEFORE_S * NS).cast(UTC_NS)
    )
    return events, _conform(trades, TRADE_SCHEMA), _conform(quotes, QUOTE_SCHEMA)


def sim_windows(windows: int, seed: int = 7, distinct: int = 24) -> tuple[pl.DataFrame, ...]:
    """(events, trades, quotes): ``distinct`` real windows of the offline market, replicated."""
    from ..sim import SimMarket
    from ..stages.events.schema import UTC_NS
    from ..stages.windows import quotes_1hz, trades_frame
    from .ingest import bench_config, history_sessions
    from .windows import synthetic_windows as market_windows

    market = SimMarket(bench_config(200, 1, seed))
    day = history_sessions(1)[0]
    real = market_windows(market, 1, distinct)
    trades, quotes, starts = [], [], []
    for w in real:
        trades.append(trades_frame(w, market.trades(w.symbol, day, w.start_ns, w.end_ns - 1)))
        quotes.append(quotes_1hz(w, market.quotes(w.symbol, day, w.start_ns, w.end_ns - 1))[0])
        ts_ns = int(w.event_id.rsplit("-", 1)[1])  # that bench's ids end with the event's ts in ns
        starts.append((w.event_id, ts_ns, w.start_ns))
    # copy i of the window i % distinct, under its own event id
    copies = pl.DataFrame(
        [(f"{starts[i % len(starts)][0]}#{i}", *starts[i % len(starts)]) for i in range(windows)],
        schema=["copy_id", "event_id", "ts", "window_start"],
        orient="row",
    )

    def replicate(rows: list[pl.DataFrame]) -> pl.DataFrame:
        joined = copies.select("copy_id", "event_id").join(pl.concat(rows), on="event_id")
        return joined.with_columns(event_id=pl.col("copy_id")).drop("copy_id")

    events = copies.select(
        pl.col("copy_id").alias("event_id"), pl.col("ts", "window_start").cast(pl.Int64).cast(UTC_NS)
    )
    return events, replicate(trades), replicate(quotes)


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The lake table's columns and dtypes (absent ones null), timestamps as UTC ns."""
    from ..stages.events.schema import UTC_NS

    def col(name: str, dtype: pl.DataType) -> pl.Expr:
        if name not in frame.columns:
            return pl.lit(None, dtype).alias(name)
        return pl.col(name).cast(UTC_NS if dtype == UTC_NS else dtype)

    return frame.select(col(c, t) for c, t in schema.items())


def bench_tape_features(
    windows: int = 2000, seed: int = 11, source: str = "synthetic", repeats: int = 3
) -> dict:
    """Time ``tape_features`` over ``windows`` windows; see the module doc for what is measured."""
    from ..stages.features.tape import tape_features

    if source == "synthetic":
        events, trades, quotes = synthetic_windows(windows, seed)
    elif source == "sim":
        events, trades, quotes = sim_windows(windows, seed)
    else:
        raise ValueError(f"source must be 'synthetic' or 'sim', not {source!r}")
    times, out = [], None
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        out = tape_features(events, trades, quotes)
        times.append(time.perf_counter() - started)
    assert out is not None and out.height == events.height
    seconds = statistics.median(times)
    return {
        "windows": events.height,
        "seconds": round(seconds, 4),
        "windows_per_s": round(events.height / seconds, 1),
        "source": source,
        "repeats": len(times),
        "trades_per_window": round(trades.height / events.height, 1),
        "quote_rows_per_window": round(quotes.height / events.height, 1),
        "windows_with_spread": int(out["quote_spread_at_event_bps"].is_not_null().sum()),
        "machine": machine_info(),
    }

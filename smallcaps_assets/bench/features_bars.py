"""How fast the bar/context, reference and regime feature families run over many events.

``synthetic_day`` builds one trading day of inputs with numpy (not timed): ``symbols`` random-walk
minute-bar paths from 04:00 to 20:00 ET with sparse pre- and post-market minutes, the 25 prior
sessions' daily bars (two regime ETFs included), the day's universe and flat time-of-day
baselines, and ``events`` events at random whole minutes of random symbols. The timed part is
``bar_features`` + ``reference_features`` + ``regime_features`` over all events, after an
untimed warm-up call on 100 of them.
"""

from __future__ import annotations

import datetime as dt
import time

import numpy as np
import polars as pl

from .. import calendar as cal
from ..stages.events.schema import MINUTE_NS, UTC_NS
from ..stages.features.regime import RegimeParams

BENCH_DAY = dt.date(2024, 3, 7)
DAILY_SESSIONS = 25


def synthetic_day(events: int, symbols: int = 400, seed: int = 11, day: dt.date = BENCH_DAY) -> dict:
    """Inputs of the three families for one day: a dict of frames (events, minute_bars,
    daily_history, universe, baseline)."""
    rng = np.random.default_rng(seed)
    sess = cal.session(day)
    pre_ns, open_ns, close_ns, post_ns = (
        sess.ns(k) for k in ("pre_open", "market_open", "market_close", "post_close")
    )
    n_min = (post_ns - pre_ns) // MINUTE_NS
    names = [f"S{i:04d}" for i in range(symbols)]
    start = np.exp(rng.uniform(np.log(0.5), np.log(30.0), symbols))
    minute_ns = pre_ns + np.arange(n_min, dtype=np.int64) * MINUTE_NS
    rth = (minute_ns >= open_ns) & (minute_ns < close_ns)
    # a bar exists (the minute traded) always in RTH, sometimes outside it
    traded = rng.random((symbols, n_min)) < np.where(rth, 0.97, 0.25)
    steps = rng.normal(0.0, 0.004, (symbols, n_min))
    close = start[:, None] * np.exp(np.cumsum(steps, axis=1))
    open_ = np.concatenate([start[:, None], close[:, :-1]], axis=1)
    wick = np.abs(rng.normal(0.0, 0.002, (symbols, n_min)))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    volume = np.round(rng.lognormal(np.where(rth, 7.0, 5.0), 1.0, (symbols, n_min)))
    sid, mi = np.nonzero(traded)
    bars = pl.DataFrame(
        {
            "symbol": np.array(names)[sid],
            "ts": minute_ns[mi],
            "open": open_[sid, mi],
            "high": high[sid, mi],
            "low": low[sid, mi],
            "close": close[sid, mi],
            "volume": volume[sid, mi],
            "vwap": (high[sid, mi] + low[sid, mi] + close[sid, mi]) / 3.0,
            "transactions": np.maximum(1, volume[sid, mi] // 200).astype(np.int64),
        }
    ).with_columns(pl.col("ts").cast(UTC_NS))
    days = [*cal.sessions_before(day, DAILY_SESSIONS), day]
    etfs = [RegimeParams().broad, RegimeParams().small_cap]
    all_names = [*names, *etfs]
    base_px = np.concatenate([start, [100.0, 30.0]])
    path = base_px[:, None] * np.exp(np.cumsum(rng.normal(0.0, 0.05, (len(all_names), len(days))), axis=1))
    gap = np.exp(rng.normal(0.0, 0.03, path.shape))
    daily = pl.DataFrame(
        {
            "symbol": np.repeat(all_names, len(days)),
            "date": np.tile(np.array(days, dtype="datetime64[D]"), len(all_names)),
            "open": (path * gap).ravel(),
            "high": (path * np.maximum(gap, 1.0) * 1.03).ravel(),
            "low": (path * np.minimum(gap, 1.0) * 0.97).ravel(),
            "close": path.ravel(),
            "volume": np.full(path.size, 1e6),
            "vwap": path.ravel(),
            "split_ratio": np.ones(path.size),
        }
    ).with_columns(pl.col("date").cast(pl.Date))
    universe = pl.DataFrame(
        {
            "symbol": names,
            "prior_close": path[:symbols, -2],
            "float_shares": rng.uniform(1e6, 5e7, symbols),
            "market_cap": rng.uniform(1e7, 2e9, symbols),
        }
    )
    minutes = np.arange(240, 1200, dtype=np.int32)
    baseline = pl.DataFrame(
        {
            "symbol": np.repeat(names, len(minutes)),
            "minute_of_day": np.tile(minutes, symbols),
            "vol_baseline": np.tile(np.where((minutes >= 570) & (minutes < 960), 900.0, 60.0), symbols),
            "txn_baseline": np.ones(symbols * len(minutes)),
            "baseline_days": np.full(symbols * len(minutes), 20, dtype=np.int64),
        }
    )
    ev_min = rng.integers(1, n_min + 1, events)  # event ts = a bar close: 04:01 .. 20:00
    ev_ts = pre_ns + ev_min.astype(np.int64) * MINUTE_NS
    ev = pl.DataFrame(
        {
            "event_id": [f"e{i:07d}" for i in range(events)],
            "symbol": np.array(names)[rng.integers(0, symbols, events)],
            "ts": ev_ts,
        }
    ).with_columns(
        pl.col("ts").cast(UTC_NS),
        session=pl.when(pl.lit(ev_ts) <= open_ns)
        .then(pl.lit("PM"))
        .when(pl.lit(ev_ts) <= close_ns)
        .then(pl.lit("RTH"))
        .otherwise(pl.lit("AH")),
    )
    return {
        "events": ev,
        "minute_bars": bars,
        "daily_history": daily,
        "universe": universe,
        "baseline": baseline,
    }


def bench_bar_features(events: int = 100_000, seed: int = 11, symbols: int = 400) -> dict:
    """Time the three families over ``events`` events of one synthetic day: events, seconds,
    events_per_s (and each family's seconds)."""
    from ..stages.features.bars import bar_features
    from ..stages.features.reference import reference_features
    from ..stages.features.regime import regime_features

    d = synthetic_day(events, symbols, seed)

    def run(ev: pl.DataFrame) -> tuple[list[pl.DataFrame], list[float]]:
        calls = (
            lambda: bar_features(
                ev, d["minute_bars"], d["daily_history"], d["universe"], baseline=d["baseline"]
            ),
            lambda: reference_features(ev, d["universe"], d["minute_bars"], d["daily_history"]),
            lambda: regime_features(ev, d["daily_history"]),
        )
        frames, stamps = [], [time.perf_counter()]
        for call in calls:
            frames.append(call())
            stamps.append(time.perf_counter())
        return frames, stamps

    run(d["events"].head(100))  # warm-up (first-call costs: the calendar, the thread pool), not timed
    (bars, ref, reg), (t0, t1, t2, t3) = run(d["events"])
    assert bars.height == ref.height == reg.height == events
    seconds = t3 - t0
    return {
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": round(events / seconds, 1),
        "bar_seconds": round(t1 - t0, 4),
        "reference_seconds": round(t2 - t1, 4),
        "regime_seconds": round(t3 - t2, 4),
        "minute_bars": d["minute_bars"].height,
    }

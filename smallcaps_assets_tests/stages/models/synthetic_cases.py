"""Hand-made labelled events for the model tests: a null market, a planted one, and leaks.

Events fall on weekdays of January-March 2024 between 09:30 and 15:30 ET on ``symbols`` symbols;
each label lasts 30 minutes (``t1 = ts + 30 min``), so a symbol's events of a day overlap. The
outcome of an event is Bernoulli(sigmoid(b + planted * signal + cluster_sd * u)) where ``u`` is one
draw per (symbol, day): outcomes cluster by symbol-day, as real ones do (one news story, one
squeeze), which is what makes unpurged, shuffled folds leak.

Features: ``signal`` (N(0, 1); drives the outcome only when ``planted`` > 0), ``noise`` (N(0, 1)),
and ``day_feature``, one N(0, 1) draw per (symbol, day) independent of ``u``: useless across days,
but it names the cluster, so a model that saw other events of the same cluster in training can look
the outcome up. ``return_to_t1`` is the leak "a feature that sees t1": the label's return plus
small noise.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from smallcaps_assets.calendar import NY
from smallcaps_assets.stages.events.schema import UTC_NS

FEATURES = ["signal", "noise", "day_feature"]
LEAKY_FEATURES = [*FEATURES, "return_to_t1"]


def weekdays(start: dt.date, end: dt.date) -> list[dt.date]:
    out, d = [], start
    while d <= end:
        if d.weekday() < 5:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def synthetic_events(
    n: int = 3000,
    seed: int = 0,
    planted: float = 0.0,
    cluster_sd: float = 2.0,
    symbols: int = 4,
    base_rate: float = 0.4,
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    days = weekdays(dt.date(2024, 1, 2), dt.date(2024, 3, 29))
    day_idx = rng.integers(0, len(days), n)
    sym_idx = rng.integers(0, symbols, n)
    minute = rng.integers(0, 6 * 60, n)
    ts = [
        dt.datetime(days[d].year, days[d].month, days[d].day, 9, 30, tzinfo=NY).astimezone(dt.UTC)
        + dt.timedelta(minutes=int(m))
        for d, m in zip(day_idx, minute, strict=True)
    ]
    cluster = day_idx * symbols + sym_idx
    u = rng.normal(size=len(days) * symbols)[cluster]
    day_feature = rng.normal(size=len(days) * symbols)[cluster]
    signal, noise = rng.normal(size=n), rng.normal(size=n)
    logit = np.log(base_rate / (1 - base_rate)) + planted * signal + cluster_sd * u
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    other = rng.choice([0, -1], size=n)
    barrier = np.where(y, 1, other)
    label_return = np.where(y, 0.02, np.where(other == 0, 0.0, -0.02)) + rng.normal(0, 0.002, n)
    return pl.DataFrame(
        {
            "event_id": [f"e{i:05d}" for i in range(n)],
            "symbol": [f"S{s}" for s in sym_idx],
            "ts": pl.Series(ts, dtype=UTC_NS),
            "barrier_label": barrier.astype(np.int64),
            "label_return": label_return,
            "signal": signal,
            "noise": noise,
            "day_feature": day_feature,
            "return_to_t1": label_return + rng.normal(0, 0.01, n),
        }
    ).with_columns(t1=pl.col("ts") + pl.duration(minutes=30))

"""The look-ahead harness of the feature families, and a small synthetic day to run it on.

``changed_after`` rewrites every input row stamped at or after an event's ``ts`` and lists the
events whose features moved; ``changed_before`` rewrites the rows stamped before ``ts``. Stamps:
a minute bar at its start (a bar starting at ``ts`` closes after it); a daily bar of the event's
day D at D's post-market close (its OHLC are final only then; its ``split_ratio`` is announced
before the open and is kept); earlier daily bars, the universe and the baselines before D's open.

The "after" rewrite continues every symbol flat from its last close before the cut (OHLC = that
close, volume 1): it removes every later move, so a family that counted a later halt or read a
later bar sees a different day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from smallcaps_assets.bench.features_bars import BENCH_DAY, synthetic_day
from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.days import event_day

__all__ = ["BENCH_DAY", "changed_after", "changed_before", "small_day"]

PRICES = ("open", "high", "low", "close", "vwap")
Family = Callable[[pl.DataFrame, dict], pl.DataFrame]


def small_day(events: int = 40, symbols: int = 6, seed: int = 3) -> dict:
    """A synthetic day (``bench.features_bars.synthetic_day``) small enough for per-event calls."""
    return synthetic_day(events, symbols, seed)


def flat_after(bars: pl.DataFrame, cut: dt.datetime) -> pl.DataFrame:
    """Bars starting at or after ``cut`` continue flat from the symbol's last close before it."""
    after = pl.col("ts") >= cut
    last = pl.when(after).then(None).otherwise(pl.col("close")).forward_fill().over("symbol").fill_null(1.0)
    return (
        bars.sort("symbol", "ts")
        .with_columns(_flat=last)
        .with_columns(
            *[pl.when(after).then(pl.col("_flat")).otherwise(pl.col(c)).alias(c) for c in PRICES],
            volume=pl.when(after).then(1.0).otherwise(pl.col("volume")),
        )
        .drop("_flat")
    )


def rewrite_after(inputs: dict, ts: dt.datetime) -> dict:
    """Every input row stamped at or after ``ts`` rewritten."""
    day = pl.select(event_day(pl.lit(ts, UTC_NS))).item()
    out = dict(inputs)
    out["minute_bars"] = flat_after(inputs["minute_bars"], ts)
    today = pl.col("date") >= day
    out["daily_history"] = inputs["daily_history"].with_columns(
        *[pl.when(today).then(1.23).otherwise(pl.col(c)).alias(c) for c in PRICES],
        volume=pl.when(today).then(1.0).otherwise(pl.col("volume")),
    )
    return out


def rewrite_before(inputs: dict, ts: dt.datetime) -> dict:
    """Every input row stamped before ``ts`` rewritten (an affine change of prices and volumes)."""
    day = pl.select(event_day(pl.lit(ts, UTC_NS))).item()
    out = dict(inputs)
    before = pl.col("ts") < ts
    out["minute_bars"] = inputs["minute_bars"].with_columns(
        *[pl.when(before).then(pl.col(c) * 1.3 + 0.11).otherwise(pl.col(c)).alias(c) for c in PRICES],
        volume=pl.when(before).then(pl.col("volume") * 3.0 + 7.0).otherwise(pl.col("volume")),
    )
    earlier = pl.col("date") < day
    out["daily_history"] = inputs["daily_history"].with_columns(
        *[pl.when(earlier).then(pl.col(c) * 1.3 + 0.11).otherwise(pl.col(c)).alias(c) for c in PRICES]
    )
    out["universe"] = inputs["universe"].with_columns(
        pl.col("prior_close") * 1.3, pl.col("float_shares") * 1.3, pl.col("market_cap") * 1.3
    )
    out["baseline"] = inputs["baseline"].with_columns(pl.col("vol_baseline") * 1.3)
    return out


def _changed(family: Family, inputs: dict, rewrite: Callable[[dict, dt.datetime], dict]) -> list[str]:
    events = inputs["events"]
    whole = family(events, inputs)
    changed = []
    for i in range(events.height):
        one = events.slice(i, 1)
        got = family(one, rewrite(inputs, one["ts"].item()))
        if not got.equals(whole.slice(i, 1)):
            changed.append(one["event_id"].item())
    return changed


def changed_after(family: Family, inputs: dict) -> list[str]:
    """event_ids whose features change when every input row stamped at/after their ts is rewritten."""
    return _changed(family, inputs, rewrite_after)


def changed_before(family: Family, inputs: dict) -> list[str]:
    """event_ids whose features change when every input row stamped before their ts is rewritten."""
    return _changed(family, inputs, rewrite_before)

"""The strategy registry: every configuration the ``backtest`` asset runs in one partition, the
model strategy and the baselines side by side (docs/backtests.md#strategies).

A strategy turns one day's inputs into *signals*: event_id, symbol, ts, side (+1 buy, -1 sell
short), event_type, session and prob (null for the rule-only ones). Everything after the signal
(fills, exits, sizing, costs) is shared, so the strategies differ only in what they pick.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import Field

from ..events.params import FrozenParams
from ..events.schema import UTC_NS

SIGNAL_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "ts": UTC_NS,
    "side": pl.Int64(),
    "event_type": pl.String(),
    "session": pl.String(),
    "prob": pl.Float64(),
}


class Strategy(FrozenParams):
    name: str
    entries: Literal["model", "manifest", "random", "universe"]
    threshold: float = Field(0.5, ge=0, le=1, description="model: prob above this")
    seed: int = Field(13, description="random: the draw's seed")


STRATEGIES: tuple[Strategy, ...] = (
    # The model's out-of-sample probability that the event's direction pays (the profit-take
    # first): trade the events it rates above the threshold, in the detector's direction.
    Strategy(name="model", entries="model", threshold=0.5),
    # Every manifest event in its detector's direction: the rule without the model.
    Strategy(name="rule_all", entries="manifest"),
    # As many entries as the model at the same instants, on random symbols and sides: luck's bar.
    Strategy(name="random_matched", entries="random"),
    # Every universe symbol bought equally at the span's first open and held to its last close.
    Strategy(name="universe_ew", entries="universe"),
)


@dataclass(frozen=True)
class DayInputs:
    """One trading day's inputs (None where the lake has no partition)."""

    day: object
    bars: pl.DataFrame
    events: pl.DataFrame | None = None  # intraday_events
    manifest: pl.DataFrame | None = None
    predictions: pl.DataFrame | None = None
    quotes: pl.DataFrame | None = None
    ssr_status: pl.DataFrame | None = None


def _signals(frame: pl.DataFrame, prob: pl.Expr | None = None) -> pl.DataFrame:
    out = frame.with_columns(side=pl.col("direction"), prob=prob if prob is not None else pl.lit(None))
    return out.select(pl.col(c).cast(t) for c, t in SIGNAL_SCHEMA.items())


def model_signals(d: DayInputs, threshold: float) -> pl.DataFrame:
    """The day's events whose out-of-sample probability is above ``threshold``."""
    if d.predictions is None or d.events is None:
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    picked = d.predictions.filter(pl.col("prob") > threshold).select("event_id", "prob")
    return _signals(d.events.join(picked, on="event_id", how="inner"), pl.col("prob"))


def manifest_signals(d: DayInputs) -> pl.DataFrame:
    """Every manifest event, in its detector's direction."""
    if d.manifest is None:
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    return _signals(d.manifest)

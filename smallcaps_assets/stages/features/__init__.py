"""event_features: point-in-time features of every intraday event, family by family (pure polars).

A *family* is a function of the day's inputs that returns exactly one row per event: ``event_id``,
its feature columns and ``<family>_input_ts``, the latest instant of any input that fed the row
(null when nothing did). ``FAMILIES`` is the registry: the asset builds every family, joins them on
``event_id`` and the gates check each ``<family>_input_ts`` against the event's ``ts``. Each family's
module docstring documents its features (unit, window, why it cannot see the future) and
docs/features.md collects them.

Adding a family: write ``stages/features/<name>.py`` with a function of the inputs it needs, add a
``Family`` here with a ``build`` that takes them from ``FeatureInputs``, and a section to
docs/features.md. ``build_features`` refuses a family whose rows or columns break the convention.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ..events.schema import UTC_NS
from ..windows import QUOTE_SCHEMA, TRADE_SCHEMA
from .bars import bar_features
from .event_context import event_context_features
from .news import news_features
from .reference import reference_features
from .regime import regime_features
from .short import short_features
from .ssr import ssr_features
from .tape import tape_features

KEY_COLUMNS = ("event_id", "symbol", "ts", "event_type", "session", "direction")


@dataclass(frozen=True)
class FeatureInputs:
    """Everything the families read for trading day ``day``. Optional frames are None when the
    asset that holds them has no partition (a family then yields nulls, never zeros)."""

    day: dt.date
    events: pl.DataFrame  # intraday_events of the day
    minute_bars: pl.DataFrame  # minute_bars of the day
    universe: pl.DataFrame  # universe of the day (point in time)
    # daily_bars of prior sessions with a ``date`` column, plus D's rows reduced to their
    # split_ratio (known before the open; D's prices are end-of-day data and never here)
    daily_history: pl.DataFrame | None = None
    baseline: pl.DataFrame | None = None  # time-of-day volume baselines of prior sessions (events.baselines)
    trades: pl.DataFrame | None = None  # event_trades of the day
    quotes: pl.DataFrame | None = None  # event_quotes of the day
    manifest: pl.DataFrame | None = None  # event_manifest of the day (the windows' starts)
    ssr_status: pl.DataFrame | None = None
    news: pl.DataFrame | None = None  # news of the day and the previous session
    short_interest: pl.DataFrame | None = None  # short_interest of the day (published before it)
    short_volume: pl.DataFrame | None = None  # short_volume of the previous session


@dataclass(frozen=True)
class Family:
    name: str
    build: Callable[[FeatureInputs], pl.DataFrame]

    @property
    def input_ts(self) -> str:
        return f"{self.name}_input_ts"


class FamilyError(ValueError):
    """A family's output breaks the convention (rows, keys or the input-time column)."""


def _tape(i: FeatureInputs) -> pl.DataFrame:
    events = i.events.select("event_id", "ts", "direction")
    if i.manifest is not None:
        events = events.join(i.manifest.select("event_id", "window_start"), on="event_id", how="left")
    # A day without windows (no manifest event) reads as windows with no rows: every feature null.
    trades = i.trades if i.trades is not None else pl.DataFrame(schema=TRADE_SCHEMA)
    quotes = i.quotes if i.quotes is not None else pl.DataFrame(schema=QUOTE_SCHEMA)
    return tape_features(events, trades, quotes)


FAMILIES: tuple[Family, ...] = (
    Family(
        "bars",
        lambda i: bar_features(i.events, i.minute_bars, i.daily_history, i.universe, baseline=i.baseline),
    ),
    Family("tape", _tape),
    Family("reference", lambda i: reference_features(i.events, i.universe, i.minute_bars, i.daily_history)),
    Family("regime", lambda i: regime_features(i.events, i.daily_history)),
    Family("event_context", lambda i: event_context_features(i.events)),
    Family("news", lambda i: news_features(i.events, i.news)),
    Family("short", lambda i: short_features(i.events, i.short_interest, i.short_volume, i.day, i.universe)),
    Family("ssr", lambda i: ssr_features(i.events, i.ssr_status)),
)


def family_frame(family: Family, inputs: FeatureInputs) -> pl.DataFrame:
    """Build one family and check its shape: one row per event, ``event_id`` plus features plus
    ``<family>_input_ts`` as a UTC timestamp."""
    frame = family.build(inputs)
    if "event_id" not in frame.columns or family.input_ts not in frame.columns:
        raise FamilyError(f"feature family {family.name} must return event_id and {family.input_ts}")
    if frame.schema[family.input_ts] != UTC_NS:
        raise FamilyError(
            f"{family.name}: {family.input_ts} is {frame.schema[family.input_ts]}, not {UTC_NS}"
        )
    ids = frame["event_id"]
    if (
        ids.n_unique() != frame.height
        or frame.height != inputs.events.height
        or not ids.is_in(inputs.events["event_id"].implode()).all()
    ):
        raise FamilyError(
            f"feature family {family.name} returned {frame.height} rows ({ids.n_unique()} event ids) "
            f"for {inputs.events.height} events"
        )
    clash = set(frame.columns) & set(KEY_COLUMNS) - {"event_id"}
    if clash:
        raise FamilyError(f"feature family {family.name} returns key columns {sorted(clash)}")
    return frame


def build_features(inputs: FeatureInputs, families: tuple[Family, ...] = FAMILIES) -> pl.DataFrame:
    """The day's event_features: the event keys, then every family's columns, one row per event,
    sorted by (symbol, ts, event_type)."""
    out = inputs.events.select(*KEY_COLUMNS)
    seen: set[str] = set(out.columns)
    for family in families:
        frame = family_frame(family, inputs)
        dup = (set(frame.columns) - {"event_id"}) & seen
        if dup:
            raise FamilyError(f"feature family {family.name} repeats columns {sorted(dup)}")
        seen |= set(frame.columns)
        out = out.join(frame, on="event_id", how="left")
    return out.sort("symbol", "ts", "event_type")


def input_ts_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.endswith("_input_ts")]


def feature_columns(frame: pl.DataFrame) -> list[str]:
    """The feature columns of an event_features frame (neither keys nor input times)."""
    return [c for c in frame.columns if c not in KEY_COLUMNS and not c.endswith("_input_ts")]

"""What every feature family shares: the trading day of each event, the session instants that
stamp daily inputs, and the per-day split that keeps a family's output at one row per event.

A family computes each trading day on its own (a day's bars, the sessions before it), then
``one_row_per_event`` puts the rows back in the events' order, with nulls for events whose day
produced nothing (a day missing from the calendar, no inputs at all).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from ... import calendar as cal
from ..events.schema import MINUTE_NS, UTC_NS

__all__ = ["MINUTE_NS", "UTC_NS", "close_instant", "event_day", "one_row_per_event", "per_day"]


def event_day(ts: pl.Expr) -> pl.Expr:
    """The New York trading date of an instant (an event's ``ts`` lies inside its extended session)."""
    return ts.dt.convert_time_zone("America/New_York").dt.date()


def close_instant(day: dt.date | None, which: str = "market_close") -> dt.datetime | None:
    """A session boundary of ``day`` (UTC): the instant a daily input of that session is known."""
    sess = cal.session(day) if day is not None else None
    return getattr(sess, which) if sess is not None else None


def per_day(
    events: pl.DataFrame,
    schema: dict[str, pl.DataType],
    compute: Callable[[dt.date, pl.DataFrame], pl.DataFrame | None],
) -> pl.DataFrame:
    """Run ``compute(day, events_of_day)`` for each trading day of ``events`` and return one row per
    event (``event_id`` then ``schema``'s columns, in the events' order)."""
    ev = events.with_columns(_day=event_day(pl.col("ts").cast(UTC_NS)))
    parts = []
    for day in ev["_day"].unique().sort().to_list():
        if day is None or cal.session(day) is None:
            continue
        part = compute(day, ev.filter(pl.col("_day") == day).drop("_day"))
        if part is not None and part.height:
            parts.append(part)
    return one_row_per_event(events, parts, schema)


def one_row_per_event(
    events: pl.DataFrame, parts: list[pl.DataFrame], schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    """``event_id`` of every event (input order) joined to the computed rows, typed by ``schema``."""
    full = {"event_id": pl.String(), **schema}
    rows = (
        pl.concat([p.select(pl.col(c).cast(t) for c, t in full.items()) for p in parts])
        if parts
        else pl.DataFrame(schema=full)
    )
    if rows["event_id"].is_duplicated().any():
        raise ValueError("a feature family produced two rows for one event")
    ids = events.select(pl.col("event_id").cast(pl.String))
    if ids["event_id"].is_duplicated().any():
        raise ValueError("events hold duplicate event_id values")
    return ids.join(rows, on="event_id", how="left", maintain_order="left").select(list(full))

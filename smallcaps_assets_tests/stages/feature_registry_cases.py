"""Hand-built events shared by the feature tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from smallcaps_assets.stages.events.schema import UTC_NS

DAY = dt.date(2024, 3, 12)


def at(hh: int, mm: int, ss: int = 0) -> dt.datetime:
    """An Eastern (EDT, UTC-4 on DAY) wall time on DAY as a UTC instant."""
    return dt.datetime(2024, 3, 12, hh, mm, ss, tzinfo=dt.UTC) + dt.timedelta(hours=4)


def events(rows: list[tuple[str, str, dt.datetime, str]]) -> pl.DataFrame:
    """Events from (event_id, symbol, ts, event_type); strength 1.0 + row index, score 0.5."""
    return pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
            "event_type": [r[3] for r in rows],
            "session": ["RTH"] * len(rows),
            "direction": [1] * len(rows),
            "strength": [1.0 + i for i in range(len(rows))],
            "score": [0.5] * len(rows),
        },
        schema_overrides={"ts": UTC_NS, "direction": pl.Int64},
    )

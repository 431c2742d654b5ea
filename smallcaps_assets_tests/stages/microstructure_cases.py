"""A clean manifest and the trades, quotes and outcomes of its windows, for the gate tests."""

from __future__ import annotations

import polars as pl

from smallcaps_assets.stages import windows as win

from ..defs.test_windows_assets import DAY, synthetic_manifest

NS = 1_000_000_000
__all__ = ["DAY", "clean_manifest", "windows_frames"]


def clean_manifest() -> pl.DataFrame:
    """30 events, three types, 20 RTH / 10 PM: inside every distribution rule."""
    frame = synthetic_manifest(30)
    i = pl.int_range(pl.len())
    return frame.with_columns(
        event_type=pl.when(i % 3 == 0)
        .then(pl.lit("hod_break"))
        .when(i % 3 == 1)
        .then(pl.lit("flush"))
        .otherwise("event_type"),
        session=pl.when(i % 3 == 2).then(pl.lit("PM")).otherwise("session"),
    )


def windows_frames(manifest: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(outcomes, trades, quotes): one trade and one quote a minute into each window."""
    ids = manifest["event_id"].to_list()
    starts = manifest["window_start"].dt.epoch("ns").to_list()
    syms = manifest["symbol"].to_list()
    trades = pl.DataFrame(
        {
            "event_id": ids,
            "symbol": syms,
            "sip_timestamp": [s + 60 * NS for s in starts],
            "sequence_number": list(range(len(ids))),
        }
    ).with_columns(pl.col("sip_timestamp").cast(win.UTC_NS))
    quotes = pl.DataFrame(
        {
            "event_id": ids,
            "symbol": syms,
            "second": [s // NS * NS + 61 * NS for s in starts],
            "sip_timestamp": [s + 61 * NS for s in starts],
            "bid_price": [5.0] * len(ids),
            "ask_price": [5.01] * len(ids),
            "crossed": [False] * len(ids),
            "locked": [False] * len(ids),
        }
    ).with_columns(pl.col("second", "sip_timestamp").cast(win.UTC_NS))
    outcomes = pl.DataFrame({"event_id": ids, "outcome": ["data"] * len(ids)})
    return outcomes, trades, quotes

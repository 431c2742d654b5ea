"""Split adjustment as of a decision date uses no later split."""

from __future__ import annotations

import datetime as dt

import polars as pl

from smallcaps_assets.stages.daily import adjust_as_of

D = [dt.date(2024, 3, d) for d in (4, 5, 6, 7)]


def _history() -> pl.DataFrame:
    # A 1-for-10 reverse split executes on the 6th: raw prices jump x10 that day.
    raw = [1.0, 1.1, 11.0, 12.0]
    return pl.DataFrame(
        {
            "date": D,
            "symbol": ["ABCD"] * 4,
            "open": raw, "high": raw, "low": raw, "close": raw, "vwap": raw,
            "volume": [1000.0, 1000.0, 100.0, 100.0],
            "split_ratio": [1.0, 1.0, 10.0, 1.0],
        }
    )  # fmt: skip


def test_prices_before_the_split_are_scaled_after_it():
    adj = adjust_as_of(_history(), D[3])
    assert adj["close"].to_list() == [10.0, 11.0, 11.0, 12.0]
    assert adj["volume"].to_list() == [100.0, 100.0, 100.0, 100.0]


def test_no_look_ahead_before_the_split():
    """Adjusted as of the 5th, the split of the 6th is unknown: prices stay raw, later rows absent."""
    adj = adjust_as_of(_history(), D[1])
    assert adj["close"].to_list() == [1.0, 1.1]
    assert adj["date"].max() == D[1]

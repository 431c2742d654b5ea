"""Gates of news: every article inside the partition's publication window, no symbol flooded (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..gates import Gate, GateResult

MAX_ITEMS_PER_SYMBOL = 50

NEWS_IN_WINDOW = Gate(
    "news_in_window",
    "Every article was published inside the partition's window [previous session's end of "
    "extended hours, this session's): nothing from after the day leaks in.",
)
NEWS_NOT_FLOODED = Gate(
    "news_not_flooded",
    f"No symbol has more than {MAX_ITEMS_PER_SYMBOL} articles in one partition (a looping feed).",
    "warn",
)
NEWS_GATES = (NEWS_IN_WINDOW, NEWS_NOT_FLOODED)


def news_gates(news: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> list[GateResult]:
    per_symbol = news.group_by("symbol").len()
    busiest = int(per_symbol["len"].max() or 0) if per_symbol.height else 0
    published = pl.col("published_utc")
    return [
        NEWS_IN_WINDOW.rows(news, (published >= start) & (published < end)),
        NEWS_NOT_FLOODED.judge(busiest <= MAX_ITEMS_PER_SYMBOL, {"max_items_per_symbol": busiest}),
    ]

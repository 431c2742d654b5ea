"""news: the vendor's articles of a trading day, one row per (article, symbol) (pure).

Partition D holds every article published in ``[post_close(D-1), post_close(D))``: from the
previous session's end of extended hours (20:00 ET, 17:00 ET after an early close) to D's. The
windows of consecutive sessions tile time without gaps or overlap, so a weekend's or a holiday's
articles land in the next session's partition, and an event of day D (04:00 ET at the earliest)
finds every article of the 24 hours before it in the partitions of D and D-1.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar as cal
from .events.schema import UTC_NS
from .reference import SYMBOL_RE

NEWS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "symbol": pl.String(),
    "published_utc": UTC_NS,
    "title": pl.String(),
    "publisher": pl.String(),
    "author": pl.String(),
    "article_url": pl.String(),
    "n_tickers": pl.Int64(),
}


def news_window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` of the articles partition ``day`` holds (UTC, aware)."""
    sess = cal.session(day)
    prev = cal.previous_trading_day(day)
    if sess is None or prev is None:
        raise ValueError(f"{day} is not a trading day with a previous session")
    return cal.session(prev).post_close, sess.post_close


def news_frame(articles: list[dict], start: dt.datetime, end: dt.datetime) -> tuple[pl.DataFrame, int]:
    """(rows, dropped): one row per article and ticker of an article published in ``[start, end)``,
    deduplicated on (id, symbol). ``articles`` are the vendor's JSON rows. Tickers that are not
    stock symbols (the vendor tags some articles with crypto or index tickers) are dropped and
    counted; an article outside the window (a vendor that ignores the filter) is dropped too."""
    rows, dropped = [], 0
    for a in articles:
        published = a.get("published_utc")
        if published is None:
            dropped += 1
            continue
        ts = dt.datetime.fromisoformat(str(published).replace("Z", "+00:00")).astimezone(dt.UTC)
        if not start <= ts < end:
            dropped += 1
            continue
        tickers = list(dict.fromkeys(a.get("tickers") or []))
        publisher = a.get("publisher") or {}
        for symbol in tickers:
            if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
                dropped += 1
                continue
            rows.append(
                {
                    "id": a["id"],
                    "symbol": symbol,
                    "published_utc": ts,
                    "title": a.get("title"),
                    "publisher": publisher.get("name"),
                    "author": a.get("author"),
                    "article_url": a.get("article_url"),
                    "n_tickers": len(tickers),
                }
            )
    frame = pl.DataFrame(rows, schema=NEWS_SCHEMA) if rows else pl.DataFrame(schema=NEWS_SCHEMA)
    return frame.unique(["id", "symbol"], keep="first", maintain_order=True), dropped

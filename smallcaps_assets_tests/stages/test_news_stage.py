"""stages/news.py and news_quality.py: the partition window and its rows, on hand-built articles."""

from __future__ import annotations

import datetime as dt

import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets import schemas
from smallcaps_assets.stages import news, news_quality

MONDAY = dt.date(2024, 3, 4)


def _article(id_: str, published: str, tickers: list[str]) -> dict:
    return {
        "id": id_,
        "published_utc": published,
        "tickers": tickers,
        "title": f"title {id_}",
        "publisher": {"name": "Wire"},
        "author": "A",
        "article_url": f"https://x/{id_}",
    }


def test_window_runs_from_the_previous_sessions_end_to_this_ones():
    start, end = news.news_window(MONDAY)
    assert (
        start == cal.session(dt.date(2024, 3, 1)).post_close
    )  # Friday 20:00 ET: the weekend lands on Monday
    assert end == cal.session(MONDAY).post_close
    assert start == dt.datetime(2024, 3, 2, 1, 0, tzinfo=dt.UTC) and end == dt.datetime(
        2024, 3, 5, 1, 0, tzinfo=dt.UTC
    )
    # Consecutive windows tile time.
    assert news.news_window(cal.next_trading_day(MONDAY))[0] == end
    # After an early close (the day after Thanksgiving) the window ends at 17:00 ET.
    assert news.news_window(dt.date(2023, 11, 24))[1] == dt.datetime(2023, 11, 24, 22, 0, tzinfo=dt.UTC)


def test_one_row_per_article_and_stock_symbol_inside_the_window():
    start, end = news.news_window(MONDAY)
    articles = [
        _article("a", "2024-03-02T01:00:00Z", ["ABC", "XYZ", "ABC"]),  # at the start: kept, ABC once
        _article("b", "2024-03-05T01:00:00Z", ["ABC"]),  # at the end: next partition's
        _article("c", "2024-03-04T14:00:00Z", ["X:BTCUSD", "DEF"]),  # a crypto ticker is dropped
        _article("a", "2024-03-02T01:00:00Z", ["ABC"]),  # a duplicate page row
    ]
    rows, dropped = news.news_frame(articles, start, end)
    frame = schemas.enforce(schemas.News, rows)
    assert sorted(zip(frame["id"], frame["symbol"], strict=True)) == [
        ("a", "ABC"),
        ("a", "XYZ"),
        ("c", "DEF"),
    ]
    assert dropped == 2
    assert frame.filter(pl.col("id") == "a")["n_tickers"].to_list() == [2, 2]
    assert frame.schema["published_utc"] == pl.Datetime("ns", "UTC")
    assert all(g.passed for g in news_quality.news_gates(frame, start, end))


def test_gates_refuse_an_article_from_after_the_window_and_warn_on_a_flood():
    start, end = news.news_window(MONDAY)
    late = pl.DataFrame(
        {"id": ["z"], "symbol": ["ABC"], "published_utc": [end]},
        schema_overrides={"published_utc": pl.Datetime("ns", "UTC")},
    )
    in_window, flood = news_quality.news_gates(late, start, end)
    assert not in_window.passed and in_window.severity == "error"
    flooded = pl.DataFrame(
        {"id": [str(i) for i in range(51)], "symbol": ["ABC"] * 51, "published_utc": [start] * 51},
        schema_overrides={"published_utc": pl.Datetime("ns", "UTC")},
    )
    in_window, flood = news_quality.news_gates(flooded, start, end)
    assert in_window.passed and not flood.passed and flood.severity == "warn"

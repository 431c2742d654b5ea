"""news_features on hand-built rows: counts and ages, strictness at ts, nulls, and look-ahead."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.news import NEWS_FEATURE_SCHEMA, NewsParams, news_features

from .pit import assert_point_in_time

T0 = dt.datetime(2024, 3, 6, 13, 0, tzinfo=dt.UTC)  # 08:00 ET


def _events(rows: list[tuple[str, str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS}, orient="row")


def _news(rows: list[tuple[str, str, dt.datetime]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"id": pl.String, "symbol": pl.String, "published_utc": UTC_NS}, orient="row"
    )


def test_counts_distinct_articles_in_the_hours_strictly_before_ts():
    h = dt.timedelta(hours=1)
    events = _events([("e1", "ABC", T0), ("e2", "XYZ", T0), ("e3", "ABC", T0 + 11 * h)])
    news = _news(
        [
            ("a", "ABC", T0 - 13 * h),  # outside 12 h
            ("b", "ABC", T0 - 12 * h),  # exactly at the window's start: counted
            ("c", "ABC", T0 - 2 * h),
            ("c", "ABC", T0 - 2 * h),  # the same article twice (D and D-1 overlap): once
            ("d", "ABC", T0),  # at ts: not before it
            ("e", "XYZ", T0 + h),  # after ts
        ]
    )
    out = news_features(events, news)
    assert out.schema == pl.Schema(NEWS_FEATURE_SCHEMA)
    assert out["event_id"].to_list() == ["e1", "e2", "e3"]
    assert out["news_count"].to_list() == [2, 0, 1]  # e3 (11 h later) sees d; c is 13 h back
    assert out["news_last_age_min"].to_list() == [120.0, None, 660.0]
    assert out["news_input_ts"].to_list() == [T0 - 2 * h, None, T0]
    assert news_features(events, news, NewsParams(hours=1))["news_count"].to_list() == [0, 0, 0]


def test_missing_news_gives_nulls_and_the_window_is_bounded():
    out = news_features(_events([("e1", "ABC", T0)]), None)
    assert out.row(0) == ("e1", None, None, None)
    for hours in (0, -1, 24.5):
        with pytest.raises(ValueError, match="hours"):
            NewsParams(hours=hours)


def _many() -> tuple[pl.DataFrame, pl.DataFrame]:
    """40 events and 120 articles over four symbols, around one pre-market and session."""
    symbols = ["AAA", "BBB", "CCC", "DDD"]
    events = _events([(f"e{i}", symbols[i % 4], T0 + dt.timedelta(minutes=37 * i)) for i in range(40)])
    news = _news(
        [
            (f"n{i}", symbols[(i * 7) % 4], T0 - dt.timedelta(hours=14) + dt.timedelta(minutes=17 * i))
            for i in range(120)
        ]
    )
    return events, news


def _more_articles(frame: pl.DataFrame, rows: pl.Expr) -> pl.DataFrame:
    """The selected articles twice (new ids) and moved 20 minutes later: consequential if read."""
    chosen = frame.filter(rows)
    copies = chosen.with_columns(pl.col("id") + "_copy")
    moved = chosen.with_columns((pl.col("published_utc") + dt.timedelta(minutes=20)).cast(UTC_NS))
    return pl.concat([frame.filter(~rows), moved, copies])


def test_articles_at_or_after_ts_change_nothing_and_earlier_ones_do():
    events, news = _many()
    changed = assert_point_in_time(
        news_features, events, {"news": news}, {"news": "published_utc"}, {"news": _more_articles}
    )
    assert changed >= 30


def test_a_leaky_variant_is_caught():
    """Counting what is published up to half an hour after ts: the same check fails."""

    def leaky(events: pl.DataFrame, news: pl.DataFrame) -> pl.DataFrame:
        return news_features(
            events, news.with_columns((pl.col("published_utc") - dt.timedelta(minutes=30)).cast(UTC_NS))
        )

    events, news = _many()
    with pytest.raises(AssertionError, match="DataFrames are different"):
        assert_point_in_time(
            leaky, events, {"news": news}, {"news": "published_utc"}, {"news": _more_articles}
        )

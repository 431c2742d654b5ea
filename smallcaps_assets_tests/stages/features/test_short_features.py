"""short_features on hand-built rows: publication dates, the previous session, float, look-ahead."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages import short_data as sd
from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.short import SHORT_FEATURE_SCHEMA, short_features

from .pit import assert_point_in_time

# 29 Feb 2024 settles; published on the 8th session after it, 12 Mar, at 20:00 ET.
SETTLED = dt.date(2024, 2, 29)
PUBLISHED = dt.date(2024, 3, 12)
NEXT = dt.date(2024, 3, 13)


def _et_events(day: dt.date, times: list[dt.time], symbol: str = "ABC") -> pl.DataFrame:
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    stamps = [dt.datetime.combine(day, t, ny) for t in times]
    return pl.DataFrame(
        {
            "event_id": [f"{day}-{symbol}-{i}" for i in range(len(times))],
            "symbol": [symbol] * len(times),
            "ts": stamps,
        },
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS},
    )


def _si_rows(*settlements: tuple[str, dt.date, float]) -> pl.DataFrame:
    """Short interest rows as the asset stamps them, whatever partition they would be in."""
    rows = [
        {
            "symbol": s,
            "settlement_date": d,
            "published_on": sd.published_on(d),
            "published_at": sd.published_at(sd.published_on(d)),
            "short_interest": shares,
            "avg_daily_volume": 1000.0,
            "days_to_cover": shares / 1000.0,
        }
        for s, d, shares in settlements
    ]
    return pl.DataFrame(rows, schema=sd.SHORT_INTEREST_SCHEMA)


def _sv_rows(*rows: tuple[str, dt.date, float, float]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "symbol": s,
                "date": d,
                "available_at": sd.published_at(d),
                "short_volume": short,
                "exempt_volume": 0.0,
                "total_volume": total,
                "short_volume_ratio_pct": 100 * short / total,
            }
            for s, d, short, total in rows
        ],
        schema=sd.SHORT_VOLUME_SCHEMA,
    )


SI = _si_rows(("ABC", dt.date(2024, 2, 15), 10_000.0), ("ABC", SETTLED, 50_000.0))


def test_short_interest_is_never_visible_before_its_publication_date():
    """Every event of the publication day, to its last after-hours minute, sees the previous
    settlement; from the next session's first pre-market minute on, the new one."""
    late_day = [dt.time(4, 0), dt.time(9, 30), dt.time(15, 59), dt.time(19, 59, 59)]
    for day in cal.trading_days(SETTLED, PUBLISHED):
        out = short_features(_et_events(day, late_day), SI, None, day)
        assert 50_000.0 not in out["short_interest_shares"].to_list(), day
    on_day = short_features(_et_events(PUBLISHED, late_day), SI, None, PUBLISHED)
    assert on_day["short_interest_shares"].to_list() == [10_000.0] * 4
    assert on_day["short_interest_days_to_cover"].to_list() == [10.0] * 4
    after = short_features(_et_events(NEXT, [dt.time(4, 0), dt.time(4, 1)]), SI, None, NEXT)
    assert after["short_interest_shares"].to_list() == [50_000.0] * 2
    assert after["short_interest_age_days"].to_list() == [(NEXT - SETTLED).days] * 2
    assert after["short_input_ts"].to_list() == [sd.published_at(PUBLISHED)] * 2
    # At the publication instant itself it is still invisible; a nanosecond later it is not.
    at = sd.published_at(PUBLISHED)
    edge = pl.DataFrame(
        {
            "event_id": ["at", "after"],
            "symbol": ["ABC", "ABC"],
            "ts": [at, at + dt.timedelta(microseconds=1)],
        },
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS},
    )
    assert short_features(edge, SI, None, NEXT)["short_interest_shares"].to_list() == [10_000.0, 50_000.0]


def test_short_volume_is_the_previous_sessions_and_float_pct_uses_the_universe():
    day = dt.date(2024, 3, 6)
    sv = _sv_rows(
        ("ABC", dt.date(2024, 3, 5), 40.0, 100.0),
        ("ABC", day, 90.0, 100.0),
        ("ABC", dt.date(2024, 3, 4), 10.0, 100.0),
    )
    universe = pl.DataFrame({"symbol": ["ABC"], "float_shares": [200_000.0]})
    events = _et_events(day, [dt.time(4, 0), dt.time(19, 0)])
    out = short_features(events, SI, sv, day, universe)
    assert out.schema == pl.Schema(SHORT_FEATURE_SCHEMA)
    assert out["short_volume_ratio_pct"].to_list() == [40.0, 40.0]  # D's own row is never read
    assert out["short_interest_float_pct"].to_list() == [5.0, 5.0]  # 10,000 / 200,000
    assert out["short_input_ts"].to_list() == [sd.published_at(dt.date(2024, 3, 5))] * 2
    # Only an older session: null, not that session's ratio; no float: null.
    older = short_features(events, SI, sv.filter(pl.col("date") != dt.date(2024, 3, 5)), day)
    assert older["short_volume_ratio_pct"].to_list() == [None, None]
    assert older["short_interest_float_pct"].to_list() == [None, None]


def test_missing_inputs_and_unknown_symbols_give_nulls():
    day = dt.date(2024, 3, 6)
    events = pl.concat([_et_events(day, [dt.time(10, 0)]), _et_events(day, [dt.time(10, 0)], "ZZZ")])
    for out in (short_features(events, None, None, day), short_features(events, SI, None, day).slice(1, 1)):
        assert all(v is None for c, v in out.row(-1, named=True).items() if c != "event_id")


def _many_events() -> pl.DataFrame:
    days = cal.trading_days(dt.date(2024, 3, 11), dt.date(2024, 3, 11))
    times = [dt.time(4 + i // 4, (i * 13) % 60) for i in range(40)]
    return pl.concat(
        [_et_events(days[0], times[i::4], s) for i, s in enumerate(["ABC", "DEF", "GHI", "JKL"])]
    )


def _scaled(frame: pl.DataFrame, rows: pl.Expr) -> pl.DataFrame:
    numbers = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(
        pl.when(rows).then(pl.col(c) * 7 + 1).otherwise(pl.col(c)).alias(c) for c in numbers
    )


def _inputs(day: dt.date) -> dict:
    """Rows published before every event of ``day``, and rows published later (D's own evening)."""
    symbols = ["ABC", "DEF", "GHI", "JKL"]
    si = _si_rows(
        *(
            (s, d, 1000.0 * (i + 1) * (j + 1))
            for i, s in enumerate(symbols)
            for j, d in enumerate([dt.date(2024, 2, 15), SETTLED])
        )
    )
    prev = cal.previous_trading_day(day)
    sv = _sv_rows(*((s, d, 10.0 * (i + 1), 100.0) for i, s in enumerate(symbols) for d in (prev, day)))
    return {"short_interest": si, "short_volume": sv}


STAMPS = {"short_interest": "published_at", "short_volume": "available_at"}
REWRITES = {"short_interest": _scaled, "short_volume": _scaled}


def test_rows_published_at_or_after_ts_change_nothing_and_earlier_ones_do():
    events = _many_events()
    day = events["ts"][0].date()
    changed = assert_point_in_time(short_features, events, _inputs(day), STAMPS, REWRITES, day=day)
    assert changed == events.height


def test_a_leaky_variant_is_caught():
    """Reading each settlement from its settlement date instead of its publication: caught."""

    def leaky(events, short_interest, short_volume, day):
        early = short_interest.with_columns(
            published_at=pl.col("settlement_date").cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")
        )
        return short_features(events, early, short_volume, day)

    events = _many_events()
    day = events["ts"][0].date()
    with pytest.raises(AssertionError, match="DataFrames are different"):
        assert_point_in_time(leaky, events, _inputs(day), STAMPS, REWRITES, day=day)

"""stages/short_data.py and short_quality.py: the publication rule and the partitions' rows."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets import schemas
from smallcaps_assets.stages import short_data as sd
from smallcaps_assets.stages import short_quality as quality


def _si(ticker: str, settled: str, shares: float) -> dict:
    return {
        "ticker": ticker,
        "settlement_date": settled,
        "short_interest": shares,
        "avg_daily_volume": 100.0,
        "days_to_cover": shares / 100,
    }


@pytest.mark.parametrize(
    ("settled", "published"),
    [
        # Thursday 15 Feb 2024: Presidents Day (19 Feb) is skipped, the 8th session is Wed 28 Feb.
        (dt.date(2024, 2, 15), dt.date(2024, 2, 28)),
        # Thursday 29 Feb: 8 sessions later is Tuesday 12 Mar.
        (dt.date(2024, 2, 29), dt.date(2024, 3, 12)),
        # Friday 15 Mar: Good Friday (29 Mar) is skipped: Wednesday 27 Mar.
        (dt.date(2024, 3, 15), dt.date(2024, 3, 27)),
    ],
)
def test_publication_is_the_eighth_session_after_settlement_at_its_evening(settled, published):
    assert sd.published_on(settled) == published
    # 20:00 ET that evening: 01:00 UTC the next day in EST, 00:00 UTC after DST began (10 March).
    hour = 1 if published < dt.date(2024, 3, 10) else 0
    next_day = published + dt.timedelta(days=1)
    assert sd.published_at(published) == dt.datetime.combine(next_day, dt.time(hour), dt.UTC)


def test_partition_keeps_each_symbols_latest_row_published_before_the_day():
    rows = [
        _si("ABC", "2024-02-15", 1000),
        _si("ABC", "2024-02-29", 2000),
        _si("XYZ", "2024-02-29", 5),
        _si("x:bad", "2024-02-15", 1),
    ]
    # On 12 Mar (the 29 Feb publication day) only the 15 Feb row is public; XYZ has none yet.
    on_day = schemas.enforce(schemas.ShortInterest, sd.short_interest_frame(rows, dt.date(2024, 3, 12)))
    assert on_day.select("symbol", "short_interest").rows() == [("ABC", 1000.0)]
    # The session after, both 29 Feb rows are.
    after = sd.short_interest_frame(rows, dt.date(2024, 3, 13))
    assert after.select("symbol", "short_interest").rows() == [("ABC", 2000.0), ("XYZ", 5.0)]
    assert all(g.passed for g in quality.short_interest_gates(after, dt.date(2024, 3, 13)))


def test_the_gate_refuses_a_row_not_yet_published_or_with_another_lag():
    day = dt.date(2024, 3, 12)
    early = sd.short_interest_frame([_si("ABC", "2024-02-29", 1)], dt.date(2024, 3, 13))
    assert not quality.short_interest_gates(early, day)[0].passed
    wrong_lag = sd.short_interest_frame([_si("ABC", "2024-02-15", 1)], day).with_columns(
        published_on=pl.lit(dt.date(2024, 2, 20))
    )
    assert not quality.short_interest_gates(wrong_lag, day)[0].passed


def test_short_volume_keeps_the_sessions_rows_stamped_after_its_close():
    day = dt.date(2024, 3, 5)
    rows = [
        {
            "ticker": "ABC",
            "date": "2024-03-05",
            "short_volume": 40,
            "total_volume": 100,
            "short_volume_ratio": 40.0,
            "exempt_volume": 1,
        },
        {
            "ticker": "ABC",
            "date": "2024-03-04",
            "short_volume": 1,
            "total_volume": 100,
            "short_volume_ratio": 1.0,
            "exempt_volume": 0,
        },
    ]
    frame = schemas.enforce(schemas.ShortVolume, sd.short_volume_frame(rows, day))
    assert frame.select("symbol", "short_volume_ratio_pct").rows() == [("ABC", 40.0)]
    assert frame["available_at"].to_list() == [dt.datetime(2024, 3, 6, 1, 0, tzinfo=dt.UTC)]
    assert all(g.passed for g in quality.short_volume_gates(frame, day))
    assert not quality.short_volume_gates(frame, dt.date(2024, 3, 4))[0].passed
    empty = sd.short_volume_frame([], day)
    assert quality.short_volume_gates(empty, day)[1].passed is False

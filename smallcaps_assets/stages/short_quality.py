"""Gates of short_interest and short_volume: publication before the day, the session's own rows,
values in range (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..gates import Gate, GateResult
from .short_data import SETTLEMENT_LOOKBACK_DAYS, published_at, published_on

SI_PUBLISHED_BEFORE_DAY = Gate(
    "short_interest_published_before_day",
    "Every row was published on a session before the partition's (published_on < D) and its "
    "publication date is its settlement date plus the documented lag.",
)
SI_VALUES_IN_RANGE = Gate(
    "short_interest_values_in_range",
    "Short interest, average daily volume and days to cover are non-negative.",
    "warn",
)
SV_SESSION_ROWS = Gate(
    "short_volume_session_rows",
    "Every row is the partition's session, and its short volume is at most its total volume.",
)
SV_NOT_EMPTY = Gate("short_volume_not_empty", "The session has short volume rows.", "warn")
SHORT_INTEREST_GATES = (SI_PUBLISHED_BEFORE_DAY, SI_VALUES_IN_RANGE)
SHORT_VOLUME_GATES = (SV_SESSION_ROWS, SV_NOT_EMPTY)


def short_interest_gates(rows: pl.DataFrame, day: dt.date) -> list[GateResult]:
    expected_on = pl.col("settlement_date").map_elements(published_on, return_dtype=pl.Date)
    expected_at = (
        pl.col("published_on")
        .map_elements(published_at, return_dtype=pl.Datetime("us", "UTC"))
        .cast(pl.Datetime("ns", "UTC"))
    )
    lag_ok = (pl.col("published_on") == expected_on) & (pl.col("published_at") == expected_at)
    values = ("short_interest", "avg_daily_volume", "days_to_cover")
    oldest = day - dt.timedelta(days=SETTLEMENT_LOOKBACK_DAYS)
    return [
        SI_PUBLISHED_BEFORE_DAY.rows(
            rows,
            (pl.col("published_on") < day) & (pl.col("settlement_date") >= oldest) & lag_ok,
        ),
        SI_VALUES_IN_RANGE.rows(
            rows, pl.all_horizontal((pl.col(c).is_null() | (pl.col(c) >= 0)) for c in values)
        ),
    ]


def short_volume_gates(rows: pl.DataFrame, day: dt.date) -> list[GateResult]:
    return [
        SV_SESSION_ROWS.rows(
            rows,
            (pl.col("date") == day)
            & (pl.col("short_volume").is_null() | (pl.col("short_volume") <= pl.col("total_volume"))),
        ),
        SV_NOT_EMPTY.judge(rows.height > 0, {"rows": rows.height}),
    ]

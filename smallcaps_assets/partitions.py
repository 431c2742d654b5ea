"""The one partitions definition every daily asset shares: NYSE trading days."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg

from . import calendar as cal

DEFAULT_START = dt.date(2023, 1, 3)
# Holidays are listed well past today so that future partitions never include a closed day.
_HOLIDAY_HORIZON = dt.date(2030, 12, 31)


def partitions_start() -> dt.date:
    raw = os.environ.get("SMALLCAPS_PARTITIONS_START")
    try:
        return dt.date.fromisoformat(raw) if raw else DEFAULT_START
    except ValueError as exc:
        raise ValueError(f"SMALLCAPS_PARTITIONS_START={raw!r} is not a YYYY-MM-DD date") from exc


def build_trading_days(start: dt.date | None = None) -> dg.TimeWindowPartitionsDefinition:
    """Weekdays minus NYSE holidays (from pandas_market_calendars), America/New_York.

    ``end_offset=1`` makes today's partition exist during the session, so the evening schedule
    can materialise it.
    """
    start = start or partitions_start()
    holidays = cal.holidays(start, _HOLIDAY_HORIZON)
    return dg.TimeWindowPartitionsDefinition(
        start=start.isoformat(),
        cron_schedule="0 0 * * 1-5",
        fmt="%Y-%m-%d",
        timezone="America/New_York",
        end_offset=1,
        exclusions=[dt.datetime.combine(h, dt.time(0)) for h in holidays],
    )


trading_days = build_trading_days()


def partition_date(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def build_trading_months(start: dt.date | None = None) -> dg.MonthlyPartitionsDefinition:
    """Calendar months in America/New_York from the month of the first trading day: the event
    models' walk-forward partitions (``stages/models/splits.py`` says why monthly). The key is the
    month's first day (``2024-03-01``), as a lake folder ``date=2024-03-01``. ``end_offset=1``
    makes the current month exist, as the trading days' today."""
    start = start or partitions_start()
    return dg.MonthlyPartitionsDefinition(
        start_date=dt.date(start.year, start.month, 1).isoformat(),
        timezone="America/New_York",
        end_offset=1,
        fmt="%Y-%m-%d",
    )


trading_months = build_trading_months()

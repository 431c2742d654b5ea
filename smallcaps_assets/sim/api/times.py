"""Eastern-Time day boundaries and the timestamp units of the wire (ms for bars, ns for ticks)."""

from __future__ import annotations

import datetime as dt

from ... import calendar as cal

NY = cal.NY
NS = 1_000_000_000
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_NS = 2**63 - 1


def midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(0), tzinfo=NY)


def midnight_ms(d: dt.date) -> int:
    return int(midnight(d).timestamp()) * 1000


def midnight_ns(d: dt.date) -> int:
    return int(midnight(d).timestamp()) * NS


def et_ms(d: dt.date, hour: int) -> int:
    return int(dt.datetime.combine(d, dt.time(hour), tzinfo=NY).timestamp()) * 1000


def et_date_ms(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms // 1000, tz=NY).date()


def et_date_ns(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns // NS, tz=NY).date()


def utc_ms_text(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"

"""The NYSE trading calendar, extended hours included.

pandas_market_calendars is used because its NYSE calendar models the 04:00-20:00 ET extended session
(``start="pre", end="post"``) and half-day early closes; exchange_calendars, which it builds on, only
knows the regular session. Nothing here hand-types a holiday.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
UTC = dt.UTC

# A wide fixed span keeps one cached schedule for the whole process; PMC takes ~1 s to build it.
_CAL_START = dt.date(2000, 1, 1)
_CAL_END = dt.date(2035, 12, 31)


@dataclass(frozen=True, slots=True)
class Session:
    """One NYSE trading day with its session boundaries as UTC instants."""

    date: dt.date
    pre_open: dt.datetime  # 04:00 ET
    market_open: dt.datetime  # 09:30 ET
    market_close: dt.datetime  # 16:00 ET, 13:00 ET on early-close days
    post_close: dt.datetime  # 20:00 ET, 17:00 ET on early-close days

    @property
    def early_close(self) -> bool:
        return self.market_close.astimezone(NY).time() < dt.time(16, 0)

    def ns(self, which: str) -> int:
        """A boundary as integer nanoseconds since the epoch (the vendor's tick timestamp unit)."""
        return int(getattr(self, which).timestamp()) * 1_000_000_000


@cache
def _schedule() -> dict[dt.date, Session]:
    import pandas_market_calendars as mcal

    nyse = mcal.get_calendar("NYSE")
    frame = nyse.schedule(start_date=_CAL_START, end_date=_CAL_END, start="pre", end="post")
    sessions: dict[dt.date, Session] = {}
    for day, pre, mopen, mclose, post in zip(
        frame.index,
        frame["pre"],
        frame["market_open"],
        frame["market_close"],
        frame["post"],
        strict=True,
    ):
        d = day.date()
        sessions[d] = Session(
            date=d,
            pre_open=pre.to_pydatetime().astimezone(UTC),
            market_open=mopen.to_pydatetime().astimezone(UTC),
            market_close=mclose.to_pydatetime().astimezone(UTC),
            post_close=post.to_pydatetime().astimezone(UTC),
        )
    return sessions


@cache
def _sorted_days() -> tuple[dt.date, ...]:
    return tuple(sorted(_schedule()))


def is_trading_day(day: dt.date) -> bool:
    return day in _schedule()


def session(day: dt.date) -> Session | None:
    """The session on ``day``, or None when NYSE is closed (weekend or holiday)."""
    return _schedule().get(day)


def trading_days(start: dt.date, end: dt.date) -> list[dt.date]:
    """NYSE trading days in [start, end], both inclusive."""
    import bisect

    days = _sorted_days()
    lo = bisect.bisect_left(days, start)
    hi = bisect.bisect_right(days, end)
    return list(days[lo:hi])


def previous_trading_day(day: dt.date) -> dt.date | None:
    import bisect

    days = _sorted_days()
    i = bisect.bisect_left(days, day)
    return days[i - 1] if i > 0 else None


def sessions_before(day: dt.date, n: int) -> list[dt.date]:
    """The ``n`` NYSE sessions strictly before ``day``, oldest first (fewer at the calendar's start)."""
    import bisect

    days = _sorted_days()
    i = bisect.bisect_left(days, day)
    return list(days[max(0, i - n) : i])


def next_trading_day(day: dt.date) -> dt.date | None:
    import bisect

    days = _sorted_days()
    i = bisect.bisect_right(days, day)
    return days[i] if i < len(days) else None


def holidays(start: dt.date, end: dt.date) -> list[dt.date]:
    """Weekdays in [start, end] on which NYSE is closed, straight from the calendar package."""
    open_days = set(trading_days(start, end))
    out = []
    d = start
    while d <= end:
        if d.weekday() < 5 and d not in open_days:
            out.append(d)
        d += dt.timedelta(days=1)
    return out


def session_label(ts_utc: dt.datetime, sess: Session) -> str | None:
    """PM / RTH / AH for an instant inside the extended session, None outside it."""
    if sess.pre_open <= ts_utc < sess.market_open:
        return "PM"
    if sess.market_open <= ts_utc < sess.market_close:
        return "RTH"
    if sess.market_close <= ts_utc < sess.post_close:
        return "AH"
    return None

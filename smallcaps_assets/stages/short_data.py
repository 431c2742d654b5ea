"""short_interest and short_volume: FINRA's short data as the vendor serves it, stamped with when it
became public (pure).

**Short interest** is a position snapshot that member firms report twice a month, as of a
settlement date (the 15th and the month's last settlement day, or the business day before). Firms
file by the second business day after it; FINRA compiles the figures and releases them a week or
so later, after the close of the dissemination day (its published calendars have placed that day
on the seventh or eighth business day after the settlement date). We take the later of the two:
``published_on`` = the ``PUBLICATION_LAG_SESSIONS``-th (8th) trading session after the settlement
date, and ``published_at`` = that session's end of extended hours (20:00 ET), so a row is only
ever used from the next session on. Partition D holds, for every symbol, the latest row with
``published_on`` before D: what a researcher could have read before D's pre-market opened.

**Short volume** is FINRA's daily off-exchange short sale volume of one session, released after
that session's close. Partition D holds session D's rows with ``available_at`` = D's end of
extended hours; a feature of day D reads partition D-1.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar as cal
from .events.schema import UTC_NS
from .reference import SYMBOL_RE

# FINRA's dissemination day is 7-8 business days after settlement; 8 is the conservative end.
PUBLICATION_LAG_SESSIONS = 8
# Settlement dates asked for partition D: ~3 cycles back, so the latest row published before D
# (settled at most ~20 sessions earlier) is always inside the request.
SETTLEMENT_LOOKBACK_DAYS = 45

SHORT_INTEREST_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "settlement_date": pl.Date(),
    "published_on": pl.Date(),
    "published_at": UTC_NS,
    "short_interest": pl.Float64(),
    "avg_daily_volume": pl.Float64(),
    "days_to_cover": pl.Float64(),
}

SHORT_VOLUME_SCHEMA: dict[str, pl.DataType] = {
    "symbol": pl.String(),
    "date": pl.Date(),
    "available_at": UTC_NS,
    "short_volume": pl.Float64(),
    "exempt_volume": pl.Float64(),
    "total_volume": pl.Float64(),
    "short_volume_ratio_pct": pl.Float64(),
}


def published_on(settlement_date: dt.date) -> dt.date:
    """The trading session whose evening makes a settlement date's short interest public."""
    day = settlement_date
    for _ in range(PUBLICATION_LAG_SESSIONS):
        nxt = cal.next_trading_day(day)
        if nxt is None:
            raise ValueError(f"the calendar ends before {settlement_date}'s publication")
        day = nxt
    return day


def published_at(day: dt.date) -> dt.datetime:
    """The instant a publication of ``day`` counts as known: that session's end of extended hours."""
    sess = cal.session(day)
    if sess is None:
        raise ValueError(f"{day} is not a trading day")
    return sess.post_close


def settlement_request(day: dt.date) -> tuple[dt.date, dt.date]:
    """(gte, lte) of the settlement dates partition ``day`` asks the vendor for."""
    return day - dt.timedelta(days=SETTLEMENT_LOOKBACK_DAYS), day - dt.timedelta(days=1)


def short_interest_frame(rows: list[dict], day: dt.date) -> pl.DataFrame:
    """One row per symbol: its latest settlement published before ``day`` (vendor JSON rows in)."""
    out = []
    for r in rows:
        symbol = r.get("ticker")
        if not isinstance(symbol, str) or not SYMBOL_RE.fullmatch(symbol):
            continue
        settled = dt.date.fromisoformat(str(r["settlement_date"]))
        on = published_on(settled)
        if on >= day:
            continue  # not public before D's pre-market
        out.append(
            {
                "symbol": symbol,
                "settlement_date": settled,
                "published_on": on,
                "published_at": published_at(on),
                "short_interest": r.get("short_interest"),
                "avg_daily_volume": r.get("avg_daily_volume"),
                "days_to_cover": r.get("days_to_cover"),
            }
        )
    frame = (
        pl.DataFrame(out, schema=SHORT_INTEREST_SCHEMA) if out else pl.DataFrame(schema=SHORT_INTEREST_SCHEMA)
    )
    return frame.sort("symbol", "settlement_date").unique("symbol", keep="last", maintain_order=True)


def short_volume_frame(rows: list[dict], day: dt.date) -> pl.DataFrame:
    """Session ``day``'s rows (vendor JSON rows in; other dates dropped), one per symbol."""
    available = published_at(day)
    out = [
        {
            "symbol": r["ticker"],
            "date": day,
            "available_at": available,
            "short_volume": r.get("short_volume"),
            "exempt_volume": r.get("exempt_volume"),
            "total_volume": r.get("total_volume"),
            "short_volume_ratio_pct": r.get("short_volume_ratio"),
        }
        for r in rows
        if isinstance(r.get("ticker"), str)
        and SYMBOL_RE.fullmatch(r["ticker"])
        and str(r.get("date")) == day.isoformat()
    ]
    frame = pl.DataFrame(out, schema=SHORT_VOLUME_SCHEMA) if out else pl.DataFrame(schema=SHORT_VOLUME_SCHEMA)
    return frame.unique("symbol", keep="first", maintain_order=True).sort("symbol")

"""Market status: ``/v1/marketstatus/now`` (a bare object) and ``/v1/marketstatus/upcoming`` (a bare array)."""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache

from starlette.requests import Request

from ... import calendar as cal
from .context import SimApi
from .times import NY, utc_ms_text

log = logging.getLogger(__name__)


def market_status_now(sim: SimApi, request: Request, rid: str) -> dict:
    now = sim.now().astimezone(dt.UTC)
    et = now.astimezone(NY)
    sess = cal.session(et.date())
    state, early, after = "closed", False, False
    if sess is not None:
        if sess.market_open <= now < sess.market_close:
            state = "open"
        elif sess.pre_open <= now < sess.market_open:
            state, early = "extended-hours", True
        elif sess.market_close <= now < sess.post_close:
            state, after = "extended-hours", True
    wd = et.weekday()
    fx_closed = (wd == 4 and et.hour >= 17) or wd == 5 or (wd == 6 and et.hour < 17)
    index_state = "open" if state == "open" else "closed"
    groups = (
        "s_and_p",
        "societe_generale",
        "msci",
        "ftse_russell",
        "mstar",
        "mstarc",
        "cccy",
        "cgi",
        "nasdaq",
        "dow_jones",
    )
    return {
        "market": state,
        "earlyHours": early,
        "afterHours": after,
        "serverTime": et.replace(microsecond=0).isoformat(),
        "exchanges": {"nyse": state, "nasdaq": state, "otc": state},
        "currencies": {"fx": "closed" if fx_closed else "open", "crypto": "open"},
        "indicesGroups": dict.fromkeys(groups, index_state),
    }


def market_status_upcoming(sim: SimApi, request: Request, rid: str) -> list[dict]:
    today = sim.now().astimezone(NY).date()
    horizon = today + dt.timedelta(days=365)
    names = _holiday_names(today.year)
    events: list[tuple[dt.date, str, cal.Session | None]] = []
    for d in cal.holidays(today, horizon):
        events.append((d, names.get(d, "Market Holiday"), None))
    for d in cal.trading_days(today, horizon):
        sess = cal.session(d)
        if sess is not None and sess.early_close:
            events.append((d, names.get(d, "Early Close"), sess))
    out = []
    for d, name, sess in sorted(events, key=lambda e: e[0]):
        for exchange in ("NYSE", "NASDAQ", "OTC"):
            row = {
                "exchange": exchange,
                "name": name,
                "date": d.isoformat(),
                "status": "closed" if sess is None else "early-close",
            }
            if sess is not None:
                row["open"] = utc_ms_text(sess.market_open)
                row["close"] = utc_ms_text(sess.market_close)
            out.append(row)
    return out


_VENDOR_HOLIDAY_NAMES = (
    ("new year", "New Years Day"),
    ("luther king", "Martin Luther King, Jr. Day"),
    ("president", "Washington's Birthday"),
    ("washington", "Washington's Birthday"),
    ("good friday", "Good Friday"),
    ("memorial", "Memorial Day"),
    ("juneteenth", "Juneteenth"),
    ("july 4", "Independence Day"),
    ("independence", "Independence Day"),
    ("labor", "Labor Day"),
    ("thanksgiving", "Thanksgiving"),
    ("black friday", "Thanksgiving"),
    ("christmas", "Christmas"),
)


@lru_cache(maxsize=8)
def _holiday_names(year: int) -> dict[dt.date, str]:
    """Holiday and early-close names from pandas_market_calendars, mapped onto the vendor's wording."""
    names: dict[dt.date, str] = {}
    try:
        import pandas_market_calendars as mcal

        nyse = mcal.get_calendar("NYSE")
        start, end = f"{year}-01-01", f"{year + 2}-12-31"
        calendars = [nyse.regular_holidays] + [c for _, c in getattr(nyse, "special_closes", [])]
        for hc in calendars:
            try:
                series = hc.holidays(start=start, end=end, return_name=True)
            except Exception:
                continue
            for ts, raw in series.items():
                low = str(raw).lower()
                name = next((v for k, v in _VENDOR_HOLIDAY_NAMES if k in low), str(raw))
                names.setdefault(ts.date(), name)
    except Exception:  # the calendar package is optional for names; dates come from smallcaps_assets.calendar
        log.warning("holiday names unavailable", exc_info=True)
    return names

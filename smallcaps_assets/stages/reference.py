"""Reference stage: tickers, point-in-time shares outstanding, corporate actions.

Shares outstanding are refreshed sparsely (see ``details_plan``): the vendor is asked once per
week, on the week's first session, for every ticker of the tracked types, and again mid-week only
for tickers that split or newly listed since. Every partition's values are a function of its date
alone (the weekly anchor date is asked explicitly with ``date=``), so backfills in any order give
identical partitions; only the number of requests depends on what is already in the lake.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

import polars as pl

from .. import calendar as cal
from ..schemas import UTC_NS

SYMBOL_RE = re.compile(r"^[A-Z][A-Za-z0-9.]{0,9}$")
DETAIL_TYPES_DEFAULT = ("CS", "ADRC")


def validate_symbols(symbols: Iterable[str]) -> list[str]:
    """Refuse anything that is not a plausible vendor ticker (path characters, junk, empties)."""
    out = []
    for s in symbols:
        if not isinstance(s, str) or not SYMBOL_RE.fullmatch(s):
            raise ValueError(
                f"invalid symbol {s!r}: expected an upper-case vendor ticker such as 'ABCD', 'ABCw' or 'BRK.A'"
            )
        out.append(s)
    return out


def reference_frame(active: list[dict], delisted: list[dict]) -> pl.DataFrame:
    """One row per ticker: listed on the date (active) or already delisted (inactive)."""
    rows = []
    for src, is_active in ((active, True), (delisted, False)):
        for r in src:
            rows.append(
                {
                    "symbol": r["ticker"],
                    "name": r.get("name"),
                    "type": r.get("type"),
                    "market": r.get("market") or "stocks",
                    "primary_exchange": r.get("primary_exchange"),
                    "active": is_active,
                    "cik": r.get("cik"),
                    "composite_figi": r.get("composite_figi"),
                    "delisted_utc": r.get("delisted_utc"),
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "name": pl.String,
            "type": pl.String,
            "market": pl.String,
            "primary_exchange": pl.String,
            "active": pl.Boolean,
            "cik": pl.String,
            "composite_figi": pl.String,
            "delisted_utc": pl.String,
        },
    )
    # A ticker both listed and in the delisted list (re-used symbol) keeps its listed row.
    frame = frame.sort("symbol", "active", descending=[False, True]).unique("symbol", keep="first")
    return frame.with_columns(
        pl.col("delisted_utc").str.to_datetime(time_zone="UTC", time_unit="ns", strict=False).cast(UTC_NS)
    ).sort("symbol")


def week_anchor(day: dt.date) -> dt.date:
    """The first NYSE session of ``day``'s ISO week: the day shares are refreshed for everyone."""
    monday = day - dt.timedelta(days=day.weekday())
    sessions = cal.trading_days(monday, day)
    if not sessions:
        raise ValueError(f"{day} is not a trading day")
    return sessions[0]


def details_row(d: dict, as_of: dt.date, float_pct: float | None) -> dict:
    weighted = d.get("weighted_shares_outstanding")
    return {
        "symbol": d["ticker"],
        "type": d.get("type"),
        "as_of": as_of,
        "weighted_shares_outstanding": float(weighted) if weighted is not None else None,
        "share_class_shares_outstanding": (
            float(d["share_class_shares_outstanding"])
            if d.get("share_class_shares_outstanding") is not None
            else None
        ),
        "free_float_percent": float_pct,
        "float_shares": weighted * float_pct / 100.0
        if (weighted is not None and float_pct is not None)
        else None,
        "sic_code": d.get("sic_code"),
        "list_date": dt.date.fromisoformat(d["list_date"]) if d.get("list_date") else None,
    }


DETAILS_SCHEMA = {
    "symbol": pl.String,
    "type": pl.String,
    "as_of": pl.Date,
    "weighted_shares_outstanding": pl.Float64,
    "share_class_shares_outstanding": pl.Float64,
    "free_float_percent": pl.Float64,
    "float_shares": pl.Float64,
    "sic_code": pl.String,
    "list_date": pl.Date,
}


def details_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=DETAILS_SCHEMA).unique("symbol", keep="last").sort("symbol")


def corporate_actions_frame(splits: list[dict], dividends: list[dict], day: dt.date) -> pl.DataFrame:
    rows = [
        {
            "symbol": s["ticker"],
            "action": "split",
            "action_id": str(s.get("id") or f"split-{s['ticker']}-{s['execution_date']}"),
            "effective_date": day,
            "split_from": float(s["split_from"]),
            "split_to": float(s["split_to"]),
            "cash_amount": None,
        }
        for s in splits
        if s.get("execution_date") == day.isoformat() and s.get("split_from") and s.get("split_to")
    ]
    rows += [
        {
            "symbol": d["ticker"],
            "action": "dividend",
            "action_id": str(d.get("id") or f"div-{d['ticker']}-{d['ex_dividend_date']}"),
            "effective_date": day,
            "split_from": None,
            "split_to": None,
            "cash_amount": float(d["cash_amount"]),
        }
        for d in dividends
        if d.get("ex_dividend_date") == day.isoformat() and d.get("cash_amount") is not None
    ]
    frame = pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "action": pl.String,
            "action_id": pl.String,
            "effective_date": pl.Date,
            "split_from": pl.Float64,
            "split_to": pl.Float64,
            "cash_amount": pl.Float64,
        },
    )
    # The vendor's splits/dividends tables repeat a row now and then (the same id twice), so keep one.
    return frame.unique("action_id", keep="first").sort("symbol", "action", "action_id")

"""Corporate actions: ``/v3/reference/splits``, ``/stocks/v1/splits`` and ``/v3/reference/dividends``."""

from __future__ import annotations

import datetime as dt
import hashlib

from starlette.requests import Request

from .context import SimApi
from .filters import Filter, new_sort, sort_rows
from .params import bad, show
from .wire import native, num


def _split_id(sim: SimApi, ticker: str, d: dt.date) -> str:
    return "E" + hashlib.blake2b(f"{sim.seed}|split|{ticker}|{d}".encode(), digest_size=32).hexdigest()


def splits_v3(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    filt = Filter(q, {"ticker": "str", "execution_date": "date"}, any_of=False)
    reverse = q.bool("reverse_split", False) if q.str("reverse_split") is not None else None
    order = q.enum("order", ("asc", "desc"), "desc")
    limit = q.limit(10, 1000)
    sort = q.enum("sort", ("execution_date", "ticker"), "execution_date")
    assert sort is not None
    rows = []
    for s in sim.market.all_splits:
        row = {
            "execution_date": s.execution_date.isoformat(),
            "id": _split_id(sim, s.ticker, s.execution_date),
            "split_from": num(s.split_from),
            "split_to": num(s.split_to),
            "ticker": s.ticker,
        }
        if reverse is not None and (s.split_from > s.split_to) != reverse:
            continue
        if filt.match_row(row):
            rows.append(row)
    other = "ticker" if sort == "execution_date" else "execution_date"
    rows.sort(key=lambda r: (r[sort], r[other], r["id"]), reverse=order == "desc")
    return sim.paged(request, rid, q, rows, limit, count=False)


def splits_v1(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    filt = Filter(q, {"ticker": "str", "execution_date": "date", "adjustment_type": "str"})
    kinds = ("forward_split", "reverse_split", "stock_dividend")
    for name in ("adjustment_type", "adjustment_type.any_of"):
        for part in (q.str(name) or "").split(","):
            if part.strip() and part.strip() not in kinds:
                raise bad(f"Invalid value for {name}: {show(part)}; expected one of {', '.join(kinds)}")
    limit = q.limit(100, 5000)
    cols = (
        "adjustment_type",
        "execution_date",
        "historical_adjustment_factor",
        "id",
        "split_from",
        "split_to",
        "ticker",
    )
    spec = new_sort(q, cols, "execution_date.desc")
    rows = []
    by_ticker: dict[str, list] = {}
    for s in sim.market.all_splits:
        by_ticker.setdefault(s.ticker, []).append(s)
    for s in sim.market.all_splits:
        factor = 1.0
        for o in by_ticker[s.ticker]:
            if o.execution_date >= s.execution_date:
                factor *= o.split_from / o.split_to
        row = {
            "adjustment_type": "forward_split" if s.split_to > s.split_from else "reverse_split",
            "execution_date": s.execution_date.isoformat(),
            "historical_adjustment_factor": round(factor, 10),
            "id": _split_id(sim, s.ticker, s.execution_date),
            "split_from": num(s.split_from),
            "split_to": num(s.split_to),
            "ticker": s.ticker,
        }
        if filt.match_row(row):
            rows.append(row)
    rows = sort_rows(sorted(rows, key=lambda r: (r["ticker"], r["execution_date"])), spec)
    return sim.paged(request, rid, q, rows, limit, count=False)


def dividends_v3(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    fields = {
        "ticker": "str",
        "ex_dividend_date": "date",
        "record_date": "date",
        "declaration_date": "date",
        "pay_date": "date",
        "cash_amount": "float",
    }
    filt = Filter(q, fields, any_of=False)
    freq = q.enum("frequency", ("0", "1", "2", "4", "12", "24", "52"), None)
    dtype = q.enum("dividend_type", ("CD", "SC", "LT", "ST"), None)
    order = q.enum("order", ("asc", "desc"), "desc")
    limit = q.limit(10, 1000)
    sorts = ("ex_dividend_date", "pay_date", "declaration_date", "record_date", "cash_amount", "ticker")
    sort = q.enum("sort", sorts, "ex_dividend_date")
    assert sort is not None
    rows = []
    for d in sim.market.all_dividends:
        row = {k: d[k] for k in sorted(d)}
        if freq is not None and row["frequency"] != int(freq):
            continue
        if (dtype and row["dividend_type"] != dtype) or not filt.match_row(row):
            continue
        rows.append(native(row))
    rows.sort(key=lambda r: (r[sort], r["ticker"], r["id"]), reverse=order == "desc")
    return sim.paged(request, rid, q, rows, limit, count=False)

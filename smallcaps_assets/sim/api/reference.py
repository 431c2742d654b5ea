"""Reference data: ``/v3/reference`` tickers (list, details, types), exchanges and conditions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from starlette.requests import Request

from .. import conditions as condition_codes
from .. import reference as reference_data
from .context import SimApi
from .filters import Filter, sort_rows
from .params import ApiError, b64, valid_ticker
from .wire import native


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TICKER_TYPES = _words(
    "CS ADRC ADRP ADRR UNIT RIGHT PFD FUND SP WARRANT INDEX ETF ETN OS GDR OTHER NYRS AGEN EQLK BOND ADRW "
    "BASKET LT"
)
TICKER_SORTS = _words(
    "ticker name market locale primary_exchange type currency_symbol currency_name base_currency_symbol "
    "base_currency_name cik composite_figi share_class_figi last_updated_utc delisted_utc"
)
# Conditions the vendor flags ``legacy`` (the official conditions capture marks id 6, CAP Election).
LEGACY_TRADE_CONDITIONS = frozenset({6})


def _ticker_row(sim: SimApi, p: reference_data.TickerProfile, date: dt.date) -> dict:
    gone = sim.market.delisted_on(p)
    active = gone is None or date < gone
    row: dict = {"ticker": p.ticker, "name": p.name, "market": p.market, "locale": "us"}
    if p.primary_exchange:
        row["primary_exchange"] = p.primary_exchange
    row.update(type=p.type, active=active, currency_name="usd")
    if p.cik:
        row["cik"] = p.cik
    row.update(
        composite_figi=p.composite_figi,
        share_class_figi=p.share_class_figi,
        last_updated_utc=f"{date.isoformat()}T00:00:00Z",
    )
    if not active and gone is not None:
        row["delisted_utc"] = f"{gone.isoformat()}T00:00:00Z"
    return row


def tickers(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    date = q.date("date") or sim.market.today
    active = q.bool("active", True)
    type_ = q.enum("type", TICKER_TYPES, None)
    market = q.enum("market", ("stocks", "crypto", "fx", "otc", "indices"), None)
    exchange, cik, cusip, search = q.str("exchange"), q.str("cik"), q.str("cusip"), q.str("search")
    order = q.enum("order", ("asc", "desc"), "asc")
    limit = q.limit(100, 1000)
    sort = q.enum("sort", TICKER_SORTS, "ticker")
    assert sort is not None
    filt = Filter(q, {"ticker": "str"}, any_of=False)
    rows = []
    for p in sim.market.tickers_on(date, active):
        if (
            not filt.match("ticker", p.ticker)
            or (type_ and p.type != type_)
            or (market and p.market != market)
        ):
            continue
        if (exchange and p.primary_exchange != exchange) or (cik and p.cik != cik) or cusip:
            continue  # the simulated market has no CUSIPs, so a CUSIP filter matches nothing
        if search and search.lower() not in p.ticker.lower() and search.lower() not in p.name.lower():
            continue
        rows.append(_ticker_row(sim, p, date))
    rows = sort_rows(sorted(rows, key=lambda r: r["ticker"]), [(sort, order == "desc")])
    return sim.paged(request, rid, q, rows, limit, count=True)


def ticker_details(sim: SimApi, request: Request, rid: str) -> dict:
    ticker = valid_ticker(request.path_params["ticker"])
    date = sim.params(request).date("date")
    details = sim.market.ticker_details(ticker, date)
    if details is None:
        raise ApiError(404, "Ticker not found.", "NOT_FOUND")
    details = native(details)
    domain = details.get("homepage_url", "").removeprefix("https://").removeprefix("http://").strip("/")
    if domain:
        root = f"{str(request.base_url).rstrip('/')}/v1/reference/company-branding/{b64(domain)}/images"
        stamp = (date or sim.market.today).isoformat()
        details["branding"] = {
            "logo_url": f"{root}/{stamp}_logo.svg",
            "icon_url": f"{root}/{stamp}_icon.png",
        }
    ordered = {
        k: details[k]
        for k in details
        if k not in ("share_class_shares_outstanding", "weighted_shares_outstanding")
    }
    for k in ("share_class_shares_outstanding", "weighted_shares_outstanding"):
        if k in details:
            ordered[k] = details[k]
    return {"results": ordered, "status": "OK", "request_id": rid}


def _by_class_and_locale(
    sim: SimApi, request: Request, rid: str, rows: Callable[[], list[dict]], asset_classes: tuple[str, ...]
) -> dict:
    """A whole (unpaged) reference list, filtered by ``asset_class`` and ``locale``."""
    q = sim.params(request)
    asset_class = q.enum("asset_class", asset_classes, None)
    locale = q.enum("locale", ("us", "global"), None)
    kept = [
        r
        for r in rows()
        if (asset_class is None or r.get("asset_class") == asset_class)
        and (locale is None or r.get("locale") == locale)
    ]
    return {"results": kept, "status": "OK", "request_id": rid, "count": len(kept)}


def ticker_types(sim: SimApi, request: Request, rid: str) -> dict:
    classes = ("stocks", "options", "crypto", "fx", "indices")
    return _by_class_and_locale(sim, request, rid, reference_data.ticker_types, classes)


def exchanges(sim: SimApi, request: Request, rid: str) -> dict:
    classes = ("stocks", "options", "crypto", "fx", "futures")
    return _by_class_and_locale(sim, request, rid, reference_data.exchanges, classes)


def conditions(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    asset_class = q.enum("asset_class", ("stocks", "options", "crypto", "fx"), None)
    data_type = q.enum("data_type", ("trade", "bbo", "nbbo"), None)
    cid = q.int("id", None, 0, 10**9)
    sip = q.enum("sip", ("CTA", "UTP", "OPRA"), None)
    order = q.enum("order", ("asc", "desc"), "asc")
    limit = q.limit(10, 1000)
    sort = q.enum("sort", ("asset_class", "id", "type", "name", "data_types", "legacy"), "asset_class")
    assert sort is not None
    rows = []
    for row in condition_codes.reference_rows():
        if "trade" in row["data_types"] and row["id"] in LEGACY_TRADE_CONDITIONS:
            row = {**row, "legacy": True}
        if asset_class and row["asset_class"] != asset_class:
            continue
        if (data_type and data_type not in row["data_types"]) or (cid is not None and row["id"] != cid):
            continue
        if sip and sip not in row["sip_mapping"]:
            continue
        rows.append(row)

    def key(r: dict) -> Any:
        if sort == "data_types":
            return ",".join(r["data_types"])
        if sort == "legacy":
            return bool(r.get("legacy", False))
        return r[sort]

    rows.sort(key=key, reverse=order == "desc")
    return sim.paged(request, rid, q, rows, limit, count=True)

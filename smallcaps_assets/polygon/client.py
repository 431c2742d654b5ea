"""Async httpx client of the Polygon.io / Massive REST API (docs/vendor_api.md): the endpoints.

``PolygonClient`` is one method per endpoint over ``core.ClientCore``, which holds the contract of every
HTTP attempt (bounded concurrency, the account's shared token bucket, timeouts, retries with backoff or
``Retry-After``, the key kept out of URLs, logs and errors) and pagination. Beside it: ``params``
(argument validation), ``pages`` (envelope results, tick pages as polars frames) and ``errors``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import polars as pl
from pydantic import TypeAdapter

from . import models as m
from .core import DEFAULT_BASE_URL, RETRYABLE_STATUSES, USER_AGENT, ClientCore
from .errors import PolygonError
from .pages import TICK_PARSERS, results
from .params import (
    TIMESPANS,
    agg_bound,
    check_choice,
    check_limit,
    date_param,
    opt_date,
    tick_request,
    ticker_param,
    ticker_segment,
    utc_instant,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "USER_AGENT",
    "PolygonClient",
    "PolygonError",
]


class PolygonClient(ClientCore):
    """Async client of the vendor REST API: one method per endpoint; construction, retries and paging
    are ``ClientCore``'s (see ``core``).

    ``rate_limit_per_s``/``burst`` configure the account's shared token bucket (the newest client's
    setting wins). ``max_retries`` is the number of *re*-tries, so a request makes at most
    ``max_retries + 1`` HTTP attempts. ``max_pages`` bounds one paginated call.
    """

    def __repr__(self) -> str:
        return (
            f"PolygonClient(base_url={self.base_url!r}, mode={self.mode!r}, "
            f"rate_limit_per_s={self.rate_limit_per_s:g}, burst={self.burst}, "
            f"max_concurrency={self.max_concurrency}, max_retries={self.max_retries})"
        )

    # ------------------------------------------------------------------ aggregates
    async def grouped_daily(
        self, date: dt.date | str, adjusted: bool = False, include_otc: bool = False
    ) -> list[m.GroupedBar]:
        """The whole market's daily bars for one date (empty on holidays and weekends)."""
        day = date_param(date)
        return await self.get_all(
            f"/v2/aggs/grouped/locale/us/market/stocks/{day}",
            {"adjusted": adjusted, "include_otc": include_otc},
            m.GROUPED_BAR_LIST,
            endpoint="/v2/aggs/grouped/locale/us/market/stocks/{date}",
        )

    async def aggs(
        self,
        ticker: str,
        multiplier: int,
        timespan: str,
        start: dt.date | dt.datetime | int | str,
        end: dt.date | dt.datetime | int | str,
        adjusted: bool = False,
        sort: Literal["asc", "desc"] = "asc",
        limit: int = 50_000,
    ) -> list[m.AggBar]:
        """Bars of one ticker over ``[start, end]`` (dates, aware datetimes or epoch ms), all pages."""
        if isinstance(multiplier, bool) or not isinstance(multiplier, int) or multiplier < 1:
            raise ValueError(f"multiplier must be a positive int, got {multiplier!r}")
        check_choice(timespan, "timespan", TIMESPANS)
        check_choice(sort, "sort", ("asc", "desc"))
        path = (
            f"/v2/aggs/ticker/{ticker_segment(ticker)}/range/{multiplier}/{timespan}/"
            f"{agg_bound(start, 'start')}/{agg_bound(end, 'end')}"
        )
        return await self.get_all(
            path,
            {"adjusted": adjusted, "sort": sort, "limit": check_limit(limit, 50_000)},
            m.AGG_BAR_LIST,
            endpoint="/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}",
        )

    async def previous_close(self, ticker: str, adjusted: bool = False) -> m.GroupedBar | None:
        """The previous session's bar (``t`` = 16:00 ET), or None when there is none."""
        body = await self.get_json(
            f"/v2/aggs/ticker/{ticker_segment(ticker)}/prev",
            {"adjusted": adjusted},
            endpoint="/v2/aggs/ticker/{ticker}/prev",
        )
        rows = m.GROUPED_BAR_LIST.validate_python(results(body))
        return rows[0] if rows else None

    # ------------------------------------------------------------------ ticks
    async def trades(
        self,
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[m.Trade]:
        """Trades of one ticker (by SIP time, ns bounds inclusive, or a whole ``date``), all pages."""
        path, query, endpoint = tick_request("trades", ticker, gte_ns, lte_ns, date, limit, order)
        return await self.get_all(path, query, m.TRADE_LIST, endpoint=endpoint)

    async def quotes(
        self,
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> list[m.Quote]:
        """NBBO quotes of one ticker, same filters as ``trades``, all pages."""
        path, query, endpoint = tick_request("quotes", ticker, gte_ns, lte_ns, date, limit, order)
        return await self.get_all(path, query, m.QUOTE_LIST, endpoint=endpoint)

    async def ticks_frame(
        self,
        kind: Literal["trades", "quotes"],
        ticker: str,
        gte_ns: int | None = None,
        lte_ns: int | None = None,
        date: dt.date | str | None = None,
        limit: int = 50_000,
        order: Literal["asc", "desc"] = "asc",
    ) -> pl.DataFrame:
        """Trades or quotes as one polars frame (columns as the vendor names them), for bulk tick
        downloads. Same filters, pagination, retries and usage counters as ``trades``/``quotes``.

        Each page is parsed and type-checked straight from the response bytes by polars' JSON
        reader against the vendor schema (``models.TRADE_STRUCT``/``QUOTE_STRUCT``): a wrong type,
        a missing required field or a truncated body is a bad body and is retried. Building a
        pydantic model per print cost more CPU than the download itself at 100 requests/s."""
        check_choice(kind, "kind", ("trades", "quotes"))
        path, query, endpoint = tick_request(kind, ticker, gte_ns, lte_ns, date, limit, order)
        frames = []
        pages = self.iter_pages(path, query, endpoint=endpoint, parse=TICK_PARSERS[kind])
        try:
            async for body in pages:
                frames.append(body["frame"])
        finally:
            await pages.aclose()
        return pl.concat(frames) if len(frames) > 1 else frames[0]

    async def ticks_before(
        self, kind: Literal["trades", "quotes"], ticker: str, before_ns: int, limit: int = 100
    ) -> pl.DataFrame:
        """The last ``limit`` trades or quotes strictly before ``before_ns`` (epoch ns, SIP time),
        newest first, as one frame (columns as ``ticks_frame``): exactly one request
        (``timestamp.lt``, ``order=desc``); a ``next_url`` is not followed, since the next page
        is older still. Counted under the endpoint's template like every call."""
        check_choice(kind, "kind", ("trades", "quotes"))
        if isinstance(before_ns, bool) or not isinstance(before_ns, int) or before_ns <= 0:
            raise ValueError(f"before_ns must be a positive int (epoch ns), got {before_ns!r}")
        path, query, endpoint = tick_request(kind, ticker, None, None, None, limit, "desc")
        query["timestamp.lt"] = before_ns
        pages = self.iter_pages(path, query, endpoint=endpoint, parse=TICK_PARSERS[kind])
        try:
            body = await anext(pages)
        finally:
            await pages.aclose()
        return body["frame"]

    # ------------------------------------------------------------------ reference
    async def tickers(
        self,
        date: dt.date | str | None = None,
        active: bool = True,
        market: str | None = "stocks",
        type: str | None = None,
        limit: int = 1000,
    ) -> list[m.Ticker]:
        """Tickers that existed on ``date`` (``active=False``: delisted by then), all pages."""
        return await self.get_all(
            "/v3/reference/tickers",
            {
                "date": date_param(date) if date is not None else None,
                "active": active,
                "market": market,
                "type": type,
                "limit": check_limit(limit, 1000),
            },
            m.TICKER_LIST,
            endpoint="/v3/reference/tickers",
        )

    async def ticker_details(self, ticker: str, date: dt.date | str | None = None) -> m.TickerDetails | None:
        """Point-in-time overview; None when the vendor answers NOT_FOUND (not listed on ``date``)."""
        try:
            body = await self.get_json(
                f"/v3/reference/tickers/{ticker_segment(ticker)}",
                {"date": date_param(date) if date is not None else None},
                endpoint="/v3/reference/tickers/{ticker}",
            )
        except PolygonError as err:
            if err.vendor_status == "NOT_FOUND":
                return None
            raise
        results = body.get("results") if isinstance(body, dict) else None
        return m.TickerDetails.model_validate(results) if results else None

    async def ticker_types(
        self, asset_class: str | None = "stocks", locale: str | None = "us"
    ) -> list[m.TickerType]:
        return await self.get_all(
            "/v3/reference/tickers/types",
            {"asset_class": asset_class, "locale": locale},
            m.TICKER_TYPE_LIST,
            endpoint="/v3/reference/tickers/types",
        )

    async def exchanges(
        self, asset_class: str | None = "stocks", locale: str | None = "us"
    ) -> list[m.Exchange]:
        return await self.get_all(
            "/v3/reference/exchanges",
            {"asset_class": asset_class, "locale": locale},
            m.EXCHANGE_LIST,
            endpoint="/v3/reference/exchanges",
        )

    async def conditions(
        self, data_type: str | None = None, asset_class: str | None = "stocks", limit: int = 1000
    ) -> list[m.Condition]:
        """Condition codes (``data_type`` ``trade``, ``bbo`` or ``nbbo``; None: all), all pages."""
        if data_type is not None:
            check_choice(data_type, "data_type", ("trade", "bbo", "nbbo"))
        return await self.get_all(
            "/v3/reference/conditions",
            {"asset_class": asset_class, "data_type": data_type, "limit": check_limit(limit, 1000)},
            m.CONDITION_LIST,
            endpoint="/v3/reference/conditions",
        )

    async def splits(
        self,
        ticker: str | None = None,
        execution_date_gte: dt.date | str | None = None,
        execution_date_lte: dt.date | str | None = None,
        limit: int = 1000,
    ) -> list[m.Split]:
        """Splits (v3), optionally of one ticker and an execution-date range, all pages."""
        return await self._dated_list(
            "/v3/reference/splits", m.SPLIT_LIST, ticker, "execution_date",
            execution_date_gte, execution_date_lte, limit, 1000,
        )  # fmt: skip

    async def dividends(
        self,
        ticker: str | None = None,
        ex_dividend_date_gte: dt.date | str | None = None,
        ex_dividend_date_lte: dt.date | str | None = None,
        limit: int = 1000,
    ) -> list[m.Dividend]:
        """Cash dividends (v3), optionally of one ticker and an ex-date range, all pages."""
        return await self._dated_list(
            "/v3/reference/dividends", m.DIVIDEND_LIST, ticker, "ex_dividend_date",
            ex_dividend_date_gte, ex_dividend_date_lte, limit, 1000,
        )  # fmt: skip

    async def news(
        self,
        ticker: str | None = None,
        published_utc_gte: dt.datetime | None = None,
        published_utc_lt: dt.datetime | None = None,
        order: Literal["asc", "desc"] = "asc",
        limit: int = 1000,
    ) -> list[m.NewsArticle]:
        """News articles (``/v2/reference/news``), optionally of one ticker, published in
        ``[published_utc_gte, published_utc_lt)`` (aware datetimes, sent as RFC 3339 UTC), all pages.
        Without a ticker a whole day of the market's news is a few pages of ``limit`` 1,000."""
        check_choice(order, "order", ("asc", "desc"))
        return await self.get_all(
            "/v2/reference/news",
            {
                "ticker": ticker_param(ticker),
                "published_utc.gte": utc_instant(published_utc_gte, "published_utc_gte"),
                "published_utc.lt": utc_instant(published_utc_lt, "published_utc_lt"),
                "order": order,
                "sort": "published_utc",
                "limit": check_limit(limit, 1000),
            },
            m.NEWS_ARTICLE_LIST,
            endpoint="/v2/reference/news",
        )

    async def market_status_now(self) -> m.MarketStatusNow:
        body = await self.get_json("/v1/marketstatus/now")
        return m.MarketStatusNow.model_validate(body if isinstance(body, dict) else {})

    async def market_holidays(self) -> list[m.MarketHoliday]:
        """Upcoming holidays and early closes (the endpoint never looks backwards)."""
        body = await self.get_json("/v1/marketstatus/upcoming")
        return m.MARKET_HOLIDAY_LIST.validate_python(results(body))

    async def short_interest(
        self,
        ticker: str | None = None,
        settlement_date_gte: dt.date | str | None = None,
        settlement_date_lte: dt.date | str | None = None,
        limit: int = 50_000,
    ) -> list[m.ShortInterest]:
        """FINRA bi-monthly short interest, all pages."""
        return await self._dated_list(
            "/stocks/v1/short-interest", m.SHORT_INTEREST_LIST, ticker, "settlement_date",
            settlement_date_gte, settlement_date_lte, limit, 50_000,
        )  # fmt: skip

    async def short_volume(
        self, ticker: str | None = None, date: dt.date | str | None = None, limit: int = 50_000
    ) -> list[m.ShortVolume]:
        """FINRA daily off-exchange short volume, all pages."""
        return await self.get_all(
            "/stocks/v1/short-volume",
            {
                "ticker": ticker_param(ticker),
                "date": opt_date(date, "date"),
                "limit": check_limit(limit, 50_000),
            },
            m.SHORT_VOLUME_LIST,
            endpoint="/stocks/v1/short-volume",
        )

    async def free_float(self, ticker: str | None = None, limit: int = 5000) -> list[m.FreeFloat]:
        """Latest free float (no history), all pages."""
        return await self.get_all(
            "/stocks/vX/float",
            {"ticker": ticker_param(ticker), "limit": check_limit(limit, 5000)},
            m.FREE_FLOAT_LIST,
            endpoint="/stocks/vX/float",
        )

    async def _dated_list(
        self,
        path: str,
        adapter: TypeAdapter[list[Any]],
        ticker: str | None,
        field: str,
        gte: dt.date | str | None,
        lte: dt.date | str | None,
        limit: int,
        max_limit: int,
    ) -> list[Any]:
        """Every page of a list filtered by an optional ticker and a ``field`` date range (inclusive)."""
        query = {
            "ticker": ticker_param(ticker),
            f"{field}.gte": opt_date(gte, f"{field}_gte"),
            f"{field}.lte": opt_date(lte, f"{field}_lte"),
            "limit": check_limit(limit, max_limit),
        }
        return await self.get_all(path, query, adapter, endpoint=path)

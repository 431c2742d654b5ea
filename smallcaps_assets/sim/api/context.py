"""The state the endpoints share (``SimApi``): the market, the clock, request ids, paging and caches."""

from __future__ import annotations

import datetime as dt
import hashlib
import weakref
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request

from ... import calendar as cal
from ..config import market_fingerprint
from ..market import SimMarket
from .params import Params, unb64
from .wire import native

Handler = Callable[["SimApi", Request, str], Any]
"""An endpoint: (state, request, request id) -> the JSON body of a 200 answer; raises ``ApiError``."""


class SimApi:
    """One app's view of its market. Caches live here so they are per app (and per worker process):

    - ``bars``: a session's base bars per (ticker, day, seconds, adjusted), the 512 most recent.

    A ticker's short-interest rows (``short_interest``) and every news article (``news``) are
    cached per market instead (``_short_interest_of``, ``news_rows_of``): every asset step opens
    its own client, so its own app, on the process's one market, and one request for every ticker
    simulates each ticker's whole history (about 36,000 short-interest rows for the default market,
    1-2 s, of which a step keeps 45 days; every article of the span, about 1 s, for one day's news).
    """

    def __init__(self, market: SimMarket, clock: Callable[[], dt.datetime] | None = None):
        self.market = market
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.salt = hashlib.blake2b(market.config.model_dump_json().encode(), digest_size=16).hexdigest()
        self.seed = market.config.seed
        self.market_id = market_fingerprint(market.config)  # answered at GET /sim/market
        self.bars = lru_cache(maxsize=512)(self._bars_uncached)
        self.short_interest = _short_interest_of(market)

    def request_id(self, scope: dict) -> str:
        """32 hex characters from the market's config, method, path and sorted query (never the key)."""
        qs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = urlencode(sorted((k, v) for k, v in qs if k != "apiKey"))
        raw = f"{self.salt}|{scope.get('method', 'GET')}|{scope.get('path', '')}|{query}"
        return hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()

    def now(self) -> dt.datetime:
        t = self.clock()
        return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t

    def sessions(self, lo: dt.date, hi: dt.date) -> list[dt.date]:
        """Trading days in [lo, hi] within the market's configured range."""
        return cal.trading_days(max(lo, self.market.config.start), min(hi, self.market.config.end))

    @staticmethod
    def params(request: Request) -> Params:
        """The query, or the query stored in ``cursor`` (which then replaces every other parameter)."""
        items = request.query_params.multi_items()
        cursor = next((v for k, v in items if k == "cursor"), None)
        if cursor is None:
            return Params(items)
        return Params(parse_qsl(unb64(cursor), keep_blank_values=True), from_cursor=True)

    @staticmethod
    def next_url(request: Request, path: str, cursor: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{path}?cursor={cursor}"

    def paged(
        self, request: Request, rid: str, q: Params, rows: list[dict], limit: int, *, count: bool
    ) -> dict:
        """An offset page of fully built rows, with the vendor's envelope."""
        offset = max(0, q.marker("offset") or 0)
        page = rows[offset : offset + limit]
        body: dict = {"results": page, "status": "OK", "request_id": rid}
        if count:
            body["count"] = len(page)
        if offset + limit < len(rows):
            body["next_url"] = self.next_url(request, request.url.path, q.cursor(offset=offset + limit))
        return body

    def _bars_uncached(self, ticker: str, d: dt.date, seconds: int, adjusted: bool) -> tuple[tuple, ...]:
        df = self.market.bars(ticker, d, seconds, adjusted)
        return tuple(df.select("t", "o", "h", "l", "c", "v", "vw", "n").rows())


_NEWS: weakref.WeakKeyDictionary[SimMarket, list[dict]] = weakref.WeakKeyDictionary()


def news_rows_of(market: SimMarket, build: Callable[[SimMarket], list[dict]]) -> list[dict]:
    """The market's every article, built once by ``build`` (callers never mutate them)."""
    rows = _NEWS.get(market)
    if rows is None:
        rows = _NEWS[market] = build(market)
    return rows


_SHORT_INTEREST: weakref.WeakKeyDictionary[SimMarket, Callable[[str], tuple[dict, ...]]] = (
    weakref.WeakKeyDictionary()
)


def _short_interest_of(market: SimMarket) -> Callable[[str], tuple[dict, ...]]:
    """The market's cached ``ticker -> short-interest rows`` (JSON-ready; callers never mutate them)."""
    cached = _SHORT_INTEREST.get(market)
    if cached is None:

        def rows(ticker: str) -> tuple[dict, ...]:
            return tuple(native(r) for r in market.short_interest(ticker))

        cached = _SHORT_INTEREST[market] = lru_cache(maxsize=100_000)(rows)
    return cached

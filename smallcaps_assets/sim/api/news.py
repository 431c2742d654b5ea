"""News: ``/v2/reference/news``, one article per simulated catalyst day."""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
from starlette.requests import Request

from .. import prices
from ..market import SimMarket
from .context import SimApi, news_rows_of
from .filters import Filter
from .times import MAX_NS, NS


def _news_rows(sim: SimApi) -> list[dict]:
    """One article per catalyst day (offering days included), published 5-54 s before the
    pre-market news minute of ``prices.news_time_ns`` (so about 05:38-08:40 ET), ahead of the
    jump it causes. Newest first. Built once per market (``context.news_rows_of``)."""
    return news_rows_of(sim.market, _build_news_rows)


def _build_news_rows(market: SimMarket) -> list[dict]:
    seed = market.config.seed
    rows = []
    publisher = {
        "name": "Simulated Newswire",
        "homepage_url": "https://news.example.com/",
        "logo_url": "https://news.example.com/logo.svg",
        "favicon_url": "https://news.example.com/favicon.ico",
    }
    for p in market.profiles():
        sk = market.skeleton(p)
        for i in np.nonzero(np.asarray(sk.shape) != prices.NO_CATALYST)[0]:
            d = sk.dates[int(i)]
            h = hashlib.blake2b(f"{seed}|news|{p.ticker}|{d}".encode(), digest_size=32).hexdigest()
            # Published a few seconds before the pre-market jump it causes.
            published_ns = prices.news_time_ns(sk, int(i)) - (5 + int(h[:2], 16) % 50) * 1_000_000_000
            ts = dt.datetime.fromtimestamp(published_ns // 1_000_000_000, dt.UTC)
            url = f"https://news.example.com/{d.isoformat()}/{h[:16]}"
            rows.append(
                {
                    "id": h[:43],
                    "publisher": dict(publisher),
                    "title": f"{p.name} ({p.ticker}) shares in focus after company update",
                    "author": "Simulated Newswire",
                    "published_utc": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "article_url": url,
                    "tickers": [p.ticker],
                    "amp_url": f"{url}/amp",
                    "image_url": f"{url}/image.jpg",
                    "description": f"{p.name} released news before the open on {d.isoformat()}.",
                    "_ns": int(ts.timestamp()) * NS,
                }
            )
    rows.sort(key=lambda r: (r["_ns"], r["id"]), reverse=True)
    return rows


def news(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    tfilt = Filter(q, {"ticker": "str"}, any_of=False)
    lo, hi = q.ns_range("published_utc", 0, MAX_NS)
    order = q.enum("order", ("asc", "desc"), "desc")
    limit = q.limit(10, 1000)
    q.enum("sort", ("published_utc",), "published_utc")
    rows = [
        {k: v for k, v in r.items() if k != "_ns"}
        for r in _news_rows(sim)
        if lo <= r["_ns"] <= hi
        and (not tfilt.has("ticker") or any(tfilt.match("ticker", t) for t in r["tickers"]))
    ]
    if order == "asc":
        rows.reverse()
    return sim.paged(request, rid, q, rows, limit, count=True)

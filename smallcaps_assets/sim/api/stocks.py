"""FINRA and float data: ``/stocks/v1`` short-interest and short-volume, ``/stocks/vX/float``.

These are paged by offset over rows sorted with ``sort=col.asc,col2.desc``. When the primary sort key is
the ticker (or the date), rows are generated one group at a time and generation stops once the page is
known, so the rest of the market is never simulated for one page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from starlette.requests import Request

from .context import SimApi
from .filters import Filter, new_sort, sort_rows
from .params import Params
from .wire import native


def _lazy_sorted(
    groups: Iterable[Callable[[], list[dict]]],
    filt: Filter,
    spec: list[tuple[str, bool]],
    need: int,
) -> list[dict]:
    """Rows from groups that arrive already ordered by the primary sort key; stops once ``need`` rows
    are known (the rest of the market is never generated)."""
    out: list[dict] = []
    for make in groups:
        out.extend(sort_rows([r for r in make() if filt.match_row(r)], spec))
        if len(out) >= need:
            break
    return out


def _stocks_page(
    sim: SimApi,
    request: Request,
    rid: str,
    q: Params,
    groups: list[Callable[[], list[dict]]],
    filt: Filter,
    spec: list[tuple[str, bool]],
    limit: int,
    *,
    count: bool,
    lazy: bool,
) -> dict:
    offset = max(0, q.marker("offset") or 0)
    if lazy:
        rows = _lazy_sorted(groups, filt, spec, offset + limit + 1)
    else:
        rows = _lazy_sorted([lambda: [r for g in groups for r in g()]], filt, spec, 2**62)
    return sim.paged(request, rid, q, rows, limit, count=count)


def _tickers_for(sim: SimApi, filt: Filter, desc: bool) -> list[str]:
    names = sorted(p.ticker for p in sim.market.profiles() if filt.match("ticker", p.ticker))
    return names[::-1] if desc else names


def short_interest(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    fields = {"ticker": "str", "days_to_cover": "float", "settlement_date": "date", "avg_daily_volume": "int"}
    filt = Filter(q, fields)
    limit = q.limit(10, 50_000)
    spec = new_sort(
        q,
        ("ticker", "settlement_date", "short_interest", "avg_daily_volume", "days_to_cover"),
        "ticker.asc",
    )
    lazy = spec[0][0] == "ticker"
    groups = [lambda t=t: list(sim.short_interest(t)) for t in _tickers_for(sim, filt, lazy and spec[0][1])]
    return _stocks_page(sim, request, rid, q, groups, filt, spec, limit, count=True, lazy=lazy)


def short_volume(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    fields = {"ticker": "str", "date": "date", "short_volume_ratio": "float", "total_volume": "int"}
    filt = Filter(q, fields)
    limit = q.limit(10, 50_000)
    cols = (
        "ticker",
        "date",
        "short_volume",
        "exempt_volume",
        "non_exempt_volume",
        "total_volume",
        "short_volume_ratio",
        "nyse_short_volume",
        "nyse_short_volume_exempt",
        "nasdaq_carteret_short_volume",
        "nasdaq_carteret_short_volume_exempt",
        "nasdaq_chicago_short_volume",
        "nasdaq_chicago_short_volume_exempt",
        "adf_short_volume",
        "adf_short_volume_exempt",
    )
    spec = new_sort(q, cols, "ticker.asc")
    primary, desc = spec[0]
    tickers = _tickers_for(sim, filt, primary == "ticker" and desc)
    days = [d for d in sim.market.sessions() if d <= sim.market.today and filt.match("date", d.isoformat())]

    def rows_for(ts: list[str], ds: list[dt.date]) -> list[dict]:
        out = []
        for t in ts:
            for d in ds:
                r = sim.market.short_volume(t, d)
                if r is not None:
                    out.append(native(dict(sorted(r.items()))))
        return out

    if primary == "ticker":
        groups = [lambda t=t: rows_for([t], days) for t in tickers]
    elif primary == "date":
        ordered = days[::-1] if desc else days
        groups = [lambda d=d: rows_for(tickers, [d]) for d in ordered]
    else:
        groups = [lambda: rows_for(tickers, days)]
    return _stocks_page(sim, request, rid, q, groups, filt, spec, limit, count=True, lazy=True)


def free_float(sim: SimApi, request: Request, rid: str) -> dict:
    q = sim.params(request)
    filt = Filter(q, {"ticker": "str", "free_float_percent": "float"})
    limit = q.limit(100, 5000)
    spec = new_sort(q, ("ticker", "effective_date", "free_float", "free_float_percent"), "ticker.asc")
    lazy = spec[0][0] == "ticker"

    def one(t: str) -> list[dict]:
        r = sim.market.free_float(t)
        return [native(dict(sorted(r.items())))] if r else []

    groups = [lambda t=t: one(t) for t in _tickers_for(sim, filt, lazy and spec[0][1])]
    return _stocks_page(sim, request, rid, q, groups, filt, spec, limit, count=False, lazy=lazy)

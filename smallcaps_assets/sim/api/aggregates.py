"""Aggregates: ``/v2/aggs`` range, grouped daily and previous close; ``/v1/open-close``.

Base aggregates (what ``limit`` counts and ``queryCount`` reports) are second bars for ``timespan=second``,
minute bars for ``minute``/``hour`` and day bars for ``day`` and longer; a page reads only the sessions its
``limit`` allows. Windows are aligned to Eastern Time (see the package docstring).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator
from urllib.parse import quote

from starlette.requests import Request

from ... import calendar as cal
from .context import SimApi
from .params import ApiError, agg_bound, b64, bad, iso_date, show, valid_ticker
from .times import NY, et_date_ms, et_ms, midnight_ms
from .wire import num, px

TIMESPANS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
INTRADAY_SECONDS = {"second": 1, "minute": 60, "hour": 3600}
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_SUNDAY = dt.date(1969, 12, 28)


def _bucket_start(d: dt.date, timespan: str, mult: int) -> dt.date:
    """First calendar day of the day/week/month/quarter/year window holding session ``d``."""
    if timespan == "day":
        k = (d - _EPOCH).days
        return _EPOCH + dt.timedelta(days=k - k % mult)
    if timespan == "week":
        sunday = d - dt.timedelta(days=(d.weekday() + 1) % 7)
        k = (sunday - _EPOCH_SUNDAY).days // 7
        return _EPOCH_SUNDAY + dt.timedelta(weeks=k - k % mult)
    if timespan in ("month", "quarter"):
        months = mult * (3 if timespan == "quarter" else 1)
        idx = d.year * 12 + d.month - 1
        idx = max(idx - idx % months, 1970 * 12)
        return dt.date(idx // 12, idx % 12 + 1, 1)
    return dt.date(max(d.year - d.year % mult, 1970), 1, 1)


def _bar_json(
    row: tuple, *, ticker: str | None = None, otc: bool = False, adjusted_round: bool = False
) -> dict:
    """A bar in the vendor's key order (T, v, vw, o, c, h, l, t, n, otc)."""
    t, o, h, lo, c, v, vw, n = row
    fix = px if adjusted_round else float
    out: dict = {}
    if ticker is not None:
        out["T"] = ticker
    out["v"] = round(float(v), 4) if adjusted_round else float(v)
    if vw is not None and math.isfinite(vw):
        out["vw"] = fix(vw)
    out["o"], out["c"], out["h"], out["l"] = fix(o), fix(c), fix(h), fix(lo)
    out["t"] = int(t)
    out["n"] = int(n)
    if otc:
        out["otc"] = True
    return out


def _merge_bars(t: int, group: list[tuple]) -> tuple:
    """One bar from consecutive base bars (t, o, h, l, c, v, vw, n)."""
    if len(group) == 1 and group[0][0] == t:
        return group[0]
    v = sum(b[5] for b in group)
    pv = sum(b[5] * b[6] for b in group if b[6] is not None and math.isfinite(b[6]))
    vw = round(pv / v, 4) if v > 0 else None
    return (
        t,
        group[0][1],
        max(b[2] for b in group),
        min(b[3] for b in group),
        group[-1][4],
        v,
        vw,
        sum(int(b[7]) for b in group),
    )


def _page_bars(
    stream: Iterable[tuple[int, tuple, bool]], limit: int, desc: bool, passthrough: bool
) -> tuple[list[tuple[tuple, bool]], int, tuple[int, int] | None]:
    """Group base bars (in read order) into bars and stop at a bar boundary once ``limit`` base bars
    are used. A bar wider than ``limit`` is still returned whole when it comes first, so paging always
    progresses. ``passthrough``: every base bar is a bar (repeated bars of a data fault stay repeated).

    Returns ([(bar, needs adjusted rounding)], base bars used, next page's (bar t, first base bar t) or None).
    """
    results: list[tuple[tuple, bool]] = []
    used = 0
    key = 0
    group: list[tuple] = []
    rounded = False
    for k, bar, r in stream:
        if group and (passthrough or k != key):
            if results and used + len(group) > limit:
                return results, used, (key, group[0][0])
            results.append((_merge_bars(key, group[::-1] if desc else group), rounded))
            used += len(group)
            if used >= limit:
                return results, used, (k, bar[0])
            group = []
        if not group:
            key, rounded = k, False
        group.append(bar)
        rounded = rounded or r
    if group:
        if results and used + len(group) > limit:
            return results, used, (key, group[0][0])
        results.append((_merge_bars(key, group[::-1] if desc else group), rounded))
        used += len(group)
    return results, used, None


def _base_bars(
    sim: SimApi, ticker: str, timespan: str, mult: int, adjusted: bool, from_ms: int, to_ms: int, desc: bool
) -> Iterator[tuple[int, tuple, bool]]:
    """(bucket t, base bar, adjusted-with-a-factor) in the requested order, one session at a time."""
    if sim.market.profile(ticker) is None or from_ms > to_ms:
        return
    days = sim.sessions(et_date_ms(from_ms), et_date_ms(to_ms))
    if desc:
        days = days[::-1]
    if timespan in INTRADAY_SECONDS:
        base_s = 1 if timespan == "second" else 60
        width = mult * INTRADAY_SECONDS[timespan] * 1000
        for d in days:
            mid = midnight_ms(d)
            rounded = adjusted and sim.market.split_factor(ticker, d) != 1.0
            rows = [b for b in sim.bars(ticker, d, base_s, adjusted) if from_ms <= b[0] <= to_ms]
            for b in reversed(rows) if desc else rows:
                yield mid + (b[0] - mid) // width * width, b, rounded
        return
    for d in days:
        ms = midnight_ms(d)
        if not from_ms <= ms <= to_ms:
            continue
        bar = sim.market.daily_bar(ticker, d, adjusted)
        if bar is None:
            continue
        rounded = adjusted and sim.market.split_factor(ticker, d) != 1.0
        row = (ms, bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"], bar["n"])
        yield midnight_ms(_bucket_start(d, timespan, mult)), row, rounded


def aggs_range(sim: SimApi, request: Request, rid: str) -> dict:
    pp = request.path_params
    ticker = valid_ticker(pp["ticker"])
    mult_raw, timespan, from_raw, to_raw = pp["multiplier"], pp["timespan"], pp["from"], pp["to"]
    if not re.match(r"^\d{1,7}$", mult_raw) or not 1 <= int(mult_raw) <= 1_000_000:
        raise bad(f"Invalid value for multiplier: {show(mult_raw)}; expected an integer from 1 to 1000000")
    mult = int(mult_raw)
    if timespan not in TIMESPANS:
        raise bad(f"Invalid value for timespan: {show(timespan)}; expected one of {', '.join(TIMESPANS)}")
    from_ms, to_ms = agg_bound(from_raw, "from", end=False), agg_bound(to_raw, "to", end=True)
    q = sim.params(request)
    adjusted = q.bool("adjusted", True)
    sort = q.enum("sort", ("asc", "desc"), "asc")
    limit = q.limit(5000, 50_000)
    desc = sort == "desc"

    stream = _base_bars(sim, ticker, timespan, mult, adjusted, from_ms, to_ms, desc)
    passthrough = mult == 1 and timespan in ("second", "minute", "day")
    results, consumed, nxt = _page_bars(stream, limit, desc, passthrough)

    p = sim.market.profile(ticker)
    otc = p is not None and p.market == "otc"
    bars = [_bar_json(b, otc=otc, adjusted_round=r) for b, r in results]
    body: dict = {
        "ticker": ticker,
        "queryCount": consumed,
        "resultsCount": len(bars),
        "adjusted": adjusted,
    }
    if bars:
        body["results"] = bars
    body.update(status="OK", request_id=rid, count=len(bars))
    if nxt is not None:
        new_from, new_to = (from_raw, str(nxt[1])) if desc else (str(nxt[0]), to_raw)
        path = f"/v2/aggs/ticker/{quote(ticker)}/range/{mult}/{timespan}/{new_from}/{new_to}"
        cursor = f"limit={limit}&sort={sort}" + ("" if adjusted else "&adjusted=false")
        body["next_url"] = sim.next_url(request, path, b64(cursor))
    return body


def _daily_row(sim: SimApi, ticker: str, d: dt.date, adjusted: bool) -> dict | None:
    bar = sim.market.daily_bar(ticker, d, adjusted)
    if bar is None:
        return None
    p = sim.market.profile(ticker)
    rounded = adjusted and sim.market.split_factor(ticker, d) != 1.0
    row = (et_ms(d, 16), bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"], bar["n"])
    return _bar_json(row, ticker=ticker, otc=p is not None and p.market == "otc", adjusted_round=rounded)


def aggs_prev(sim: SimApi, request: Request, rid: str) -> dict:
    ticker = valid_ticker(request.path_params["ticker"])
    q = sim.params(request)
    adjusted = q.bool("adjusted", True)
    today = sim.now().astimezone(NY).date()
    prev = cal.previous_trading_day(today)
    if prev is None or prev > sim.market.today:
        prev = sim.market.today
    row = _daily_row(sim, ticker, prev, adjusted) if prev >= sim.market.config.start else None
    n = 1 if row else 0
    body: dict = {"ticker": ticker, "queryCount": n, "resultsCount": n, "adjusted": adjusted}
    if row:
        body["results"] = [row]
    body.update(status="OK", request_id=rid, count=n)
    return body


def aggs_grouped(sim: SimApi, request: Request, rid: str) -> dict:
    d = iso_date(request.path_params["date"], "date")
    q = sim.params(request)
    adjusted = q.bool("adjusted", True)
    include_otc = q.bool("include_otc", False)
    rows: list[dict] = []
    if cal.session(d) is not None and sim.market.config.start <= d <= sim.market.today:
        df = sim.market.grouped_daily(d, adjusted, include_otc).sort("T")
        t = et_ms(d, 16)
        for rec in df.iter_rows(named=True):
            rounded = adjusted and sim.market.split_factor(rec["T"], d) != 1.0
            row = (t, rec["o"], rec["h"], rec["l"], rec["c"], rec["v"], rec["vw"], rec["n"])
            rows.append(_bar_json(row, ticker=rec["T"], otc=bool(rec["otc"]), adjusted_round=rounded))
    body: dict = {"queryCount": len(rows), "resultsCount": len(rows), "adjusted": adjusted}
    if rows:
        body["results"] = rows
    body.update(status="OK", request_id=rid, count=len(rows))
    return body


def open_close(sim: SimApi, request: Request, rid: str) -> dict:
    ticker = valid_ticker(request.path_params["ticker"])
    d = iso_date(request.path_params["date"], "date")
    adjusted = sim.params(request).bool("adjusted", True)
    sess = cal.session(d)
    p = sim.market.profile(ticker)
    bar = sim.market.daily_bar(ticker, d, adjusted) if sess and p and d <= sim.market.today else None
    if bar is None or sess is None or p is None:
        raise ApiError(404, "Data not found.", "NOT_FOUND")
    rounded = adjusted and sim.market.split_factor(ticker, d) != 1.0
    fix = px if rounded else float
    minute = sim.bars(ticker, d, 60, adjusted)
    open_ms = int(sess.market_open.timestamp()) * 1000
    close_ms = int(sess.market_close.timestamp()) * 1000
    pre = [b for b in minute if b[0] < open_ms]
    after = [b for b in minute if b[0] >= close_ms]
    body: dict = {
        "status": "OK",
        "from": d.isoformat(),
        "symbol": ticker,
        "open": fix(bar["o"]),
        "high": fix(bar["h"]),
        "low": fix(bar["l"]),
        "close": fix(bar["c"]),
        "volume": num(round(bar["v"], 4)),
    }
    if after:
        body["afterHours"] = fix(after[-1][4])
    if pre:
        body["preMarket"] = fix(pre[0][1])
    if p.market == "otc":
        body["otc"] = True
    return body

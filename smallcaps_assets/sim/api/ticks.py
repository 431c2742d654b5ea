"""Trades and quotes: ``/v3/trades/{ticker}`` and ``/v3/quotes/{ticker}``.

``timestamp=YYYY-MM-DD`` means the ET calendar day; filters apply to ``sip_timestamp``; rows are ordered by
(``sip_timestamp``, ``sequence_number``); an empty page answers ``"results": []``. A page generates only
the minutes it needs, so its cost follows the page, not the day.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import polars as pl
from starlette.requests import Request

from ... import calendar as cal
from .context import SimApi
from .params import Params, b64, valid_ticker
from .times import NS, et_date_ns, midnight_ns
from .wire import num


def _ts_bounds(sim: SimApi, q: Params) -> tuple[int, int]:
    """The ``timestamp`` filters as an inclusive ns range, within the market's configured days."""
    lo = midnight_ns(sim.market.config.start)
    hi = midnight_ns(sim.market.config.end + dt.timedelta(days=1)) - 1
    return q.ns_range("timestamp", lo, hi)


def _tick_page(
    sim: SimApi,
    kind: str,
    ticker: str,
    lo: int,
    hi: int,
    desc: bool,
    limit: int,
    marker: tuple[int, int] | None,
) -> pl.DataFrame:
    """Up to ``limit + 1`` rows ordered by (sip_timestamp, sequence_number), generated chunk by chunk
    so the cost follows the page, not the day."""
    if marker is not None:
        lo, hi = (lo, min(hi, marker[0])) if desc else (max(lo, marker[0]), hi)
    if sim.market.profile(ticker) is None or lo > hi:
        return pl.DataFrame()
    fetch = sim.market.trades if kind == "trades" else sim.market.quotes
    need = limit + 1
    frames: list[pl.DataFrame] = []
    got = 0
    days = sim.sessions(et_date_ns(lo), et_date_ns(hi))
    for d in reversed(days) if desc else days:
        if got >= need:
            break
        if sim.market.day_plan(ticker, d) is None:
            continue
        sess = cal.session(d)
        assert sess is not None
        a, b = max(lo, sess.ns("pre_open")), min(hi, sess.ns("post_close") - 1)
        chunk = 30 * 60 * NS
        while a <= b and got < need:
            if desc:
                s, e = max(a, b - chunk + 1), b
                b = s - 1
            else:
                s, e = a, min(b, a + chunk - 1)
                a = e + 1
            chunk *= 2
            df = fetch(ticker, d, s, e)
            if df.is_empty():
                continue
            df = df.sort("sip_timestamp", "sequence_number", descending=desc)
            if marker is not None:
                sip, seq = pl.col("sip_timestamp"), pl.col("sequence_number")
                after = (
                    (sip < marker[0]) | ((sip == marker[0]) & (seq < marker[1]))
                    if desc
                    else ((sip > marker[0]) | ((sip == marker[0]) & (seq > marker[1])))
                )
                df = df.filter(after)
            frames.append(df)
            got += df.height
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames).head(need)


# Rows are built from whole columns (to_list runs in Rust) rather than iter_rows with a cast per
# cell: tick pages are the simulator's hottest path when a client downloads event windows.
def _trade_rows(df: pl.DataFrame) -> list[dict]:
    c = {name: df.get_column(name).to_list() for name in df.columns}
    out = []
    for cond, corr, ex, tid, pts, price, seq, sip, size, tape, trf_id, trf_ts in zip(
        c["conditions"], c["correction"], c["exchange"], c["id"], c["participant_timestamp"],
        c["price"], c["sequence_number"], c["sip_timestamp"], c["size"], c["tape"], c["trf_id"],
        c["trf_timestamp"], strict=True,
    ):  # fmt: skip
        r: dict = {"conditions": cond} if cond else {}
        if corr:
            r["correction"] = corr
        r["decimal_size"] = repr(float(size))
        r["exchange"] = ex
        r["id"] = tid
        r["participant_timestamp"] = pts
        r["price"] = price
        r["sequence_number"] = seq
        r["sip_timestamp"] = sip
        r["size"] = num(size)
        r["tape"] = tape
        if trf_id:
            r["trf_id"] = trf_id
        if trf_ts:
            r["trf_timestamp"] = trf_ts
        out.append(r)
    return out


def _quote_rows(df: pl.DataFrame) -> list[dict]:
    c = {name: df.get_column(name).to_list() for name in df.columns}
    out = []
    for ax, ap, asz, bx, bp, bsz, cond, ind, pts, seq, sip, tape in zip(
        c["ask_exchange"], c["ask_price"], c["ask_size"], c["bid_exchange"], c["bid_price"],
        c["bid_size"], c["conditions"], c["indicators"], c["participant_timestamp"],
        c["sequence_number"], c["sip_timestamp"], c["tape"], strict=True,
    ):  # fmt: skip
        r: dict = {
            "ask_exchange": ax,
            "ask_price": ap,
            "ask_size": num(asz),
            "bid_exchange": bx,
            "bid_price": bp,
            "bid_size": num(bsz),
        }
        if cond:
            r["conditions"] = cond
        if ind:
            r["indicators"] = ind
        r["participant_timestamp"] = pts
        r["sequence_number"] = seq
        r["sip_timestamp"] = sip
        r["tape"] = tape
        out.append(r)
    return out


def _ticks(sim: SimApi, request: Request, rid: str, kind: str) -> dict:
    ticker = valid_ticker(request.path_params["ticker"])
    q = sim.params(request)
    order = q.enum("order", ("asc", "desc"), "desc")
    limit = q.limit(1000, 50_000)
    q.enum("sort", ("timestamp",), "timestamp")
    lo, hi = _ts_bounds(sim, q)
    ap, as_ = q.marker("ap"), q.marker("as")
    marker = (ap, as_) if ap is not None and as_ is not None else None
    df = _tick_page(sim, kind, ticker, lo, hi, order == "desc", limit, marker)
    more = df.height > limit
    df = df.head(limit)
    if df.height == 0:
        rows: list[dict] = []
    else:
        rows = _trade_rows(df) if kind == "trades" else _quote_rows(df)
    body: dict = {"results": rows, "status": "OK", "request_id": rid}
    if more:
        last = rows[-1]
        state = [
            ("limit", limit),
            ("order", order),
            ("sort", "timestamp"),
            ("timestamp.gte", lo),
            ("timestamp.lte", hi),
            ("ap", last["sip_timestamp"]),
            ("as", last["sequence_number"]),
        ]
        body["next_url"] = sim.next_url(request, request.url.path, b64(urlencode(state)))
    return body


def trades(sim: SimApi, request: Request, rid: str) -> dict:
    return _ticks(sim, request, rid, "trades")


def quotes(sim: SimApi, request: Request, rid: str) -> dict:
    return _ticks(sim, request, rid, "quotes")

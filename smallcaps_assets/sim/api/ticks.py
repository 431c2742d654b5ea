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
from .wire import RawJson


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


# A page's rows are written as JSON text column by column (polars string expressions, in Rust), never
# as one Python dict per print: a busy 10-minute window is ~60k rows, and dicts plus their encoding
# were most of the simulator's serving time. Keys are in the vendor's (alphabetical) order and a key
# the vendor omits when empty or zero is omitted the same way.
def _int(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.Int64).cast(pl.String).fill_null("null")


def _float(name: str) -> pl.Expr:
    """A float as JSON: polars' shortest round-trip text, so it parses to the same double."""
    x = pl.col(name).cast(pl.Float64)
    return pl.when(x.is_finite()).then(x.cast(pl.String)).otherwise(pl.lit("null"))


def _shares(name: str) -> pl.Expr:
    """A size as the vendor prints it (``wire.num``): an integer when whole, else a float."""
    x = pl.col(name).cast(pl.Float64)
    whole = (x == x.floor()) & (x.abs() < 2.0**53)
    return pl.when(whole).then(x.cast(pl.Int64).cast(pl.String)).otherwise(_float(name))


def _codes(name: str) -> pl.Expr:
    return "[" + pl.col(name).list.eval(pl.element().cast(pl.String)).list.join(",") + "]"


def _field(key: str, value: pl.Expr, present: pl.Expr | None = None) -> pl.Expr:
    """``,"key":value``, or nothing where ``present`` is false."""
    text = pl.lit(f',"{key}":') + value
    return text if present is None else pl.when(present).then(text).otherwise(pl.lit(""))


def _nonempty(name: str) -> pl.Expr:
    return pl.col(name).list.len().fill_null(0) > 0


def _json_rows(df: pl.DataFrame, fields: list[pl.Expr]) -> RawJson:
    """The rows as one JSON array (bytes), each an object of ``fields`` in order."""
    if df.height == 0:
        return RawJson(b"[]")
    row = pl.concat_str(fields).str.slice(1)  # drop the first field's leading comma
    text = df.select(("{" + row + "}").str.join(",")).item()
    return RawJson(b"[" + text.encode() + b"]")


def _trade_rows(df: pl.DataFrame) -> RawJson:
    return _json_rows(
        df,
        [
            _field("conditions", _codes("conditions"), _nonempty("conditions")),
            _field("correction", _int("correction"), pl.col("correction").fill_null(0) != 0),
            _field("decimal_size", '"' + _float("size") + '"'),
            _field("exchange", _int("exchange")),
            _field("id", '"' + pl.col("id") + '"'),
            _field("participant_timestamp", _int("participant_timestamp")),
            _field("price", _float("price")),
            _field("sequence_number", _int("sequence_number")),
            _field("sip_timestamp", _int("sip_timestamp")),
            _field("size", _shares("size")),
            _field("tape", _int("tape")),
            _field("trf_id", _int("trf_id"), pl.col("trf_id").fill_null(0) != 0),
            _field("trf_timestamp", _int("trf_timestamp"), pl.col("trf_timestamp").fill_null(0) != 0),
        ],
    )


def _quote_rows(df: pl.DataFrame) -> RawJson:
    return _json_rows(
        df,
        [
            _field("ask_exchange", _int("ask_exchange")),
            _field("ask_price", _float("ask_price")),
            _field("ask_size", _shares("ask_size")),
            _field("bid_exchange", _int("bid_exchange")),
            _field("bid_price", _float("bid_price")),
            _field("bid_size", _shares("bid_size")),
            _field("conditions", _codes("conditions"), _nonempty("conditions")),
            _field("indicators", _codes("indicators"), _nonempty("indicators")),
            _field("participant_timestamp", _int("participant_timestamp")),
            _field("sequence_number", _int("sequence_number")),
            _field("sip_timestamp", _int("sip_timestamp")),
            _field("tape", _int("tape")),
        ],
    )


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
    rows = _trade_rows(df) if kind == "trades" else _quote_rows(df)
    body: dict = {"results": rows, "status": "OK", "request_id": rid}
    if more:
        state = [
            ("limit", limit),
            ("order", order),
            ("sort", "timestamp"),
            ("timestamp.gte", lo),
            ("timestamp.lte", hi),
            ("ap", int(df["sip_timestamp"][-1])),
            ("as", int(df["sequence_number"][-1])),
        ]
        body["next_url"] = sim.next_url(request, request.url.path, b64(urlencode(state)))
    return body


def trades(sim: SimApi, request: Request, rid: str) -> dict:
    return _ticks(sim, request, rid, "trades")


def quotes(sim: SimApi, request: Request, rid: str) -> dict:
    return _ticks(sim, request, rid, "quotes")

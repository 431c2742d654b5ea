"""Fills and exits of event signals (pure polars/numpy; docs/backtests.md#fills).

**Entry.** The order is sent at ``t0 = ts + latency`` (pushed to the reopening when ``t0`` falls in a
trading pause: nothing fills during a halt or LULD pause). It fills at the first price *published*
at or after ``t0``, never at the signal bar's close:

- from ``event_quotes`` when the event has a window: the first two-sided, uncrossed NBBO at or
  after ``t0`` (within ``quote_wait_seconds``), the ask to buy and the bid to sell short;
- otherwise from the bars: the open of the first minute bar starting at or after ``t0``, plus (buy)
  or minus (sell) a half-spread estimate.

**SSR** (Rule 201, ``ssr_status``): while it is active a short sale may not execute at or below the
national best bid, so a short entry is a limit one tick above the bid it saw; it fills at that
limit when a later quote's bid reaches it within ``ssr_wait_seconds`` (bars: when the bar trades
above it), else it is refused. No short entry below ``min_short_price``.

**Exit.** The labels' side-aware triple barrier (``labels.barrier_walk``) measured from the *fill*
price with the event's pre-event volatility (``labels.pre_event_vol``, known at ``ts``), walked over
the bars starting at or after the fill, a time exit after ``vertical_minutes`` and flat at the
session's end. A bar that opens through a barrier exits at its open: a stop inside a pause exits
at the reopening price. A time exit that falls in a pause exits at the reopening bar's open. Exits
pay the half-spread estimate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl
from pydantic import Field

from ... import calendar as cal
from ..events.params import FrozenParams
from ..events.schema import MINUTE_NS, UTC_NS
from ..labels import LabelParams, barrier_walk_matrix
from ..labels_context import trading_pauses

SECOND_NS = 1_000_000_000
REFUSALS = ("no_price", "ssr", "short_under_min_price", "size")


class FillParams(FrozenParams):
    """How orders fill and exit (docs/backtests.md)."""

    latency_seconds: float = Field(1.0, ge=0, description="orders reach the market at ts + this")
    half_spread: float = Field(0.002, ge=0, lt=0.2, description="bar fills: open x (1 +/- this)")
    quote_wait_seconds: float = Field(60.0, gt=0, description="first quote at most this after t0")
    ssr_wait_seconds: float = Field(60.0, gt=0, description="an SSR short limit waits this long")
    tick: float = Field(0.01, gt=0, description="price increment at $1 and above")
    sub_dollar_tick: float = Field(0.0001, gt=0, description="price increment below $1")
    min_short_price: float = Field(1.0, ge=0, description="no short entry below this price")
    participation: float = Field(0.10, gt=0, le=1, description="shares <= this x the fill minute's volume")
    k_pt: float = Field(LabelParams().k_pt, gt=0)
    k_sl: float = Field(LabelParams().k_sl, gt=0)
    vertical_minutes: int = Field(LabelParams().vertical_minutes, ge=1, le=240)
    flat_at: Literal["post", "regular"] = Field("post", description="flat by 20:00 ET or by 16:00 ET")
    pause_minutes: int = Field(LabelParams().pause_minutes, ge=2)


def _tick(price, p: FillParams):
    return np.where(np.asarray(price) >= 1.0, p.tick, p.sub_dollar_tick)


def _out_of_pause(frame: pl.DataFrame, col: str, pauses: pl.DataFrame) -> pl.DataFrame:
    """``col`` moved to the pause's end when it falls inside a trading pause of its symbol."""
    if pauses.is_empty():
        return frame
    joined = frame.sort(col).join_asof(
        pauses.select("symbol", "pause_start", "pause_end").sort("pause_start"),
        left_on=col,
        right_on="pause_start",
        by="symbol",
        strategy="backward",
        check_sortedness=False,  # sorted on the time column; the by-groups follow
    )
    inside = pl.col("pause_end").is_not_null() & (pl.col(col) < pl.col("pause_end"))
    return joined.with_columns(
        pl.when(inside).then(pl.col("pause_end")).otherwise(pl.col(col)).alias(col)
    ).drop("pause_start", "pause_end")


@dataclass(frozen=True)
class QuoteBook:
    """The day's usable quotes per event, prepared once for every strategy: two-sided, uncrossed
    NBBO rows outside any trading pause of their symbol, as time-sorted numpy slices."""

    book: dict  # event_id -> (t ns, bid, ask)

    @classmethod
    def build(cls, quotes: pl.DataFrame | None, pauses: pl.DataFrame) -> QuoteBook:
        if quotes is None or quotes.is_empty():
            return cls({})
        q = quotes.filter((pl.col("bid_price") > 0) & (pl.col("ask_price") >= pl.col("bid_price"))).select(
            "event_id", "symbol", t="sip_timestamp", bid="bid_price", ask="ask_price"
        )
        q = _outside_pauses(q, "t", pauses)  # no quote inside a pause is usable
        if q.is_empty():
            return cls({})
        # Each event's quotes as slices of three arrays, in time order. The rows are grouped by a
        # hash group_by of their indices and ordered by numpy on integers: a sort on the event_id
        # strings cost ten times more (and iterating a group_by per event far more still).
        rows = q.with_row_index("r").group_by("event_id").agg("r")
        lens = rows["r"].list.len().to_numpy()
        flat = rows["r"].explode().to_numpy()
        t_all = q["t"].dt.epoch("ns").to_numpy()
        order, group = flat, np.repeat(np.arange(len(lens)), lens)
        # Windows usually arrive in time order: sort only when some event's are not (stable, so
        # quotes of one event at the same instant keep their input order).
        if np.any((np.diff(t_all[flat]) < 0) & (np.diff(group) == 0)):
            order = flat[np.lexsort((t_all[flat], group))]
        t_all, bid_all, ask_all = t_all[order], q["bid"].to_numpy()[order], q["ask"].to_numpy()[order]
        ends = np.cumsum(lens)
        return cls(
            {
                eid: (t_all[b - n : b], bid_all[b - n : b], ask_all[b - n : b])
                for eid, n, b in zip(rows["event_id"].to_list(), lens.tolist(), ends.tolist(), strict=True)
            }
        )


def _outside_pauses(frame: pl.DataFrame, col: str, pauses: pl.DataFrame) -> pl.DataFrame:
    """The rows of ``frame`` whose ``col`` is in no trading pause of their symbol
    (``pause_start <= col < pause_end``). Only the paused symbols' rows are joined to their few
    pauses; the day's other rows pass untouched."""
    if pauses.is_empty() or frame.is_empty():
        return frame
    frame = frame.with_row_index("_row")
    spans = pauses.select("symbol", "pause_start", "pause_end")
    inside = (
        frame.filter(pl.col("symbol").is_in(spans["symbol"].implode()))
        .select("_row", "symbol", col)
        .join(spans, on="symbol", how="inner")
        .filter((pl.col("pause_start") <= pl.col(col)) & (pl.col(col) < pl.col("pause_end")))
    )
    return frame.filter(~pl.col("_row").is_in(inside["_row"].implode())).drop("_row")


def _quote_fills(sig: pl.DataFrame, quotes: QuoteBook, p: FillParams) -> dict:
    """event_id -> (fill_ns, price) or "ssr" for the signals whose window has a usable quote."""
    book = quotes.book
    if not book:
        return {}
    wait, ssr_wait = int(p.quote_wait_seconds * SECOND_NS), int(p.ssr_wait_seconds * SECOND_NS)
    out: dict = {}
    windowed = sig.filter(pl.col("event_id").is_in(pl.Series(list(book), dtype=pl.String).implode()))
    for eid, t0, side, ssr in windowed.select(
        "event_id", pl.col("t0").dt.epoch("ns"), "side", "ssr_active"
    ).iter_rows():
        t, bid, ask = book[eid]
        k = int(np.searchsorted(t, t0))
        if k >= len(t) or t[k] - t0 > wait:
            continue
        if side > 0:
            out[eid] = (int(t[k]), float(ask[k]))
        elif not ssr:
            out[eid] = (int(t[k]), float(bid[k]))
        else:  # Rule 201: never at or below the bid; a limit one tick above it, filled if reached
            limit = float(bid[k] + _tick(bid[k], p))
            later = np.flatnonzero((t[k:] <= t[k] + ssr_wait) & (bid[k:] >= limit - 1e-12))
            out[eid] = (int(t[k + later[0]]), limit) if len(later) else "ssr"
    return out


@dataclass(frozen=True)
class DayMarket:
    """One day's bars prepared once for every strategy: sorted with a row index, the trading
    pauses and the instant positions must be flat by."""

    bars: pl.DataFrame
    pauses: pl.DataFrame
    end_ns: int
    by_time: pl.DataFrame  # the bars sorted by ts, for the as-of joins
    sym_end: pl.DataFrame  # symbol, sym_hi: one past the symbol's last row of ``bars``
    reopen: pl.DataFrame  # symbol, due, reopen_open: the open of each pause's reopening bar

    @classmethod
    def build(cls, day: dt.date, bars: pl.DataFrame, p: FillParams = FillParams()) -> DayMarket:
        sess = cal.session(day)
        if sess is None:
            raise ValueError(f"{day} is not a trading day")
        end_ns = sess.ns("post_close" if p.flat_at == "post" else "market_close")
        bars = bars.sort("symbol", "ts").with_row_index("bar_i")
        by_time = bars.select("symbol", "bar_i", "ts", "open", "high", "volume").sort("ts")
        pauses = trading_pauses(bars, p.pause_minutes, sess.market_close)
        sym_end = bars.group_by("symbol").agg(sym_hi=pl.col("bar_i").max() + 1)
        reopen = pauses.select("symbol", due="pause_end").join(
            bars.select("symbol", due="ts", reopen_open="open"), on=["symbol", "due"], how="inner"
        )
        return cls(bars, pauses, end_ns, by_time, sym_end, reopen)


def day_fills(
    day: dt.date,
    signals: pl.DataFrame,
    bars: pl.DataFrame | DayMarket,
    quotes: pl.DataFrame | QuoteBook | None = None,
    ssr_status: pl.DataFrame | None = None,
    p: FillParams = FillParams(),
) -> pl.DataFrame:
    """One row per signal: the entry (``entry_ts``, ``entry_price``, ``entry_source``), the exit
    (``exit_ts``, ``exit_price``, ``exit_reason``), the volume of the fill's minute (or of the next
    minute that traded, ``fill_volume``) and
    ``refused`` (null, or why no trade). ``signals``: event_id, symbol, ts, side, horizon_vol (+ any
    columns, kept). ``bars``: the day's minute bars (or a ``DayMarket`` built from them);
    ``quotes``: the day's ``event_quotes`` (or a ``QuoteBook`` built from them and the pauses)."""
    market = bars if isinstance(bars, DayMarket) else DayMarket.build(day, bars, p)
    pauses = market.pauses
    lat = int(p.latency_seconds * SECOND_NS)
    sig = signals.with_columns(t0=(pl.col("ts").dt.epoch("ns") + lat).cast(UTC_NS))
    sig = _out_of_pause(sig, "t0", pauses)
    if ssr_status is not None and not ssr_status.is_empty():
        s = ssr_status.select("symbol", "active_from", "active_until")
        sig = sig.join(s, on="symbol", how="left").with_columns(
            ssr_active=(pl.col("t0") >= pl.col("active_from")) & (pl.col("t0") < pl.col("active_until"))
        )
        sig = sig.with_columns(pl.col("ssr_active").fill_null(False)).drop("active_from", "active_until")
    else:
        sig = sig.with_columns(ssr_active=pl.lit(False))
    book = quotes if isinstance(quotes, QuoteBook) else QuoteBook.build(quotes, pauses)
    quoted = _quote_fills(sig, book, p)

    # The bar path for every signal (used where no quote filled): the first bar at/after t0.
    bar_cols = market.by_time.select("symbol", "bar_i", bar_ts="ts", bar_open="open", bar_high="high")
    sig = sig.sort("t0").join_asof(
        bar_cols,
        left_on="t0",
        right_on="bar_ts",
        by="symbol",
        strategy="forward",
        check_sortedness=False,
    )
    n = sig.height
    side = sig["side"].to_numpy()
    ssr = sig["ssr_active"].to_numpy()
    b_open = sig["bar_open"].fill_null(np.nan).to_numpy()
    b_high = sig["bar_high"].fill_null(np.nan).to_numpy()
    b_ts = np.array(sig["bar_ts"].dt.epoch("ns").fill_null(0).to_numpy())  # a writable copy
    hs = p.half_spread
    # The bar path for every signal: the open +/- the half-spread; an SSR short is a limit one tick
    # above the bid estimate, filled at it when the bar trades above it.
    no_bar = np.isnan(b_open)
    short_ssr = (side < 0) & ssr
    bid_est = b_open * (1 - hs)
    limit = bid_est + _tick(np.nan_to_num(bid_est), p)
    with np.errstate(invalid="ignore"):
        ssr_fill = short_ssr & (b_high > limit)
    price = np.where(short_ssr, np.where(ssr_fill, limit, np.nan), b_open * (1 + side * hs))
    refused = np.full(n, None, dtype=object)
    refused[no_bar] = "no_price"
    refused[~no_bar & short_ssr & ~ssr_fill] = "ssr"
    source = np.full(n, "bar", dtype=object)
    # A quote from the event's window, where one was usable, replaces the bar path.
    if quoted:
        eids = sig["event_id"].to_numpy()
        for i in np.flatnonzero(sig["event_id"].is_in(pl.Series(list(quoted), dtype=pl.String).implode())):
            got = quoted[eids[i]]
            if got == "ssr":
                price[i], refused[i], source[i] = np.nan, "ssr", "bar"
            else:
                price[i], refused[i], source[i] = got[1], None, "quote"
                b_ts[i] = got[0]
    filled = ~np.isnan(price)  # NaN exactly where a refusal was set above
    fill_ts = np.where(filled, b_ts, 0)
    refused[filled & (side < 0) & (price < p.min_short_price)] = "short_under_min_price"
    sig = sig.drop("bar_i", "bar_ts", "bar_open", "bar_high").with_columns(
        entry_ts=pl.Series(fill_ts).cast(UTC_NS),
        entry_price=pl.Series(price).fill_nan(None),
        entry_source=pl.Series(source.tolist(), dtype=pl.String),
        refused=pl.Series(refused.tolist(), dtype=pl.String),
    )
    return _exits(sig, market, p)


def _exits(sig: pl.DataFrame, market: DayMarket, p: FillParams) -> pl.DataFrame:
    bars, by_time, end_ns = market.bars, market.by_time, market.end_ns
    ok = sig.filter(pl.col("refused").is_null())
    # The walk starts at the first bar starting at/after the fill (a quote fill's own minute may
    # have traded its range before the fill); the fill minute's volume caps the size.
    ok = ok.sort("entry_ts").join_asof(
        by_time.select("symbol", "bar_i", start_ts="ts"),
        left_on="entry_ts",
        right_on="start_ts",
        by="symbol",
        strategy="forward",
        check_sortedness=False,
    )
    # Participation base: the volume of the fill's minute, or of the next minute that traded when
    # the fill's had no print (a quote fill in a quiet minute).
    ok = (
        ok.with_columns(fill_minute=pl.col("entry_ts").dt.truncate("1m"))
        .sort("fill_minute")
        .join_asof(
            by_time.select("symbol", vol_ts="ts", fill_volume="volume"),
            left_on="fill_minute",
            right_on="vol_ts",
            by="symbol",
            strategy="forward",
            check_sortedness=False,
        )
        .with_columns(pl.col("fill_volume").fill_null(0.0))
        .drop("fill_minute")
    )
    ok = ok.join(market.sym_end, on="symbol", how="left")
    start = _epoch(bars, "ts")
    o, h, lo, c = (bars[col].to_numpy() for col in ("open", "high", "low", "close"))
    entry = ok["entry_price"].to_numpy()
    entry_ns = _epoch(ok, "entry_ts")
    side = ok["side"].to_numpy()
    vol = ok["horizon_vol"].fill_null(np.nan).to_numpy()
    deadline = np.minimum(entry_ns + p.vertical_minutes * MINUTE_NS, end_ns)
    first = ok["bar_i"].fill_null(-1).to_numpy().astype(np.int64)
    hi = ok["sym_hi"].fill_null(0).to_numpy().astype(np.int64)
    up = entry * (1 + np.where(side > 0, p.k_pt, p.k_sl) * vol)
    dn = entry * (1 - np.where(side > 0, p.k_sl, p.k_pt) * vol)
    k = p.vertical_minutes + 1
    idx = first[:, None] + np.arange(k)[None, :]
    valid = (first[:, None] >= 0) & (idx < hi[:, None])
    safe = np.where(valid, idx, 0)
    valid &= start[safe] + MINUTE_NS <= deadline[:, None]
    hit, price, at = barrier_walk_matrix(o[safe], h[safe], lo[safe], c[safe], valid, side, up, dn)
    bar_of = safe[np.arange(len(at)), at]
    gap = hit != "vertical"
    gap_open = gap & ((o[bar_of] >= up) | (o[bar_of] <= dn))
    exit_ns = np.where(gap_open, start[bar_of], start[bar_of] + MINUTE_NS)
    exit_ns = np.where(gap, exit_ns, deadline)
    reason = hit.astype(object)
    no_bar = ~valid.any(axis=1)
    price = np.where(no_bar, entry, price)  # filled in the session's last instant: flat at the fill
    reason[no_bar] = "session_end"
    out = ok.with_columns(
        exit_ts=pl.Series(exit_ns).cast(UTC_NS),
        raw_exit=pl.Series(price),
        exit_reason=pl.Series(reason.tolist(), dtype=pl.String),
    )
    out = _vertical_in_pause(out, market)
    out = out.with_columns(exit_price=pl.col("raw_exit") * (1 - pl.col("side") * p.half_spread)).drop(
        "raw_exit", "bar_i", "start_ts", "vol_ts", "sym_hi"
    )
    refused = sig.filter(pl.col("refused").is_not_null()).with_columns(entry_ts=None, entry_price=None)
    return pl.concat([out, refused], how="diagonal_relaxed").sort("event_id")


def _vertical_in_pause(out: pl.DataFrame, market: DayMarket) -> pl.DataFrame:
    """A time exit due inside a pause waits for the reopening bar's open."""
    if market.pauses.is_empty() or out.is_empty():
        return out
    moved = _out_of_pause(out.with_columns(due=pl.col("exit_ts")), "due", market.pauses)
    # Only a pause's end can be a moved exit's due time: join the reopening bars, not the day's.
    moved = moved.join(market.reopen, on=["symbol", "due"], how="left")
    late = (
        (pl.col("exit_reason") == "vertical")
        & (pl.col("due") > pl.col("exit_ts"))
        & pl.col("reopen_open").is_not_null()
    )
    return moved.with_columns(
        exit_ts=pl.when(late).then(pl.col("due")).otherwise(pl.col("exit_ts")),
        raw_exit=pl.when(late).then(pl.col("reopen_open")).otherwise(pl.col("raw_exit")),
        exit_reason=pl.when(late).then(pl.lit("pause_reopen")).otherwise(pl.col("exit_reason")),
    ).drop("due", "reopen_open")


def _epoch(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].dt.epoch("ns").to_numpy()

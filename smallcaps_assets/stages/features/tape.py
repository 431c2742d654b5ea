"""Tape and quote features of an event, from its downloaded window (pure polars).

Inputs: ``event_trades`` and ``event_quotes`` (1 Hz NBBO: the last quote of each second that had
one). Only the rows of the event's own ``event_id`` stamped strictly before the event's ``ts``
(``sip_timestamp < ts``) are read, so nothing printed or quoted at or after the event can move a
value: every feature is knowable at ``ts``. An event without a window (no row for its
``event_id`` in either table) gets NULL for every feature, never zero.

Why no feature can see the future: the first step keeps only rows with ``sip_timestamp < ts`` (one
rule, ``_readable``; a print or quote stamped exactly at ``ts`` may be the event's own reaction and
is left out), and every later step works on those rows alone: the standing quote is an as-of join
backwards, the volatility buckets end at ``ts``, the speed minutes end at ``ts``. The window's start
comes from the manifest, fixed before the window was fetched. ``tape_input_ts`` carries the latest
stamp read, so the asset's gate re-checks it. The look-ahead test rewrites every row at or after
``ts`` for 60 events and gets identical features; rewriting rows before ``ts`` changes every one.

An event *with* a window but without the rows a feature needs gets NULL for ratios, shares,
spreads and volatility, and a true 0 for counts (crossed/locked, one-sided) and tape speed (no print
in a covered minute is a speed of 0).

Windows. The *lookback* is ``[ts - 5 min, ts)``, cut at the window's start when ``events`` has a
``window_start`` column (the manifest's); the default window starts 3 minutes before ``ts``, so in
practice it is "everything in the window before ``ts``". Without ``window_start`` the window is
assumed to cover the lookback. All parameters are in ``TapeParams``.

Which prints count (the vendor's condition rules, ``stages/trade_rules.py``, intraday variant):
*priced* trades are those eligible to update the last price (open/close): their price is a market
price, so they alone are signed and feed the volatility. *Counted* trades are those eligible for
volume: they feed tape speed, large-print and odd-lot shares (odd-lot prints do not update the last
price but are real volume). Corrected or cancelled prints (``correction != 0``) are in neither.

Quotes. A quote is *usable* when both sides are present (bid > 0 and ask > 0) and ask > bid;
crossed (bid > ask) and locked (bid == ask) quotes and one-sided quotes are skipped for every quote
feature and counted. Crossed/locked are judged from the prices (the same rule as the downloader's
flags), so the columns ``crossed``/``locked`` are not needed.

Features (one row per event):

- ``quote_spread_mean_bps``, ``quote_spread_median_bps``: (ask - bid) / mid x 10,000 over the usable
  1 Hz rows in the lookback (one sample per second that saw a quote update, not time-weighted).
- ``quote_spread_at_event_bps``: the same for the NBBO standing at ``ts``, the last quote row
  before ``ts`` (any age); NULL if that quote is not usable.
- ``quote_crossed_locked_count``, ``quote_one_sided_count``: skipped 1 Hz rows in the lookback.
- ``quote_imbalance_at_event_ratio``: (bid_size - ask_size) / (bid_size + ask_size) of the standing
  quote, in [-1, 1] (NULL if not usable); ``quote_imbalance_mean_ratio``: its mean over the usable
  rows of the lookback.
- ``tape_trade_imbalance_ratio``: signed volume / volume of the priced trades in the lookback, in
  [-1, 1]. Signing rule (Lee-Ready without delay): against the NBBO standing just before the trade
  (the last 1 Hz row stamped strictly earlier, as-of join): price above the mid is a buy (+1), below
  a sell (-1). At the mid, or without a usable standing quote, the tick rule decides: the sign of
  the change from the previous different priced price of the event (earlier window rows count);
  a trade with no earlier different price stays unsigned (0: in the volume, not in the signed
  volume). The 1 Hz rows keep the last quote of a second, so a trade made before a later quote of
  its own second is compared with the previous second's last quote.
- ``tape_flow_in_direction_ratio``: ``tape_trade_imbalance_ratio`` times the event's ``direction``
  (+1 up, -1 down): the order flow *with* the move, in [-1, 1], side-adjusted like the labels
  (buying before an up event and selling before a down event both read positive), so one split
  serves both sides instead of the trees having to learn the interaction with ``direction``. NULL
  when the imbalance is or when ``events`` has no ``direction``.
- ``tape_trade_count_imbalance_ratio``: the same signs counted, not weighted by size: (buys -
  sells) / priced trades in the lookback, in [-1, 1]. Who initiates the prints, whatever their size:
  one block print moves the volume measure as much as a hundred small ones, so the count measure
  reads a crowd leaning one way with less noise (NULL with no priced trade in the lookback).
- ``tape_flow_count_in_direction_ratio``: ``tape_trade_count_imbalance_ratio`` times the event's
  ``direction``, side-adjusted like ``tape_flow_in_direction_ratio``.
- ``tape_quote_signed_pct``: share of the lookback's priced trades signed by the quote test (not at
  the mid, with a usable quote), in percent.
- ``tape_speed_tps``: counted trades per second over ``[ts - 60 s, ts)``;
  ``tape_speed_change_tps``: that rate minus the rate over ``[ts - 120 s, ts - 60 s)`` (a difference,
  not a ratio: a quiet prior minute would make a ratio explode). Each rate divides by the part of its
  minute the window covers; NULL when it covers none of it.
- ``tape_large_print_volume_pct``: share of counted volume in the lookback in prints of
  >= 10,000 shares or >= $200,000 notional (the classic block definition), in percent.
- ``tape_odd_lot_print_pct``: share of counted prints in the lookback with size < 100 shares, in
  percent (a count share, not volume).
- ``tape_realised_vol_10s_bps``: standard deviation (ddof 1) of 10-second log returns of the priced
  trade price, in bps, not annualised. The lookback is cut into 10-second buckets ending at ``ts``;
  each bucket's price is its last priced trade, carried forward through buckets without one (return
  0). Returns run from the first bucket with a trade to the bucket ending at ``ts``; NULL with
  fewer than two returns. (The column names say 10 s and, for speed, a minute: the defaults of
  ``TapeParams``.)
- ``tape_input_ts``: the latest ``sip_timestamp`` among the quote rows and the priced or counted
  trades read (all before ``ts``); NULL when none was.

Speed: all events of a day in one pass (integer-keyed joins and group-bys, no per-event Python);
``bench.features_tape`` measures it in windows per second.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ..events.schema import UTC_NS
from ..trade_rules import with_eligibility

NS = 1_000_000_000


@dataclass(frozen=True)
class TapeParams:
    lookback_s: int = 300  # the lookback: 5 minutes before ts (or since the window start)
    speed_window_s: int = 60  # tape speed: the last minute, compared with the one before
    vol_bucket_s: int = 10  # realised volatility: 10-second returns
    large_print_shares: float = 10_000.0  # a large print: this many shares ...
    large_print_usd: float = 200_000.0  # ... or this much notional
    odd_lot_shares: float = 100.0  # an odd lot: fewer shares than this

    def __post_init__(self) -> None:
        if min(self.lookback_s, self.speed_window_s, self.vol_bucket_s) <= 0:
            raise ValueError("lookback_s, speed_window_s and vol_bucket_s must be > 0")


# The family's output: name -> dtype, in order (event_id first, tape_input_ts last).
TAPE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "quote_spread_mean_bps": pl.Float64(),
    "quote_spread_median_bps": pl.Float64(),
    "quote_spread_at_event_bps": pl.Float64(),
    "quote_crossed_locked_count": pl.Int64(),
    "quote_one_sided_count": pl.Int64(),
    "quote_imbalance_at_event_ratio": pl.Float64(),
    "quote_imbalance_mean_ratio": pl.Float64(),
    "tape_trade_imbalance_ratio": pl.Float64(),
    "tape_flow_in_direction_ratio": pl.Float64(),
    "tape_trade_count_imbalance_ratio": pl.Float64(),
    "tape_flow_count_in_direction_ratio": pl.Float64(),
    "tape_quote_signed_pct": pl.Float64(),
    "tape_speed_tps": pl.Float64(),
    "tape_speed_change_tps": pl.Float64(),
    "tape_large_print_volume_pct": pl.Float64(),
    "tape_odd_lot_print_pct": pl.Float64(),
    "tape_realised_vol_10s_bps": pl.Float64(),
    "tape_input_ts": UTC_NS,
}
# Counts of an event with a window are true zeros when nothing was seen.
_ZERO_WITH_WINDOW = ("quote_crossed_locked_count", "quote_one_sided_count")

_sip, _ts, _lb = pl.col("sip_timestamp"), pl.col("ts"), pl.col("lookback_start")
# What may be read of an event's rows: those stamped strictly before its ts (the only rule of time).
_readable = _sip < _ts
# Rows are keyed by the event's row number inside the function: integer joins, sorts and groups
# are several times faster than on the long event_id strings.
KEY = "event_row"


def _event_frame(events: pl.DataFrame, params: TapeParams) -> pl.DataFrame:
    """event_id, ts, the window's start (null if unknown), the event's direction (null if not
    given) and the lookback's start."""
    start = pl.col("window_start").cast(UTC_NS) if "window_start" in events.columns else pl.lit(None, UTC_NS)
    direction = (
        pl.col("direction").cast(pl.Float64) if "direction" in events.columns else pl.lit(None, pl.Float64)
    )
    return events.select(
        pl.col("event_id").cast(pl.String),
        _ts.cast(UTC_NS),
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(KEY),
        window_start=start,
        event_direction=direction,
    ).with_columns(
        lookback_start=pl.max_horizontal(_ts - pl.duration(seconds=params.lookback_s), "window_start")
    )


def _before_ts(rows: pl.DataFrame, ev: pl.DataFrame) -> pl.DataFrame:
    """The event's rows stamped strictly before its ts, with ts and the lookback's start."""
    # rechunk: a frame concatenated from per-window frames holds one chunk per window, which made
    # this join ~10x slower on 2,000 windows
    return (
        rows.rechunk()
        .with_columns(pl.col("event_id").cast(pl.String), _sip.cast(UTC_NS))
        .join(ev.select("event_id", KEY, "ts", "window_start", "lookback_start"), on="event_id", how="inner")
        .filter(_readable)
        .drop("event_id")
    )


def _quote_rows(quotes: pl.DataFrame, ev: pl.DataFrame) -> pl.DataFrame:
    cols = ["event_id", "sip_timestamp", "bid_price", "bid_size", "ask_price", "ask_size"]
    bid, ask = pl.col("bid_price"), pl.col("ask_price")
    two_sided = (bid > 0) & (ask > 0)
    usable = two_sided & (ask > bid)
    depth = pl.col("bid_size") + pl.col("ask_size")
    return (
        _before_ts(quotes.select(cols), ev)
        .with_columns(
            usable=usable,
            one_sided=~two_sided,
            crossed_locked=two_sided & (ask <= bid),
            mid=pl.when(usable).then((bid + ask) / 2),
        )
        .with_columns(
            spread_bps=(ask - bid) / pl.col("mid") * 1e4,
            imbalance=pl.when(usable & (depth > 0)).then((pl.col("bid_size") - pl.col("ask_size")) / depth),
        )
    )


def _quote_features(q: pl.DataFrame) -> pl.DataFrame:
    in_lb = _sip >= _lb
    lookback = q.group_by(KEY).agg(
        quote_spread_mean_bps=pl.col("spread_bps").filter(in_lb).mean(),
        quote_spread_median_bps=pl.col("spread_bps").filter(in_lb).median(),
        quote_crossed_locked_count=pl.col("crossed_locked").filter(in_lb).sum().cast(pl.Int64),
        quote_one_sided_count=pl.col("one_sided").filter(in_lb).sum().cast(pl.Int64),
        quote_imbalance_mean_ratio=pl.col("imbalance").filter(in_lb).mean(),
        # the standing quote at ts: the last row before ts (q is sorted by time)
        quote_spread_at_event_bps=pl.col("spread_bps").last(),
        quote_imbalance_at_event_ratio=pl.col("imbalance").last(),
        quote_last_ts=_sip.max(),
    )
    return lookback


def _signed(priced: pl.DataFrame, q: pl.DataFrame) -> pl.DataFrame:
    """Priced trades (sorted by event, time) with ``sign`` (+1 buy, -1 sell, 0 unsigned) and
    ``by_quote`` (the quote test decided)."""
    # both sides sorted by (event, time): sorted by time within each event, as the join needs
    standing = q.select(KEY, "sip_timestamp", "mid")
    t = priced.join_asof(
        standing,
        on="sip_timestamp",
        by=KEY,
        strategy="backward",
        allow_exact_matches=False,  # a quote stamped with the trade may be its consequence
        check_sortedness=False,
    )
    price, mid = pl.col("price"), pl.col("mid")
    step = price - price.shift(1).over(KEY)
    t = t.with_columns(
        quote_sign=pl.when(price > mid).then(1).when(price < mid).then(-1),
        tick=pl.when(step != 0).then(step.sign()),
    )
    # a zero tick carries the sign of the last non-zero one
    tick = pl.col("tick").forward_fill().over(KEY)
    return t.with_columns(
        sign=pl.coalesce("quote_sign", tick, 0).cast(pl.Float64),
        by_quote=pl.col("quote_sign").is_not_null(),
    )


def _realised_vol(priced_lb: pl.DataFrame, bucket_s: int) -> pl.DataFrame:
    """Std of ``bucket_s`` log returns on the grid of buckets ending at ts (see the module doc)."""
    width = bucket_s * NS
    # bucket 0 = [ts - width, ts), 1 the one before, ...
    back = ((_ts - _sip).dt.total_nanoseconds() - 1) // width
    last = (
        priced_lb.with_columns(bucket=back)
        .group_by(KEY, "bucket")
        .agg(pl.col("price").last())  # rows are in time order within an event
        .sort(KEY, pl.col("bucket"), descending=[False, True])
    )
    r = (pl.col("price") / pl.col("price").shift(1)).log()  # within the event (agg context)
    m = pl.col("bucket").max().cast(pl.Float64)  # returns on the grid: buckets m-1 .. 0
    s1, s2 = r.sum(), (r * r).sum()
    var = ((s2 - s1 * s1 / m) / (m - 1)).clip(lower_bound=0.0)
    return last.group_by(KEY).agg(tape_realised_vol_10s_bps=pl.when(m >= 2).then(var.sqrt() * 1e4))


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    """sum(part) / sum(whole), null (not NaN) when the whole is empty or zero."""
    return pl.when(whole.sum() > 0).then(part.sum() / whole.sum())


def _trade_features(t: pl.DataFrame, q: pl.DataFrame, params: TapeParams) -> pl.DataFrame:
    in_lb = _sip >= _lb
    used = t.filter(pl.col("upd_oc") | pl.col("upd_vol"))  # corrected prints feed nothing
    priced = _signed(t.filter(pl.col("upd_oc")), q)
    size = pl.col("size")
    signing = priced.group_by(KEY).agg(
        tape_trade_imbalance_ratio=_share((pl.col("sign") * size).filter(in_lb), size.filter(in_lb)),
        tape_trade_count_imbalance_ratio=pl.col("sign").filter(in_lb).cast(pl.Float64).mean(),
        tape_quote_signed_pct=pl.col("by_quote").filter(in_lb).mean() * 100,
    )
    vol = _realised_vol(priced.filter(in_lb), params.vol_bucket_s)

    large = (size >= params.large_print_shares) | (size * pl.col("price") >= params.large_print_usd)
    w = pl.duration(seconds=params.speed_window_s)
    counted = (
        t.filter(pl.col("upd_vol"))
        .group_by(KEY)
        .agg(
            tape_large_print_volume_pct=_share(size.filter(in_lb & large), size.filter(in_lb)) * 100,
            tape_odd_lot_print_pct=(size < params.odd_lot_shares).filter(in_lb).mean() * 100,
            last_minute_n=(_sip >= _since(_ts - w)).sum(),
            prior_minute_n=((_sip >= _since(_ts - 2 * w)) & (_sip < _ts - w)).sum(),
        )
    )
    return (
        signing.join(vol, on=KEY, how="full", coalesce=True)
        .join(counted, on=KEY, how="full", coalesce=True)
        .join(used.group_by(KEY).agg(trade_last_ts=_sip.max()), on=KEY, how="full", coalesce=True)
    )


def _since(lo: pl.Expr) -> pl.Expr:
    """``lo``, or the window's start when that is later (and known)."""
    return pl.max_horizontal(lo, "window_start")


def _covered_s(lo: pl.Expr, hi: pl.Expr) -> pl.Expr:
    """Seconds of [lo, hi) the window covers (it starts at window_start when known); null if none."""
    span = (hi - _since(lo)).dt.total_nanoseconds() / NS
    return pl.when(span > 0).then(span)


def tape_features(
    events: pl.DataFrame, trades: pl.DataFrame, quotes: pl.DataFrame, params: TapeParams = TapeParams()
) -> pl.DataFrame:
    """One row per event of ``events`` (event_id, ts, optional window_start), in its order, with the
    columns of ``TAPE_SCHEMA``; see the module docstring for each feature."""
    if events["event_id"].n_unique() != events.height:
        raise ValueError("events must hold each event_id once (one feature row per event)")
    ev = _event_frame(events, params)
    has_window = pl.concat(
        [trades.select(pl.col("event_id").cast(pl.String)), quotes.select(pl.col("event_id").cast(pl.String))]
    ).unique()
    q = _quote_rows(quotes, ev).sort(KEY, "sip_timestamp")
    t = with_eligibility(
        _before_ts(
            trades.select(
                "event_id", "sip_timestamp", "sequence_number", "price", "size", "conditions", "correction"
            ),
            ev,
        ),
        daily=False,
    ).sort(KEY, "sip_timestamp", "sequence_number")

    w = pl.duration(seconds=params.speed_window_s)
    last_rate = pl.col("last_minute_n").fill_null(0) / _covered_s(_ts - w, _ts)
    prior_rate = pl.col("prior_minute_n").fill_null(0) / _covered_s(_ts - 2 * w, _ts - w)
    window = pl.col("event_id").is_in(has_window["event_id"].implode())
    out = (
        ev.join(_quote_features(q), on=KEY, how="left")
        .join(_trade_features(t, q, params), on=KEY, how="left")
        .with_columns(
            *(pl.col(c).fill_null(0) for c in _ZERO_WITH_WINDOW),
            tape_speed_tps=last_rate,
            tape_speed_change_tps=last_rate - prior_rate,
            tape_flow_in_direction_ratio=pl.col("tape_trade_imbalance_ratio") * pl.col("event_direction"),
            tape_flow_count_in_direction_ratio=pl.col("tape_trade_count_imbalance_ratio")
            * pl.col("event_direction"),
            tape_input_ts=pl.max_horizontal("quote_last_ts", "trade_last_ts"),
        )
    )
    # no window: every feature null, counts included
    features = [c for c in TAPE_SCHEMA if c != "event_id"]
    return out.select(
        "event_id", *(pl.when(window).then(pl.col(c)).cast(TAPE_SCHEMA[c]).alias(c) for c in features)
    )

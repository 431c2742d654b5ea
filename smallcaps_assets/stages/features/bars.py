"""Bar and context features of every event (family ``bars``), from the day's minute bars up to the
event and the daily bars of the sessions before it.

Knowable bars: a minute bar (``ts`` = its start) is known at its close, ``ts + 1 min``, so an event
at ``ts`` reads the bars with ``start + 1 min <= ts`` of its symbol and trading day; "last price"
is the close of the latest of them. Every running quantity (sums, maxima, last values) is taken at
that bar, so no bar that closes after ``ts`` can change a feature. Daily inputs are sessions
before the event's day D only: the prior close (the universe's, else the previous session's daily
bar) and ATR14, both in D's share units (a split executed on D rescales them by D's
``split_ratio``, which is announced before D's open; D's own prices are never read). Percentages
are in percent (5.0 = 5%). A feature whose inputs are missing is null, never zero; an event
without a knowable bar (its symbol has not traded yet today) has null price features.

Features (unit, window):

* ``vwap_distance_pct``: last price / session VWAP - 1, VWAP = sum(bar price x volume) / volume
  over the day's bars from 04:00 ET (bar price = the bar's vwap, else (high + low + close) / 3).
* ``vwap_rth_distance_pct``: the same against the VWAP anchored at 09:30 ET (bars from the open;
  null until an RTH bar is knowable).
* ``rvol_tod_ratio``: volume so far today (04:00 ET to ``ts``) / the time-of-day baseline summed
  over the same minutes (``events.baselines`` of the prior sessions' minute bars), the baseline
  floored at ``baseline_floor`` shares a minute as the in-play filter does: at the event's own bar
  it equals the event's ``rvol_so_far``. Null without a baseline of ``min_baseline_days`` days.
* ``gap_pct``: RTH open (open of the first bar from 09:30) / prior close - 1; null before that bar
  is knowable or without a prior close.
* ``premarket_change_pct``: last pre-market close / prior close - 1 (null without a pre-market bar).
* ``premarket_volume_shares``: volume of the knowable pre-market bars (04:00-09:30 ET; 0 when the
  symbol traded only after the open).
* ``premarket_high_distance_pct``: last price / pre-market high - 1 (null without a pre-market bar).
* ``runup_from_open_pct``: last price / RTH open - 1.
* ``move_from_prior_close_atr``: (last price - prior close) / ATR14, in ATRs; ATR14 = the mean
  true range (high/low against the previous close) of the last ``atr_sessions`` sessions before
  D, split-adjusted into D's units; null with fewer than ``atr_min_sessions`` sessions.
* ``hod_distance_pct`` / ``lod_distance_pct``: last price / the high (low) of the day so far
  (04:00 ET to ``ts``, pre-market included) - 1.
* ``minutes_since_open_min``: (``ts`` - 09:30 ET) in minutes, negative in the pre-market.
* ``event_session``: PM / RTH / AH, copied from the event.
* ``price_tier``: the bucket of the last price: ``<1``, ``1-2``, ``2-5``, ``5-10``, ``10-20``,
  ``>=20`` (dollars; bounds in ``BarParams.price_tiers``, lower bound inclusive).
* ``bars_input_ts``: the latest input instant: the last knowable bar's close, the prior session's
  close for the daily inputs, its 20:00 ET post-close for the baseline.
"""

from __future__ import annotations

import datetime as dt
import itertools

import polars as pl
from pydantic import Field

from ... import calendar as cal
from ..daily import adjust_as_of
from ..events.params import FrozenParams, InPlayParams, IntradaySettings
from ..ssr import prior_close_today_units
from .days import MINUTE_NS, UTC_NS, close_instant, per_day


class BarParams(FrozenParams):
    atr_sessions: int = Field(14, ge=1, description="sessions in the ATR")
    atr_min_sessions: int = Field(5, ge=1, description="fewer prior sessions give a null ATR")
    # the in-play filter's floor and the detectors' baseline history: rvol_tod_ratio = rvol_so_far
    baseline_floor: float = Field(
        InPlayParams().baseline_floor, ge=0, description="baseline so far >= this x minutes (shares)"
    )
    min_baseline_days: int = Field(
        IntradaySettings().min_baseline_days, ge=1, description="days a baseline needs to be used"
    )
    price_tiers: tuple[float, ...] = Field((1.0, 2.0, 5.0, 10.0, 20.0), min_length=1)


BAR_FEATURES: dict[str, pl.DataType] = {
    "vwap_distance_pct": pl.Float64(),
    "vwap_rth_distance_pct": pl.Float64(),
    "rvol_tod_ratio": pl.Float64(),
    "gap_pct": pl.Float64(),
    "premarket_change_pct": pl.Float64(),
    "premarket_volume_shares": pl.Float64(),
    "premarket_high_distance_pct": pl.Float64(),
    "runup_from_open_pct": pl.Float64(),
    "move_from_prior_close_atr": pl.Float64(),
    "hod_distance_pct": pl.Float64(),
    "lod_distance_pct": pl.Float64(),
    "minutes_since_open_min": pl.Float64(),
    "event_session": pl.String(),
    "price_tier": pl.String(),
    "bars_input_ts": UTC_NS,
}


def price_tier(price: pl.Expr, bounds: tuple[float, ...]) -> pl.Expr:
    """The documented bucket label of ``price``: ``<b0``, ``b0-b1``, ..., ``>=bn`` (null price: null)."""

    def fmt(x: float) -> str:
        return f"{x:g}"

    expr = pl.when(price < bounds[0]).then(pl.lit(f"<{fmt(bounds[0])}"))
    for lo, hi in itertools.pairwise(bounds):
        expr = expr.when(price < hi).then(pl.lit(f"{fmt(lo)}-{fmt(hi)}"))
    return expr.when(price.is_not_null()).then(pl.lit(f">={fmt(bounds[-1])}"))


def prior_closes(
    day: dt.date, symbols: list[str], universe: pl.DataFrame | None, daily_history: pl.DataFrame | None
) -> pl.DataFrame:
    """symbol, prior_close in D's share units: the universe's (raw, in its prior session's units)
    rescaled by D's split_ratio (``ssr.prior_close_today_units``), else the previous session's
    daily close rescaled likewise; null when neither is known."""
    hist = daily_history if daily_history is not None else pl.DataFrame(schema={"date": pl.Date})
    today = hist.filter(pl.col("date") == day)  # read for its split_ratio only
    prev = hist.filter(pl.col("date") == cal.previous_trading_day(day))
    from_daily = prior_close_today_units(
        symbols, prev if prev.height else None, today if today.height else None
    )
    if universe is None or universe.is_empty():
        return from_daily
    uni = universe.filter(pl.col("date") == day) if "date" in universe.columns else universe
    from_uni = prior_close_today_units(
        symbols, uni.select("symbol", close="prior_close"), today if today.height else None
    )
    return from_uni.join(from_daily, on="symbol", how="left", suffix="_d").select(
        "symbol", prior_close=pl.coalesce("prior_close", "prior_close_d")
    )


def atr_today_units(day: dt.date, daily_history: pl.DataFrame | None, p: BarParams) -> pl.DataFrame:
    """symbol, atr: mean true range of the last ``atr_sessions`` sessions before ``day``, prices
    split-adjusted into ``day``'s share units; null with fewer than ``atr_min_sessions``."""
    empty = pl.DataFrame(schema={"symbol": pl.String, "atr": pl.Float64})
    if daily_history is None or daily_history.is_empty():
        return empty
    window = cal.sessions_before(day, p.atr_sessions + 1)  # one more: the first true range's close
    h = daily_history.filter(pl.col("date").is_in(window) | (pl.col("date") == day))
    if h.filter(pl.col("date") < day).is_empty():
        return empty
    if "vwap" not in h.columns:
        h = h.with_columns(vwap=pl.lit(None, pl.Float64))
    # D's row is kept for its split_ratio alone (known before the open); its prices are dropped.
    h = adjust_as_of(h, day).filter(pl.col("date") < day).sort("symbol", "date")
    pc = pl.col("close").shift(1).over("symbol")
    h = h.with_columns(tr=pl.max_horizontal("high", pc) - pl.min_horizontal("low", pc))
    per = h.group_by("symbol").agg(
        pl.col("tr").tail(p.atr_sessions).mean(), n=pl.col("tr").tail(p.atr_sessions).len()
    )
    return per.select("symbol", atr=pl.when(pl.col("n") >= p.atr_min_sessions).then(pl.col("tr")))


def _running(bars: pl.DataFrame, open_ns: int) -> pl.DataFrame:
    """The day's bars (sorted by symbol, ts) with every running quantity at each bar."""
    t = pl.col("ts").dt.epoch("ns")
    pm, from_open = t < open_ns, t >= open_ns
    price = pl.coalesce("vwap", (pl.col("high") + pl.col("low") + pl.col("close")) / 3.0)
    vol = pl.col("volume")
    first_rth = from_open & (from_open.cast(pl.Int64).cum_sum().over("symbol") == 1)
    return bars.select(
        "symbol",
        "ts",
        last=pl.col("close"),
        cum_vol=vol.cum_sum().over("symbol"),
        cum_pv=(price * vol).cum_sum().over("symbol"),
        rth_vol=pl.when(from_open).then(vol).otherwise(0.0).cum_sum().over("symbol"),
        rth_pv=pl.when(from_open).then(price * vol).otherwise(0.0).cum_sum().over("symbol"),
        hod=pl.col("high").cum_max().over("symbol"),
        lod=pl.col("low").cum_min().over("symbol"),
        pm_vol=pl.when(pm).then(vol).otherwise(0.0).cum_sum().over("symbol"),
        pm_high=pl.when(pm).then(pl.col("high")).cum_max().forward_fill().over("symbol"),
        pm_last=pl.when(pm).then(pl.col("close")).forward_fill().over("symbol"),
        rth_open=pl.when(first_rth).then(pl.col("open")).forward_fill().over("symbol"),
    )


def _baseline_so_far(baseline: pl.DataFrame | None, p: BarParams) -> pl.DataFrame | None:
    """symbol, minute_of_day, base_so_far: the baseline summed from 04:00 ET through that minute."""
    if baseline is None or baseline.is_empty():
        return None
    return (
        baseline.filter(pl.col("baseline_days") >= p.min_baseline_days)
        .sort("symbol", "minute_of_day")
        .select(
            "symbol",
            pl.col("minute_of_day").cast(pl.Int64),
            base_so_far=pl.col("vol_baseline").cum_sum().over("symbol"),
        )
    )


def bar_features(
    events: pl.DataFrame,
    minute_bars: pl.DataFrame,
    daily_history: pl.DataFrame | None,
    universe: pl.DataFrame | None,
    params: BarParams | None = None,
    baseline: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per event: ``event_id``, the features above and ``bars_input_ts``.

    ``events``: event_id, symbol, ts, session. ``minute_bars``: the ``MinuteBars`` columns of the
    events' days (other days are ignored). ``daily_history``: daily bars with a ``date`` column
    (sessions before each event day, plus the day itself for its ``split_ratio``). ``universe``:
    the day's universe (``prior_close``; a ``date`` column when it spans days). ``baseline``: the
    output of ``events.baselines`` over the prior sessions' minute bars (None: ``rvol_tod_ratio`` null).
    """
    p = params or BarParams()
    bars = minute_bars.with_columns(pl.col("ts").cast(UTC_NS))
    if "vwap" not in bars.columns:
        bars = bars.with_columns(vwap=pl.lit(None, pl.Float64))
    base = _baseline_so_far(baseline, p)

    def one_day(day: dt.date, ev: pl.DataFrame) -> pl.DataFrame:
        return _bar_day(day, ev, bars, daily_history, universe, base, p)

    return per_day(events, BAR_FEATURES, one_day)


def _bar_day(
    day: dt.date,
    ev: pl.DataFrame,
    bars: pl.DataFrame,
    daily_history: pl.DataFrame | None,
    universe: pl.DataFrame | None,
    base: pl.DataFrame | None,
    p: BarParams,
) -> pl.DataFrame:
    """The features of one day's events (``bar_features`` runs it per trading day)."""
    sess = cal.session(day)
    open_ns, pre_ns = sess.ns("market_open"), sess.ns("pre_open")
    ev = ev.select("event_id", "symbol", pl.col("ts").cast(UTC_NS), "session")
    symbols = ev["symbol"].unique().to_list()
    day_bars = (
        bars.filter((pl.col("ts") >= sess.pre_open) & (pl.col("ts") < sess.post_close))
        .join(ev.select("symbol").unique(), on="symbol", how="semi")
        .sort("symbol", "ts")
    )
    run = _running(day_bars, open_ns).sort("ts")
    # The last knowable bar: the latest one whose start is at or before ts - 1 minute.
    ev = ev.with_columns(_lookup=pl.col("ts") - pl.duration(minutes=1, time_unit="ns")).sort("_lookup")
    j = ev.join_asof(
        run,
        left_on="_lookup",
        right_on="ts",
        by="symbol",
        strategy="backward",
        suffix="_bar",
        check_sortedness=False,
    )
    j = j.join(prior_closes(day, symbols, universe, daily_history), on="symbol", how="left")
    j = j.join(atr_today_units(day, daily_history, p), on="symbol", how="left")
    minute_of_day = (pl.col("_lookup").dt.epoch("ns") - pre_ns) // MINUTE_NS + 240
    if base is not None:
        j = j.with_columns(minute_of_day=minute_of_day).join(base, on=["symbol", "minute_of_day"], how="left")
    else:
        j = j.with_columns(base_so_far=pl.lit(None, pl.Float64))
    last, pc = pl.col("last"), pl.col("prior_close")
    minutes_so_far = (pl.col("_lookup").dt.epoch("ns") - pre_ns) // MINUTE_NS + 1

    def pct(num: pl.Expr, den: pl.Expr) -> pl.Expr:
        return pl.when(den > 0).then((num / den - 1.0) * 100.0)

    prev = cal.previous_trading_day(day)
    daily_ts = pl.lit(close_instant(prev), UTC_NS)
    base_ts = pl.lit(close_instant(prev, "post_close"), UTC_NS)
    with_bar = pl.col("ts_bar").is_not_null()
    return j.select(
        "event_id",
        vwap_distance_pct=pl.when(pl.col("cum_vol") > 0).then(
            pct(last, pl.col("cum_pv") / pl.col("cum_vol"))
        ),
        vwap_rth_distance_pct=pl.when(pl.col("rth_vol") > 0).then(
            pct(last, pl.col("rth_pv") / pl.col("rth_vol"))
        ),
        rvol_tod_ratio=pl.when(with_bar & pl.col("base_so_far").is_not_null()).then(
            pl.col("cum_vol") / pl.max_horizontal(pl.col("base_so_far"), p.baseline_floor * minutes_so_far)
        ),
        gap_pct=pct(pl.col("rth_open"), pc),
        premarket_change_pct=pct(pl.col("pm_last"), pc),
        premarket_volume_shares=pl.col("pm_vol"),
        premarket_high_distance_pct=pct(last, pl.col("pm_high")),
        runup_from_open_pct=pct(last, pl.col("rth_open")),
        move_from_prior_close_atr=pl.when(pl.col("atr") > 0).then((last - pc) / pl.col("atr")),
        hod_distance_pct=pct(last, pl.col("hod")),
        lod_distance_pct=pct(last, pl.col("lod")),
        minutes_since_open_min=(pl.col("ts").dt.epoch("ns") - open_ns) / MINUTE_NS,
        event_session="session",
        price_tier=price_tier(last, p.price_tiers),
        bars_input_ts=pl.max_horizontal(
            pl.col("ts_bar") + pl.duration(minutes=1, time_unit="ns"),
            pl.when(pc.is_not_null() | pl.col("atr").is_not_null()).then(daily_ts),
            pl.when(with_bar & pl.col("base_so_far").is_not_null()).then(base_ts),
        ),
    )

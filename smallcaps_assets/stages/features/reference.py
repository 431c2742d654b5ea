"""Reference features of every event (family ``reference``), point in time: the universe of the
event's day D, the halts of D's bars before the event, and the daily bars of the sessions before D.

Features (unit, window):

* ``float_shares``: the universe's float of D (shares; the vendor's value as of D's universe build,
  which uses data from before D's open); null when the vendor has none.
* ``market_cap_usd``: the universe's market cap of D: shares outstanding x the prior session's
  close (dollars).
* ``halts_so_far_count``: trading pauses of the symbol on D known at ``ts``, counted exactly as the
  ``halt_resumption`` detector finds them (a gap of at least ``min_gap_minutes`` between regular-
  session bars after a move into the LULD band, docs/events.md). A pause is known when its
  resumption bar closes (that detector's event ``ts``), so the count includes the pauses whose
  resumption closed at or before the event's ``ts``: a ``halt_resumption`` event counts its own
  pause. The detector reads only bars up to the resumption bar, so later bars cannot add a pause.
  Null when the symbol has no bar on D.
* ``former_runner_days``: the "gap days" among the last ``runner_sessions`` (20) sessions before D:
  sessions whose open or close is at least ``runner_move`` (20%) away from the previous close
  (|open / prior close - 1| >= 20% or |close / prior close - 1| >= 20%), from split-adjusted daily
  bars. Null when the symbol has no daily bar in that window.
* ``reference_input_ts``: the latest input instant: the prior session's close for the universe and
  the daily bars, the ``ts`` of the last counted pause.

Short interest, short volume and news are separate families.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from pydantic import Field

from ... import calendar as cal
from ..daily import adjust_as_of
from ..events import detect_intraday, make_context
from ..events.params import FrozenParams, HaltResumptionParams
from ..events.registry import IntradayParams
from .bars import prior_closes
from .days import UTC_NS, close_instant, per_day

HALT_TYPE = "halt_resumption"


class ReferenceParams(FrozenParams):
    runner_sessions: int = Field(20, ge=1, description="sessions before D searched for gap days")
    runner_move: float = Field(0.20, gt=0, description="|gap| or |change| at least this is a gap day")
    halts: HaltResumptionParams = HaltResumptionParams()


REFERENCE_FEATURES: dict[str, pl.DataType] = {
    "float_shares": pl.Float64(),
    "market_cap_usd": pl.Float64(),
    "halts_so_far_count": pl.Int64(),
    "former_runner_days": pl.Int64(),
    "reference_input_ts": UTC_NS,
}


def day_halts(
    day: dt.date, bars: pl.DataFrame, prior_close: pl.DataFrame, p: ReferenceParams
) -> pl.DataFrame:
    """symbol, halt_ts: the ``halt_resumption`` events of the day's bars (the detector itself,
    with the same prior close; that type is exempt from the in-play filter)."""
    if bars.is_empty():
        return pl.DataFrame(schema={"symbol": pl.String, "halt_ts": UTC_NS})
    params = IntradayParams(**{HALT_TYPE: p.halts})
    found = detect_intraday(bars, make_context(prior_close), params, only=(HALT_TYPE,))
    return found.select("symbol", halt_ts=pl.col("ts").cast(UTC_NS))


def former_runner_days(day: dt.date, daily_history: pl.DataFrame | None, p: ReferenceParams) -> pl.DataFrame:
    """symbol, former_runner_days, runner_ts (the close of the last session read)."""
    empty = pl.DataFrame(schema={"symbol": pl.String, "former_runner_days": pl.Int64, "runner_ts": UTC_NS})
    window = cal.sessions_before(day, p.runner_sessions + 1)  # one more: the first session's prior close
    if daily_history is None or daily_history.is_empty() or not window:
        return empty
    h = daily_history.filter(pl.col("date").is_in(window))
    if h.is_empty():
        return empty
    if "vwap" not in h.columns:
        h = h.with_columns(vwap=pl.lit(None, pl.Float64))
    h = adjust_as_of(h, window[-1]).sort("symbol", "date")
    pc = pl.col("close").shift(1).over("symbol")
    move = pl.max_horizontal((pl.col("open") / pc - 1.0).abs(), (pl.col("close") / pc - 1.0).abs())
    h = h.with_columns(gap_day=(move >= p.runner_move).fill_null(False)).filter(
        pl.col("date").is_in(window[1:])
    )
    closes = pl.DataFrame({"date": window[1:], "runner_ts": [close_instant(d) for d in window[1:]]})
    return (
        h.join(closes, on="date", how="left")
        .group_by("symbol")
        .agg(former_runner_days=pl.col("gap_day").sum().cast(pl.Int64), runner_ts=pl.col("runner_ts").max())
        .with_columns(pl.col("runner_ts").cast(UTC_NS))
    )


def reference_features(
    events: pl.DataFrame,
    universe: pl.DataFrame | None,
    minute_bars: pl.DataFrame,
    daily_history: pl.DataFrame | None,
    params: ReferenceParams | None = None,
) -> pl.DataFrame:
    """One row per event: ``event_id``, the features above and ``reference_input_ts``.

    ``universe``: the ``Universe`` rows of the events' day (a ``date`` column when it spans days).
    ``minute_bars``: the ``MinuteBars`` columns of the events' days. ``daily_history``: daily bars
    with a ``date`` column: the ``runner_sessions`` sessions before each day, and the day itself for
    its ``split_ratio`` (the prior close the LULD band uses is in D's share units).
    """
    p = params or ReferenceParams()
    bars = minute_bars.with_columns(pl.col("ts").cast(UTC_NS))
    if "vwap" not in bars.columns:
        bars = bars.with_columns(vwap=pl.lit(None, pl.Float64))

    def one_day(day: dt.date, ev: pl.DataFrame) -> pl.DataFrame:
        return _reference_day(day, ev, universe, bars, daily_history, p)

    return per_day(events, REFERENCE_FEATURES, one_day)


def _reference_day(
    day: dt.date,
    ev: pl.DataFrame,
    universe: pl.DataFrame | None,
    bars: pl.DataFrame,
    daily_history: pl.DataFrame | None,
    p: ReferenceParams,
) -> pl.DataFrame:
    """The features of one day's events (``reference_features`` runs it per trading day)."""
    sess = cal.session(day)
    ev = ev.select("event_id", "symbol", pl.col("ts").cast(UTC_NS))
    symbols = ev["symbol"].unique().sort().to_list()
    day_bars = bars.filter(
        (pl.col("ts") >= sess.pre_open) & (pl.col("ts") < sess.post_close) & pl.col("symbol").is_in(symbols)
    )
    halts = (
        day_halts(day, day_bars, prior_closes(day, symbols, universe, daily_history), p)
        .sort("halt_ts")
        .with_columns(halts_so_far=pl.int_range(1, pl.len() + 1).over("symbol").cast(pl.Int64))
    )
    j = ev.sort("ts").join_asof(
        halts,
        left_on="ts",
        right_on="halt_ts",
        by="symbol",
        strategy="backward",
        check_sortedness=False,
    )
    traded = day_bars.select("symbol").unique()
    j = j.with_columns(
        halts_so_far_count=pl.when(pl.col("symbol").is_in(traded["symbol"].implode())).then(
            pl.col("halts_so_far").fill_null(0)
        )
    )
    j = j.join(former_runner_days(day, daily_history, p), on="symbol", how="left")
    uni_ts = None
    if universe is not None and universe.height:
        uni = universe.filter(pl.col("date") == day) if "date" in universe.columns else universe
        j = j.join(uni.select("symbol", "float_shares", "market_cap"), on="symbol", how="left")
        uni_ts = close_instant(cal.previous_trading_day(day))
    else:
        j = j.with_columns(float_shares=pl.lit(None, pl.Float64), market_cap=pl.lit(None, pl.Float64))
    from_universe = pl.col("float_shares").is_not_null() | pl.col("market_cap").is_not_null()
    return j.select(
        "event_id",
        "float_shares",
        "halts_so_far_count",
        "former_runner_days",
        market_cap_usd="market_cap",
        reference_input_ts=pl.max_horizontal(
            pl.when(from_universe).then(pl.lit(uni_ts, UTC_NS)),
            "halt_ts",
            "runner_ts",
        ),
    )

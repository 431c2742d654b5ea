"""Market-regime features of every event (family ``regime``): the trend, the latest overnight gap and
the realised volatility of a broad ETF and a small-cap ETF, from their daily bars of the sessions
BEFORE the event's day D. Nothing intraday is read (not even D's open), so every event of a day
gets the same values, all known at the previous session's close.

Features (unit, window), for ``<etf>`` in ``broad`` and ``small``:

* ``regime_<etf>_trend_pct``: last close / mean of the last ``trend_sessions`` (20) closes - 1,
  in percent; null with fewer than 20 closes in the window.
* ``regime_<etf>_gap_pct``: the latest session's open / the close of the session before it - 1,
  in percent (the last overnight gap the market has seen); null without both bars.
* ``regime_<etf>_volatility_pct``: the standard deviation (ddof 1) of the last ``vol_sessions``
  (20) daily log returns (close to close), annualised by sqrt(252), in percent; null with fewer
  than 21 closes.
* ``regime_input_ts``: the close of the latest session read (null when no ETF bar was read).

The window is the calendar's last ``max(trend_sessions, vol_sessions + 1)`` (21) sessions before D,
so an ETF that stopped trading gives nulls, not stale values. Prices are split-adjusted as of the
window's last session.

Which ETFs. On live data pass ``RegimeParams(broad="SPY", small_cap="IWM")``. The offline market
lists 38 ETFs among its 600 tickers, none of them a small-cap index. The defaults name its two
ETFs with the highest dollar volume at seed 7 (mean close x volume over every third session of the
first 60 from 2022-10-03): ``YXRN`` ("Solaris Value ETF", about $520M a day) plays the broad ETF
and ``CRNN`` ("Pioneer Value ETF", about $100M a day) the small-cap one; both are listed over the
whole span. Honestly: the offline market has no common market factor. Every symbol's daily path
is drawn from its own random stream, ETFs included, so these two are independent random walks
with a daily volatility of about 1.2%, and their trend, gap and volatility carry no information
about any small cap's day. On the offline market the regime features are a null control: a model
that finds signal in them is fitting noise.
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
from pydantic import Field

from ... import calendar as cal
from ..daily import adjust_as_of
from ..events.params import FrozenParams
from .days import UTC_NS, close_instant, per_day

ANNUALISE = math.sqrt(252.0)


class RegimeParams(FrozenParams):
    broad: str = Field("YXRN", description="the broad-market ETF (offline default; SPY on live data)")
    small_cap: str = Field("CRNN", description="the small-cap ETF (offline default; IWM on live data)")
    trend_sessions: int = Field(20, ge=2, description="sessions in the trend's mean close")
    vol_sessions: int = Field(20, ge=2, description="daily log returns in the volatility")


ROLES = ("broad", "small")
MEASURES = ("trend_pct", "gap_pct", "volatility_pct")
REGIME_FEATURES: dict[str, pl.DataType] = {
    **{f"regime_{role}_{m}": pl.Float64() for role in ROLES for m in MEASURES},
    "regime_input_ts": UTC_NS,
}


def etf_regime(day: dt.date, daily_history: pl.DataFrame | None, ticker: str, p: RegimeParams) -> dict:
    """trend_pct, gap_pct, volatility_pct and input_ts of ``ticker`` for events of ``day``."""
    out: dict = dict.fromkeys((*MEASURES, "input_ts"))
    window = cal.sessions_before(day, max(p.trend_sessions, p.vol_sessions + 1))
    if daily_history is None or daily_history.is_empty() or not window:
        return out
    h = daily_history.filter((pl.col("symbol") == ticker) & pl.col("date").is_in(window))
    if h.is_empty():
        return out
    if "vwap" not in h.columns:
        h = h.with_columns(vwap=pl.lit(None, pl.Float64))
    h = adjust_as_of(h, window[-1]).sort("date")
    closes, opens, dates = h["close"].to_list(), h["open"].to_list(), h["date"].to_list()
    out["input_ts"] = close_instant(dates[-1])
    last_trend = closes[-p.trend_sessions :]
    if len(last_trend) == p.trend_sessions:
        out["trend_pct"] = (closes[-1] / (sum(last_trend) / len(last_trend)) - 1.0) * 100.0
    # the gap needs the latest session and the one just before it in the calendar
    if len(dates) >= 2 and dates[-1] == window[-1] and dates[-2] == window[-2]:
        out["gap_pct"] = (opens[-1] / closes[-2] - 1.0) * 100.0
    last_vol = closes[-(p.vol_sessions + 1) :]
    if len(last_vol) == p.vol_sessions + 1:
        rets = pl.Series(last_vol).log().diff().drop_nulls()
        out["volatility_pct"] = float(rets.std(ddof=1)) * ANNUALISE * 100.0
    return out


def regime_features(
    events: pl.DataFrame, daily_history: pl.DataFrame | None, params: RegimeParams | None = None
) -> pl.DataFrame:
    """One row per event: ``event_id``, the regime features of its day and ``regime_input_ts``.

    ``daily_history``: daily bars with a ``date`` column covering the 21 sessions before each event
    day (rows of the event day and later are ignored)."""
    p = params or RegimeParams()

    def one_day(day: dt.date, ev: pl.DataFrame) -> pl.DataFrame:
        broad = etf_regime(day, daily_history, p.broad, p)
        small = etf_regime(day, daily_history, p.small_cap, p)
        stamps = [s for s in (broad["input_ts"], small["input_ts"]) if s is not None]
        values = {
            **{f"regime_broad_{m}": pl.lit(broad[m], pl.Float64) for m in MEASURES},
            **{f"regime_small_{m}": pl.lit(small[m], pl.Float64) for m in MEASURES},
        }
        return ev.select(
            "event_id", **values, regime_input_ts=pl.lit(max(stamps) if stamps else None, UTC_NS)
        )

    return per_day(events, REGIME_FEATURES, one_day)

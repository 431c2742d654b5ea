"""Minute bars: vendor aggregates to a typed frame with ET session labels."""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar as cal
from ..schemas import UTC_NS
from .daily import BAR_VALUES, VENDOR_FIELDS, flatfile_ohlcv, vendor_values

MINUTE_SCHEMA = {"symbol": pl.String, "ts": UTC_NS, **BAR_VALUES}


def minute_frame(symbol: str, results: list[dict]) -> pl.DataFrame:
    rows = [{"symbol": symbol, "ts": r["t"] * 1_000_000, **vendor_values(r)} for r in results]
    schema = dict(MINUTE_SCHEMA, ts=pl.Int64)
    return pl.DataFrame(rows, schema=schema).with_columns(pl.col("ts").cast(UTC_NS))


def vendor_frame(symbol: str, aggs: pl.DataFrame) -> pl.DataFrame:
    """Vendor minute aggregates already in a frame (``t`` in ms, o, h, l, c, v, vw, n: the
    simulator's bars) as ``MINUTE_SCHEMA`` rows of ``symbol``."""
    return aggs.select(
        symbol=pl.lit(symbol),
        ts=(pl.col("t") * 1_000_000).cast(UTC_NS),
        **{col: pl.col(field).cast(BAR_VALUES[col]) for col, field in VENDOR_FIELDS.items()},
    )


def with_session(frame: pl.DataFrame, day: dt.date) -> pl.DataFrame:
    """Label each bar PM / RTH / AH from the NYSE calendar (early closes included)."""
    sess = cal.session(day)
    if sess is None:
        raise ValueError(f"{day} is not an NYSE trading day")
    ts = pl.col("ts").dt.epoch("ns")
    return frame.with_columns(
        session=pl.when(ts < sess.ns("market_open"))
        .then(pl.lit("PM"))
        .when(ts < sess.ns("market_close"))
        .then(pl.lit("RTH"))
        .otherwise(pl.lit("AH"))
    )


def outside_session(frame: pl.DataFrame, day: dt.date) -> pl.Expr:
    """True for bars whose minute does not lie inside 04:00-20:00 ET (or the early-close end)."""
    sess = cal.session(day)
    ts = pl.col("ts").dt.epoch("ns")
    return (ts < sess.ns("pre_open")) | (ts >= sess.ns("post_close"))


def flatfile_frame(
    minute_aggs: pl.DataFrame, symbols: list[str], vwap: pl.DataFrame | None = None
) -> pl.DataFrame:
    """minute_aggs_v1 rows for ``symbols`` in the REST frame's shape. The file carries no VWAP:
    ``vwap`` comes from ``vwap`` (``flatfiles_source.trade_vwap(daily=False)``: ticker, bucket =
    the minute's start in ns, vw) when given, else stays null."""
    bars = minute_aggs.filter(pl.col("ticker").is_in(symbols)).select(
        ts=pl.col("window_start").cast(pl.Int64).cast(UTC_NS), **flatfile_ohlcv()
    )
    if vwap is None:
        return bars.with_columns(vwap=pl.lit(None, pl.Float64)).select(list(MINUTE_SCHEMA))
    vw = vwap.select(symbol=pl.col("ticker"), ts=pl.col("bucket").cast(UTC_NS), vwap=pl.col("vw"))
    return bars.join(vw, on=["symbol", "ts"], how="left", maintain_order="left").select(list(MINUTE_SCHEMA))


def volume_mismatches(bars: pl.DataFrame, vwap: pl.DataFrame) -> list[str]:
    """Symbols with a minute whose volume the trades file does not reproduce under the bar rules
    (their re-derived VWAP may differ from the vendor's own)."""
    vw = vwap.select(symbol=pl.col("ticker"), ts=pl.col("bucket").cast(UTC_NS), _v=pl.col("v"))
    j = bars.join(vw, on=["symbol", "ts"], how="left")
    bad = j.filter(pl.col("_v").is_null() | (pl.col("_v") != pl.col("volume")))
    return sorted(bad["symbol"].unique())

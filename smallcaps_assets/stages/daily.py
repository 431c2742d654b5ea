"""Daily bars: the grouped-daily response as a frame, and point-in-time split adjustment.

Partitions store *raw* prices plus ``split_ratio``: the factor by which that session's raw prices
jump versus the previous session because of a split executed that day (10 for a 1-for-10 reverse
split, 0.25 for a 4-for-1). Prices adjusted *as of a decision date T* use only ratios of sessions
up to T, so no adjustment ever looks ahead (``adjust_as_of``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

# A bar's values in our column names and types (daily and minute bars alike), and the field of the
# vendor's aggregates (REST results, the simulator's bar frames) each is read from; vw and n may be absent.
OHLCV = ("open", "high", "low", "close", "volume")
BAR_VALUES = {**dict.fromkeys(OHLCV, pl.Float64), "vwap": pl.Float64, "transactions": pl.Int64}
VENDOR_FIELDS = {
    "open": "o",
    "high": "h",
    "low": "l",
    "close": "c",
    "volume": "v",
    "vwap": "vw",
    "transactions": "n",
}
# The same values as the vendor's aggregates name them (o, h, l, c, v, vw, n).
VENDOR_BAR_VALUES = {VENDOR_FIELDS[col]: dtype for col, dtype in BAR_VALUES.items()}
BAR_SCHEMA = {"symbol": pl.String, **BAR_VALUES, "otc": pl.Boolean}


def vendor_values(agg: dict) -> dict:
    """One vendor aggregate's values under our column names (None for an absent vw or n)."""
    return {col: agg.get(field) for col, field in VENDOR_FIELDS.items()}


def grouped_frame(results: list[dict]) -> pl.DataFrame:
    rows = [{"symbol": r["T"], **vendor_values(r), "otc": bool(r.get("otc") or False)} for r in results]
    return pl.DataFrame(rows, schema=BAR_SCHEMA)


def with_split_ratio(bars: pl.DataFrame, actions: pl.DataFrame) -> pl.DataFrame:
    splits = (
        actions.filter(pl.col("action") == "split")
        .group_by("symbol")
        .agg(split_ratio=(pl.col("split_from") / pl.col("split_to")).product())
    )
    return (
        bars.join(splits, on="symbol", how="left")
        .with_columns(pl.col("split_ratio").fill_null(1.0))
        .sort("symbol")
    )


def adjust_as_of(history: pl.DataFrame, decision_date: dt.date) -> pl.DataFrame:
    """Express every bar of ``history`` (columns date, symbol, OHLC, volume, split_ratio) in the
    share units of ``decision_date``, using only splits executed on or before it."""
    h = history.filter(pl.col("date") <= decision_date).sort("symbol", "date")
    # factor(d) = product of the ratios of sessions after d, up to the decision date. A reverse
    # cumulative product keeps whole-number ratios exact (no log/exp round trip).
    h = h.with_columns(
        _f=pl.col("split_ratio").reverse().cum_prod().reverse().over("symbol") / pl.col("split_ratio")
    )
    return h.with_columns(
        *[(pl.col(c) * pl.col("_f")).alias(c) for c in ("open", "high", "low", "close", "vwap")],
        volume=pl.col("volume") / pl.col("_f"),
    ).drop("_f")


def flatfile_ohlcv() -> dict[str, pl.Expr]:
    """The aggregate flat files' columns (day and minute share the header) in our bar names and types."""
    return {
        "symbol": pl.col("ticker"),
        **{c: pl.col(c).cast(pl.Float64) for c in OHLCV},
        "transactions": pl.col("transactions").cast(pl.Int64),
    }


def flatfile_frame(day_aggs: pl.DataFrame, vwap: pl.DataFrame | None = None) -> pl.DataFrame:
    """day_aggs_v1 rows (ticker, volume, open, close, high, low, window_start, transactions) in the
    same shape as ``grouped_frame``. The file carries no VWAP and no OTC flag (SIP only): ``vwap``
    comes from ``vwap`` (``flatfiles_source.trade_vwap(daily=True)``: ticker, vw) when given,
    else stays null."""
    bars = day_aggs.select(**flatfile_ohlcv(), otc=pl.lit(False))
    if vwap is None:
        return bars.with_columns(vwap=pl.lit(None, pl.Float64)).select(list(BAR_SCHEMA))
    vw = vwap.select(symbol=pl.col("ticker"), vwap=pl.col("vw"))
    return bars.join(vw, on="symbol", how="left", maintain_order="left").select(list(BAR_SCHEMA))


def volume_mismatches(bars: pl.DataFrame, vwap: pl.DataFrame) -> list[str]:
    """Symbols whose volume the trades file does not reproduce under the bar rules (or that have
    no trades at all): their re-derived VWAP may differ from the vendor's own."""
    j = bars.join(vwap.select(symbol=pl.col("ticker"), _v=pl.col("v")), on="symbol", how="left")
    return sorted(j.filter(pl.col("_v").is_null() | (pl.col("_v") != pl.col("volume")))["symbol"])

"""The bad-print gate on bars (pure): flag the prices a bar's own path cannot explain, and clean them.

A bad print (a trade reported at a wrong price, e.g. x1.25 or x0.8) becomes a bar's high or low,
and its open or close when it is the minute's first or last print; the bar's VWAP barely moves,
because the bad print is one of many. So each price of a bar is compared with a reference that bad
prints hardly touch: the median of the VWAPs of the bar and of the ``window`` bars before it (the
same symbol, the same partition). Only the bar and earlier bars are read, so the flag and the
cleaned prices of a minute are known when the minute closes (no look-ahead).

A price further than ``max_deviation`` from the reference, and at least ``vwap_margin`` from its own
bar's VWAP, is a bad print: a real jump moves the bar's VWAP with its prices, so a bar that moved
as a whole is never flagged (a bar of one or two prints, whose VWAP the bad print drags along, can
slip through: the recall this costs is measured). The cleaned bar puts the
VWAP in place of a bad open or close, and rebuilds a bad high or low from the cleaned open, close
and the VWAP. Measured against the offline market's fault ground truth in
``bench.bad_prints`` (docs/operations.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

PRICES = ("open", "high", "low", "close")
FLAG = "bad_print"


@dataclass(frozen=True)
class BadPrintParams:
    # Normal minute bars of the offline market stay within 10% of the recent VWAPs; the simulator's
    # bad prints sit 20-25% away.
    max_deviation: float = 0.10
    vwap_margin: float = 0.025
    window: int = 5  # earlier bars in the reference
    # A bar of at most this many prints whose own VWAP sits further than ``whole_bar_deviation``
    # from the earlier bars' median VWAP: its bad print dragged the VWAP along (the healthy
    # offline market has 0.013% such bars, the 5% bad-tick one 1.4%, nearly all single prints).
    whole_bar_prints: int = 3
    whole_bar_deviation: float = 0.15


def quarantine(bars: pl.DataFrame, params: BadPrintParams = BadPrintParams()) -> pl.DataFrame:
    """``bars`` (symbol, ts, open, high, low, close, vwap) with ``bad_print`` (any of the four
    prices is bad) and ``<price>_clean`` for each price. Rows keep their order."""
    if params.max_deviation <= 0 or params.vwap_margin < 0 or params.window < 0:
        raise ValueError("max_deviation must be > 0, vwap_margin and window >= 0")
    # A bar without a VWAP (flat files without trades) is never judged: its own average is the
    # witness the rule needs. Its close still feeds later bars' reference.
    vwap = pl.coalesce("vwap", "close")
    order = pl.int_range(pl.len()).alias("_row")
    ref = vwap.rolling_median(window_size=params.window + 1, min_samples=1).over("symbol", order_by="ts")
    out = bars.with_columns(order, _ref=ref, _vw=vwap)

    def bad(col: str) -> pl.Expr:
        far_from_recent = (pl.col(col) / pl.col("_ref") - 1).abs() > params.max_deviation
        off_own_vwap = (pl.col(col) / pl.col("_vw") - 1).abs() > params.vwap_margin
        return far_from_recent & off_own_vwap & pl.col("vwap").is_not_null()

    out = out.with_columns(**{f"_bad_{c}": bad(c) for c in PRICES})
    open_clean = pl.when(pl.col("_bad_open")).then(pl.col("_vw")).otherwise(pl.col("open"))
    close_clean = pl.when(pl.col("_bad_close")).then(pl.col("_vw")).otherwise(pl.col("close"))
    out = out.with_columns(open_clean=open_clean, close_clean=close_clean)
    body_high = pl.max_horizontal("open_clean", "close_clean", "_vw")
    body_low = pl.min_horizontal("open_clean", "close_clean", "_vw")
    out = out.with_columns(
        high_clean=pl.when(pl.col("_bad_high"))
        .then(body_high)
        .otherwise(pl.max_horizontal("high", body_high)),
        low_clean=pl.when(pl.col("_bad_low")).then(body_low).otherwise(pl.min_horizontal("low", body_low)),
        **{FLAG: pl.any_horizontal(*(f"_bad_{c}" for c in PRICES))},
    )
    out = _whole_bars(out, vwap, params) if "transactions" in bars.columns else out
    return out.sort("_row").drop("_row", "_ref", "_vw", *(f"_bad_{c}" for c in PRICES))


def _whole_bars(out: pl.DataFrame, vwap: pl.Expr, params: BadPrintParams) -> pl.DataFrame:
    """Bars of a few prints that moved as a whole, VWAP included, far from the earlier bars (the
    bar itself is left out of this reference, so its own VWAP cannot vouch for it): each price
    further than ``max_deviation`` from that reference becomes the reference; high and low are
    the extremes of what remains."""
    prior = vwap.shift(1).rolling_median(window_size=params.window, min_samples=1)
    out = out.with_columns(_prior=prior.over("symbol", order_by="ts"))
    whole = (
        pl.col("vwap").is_not_null()
        & (pl.col("transactions") <= params.whole_bar_prints)
        & ((pl.col("_vw") / pl.col("_prior") - 1).abs() > params.whole_bar_deviation)
    )

    def kept(col: str) -> pl.Expr:
        far = (pl.col(col) / pl.col("_prior") - 1).abs() > params.max_deviation
        return pl.when(far).then(pl.col("_prior")).otherwise(pl.col(col))

    cleaned = {c: kept(c) for c in PRICES}
    return out.with_columns(
        open_clean=pl.when(whole).then(cleaned["open"]).otherwise("open_clean"),
        close_clean=pl.when(whole).then(cleaned["close"]).otherwise("close_clean"),
        high_clean=pl.when(whole).then(pl.max_horizontal(*cleaned.values())).otherwise("high_clean"),
        low_clean=pl.when(whole).then(pl.min_horizontal(*cleaned.values())).otherwise("low_clean"),
        **{FLAG: pl.col(FLAG) | whole.fill_null(False)},
    ).drop("_prior")


RAW = tuple(f"raw_{c}" for c in PRICES)


def clean_bars(bars: pl.DataFrame, params: BadPrintParams = BadPrintParams()) -> pl.DataFrame:
    """``bars`` (minute_bars' columns) with the cleaned prices in ``open``/``high``/``low``/
    ``close``, the ``bad_print`` flag, and the raw prices of flagged bars in ``raw_<price>``
    (null on unflagged bars, whose prices are untouched). Columns follow ``bars``' own, then
    the flag and the raw prices; rows keep their order."""
    flagged = quarantine(bars, params)
    is_bad = pl.col(FLAG)
    return flagged.with_columns(
        **{f"raw_{c}": pl.when(is_bad).then(pl.col(c)).otherwise(None) for c in PRICES},
        **{c: pl.when(is_bad).then(pl.col(f"{c}_clean")).otherwise(pl.col(c)) for c in PRICES},
    ).select(*bars.columns, FLAG, *RAW)

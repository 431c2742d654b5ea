"""The bad-print gate on bars (pure): flag the prices a bar's own path cannot explain, and clean them.

A bad print (a trade reported at a wrong price, e.g. x1.25 or x0.8) becomes a bar's high or low,
and its open or close when it is the minute's first or last print. Each price of a bar is compared
with a reference that bad prints hardly touch: the median of the VWAPs of the bar and of the
``window`` bars before it (the same symbol, the same partition). Only the bar and earlier bars are
read, so the flag and the cleaned prices of a minute are known when the minute closes (no
look-ahead).

A price further than ``max_deviation`` from the reference is bad when the bar itself disowns it:

- it lies at least ``vwap_margin`` from its own bar's VWAP (a bar of many prints: one wrong print
  barely moves the VWAP, while a real jump moves the VWAP with the prices); or
- the bar has at most ``few_prints`` prints and other prices of it sit near the reference (a
  wrong print among a few drags the VWAP along, so the VWAP cannot vouch for the prices); or
- the bar has at most ``whole_bar_prints`` prints and its VWAP sits more than
  ``whole_bar_deviation`` from the earlier bars' median VWAP (the bar left out, since a single
  wrong print is the whole bar) and more than ``vouch_distance`` from the close of the last bar of
  more prints (after a halt or a real jump the earlier VWAPs lag, the last close does not): then
  the prices are judged against those earlier bars.

except on the side of a real move: a bar of more than ``few_prints`` prints whose VWAP moved more
than ``vwap_follow`` to one side, with its extreme and its open or close far out on that side at
prices more than ``corroboration`` apart (two prints there; one wrong print is one price and
barely moves a busy bar's VWAP).

Cleaning never leans on the bar's VWAP alone, which the bad print may have dragged: a bad open or
close becomes the bar's VWAP clamped into the range of its good prices (or the reference when no
price is good), and high and low are the extremes of the good and cleaned prices. The VWAP of a
flagged bar is clamped into its cleaned range. Measured against the offline market's fault ground
truth in ``bench.bad_prints`` (`smallcaps bench bad-prints [--events]`; docs/operations.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

PRICES = ("open", "high", "low", "close")
FLAG = "bad_print"
RAW = tuple(f"raw_{c}" for c in (*PRICES, "vwap"))


@dataclass(frozen=True)
class BadPrintParams:
    # Normal minute bars of the offline market stay within 10% of the recent VWAPs; the simulator's
    # bad prints sit 20-25% away.
    max_deviation: float = 0.10
    vwap_margin: float = 0.025
    window: int = 5  # earlier bars in the reference
    few_prints: int = 10
    corroboration: float = 0.01  # two far prices on one side this far apart are two prints
    vwap_follow: float = 0.05  # ... and a busy bar's VWAP that moved this far followed them
    # A bar of at most this many prints whose own VWAP sits further than ``whole_bar_deviation``
    # from the earlier bars' median VWAP: its bad print dragged the VWAP along (the healthy
    # offline market has 0.013% such bars, the 5% bad-tick one 1.4%, nearly all single prints).
    whole_bar_prints: int = 3
    whole_bar_deviation: float = 0.15
    # ... unless its VWAP is within this of the last busier bar's close (it trades where the tape
    # just traded; the simulator's wrong prints sit far further from the true price).
    vouch_distance: float = 0.15


def quarantine(bars: pl.DataFrame, params: BadPrintParams = BadPrintParams()) -> pl.DataFrame:
    """``bars`` (symbol, ts, open, high, low, close, vwap; ``transactions`` when known) with
    ``bad_print`` (any of the four prices is bad) and ``<price>_clean`` for each price and the
    VWAP. Rows keep their order. A bar without a VWAP (flat files without trades) is never judged:
    its own average is the witness the rule needs; its close still feeds later bars' reference."""
    if params.max_deviation <= 0 or params.vwap_margin < 0 or params.window < 1:
        raise ValueError("max_deviation must be > 0, vwap_margin >= 0 and window >= 1")
    vwap = pl.coalesce("vwap", "close")
    prints = pl.col("transactions") if "transactions" in bars.columns else pl.lit(None, pl.Int64)
    median = vwap.rolling_median(window_size=params.window + 1, min_samples=1)
    prior = vwap.shift(1).rolling_median(window_size=params.window, min_samples=1)
    out = bars.with_columns(
        _row=pl.int_range(pl.len()),
        _vw=vwap,
        _n=prints,
        _median=median.over("symbol", order_by="ts"),
        _prior=prior.over("symbol", order_by="ts"),
    )
    # ... unless the bar trades where the last busier bar closed: after a halt or a fast real
    # move the earlier VWAPs lag the price, while that close is where the tape just traded (a
    # wrong print sits 20-25% from it). Without this, the thin bars right after a real jump were
    # "cleaned" back to the old level, and the detectors lost the move.
    # Only a bar of more than ``whole_bar_prints`` prints vouches: two thin bad prints in a row
    # at the same wrong level must not vouch for each other.
    vouching = pl.when(prints > params.whole_bar_prints).then(pl.col("close"))
    prev_close = vouching.shift(1).forward_fill().over("symbol", order_by="ts")
    whole = (
        (pl.col("_n") <= params.whole_bar_prints)
        & ((pl.col("_vw") / pl.col("_prior") - 1).abs() > params.whole_bar_deviation)
        & ((pl.col("_vw") / prev_close - 1).abs() > params.vouch_distance).fill_null(True)
    )
    out = out.with_columns(_whole=whole.fill_null(False))
    out = out.with_columns(_ref=pl.when("_whole").then("_prior").otherwise("_median"))

    def far(col: str) -> pl.Expr:
        return (pl.col(col) / pl.col("_ref") - 1).abs() > params.max_deviation

    straddles = (pl.col("_n") <= params.few_prints).fill_null(False) & pl.any_horizontal(
        *(~far(c) for c in PRICES)
    )

    def up(col: str) -> pl.Expr:
        return pl.col(col) / pl.col("_ref") - 1 > params.max_deviation

    def down(col: str) -> pl.Expr:
        return 1 - pl.col(col) / pl.col("_ref") > params.max_deviation

    def apart(a: str, b: str) -> pl.Expr:
        return (pl.col(a) / pl.col(b) - 1).abs() > params.corroboration

    # One wrong print is one price, and among many prints it barely moves the VWAP: a busy bar
    # whose VWAP followed to one side, with an extreme and an open or close far out on that side
    # at distinct prices (two prints there), made a real move.
    busy = (pl.col("_n") > params.few_prints).fill_null(True)
    vwap_up = pl.col("_vw") / pl.col("_ref") - 1 > params.vwap_follow
    vwap_down = 1 - pl.col("_vw") / pl.col("_ref") > params.vwap_follow
    two_up = (up("close") & apart("high", "close")) | (up("open") & apart("high", "open"))
    two_down = (down("close") & apart("low", "close")) | (down("open") & apart("low", "open"))
    moved_up = busy & vwap_up & up("high") & two_up
    moved_down = busy & vwap_down & down("low") & two_down

    def bad(col: str) -> pl.Expr:
        off_own_vwap = (pl.col(col) / pl.col("_vw") - 1).abs() > params.vwap_margin
        disowned = off_own_vwap | straddles | pl.col("_whole")
        real = (moved_up & up(col)) | (moved_down & down(col))
        return pl.col("vwap").is_not_null() & far(col) & disowned & ~real

    out = out.with_columns(**{f"_bad_{c}": bad(c) for c in PRICES})
    good = [pl.when(~pl.col(f"_bad_{c}")).then(pl.col(c)) for c in PRICES]
    lo, hi = pl.min_horizontal(*good), pl.max_horizontal(*good)
    fill = pl.when(lo.is_null()).then(pl.col("_ref")).otherwise(pl.col("_vw").clip(lo, hi))
    out = out.with_columns(
        _fill=fill,
        **{FLAG: pl.any_horizontal(*(f"_bad_{c}" for c in PRICES))},
    )
    out = out.with_columns(
        open_clean=pl.when("_bad_open").then("_fill").otherwise("open"),
        close_clean=pl.when("_bad_close").then("_fill").otherwise("close"),
    )
    body = ("open_clean", "close_clean")
    out = out.with_columns(
        high_clean=pl.max_horizontal(*body, pl.when(~pl.col("_bad_high")).then("high"), *good),
        low_clean=pl.min_horizontal(*body, pl.when(~pl.col("_bad_low")).then("low"), *good),
    )
    out = out.with_columns(
        vwap_clean=pl.when(FLAG).then(pl.col("vwap").clip("low_clean", "high_clean")).otherwise("vwap")
    )
    helpers = ("_row", "_vw", "_n", "_median", "_prior", "_whole", "_ref", "_fill")
    return out.sort("_row").drop(*helpers, *(f"_bad_{c}" for c in PRICES))


def clean_bars(bars: pl.DataFrame, params: BadPrintParams = BadPrintParams()) -> pl.DataFrame:
    """``bars`` (minute_bars' columns) with the cleaned prices in ``open``/``high``/``low``/
    ``close``/``vwap``, the ``bad_print`` flag, and the vendor's prices of flagged bars in
    ``raw_<price>`` (null on unflagged bars, whose prices are untouched). Columns follow
    ``bars``' own, then the flag and the raw prices; rows keep their order."""
    flagged = quarantine(bars, params)
    is_bad = pl.col(FLAG)
    cols = (*PRICES, "vwap")
    return flagged.with_columns(
        **{f"raw_{c}": pl.when(is_bad).then(pl.col(c)).otherwise(None) for c in cols},
        **{c: pl.when(is_bad).then(pl.col(f"{c}_clean")).otherwise(pl.col(c)) for c in cols},
    ).select(*bars.columns, FLAG, *RAW)

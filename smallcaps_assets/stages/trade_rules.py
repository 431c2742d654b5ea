"""The vendor's trade-condition rules, and bars built from trades with them (pure polars).

This is platform code, not simulation: the vendor documents which condition codes may update a
bar's high/low, open/close and volume (its conditions reference; docs/market_rules.md), and anything that rebuilds bar
fields from trades must apply exactly those rules. Two users share this one implementation:

- the flat-file ingestion (``flatfiles_source.trade_vwap``): day/minute aggregate flat files carry
  no VWAP, so ``daily_bars`` and ``minute_bars`` recompute it from ``trades_v1``;
- the offline market (``sim/ticks.py``, ``sim/conditions.py`` re-export from here), which derives
  its bars from its trades, so served bars and re-derived bars cannot drift.

The condition table lives here too, not in the simulator: it is vendor reference data that the
platform needs in real mode, where the simulator must never be imported.

VWAP is computed in *tick space*: prices sit on a 1/10,000 $ grid and sizes are whole shares, so
price-in-ticks x size is an exact integer in float64 and every sum is independent of summation
order. That is what lets ``vwap_parts`` work on a stream of batches and still give the same digits
as ``aggregate`` on the whole day.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache

import numpy as np
import polars as pl

from .daily import VENDOR_BAR_VALUES

# Trade condition ids with a role in the rules below (others: see the table).
FORM_T = 12
EXTENDED_OUT_OF_SEQUENCE = 13

_T, _F = True, False
# id: (name, type, CTA, UTP, updates_high_low, updates_open_close, updates_volume)
TRADE_CONDITIONS: dict[int, tuple[str, str, str | None, str | None, bool, bool, bool]] = {
    0: ("Regular Sale", "sale_condition", "@", "@", _T, _T, _T),
    1: ("Acquisition", "sale_condition", None, "A", _T, _T, _T),
    2: ("Average Price Trade", "sale_condition", "B", "W", _F, _F, _T),
    3: ("Automatic Execution", "sale_condition", "E", None, _T, _T, _T),
    4: ("Bunched Trade", "sale_condition", None, "B", _T, _T, _T),
    5: ("Bunched Sold Trade", "sale_condition", None, "G", _T, _F, _T),
    6: ("CAP Election", "sale_condition", "I", None, _T, _T, _T),
    7: ("Cash Sale", "sale_condition", "C", "C", _F, _F, _T),
    8: ("Closing Prints", "sale_condition", None, "6", _T, _T, _T),
    9: ("Cross Trade", "sale_condition", "X", "X", _T, _T, _T),
    10: ("Derivatively Priced", "sale_condition", "4", "4", _T, _F, _T),
    11: ("Distribution", "sale_condition", "D", "D", _T, _T, _T),
    12: ("Form T", "sale_condition", "T", "T", _F, _F, _T),
    13: ("Extended Trading Hours (Sold Out of Sequence)", "sale_condition", "U", "U", _F, _F, _T),
    14: ("Intermarket Sweep", "sale_condition", "F", "F", _T, _T, _T),
    15: ("Market Center Official Close", "sale_condition", "M", "M", _F, _F, _F),
    16: ("Market Center Official Open", "sale_condition", "Q", "Q", _F, _F, _F),
    20: ("Next Day", "sale_condition", "N", "N", _F, _F, _T),
    21: ("Price Variation Trade", "sale_condition", "H", "H", _F, _F, _T),
    22: ("Prior Reference Price", "sale_condition", "P", "P", _T, _F, _T),
    23: ("Rule 155 Trade (AMEX)", "sale_condition", "K", None, _T, _T, _T),
    25: ("Opening Prints", "sale_condition", "O", "O", _T, _T, _T),
    27: ("Stopped Stock (Regular Trade)", "sale_condition", "1", "1", _T, _T, _T),
    28: ("Re-Opening Prints", "sale_condition", "5", "5", _T, _T, _T),
    29: ("Seller", "sale_condition", "R", "R", _T, _F, _T),
    30: ("Sold Last", "sale_condition", "L", "L", _T, _T, _T),
    33: ("Sold (Out of Sequence)", "sale_condition", "Z", "Z", _T, _F, _T),
    34: ("Split Trade", "sale_condition", "S", "S", _T, _T, _T),
    36: ("Yellow Flag Regular Trade", "sale_condition", "Y", "Y", _T, _T, _T),
    37: ("Odd Lot Trade", "sale_condition", "I", "I", _F, _F, _T),
    38: ("Corrected Consolidated Close (per listing market)", "sale_condition", "9", "9", _T, _T, _F),
    41: ("Trade Thru Exempt", "trade_thru_exempt", "1", "X", _T, _T, _T),
    52: ("Contingent Trade", "sale_condition", "V", "V", _F, _F, _T),
    53: ("Qualified Contingent Trade", "sale_condition", "7", "7", _F, _F, _T),
}
# Conditions whose extended-hours nature the vendor ignores when building intraday bars (docs/market_rules.md).
EXTENDED_HOURS = frozenset({FORM_T, EXTENDED_OUT_OF_SEQUENCE})


@cache
def ineligible_sets(daily: bool) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """Condition ids that forbid updating (high/low, open/close, volume).

    Unknown ids are treated as eligible: new codes appear over time, and a real regular print
    usually carries none at all.
    """
    hl, oc, vol = set(), set(), set()
    for cid, (_, _, _, _, upd_hl, upd_oc, upd_vol) in TRADE_CONDITIONS.items():
        if not daily and cid in EXTENDED_HOURS:
            continue
        if not upd_hl:
            hl.add(cid)
        if not upd_oc:
            oc.add(cid)
        if not upd_vol:
            vol.add(cid)
    return frozenset(hl), frozenset(oc), frozenset(vol)


# ---------------------------------------------------------------------------------------------
# Bars from trades
# ---------------------------------------------------------------------------------------------

# Price in ticks x size: exact integers in float64 (see the module docstring).
_PV = (pl.col("price") * 10_000).round() * pl.col("size")


def _with_vw(bars: pl.DataFrame) -> pl.DataFrame:
    """``vw`` = round half up of pv / v in tick space, then ticks / 10,000, in IEEE double.

    Done in numpy on purpose: polars divides by a scalar as a multiplication by its reciprocal on
    some code paths and not on others (it depends on the frame's height), which moves the last
    digit (14.536100000000001 vs 14.5361). numpy's element-wise true division is correctly rounded
    everywhere, so any re-implementation of the rule gets the same digits.
    """
    pv = bars["pv"].to_numpy()
    v = bars["v"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):  # v == 0 gives NaN, as 0 / 0 always has
        vw = np.floor(np.true_divide(pv, v) + 0.5) / 10_000.0
    return bars.with_columns(vw=pl.Series(vw, dtype=pl.Float64))


def with_eligibility(trades_df: pl.DataFrame, daily: bool) -> pl.DataFrame:
    """Flags per trade: updates OHLC (open/close and high/low) and updates volume.

    A field is updated only if *every* condition on the trade allows it (standard SIP practice).
    Minute bars treat the extended-hours conditions (Form T, 12 and 13) as eligible, because the
    vendor's intraday bars include extended-hours prints; daily bars use the consolidated rules.
    Cancelled or corrected trades (correction != 0) never count.
    """
    hl_bad, oc_bad, vol_bad = ineligible_sets(daily=daily)
    # Lists hold 0-3 ids; testing each position is much faster than a per-row list.eval.
    width = int(trades_df["conditions"].list.len().max() or 0)
    ok = pl.col("correction").fill_null(0) == 0

    def allowed(bad: frozenset[int]) -> pl.Expr:
        hit = pl.lit(False)
        for j in range(width):
            hit = hit | pl.col("conditions").list.get(j, null_on_oob=True).is_in(list(bad)).fill_null(False)
        return ok & ~hit

    return trades_df.with_columns(upd_hl=allowed(hl_bad), upd_oc=allowed(oc_bad), upd_vol=allowed(vol_bad))


def aggregate(
    trades_df: pl.DataFrame, bucket: pl.Expr, daily: bool = False, by: Sequence[str] = ()
) -> pl.DataFrame:
    """Bars (o, h, l, c, v, vw, n) per ``by`` columns and bucket; buckets without an OHLC-eligible
    trade are dropped. ``by`` (e.g. ``["ticker"]``) builds many symbols' bars in one pass."""
    by = list(by)
    if trades_df.is_empty():
        return pl.DataFrame(
            schema={**{k: trades_df.schema[k] for k in by}, "bucket": pl.Int64, **VENDOR_BAR_VALUES}
        )
    t = with_eligibility(trades_df, daily).sort("sip_timestamp", "sequence_number")
    price, size = pl.col("price"), pl.col("size")
    bars = (
        t.with_columns(bucket=bucket)
        .group_by(*by, "bucket")
        .agg(
            o=price.filter(pl.col("upd_oc")).first(),
            c=price.filter(pl.col("upd_oc")).last(),
            h=price.filter(pl.col("upd_hl")).max(),
            l=price.filter(pl.col("upd_hl")).min(),
            v=size.filter(pl.col("upd_vol")).sum(),
            pv=_PV.filter(pl.col("upd_vol")).sum(),
            n=pl.col("upd_vol").sum().cast(pl.Int64),
        )
        .filter(pl.col("o").is_not_null() & pl.col("h").is_not_null())
        .sort(*by, "bucket")
    )
    return _with_vw(bars).select(*by, "bucket", "o", "h", "l", "c", "v", "vw", "n")


def vwap_parts(
    trades_df: pl.DataFrame, bucket: pl.Expr, daily: bool, by: Sequence[str] = ("ticker",)
) -> pl.DataFrame:
    """Additive VWAP inputs of one batch of trades: (by..., bucket, pv, v) over volume-eligible
    prints. Batches of one day can be summed in any order (``vwap_from_parts``)."""
    by = list(by)
    if trades_df.is_empty():
        schema = {
            **{k: trades_df.schema[k] for k in by},
            "bucket": pl.Int64,
            "pv": pl.Float64,
            "v": pl.Float64,
        }
        return pl.DataFrame(schema=schema)
    return (
        with_eligibility(trades_df, daily)
        .with_columns(bucket=bucket)
        .group_by(*by, "bucket")
        .agg(
            pv=_PV.filter(pl.col("upd_vol")).sum(),
            v=pl.col("size").filter(pl.col("upd_vol")).sum(),
        )
    )


def vwap_from_parts(parts: Iterable[pl.DataFrame], by: Sequence[str] = ("ticker",)) -> pl.DataFrame:
    """Sum ``vwap_parts`` of every batch of a day: (by..., bucket, v, vw), sorted.

    ``vw`` is exactly ``aggregate``'s for the same trades; ``v`` (volume-eligible size) lets the
    caller check the rules against the vendor's own volume.
    """
    by = list(by)
    keys = [*by, "bucket"]
    total: pl.DataFrame | None = None
    pending: list[pl.DataFrame] = []
    pending_rows = 0

    def reduce(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return pl.concat(frames).group_by(keys).agg(pl.col("pv").sum(), pl.col("v").sum())

    for part in parts:
        pending.append(part)
        pending_rows += part.height
        if pending_rows > 2_000_000:  # bound memory on long streams
            total = reduce([total, *pending] if total is not None else pending)
            pending, pending_rows = [], 0
    frames = ([total] if total is not None else []) + pending
    if not frames:
        raise ValueError("vwap_from_parts needs at least one batch (an empty one is fine)")
    return _with_vw(reduce(frames).sort(keys)).select(*keys, "v", "vw")


def minute_bucket(day_midnight_ns: int, seconds: int = 60) -> pl.Expr:
    """Window start (ns) of each trade's ``seconds``-wide bar, aligned to the ET day."""
    width = seconds * 1_000_000_000
    return (pl.col("sip_timestamp") - day_midnight_ns) // width * width + day_midnight_ns


DAY_BUCKET = pl.lit(0, dtype=pl.Int64)

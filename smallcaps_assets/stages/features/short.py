"""Short features: FINRA short interest as published, and the previous session's short volume.

Inputs: the event rows (``event_id``, ``symbol``, ``ts``) of trading day D; the ``short_interest``
asset's partition D (rows with ``settlement_date``, ``published_at``; any number per symbol);
the ``short_volume`` asset's partition D-1 (``date``, ``available_at``); optionally the
``universe`` of D for ``float_shares``. A missing input (None) or a symbol without a row gives
null features, never zeros.

| feature | unit | source |
|---|---|---|
| ``short_interest_shares`` | shares | the latest settlement published before ``ts`` |
| ``short_interest_days_to_cover`` | days | its days to cover (short interest / average daily volume, as FINRA computes it) |
| ``short_interest_float_pct`` | % of float | short interest / the universe's ``float_shares`` of D x 100; null without a float |
| ``short_interest_age_days`` | calendar days | D minus that settlement date: how stale the snapshot is |
| ``short_volume_ratio_pct`` | % | short volume / total volume x 100 of the previous session's off-exchange prints |
| ``short_input_ts`` | UTC instant | the later of the used rows' ``published_at`` and ``available_at``; null when none was used |

Why it cannot see the future: a short interest row counts only when its ``published_at`` is before
``ts``: the evening (20:00 ET) of the 8th trading session after its settlement date
(stages/short_data.py; FINRA releases on the 7th-8th business day, after the close), so figures are
never read on or before the day they came out. Short volume of session D is released after D's
close, so only a row of the previous session with ``available_at`` (its 20:00 ET) before ``ts`` is
read. The float is the universe's point-in-time value of D, fixed before D's pre-market (its
residual look-ahead, the vendor's latest float percentage, is documented in docs/universe.md).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from ... import calendar as cal
from ..events.schema import UTC_NS

SHORT_FEATURE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "short_interest_shares": pl.Float64(),
    "short_interest_days_to_cover": pl.Float64(),
    "short_interest_float_pct": pl.Float64(),
    "short_interest_age_days": pl.Int64(),
    "short_volume_ratio_pct": pl.Float64(),
    "short_input_ts": UTC_NS,
}


def _latest_before(
    keys: pl.DataFrame, rows: pl.DataFrame | None, stamp: str, order: str, cols: dict
) -> pl.DataFrame:
    """Per event row (``_row``): ``cols`` of the symbol's row with the greatest ``order`` among
    those whose ``stamp`` is strictly before the event's ``ts``; ``stamp`` comes back as ``_at``."""
    schema = {"_row": pl.UInt32, **{name: pl.Float64 for name in cols}, order: pl.Date, "_at": UTC_NS}
    if rows is None or rows.is_empty():
        return pl.DataFrame(schema=schema)
    picked = rows.select(
        "symbol", pl.col(order).cast(pl.Date), pl.col(stamp).cast(UTC_NS).alias("_at"),
        *(expr.cast(pl.Float64).alias(name) for name, expr in cols.items()),
    )  # fmt: skip
    return (
        keys.join(picked, on="symbol", how="inner")
        .filter(pl.col("_at") < pl.col("ts"))
        .sort("_row", order, "_at")
        .group_by("_row", maintain_order=True)
        .last()
        .select(list(schema))
    )


def short_features(
    events: pl.DataFrame,
    short_interest: pl.DataFrame | None,
    short_volume: pl.DataFrame | None,
    day: dt.date,
    universe: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row per event (in the events' order) with the columns of ``SHORT_FEATURE_SCHEMA``
    (module docstring). ``short_volume`` rows of any session but D's previous one are ignored."""
    keys = events.select(pl.col("event_id").cast(pl.String), "symbol", pl.col("ts").cast(UTC_NS))
    keys = keys.with_row_index("_row")
    si = _latest_before(
        keys, short_interest, "published_at", "settlement_date",
        {"si": pl.col("short_interest"), "dtc": pl.col("days_to_cover")},
    )  # fmt: skip
    previous = cal.previous_trading_day(day)
    if short_volume is not None:
        short_volume = short_volume.filter(pl.col("date").cast(pl.Date) == previous)
    ratio = 100.0 * pl.col("short_volume") / pl.when(pl.col("total_volume") > 0).then(pl.col("total_volume"))
    sv = _latest_before(keys, short_volume, "available_at", "date", {"svr": ratio})
    floats = (
        universe.select("symbol", pl.col("float_shares").cast(pl.Float64))
        if universe is not None
        else pl.DataFrame(schema={"symbol": pl.String, "float_shares": pl.Float64})
    )
    float_ok = pl.col("float_shares") > 0
    return (
        keys.join(si.rename({"_at": "_si_at"}), on="_row", how="left")
        .join(sv.rename({"_at": "_sv_at"}).drop("date"), on="_row", how="left")
        .join(floats.unique("symbol"), on="symbol", how="left")
        .sort("_row")
        .select(
            "event_id",
            pl.col("si").alias("short_interest_shares"),
            pl.col("dtc").alias("short_interest_days_to_cover"),
            pl.when(float_ok)
            .then(100.0 * pl.col("si") / pl.col("float_shares"))
            .alias("short_interest_float_pct"),
            (pl.lit(day) - pl.col("settlement_date"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("short_interest_age_days"),
            pl.col("svr").alias("short_volume_ratio_pct"),
            pl.max_horizontal("_si_at", "_sv_at").alias("short_input_ts"),
        )
    )

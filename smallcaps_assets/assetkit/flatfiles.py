"""The flat-file source of ``daily_bars`` and ``minute_bars``: Dagster-facing helpers.

The aggregate files (``day_aggs_v1``, ``minute_aggs_v1``) are required: a trading day without
one fails the step and writes nothing, because the usual causes are a file the vendor has not
published yet (around 11:00 ET the next day) or a wrong ``flatfiles_root`` / endpoint, and an
empty partition would look like a market with no trades. Holidays never get here: they are not
partitions.

``trades_v1`` is optional. The aggregate files carry no VWAP, so when the day's trades file
exists the VWAP is rebuilt from it with the vendor's bar rules (``stages.trade_rules``), which
makes a flat-file partition identical to the REST one. Without it ``vwap`` stays null and the
materialisation says so: metadata ``vwap_source`` is ``none`` (``trades_v1`` when rebuilt, ``rest``
on the REST path).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from .. import flatfiles_source


def require_root(root: str | None) -> str:
    if not root:
        raise dg.Failure("source=flatfiles needs flatfiles_root (a folder or s3://bucket/prefix)")
    return root


def read_aggs(root: str, dataset: str, day: dt.date) -> pl.DataFrame:
    """One day's aggregate file; a missing file is a clear failure (see the module docstring)."""
    try:
        frame = flatfiles_source.read(root, dataset, day)
    except flatfiles_source.FlatFileError as exc:
        raise dg.Failure(str(exc)) from exc
    if frame is None:
        raise dg.Failure(
            f"no {dataset} flat file for {day} at {flatfiles_source.location(root, dataset, day)}. "
            "The vendor publishes a session's files around 11:00 ET the next day; otherwise check "
            "flatfiles_root (and SMALLCAPS_FLATFILES_ENDPOINT for s3://). Nothing was written."
        )
    return frame


def trade_vwap(
    context: dg.AssetExecutionContext,
    root: str,
    day: dt.date,
    *,
    daily: bool,
    tickers: list[str] | None,
) -> pl.DataFrame | None:
    """VWAP rebuilt from the day's trades_v1 file, or None (logged) when the file is absent."""
    try:
        vw = flatfiles_source.trade_vwap(root, day, daily=daily, tickers=tickers)
    except flatfiles_source.FlatFileError as exc:
        raise dg.Failure(str(exc)) from exc
    if vw is None:
        context.log.warning(
            f"no trades_v1 flat file for {day} under {root}: vwap is left null (metadata vwap_source=none)"
        )
    return vw


def vwap_metadata(vw: pl.DataFrame | None, mismatched: list[str]) -> dict[str, object]:
    if vw is None:
        return {"vwap_source": "none"}
    return {
        "vwap_source": "trades_v1",
        # Symbols whose aggregate-file volume the trades do not reproduce under our rules: their
        # rebuilt VWAP may differ from the vendor's (0 on the offline market).
        "vwap_volume_mismatches": len(mismatched),
        "vwap_volume_mismatch_symbols": ", ".join(mismatched[:50]) or "none",
    }

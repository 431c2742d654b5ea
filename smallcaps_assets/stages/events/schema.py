"""The event tables' output contract: column names and dtypes (a leaf: imports polars only).

``schemas.py`` builds the lake contracts of ``intraday_events`` and ``event_manifest`` from these, and
the detectors' registry (``registry.py``) is checked against the evidence columns: every column here is
filled by some detector, and a detector may only fill columns listed here.
"""

from __future__ import annotations

import polars as pl

UTC_NS = pl.Datetime("ns", "UTC")  # every timestamp of the lake
MINUTE_NS = 60_000_000_000

SESSIONS = ("PM", "RTH", "AH")

# (symbol, ts, event_type) identifies an event: unique in every event table.
EVENT_KEY_COLUMNS = ("symbol", "ts", "event_type")

# The columns every event row has, whatever its type.
EVENT_KEY_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "ts": UTC_NS,
    "event_type": pl.String(),
    "session": pl.String(),
    "direction": pl.Int64(),
    "strength": pl.Float64(),
}

# Context measured at the event's bar for every event, whatever its type (``inplay.py``): how far
# the symbol is "in play" so far today. Null when the symbol has no usable baseline.
CONTEXT_SCHEMA: dict[str, pl.DataType] = {
    "rvol_so_far": pl.Float64(),
}

# The typed evidence columns, in output order: null where a type does not use one (the registry entry
# of each type lists the ones it fills; docs/events.md describes them).
EVIDENCE_SCHEMA: dict[str, pl.DataType] = {
    "ev_open": pl.Float64(),
    "ev_high": pl.Float64(),
    "ev_close": pl.Float64(),
    "ev_volume": pl.Float64(),
    "ev_baseline": pl.Float64(),
    "ev_transactions": pl.Int64(),
    "ev_txn_baseline": pl.Float64(),
    "ev_window_minutes": pl.Int64(),
    "ev_bars": pl.Int64(),
    "ev_ref_price": pl.Float64(),
    "ev_vol_unit": pl.Float64(),
    "ev_vwap": pl.Float64(),
    "ev_level": pl.Float64(),
    "ev_level_ts": UTC_NS,
    "ev_or_high": pl.Float64(),
    "ev_or_low": pl.Float64(),
    "ev_or_minutes": pl.Int64(),
    "ev_range_high": pl.Float64(),
    "ev_range_low": pl.Float64(),
    "ev_pm_high": pl.Float64(),
    "ev_gap_pct": pl.Float64(),
    "ev_prior_close": pl.Float64(),
    "ev_pullback_low": pl.Float64(),
    "ev_prev_high": pl.Float64(),
    "ev_prev_low": pl.Float64(),
    "ev_halt_start": UTC_NS,
    "ev_halt_minutes": pl.Int64(),
    "ev_move_before_halt": pl.Float64(),
    "ev_band_pct": pl.Float64(),
    "ev_depth": pl.Float64(),
}
EVIDENCE_COLUMNS = tuple(EVIDENCE_SCHEMA)

# The fixed output schema of ``detect_intraday``: keys, context, then the evidence.
EVENT_SCHEMA: dict[str, pl.DataType] = {**EVENT_KEY_SCHEMA, **CONTEXT_SCHEMA, **EVIDENCE_SCHEMA}


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_SCHEMA)

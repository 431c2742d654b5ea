"""event_features' output contract: every column and its dtype (a leaf: imports polars only).

``schemas.event_features_contract`` is built from ``FEATURE_SCHEMA``; a test builds the features of
a simulated day and checks the registry's output is exactly this, so the contract, the families and
docs/features.md cannot drift apart.
"""

from __future__ import annotations

import polars as pl

from ..events.registry import EVENT_TYPES
from ..events.schema import UTC_NS
from .tape import TAPE_SCHEMA

KEY_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "ts": UTC_NS,
    "event_type": pl.String(),
    "session": pl.String(),
    "direction": pl.Int64(),
}

FAMILY_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "tape": {c: t for c, t in TAPE_SCHEMA.items() if c != "event_id"},
    "event_context": {
        "prior_events_today": pl.Int64(),
        "prior_same_type_today": pl.Int64(),
        **{f"prior_{t}_today": pl.Int64() for t in EVENT_TYPES},
        "minutes_since_prior_event": pl.Float64(),
        "event_strength": pl.Float64(),
        "event_score": pl.Float64(),
        "event_context_input_ts": UTC_NS,
    },
    "ssr": {
        "ssr_active": pl.Boolean(),
        "ssr_carried_over": pl.Boolean(),
        "ssr_triggered_today": pl.Boolean(),
        "minutes_since_ssr_trigger": pl.Float64(),
        "ssr_input_ts": UTC_NS,
    },
}

FEATURE_SCHEMA: dict[str, pl.DataType] = {
    **KEY_SCHEMA,
    **{c: t for family in FAMILY_SCHEMAS.values() for c, t in family.items()},
}

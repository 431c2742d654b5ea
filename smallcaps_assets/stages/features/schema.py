"""event_features' output contract: every column and its dtype, from each family's own schema.

``schemas.event_features_contract`` is built from ``FEATURE_SCHEMA``; a test builds the features of
a simulated day and checks the registry's output is exactly this, so the contract, the families and
docs/features.md cannot drift apart.
"""

from __future__ import annotations

import polars as pl

from ..events.registry import EVENT_TYPES
from ..events.schema import EVENT_KEY_SCHEMA, UTC_NS
from .bars import BAR_FEATURES
from .news import NEWS_FEATURE_SCHEMA
from .reference import REFERENCE_FEATURES
from .regime import REGIME_FEATURES
from .short import SHORT_FEATURE_SCHEMA
from .tape import TAPE_SCHEMA


def _without_key(schema: dict[str, pl.DataType]) -> dict[str, pl.DataType]:
    return {c: t for c, t in schema.items() if c != "event_id"}


# The event's keys, as intraday_events has them.
KEY_SCHEMA: dict[str, pl.DataType] = {
    c: EVENT_KEY_SCHEMA[c] for c in ("event_id", "symbol", "ts", "event_type", "session", "direction")
}

# In registry order (stages/features/__init__.py FAMILIES); a test checks both agree.
FAMILY_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "bars": _without_key(BAR_FEATURES),
    "tape": _without_key(TAPE_SCHEMA),
    "reference": _without_key(REFERENCE_FEATURES),
    "regime": _without_key(REGIME_FEATURES),
    "event_context": {
        "prior_events_today": pl.Int64(),
        "prior_same_type_today": pl.Int64(),
        **{f"prior_{t}_today": pl.Int64() for t in EVENT_TYPES},
        "minutes_since_prior_event": pl.Float64(),
        "event_strength": pl.Float64(),
        "event_score": pl.Float64(),
        "event_context_input_ts": UTC_NS,
    },
    "news": _without_key(NEWS_FEATURE_SCHEMA),
    "short": _without_key(SHORT_FEATURE_SCHEMA),
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

"""Gates of the universe: no large cap ever gets in, and every row obeys the rules it passed (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from ..gates import Gate, GateResult
from .universe import UniverseRules


@dataclass(frozen=True)
class UniverseGateParams:
    """What the gates compare against: the run's rules, and the large-cap line, kept separate from
    the rule's ``max_market_cap`` so that switching the rule off (None) is still caught."""

    rules: UniverseRules = field(default_factory=UniverseRules)
    large_cap: float = 2.0e9

    @property
    def types(self) -> str:
        return ", ".join(self.rules.types)

    @property
    def exchanges(self) -> str:
        return ", ".join(self.rules.exchanges)


DEFAULTS = UniverseGateParams()

NO_LARGE_CAPS = Gate(
    "no_large_caps", "Every market cap is known and under ${p.large_cap:,.0f}.", params=DEFAULTS
)
PRICE_BAND = Gate(
    "universe_price_band",
    "Every prior close lies inside ${p.rules.min_price:.2f}-${p.rules.max_price:.2f}.",
    params=DEFAULTS,
)
TYPES = Gate("universe_types", "Only admitted security types ({p.types}).", params=DEFAULTS)
NO_OTC = Gate("universe_no_otc", "Only national exchanges ({p.exchanges}), no OTC.", params=DEFAULTS)
UNKNOWN_CAP_SHARE = Gate(
    "universe_unknown_cap_share",
    "At most {p.rules.max_unknown_cap_share:.0%} of the price-band candidates lack a known cap.",
    params=DEFAULTS,
)
UNIVERSE_GATES = (NO_LARGE_CAPS, PRICE_BAND, TYPES, NO_OTC, UNKNOWN_CAP_SHARE)


def universe_gates(
    universe: pl.DataFrame, counts: dict[str, int], params: UniverseGateParams = DEFAULTS
) -> list[GateResult]:
    """``counts``: ``stages.universe.exclusion_counts`` of the day's audit."""
    rules = params.rules
    unknown_share = counts["unknown_caps_excluded"] / max(1, counts["price_band_candidates"])
    return [
        NO_LARGE_CAPS.rows(
            universe,
            pl.col("market_cap").is_not_null() & (pl.col("market_cap") < params.large_cap),
            params=params,
        ),
        PRICE_BAND.rows(
            universe, pl.col("prior_close").is_between(rules.min_price, rules.max_price), params=params
        ),
        TYPES.rows(universe, pl.col("type").is_in(list(rules.types)), params=params),
        NO_OTC.rows(universe, pl.col("primary_exchange").is_in(list(rules.exchanges)), params=params),
        UNKNOWN_CAP_SHARE.judge(
            unknown_share <= rules.max_unknown_cap_share,
            {"unknown_cap_share": round(unknown_share, 4)},
            params=params,
        ),
    ]

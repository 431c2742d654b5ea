"""universe: the point-in-time small-cap universe with its GO/NO-GO gates."""

from collections.abc import Iterator

import dagster as dg

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import DAILY_BARS, TICKER_DETAILS, TICKER_REFERENCE, UNIVERSE
from ..assetkit import daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import universe_quality as quality
from ..stages.universe import UniverseRules, build_universe, exclusion_counts

ADV_LOOKBACK = UniverseRules().adv_sessions


class UniverseConfig(dg.Config):
    """Every universe threshold; defaults are UniverseRules' (docs/universe.md)."""

    types: list[str] = list(UniverseRules().types)
    exchanges: list[str] = list(UniverseRules().exchanges)
    min_price: float = UniverseRules().min_price
    max_price: float = UniverseRules().max_price
    max_market_cap: float | None = UniverseRules().max_market_cap
    max_float: float = UniverseRules().max_float
    min_adv_dollar: float = UniverseRules().min_adv_dollar
    min_adv_sessions: int = UniverseRules().min_adv_sessions
    max_unknown_cap_share: float = UniverseRules().max_unknown_cap_share
    # The gate's threshold is separate from the rule's, so switching the rule off (None) is caught.
    large_cap_gate: float = quality.DEFAULTS.large_cap

    def rules(self) -> UniverseRules:
        return UniverseRules(**self.model_dump(exclude={"large_cap_gate"}))


@daily_asset(
    UNIVERSE,
    schemas.Universe,
    quality.UNIVERSE_GATES,
    group=UNIVERSE,
    deps=[
        TICKER_REFERENCE,
        dg.AssetDep(TICKER_DETAILS, partition_mapping=sessions_window(-1, -1)),
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-ADV_LOOKBACK, -1)),
    ],
)
def universe(context: dg.AssetExecutionContext, config: UniverseConfig) -> Iterator[checks.CheckedEvent]:
    """Symbols eligible on the trading day, from data known before its open: common stock on a
    national exchange, prior close $0.50-$20, **market cap (point-in-time shares x prior close)
    under $2B**, float under 100M where known, and a minimum 20-session average dollar volume.
    Rows carry every value the rules compared; metadata counts the exclusions per rule,
    including how many large caps were kept out."""
    day = partition_day(context)
    rules = config.rules()
    reference = lake.read_partition(TICKER_REFERENCE, day)
    if reference is None:
        raise dg.Failure(f"ticker_reference for {day} is missing")
    prior = cal.previous_trading_day(day)
    details = lake.read_partition(TICKER_DETAILS, prior) if prior else None
    history = lake.read_partitions(DAILY_BARS, cal.sessions_before(day, rules.adv_sessions))
    if history is None:
        raise dg.Failure(f"no daily_bars before {day}: materialize at least the prior session")
    eligible, audit = build_universe(day, reference, details, history, rules)
    frame = schemas.enforce(schemas.Universe, eligible)
    counts = exclusion_counts(audit)
    gates = quality.universe_gates(frame, counts, quality.UniverseGateParams(rules, config.large_cap_gate))
    written = lake.write_partition(UNIVERSE, day, frame, sort_by=["symbol"])
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "universe_size": frame.height,
                **counts,
                "details_as_of": prior.isoformat() if prior else "none",
                "median_market_cap": float(frame["market_cap"].median() or 0.0),
            },
            check_results=checks.results(UNIVERSE, gates),
        )
    )

"""universe: the point-in-time small-cap universe with its GO/NO-GO gates."""

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import lake, schemas
from ..checks import results, spec
from ..gates import evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..stages.universe import UniverseRules, build_universe, exclusion_counts
from .common import DAILY_FRESHNESS, DOWNSTREAM_AUTOMATION, ONE_DAY_PER_RUN, partition_day, sessions_window

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
    large_cap_gate: float = 2.0e9

    def rules(self) -> UniverseRules:
        return UniverseRules(**self.model_dump(exclude={"large_cap_gate"}))


GATES = {
    "no_large_caps": "No row has a market cap at or above the cap (blocking).",
    "universe_price_band": "Every prior close lies inside the price band.",
    "universe_types": "Only admitted security types.",
    "universe_no_otc": "Only national exchanges, no OTC.",
    "universe_unknown_cap_share": "Share of price-band candidates without a known cap is under the threshold.",
}


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="universe",
    kinds={"parquet"},
    deps=[
        "ticker_reference",
        dg.AssetDep(
            "ticker_details",
            partition_mapping=sessions_window(-1, -1),
        ),
        dg.AssetDep(
            "daily_bars",
            partition_mapping=sessions_window(-ADV_LOOKBACK, -1),
        ),
    ],
    freshness_policy=DAILY_FRESHNESS,
    automation_condition=DOWNSTREAM_AUTOMATION,
    check_specs=[spec("universe", name, text) for name, text in GATES.items()],
)
def universe(context: dg.AssetExecutionContext, config: UniverseConfig) -> dg.MaterializeResult:
    """Symbols eligible on the trading day, from data known before its open: common stock on a
    national exchange, prior close $0.50-$20, **market cap (point-in-time shares x prior close)
    under $2B**, float under 100M where known, and a minimum 20-session average dollar volume.
    Rows carry every value the rules compared; metadata counts the exclusions per rule,
    including how many large caps were kept out."""
    day = partition_day(context)
    rules = config.rules()
    reference = lake.read_partition("ticker_reference", day)
    if reference is None:
        raise dg.Failure(f"ticker_reference for {day} is missing")
    prior = cal.previous_trading_day(day)
    details = lake.read_partition("ticker_details", prior) if prior else None
    history = lake.read_partitions("daily_bars", cal.sessions_before(day, rules.adv_sessions))
    if history is None:
        raise dg.Failure(f"no daily_bars before {day}: materialize at least the prior session")
    eligible, audit = build_universe(day, reference, details, history, rules)
    frame = schemas.enforce(schemas.Universe, eligible)
    counts = exclusion_counts(audit)
    unknown_share = counts["unknown_caps_excluded"] / max(1, counts["price_band_candidates"])
    cap = config.large_cap_gate
    gates = [
        evaluate(
            row_rule(
                "no_large_caps",
                pl.col("market_cap").is_not_null() & (pl.col("market_cap") < cap),
                f"market_cap known and < ${cap:,.0f}",
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "universe_price_band",
                pl.col("prior_close").is_between(rules.min_price, rules.max_price),
                f"prior close in [{rules.min_price}, {rules.max_price}]",
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "universe_types", pl.col("type").is_in(list(rules.types)), f"type in {list(rules.types)}"
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "universe_no_otc",
                pl.col("primary_exchange").is_in(list(rules.exchanges)),
                "primary exchange is a national exchange",
            ),
            frame,
        ),
        evaluate(
            frame_rule(
                "universe_unknown_cap_share",
                lambda f: unknown_share <= rules.max_unknown_cap_share,
                f"unknown-cap share <= {rules.max_unknown_cap_share}",
            ),
            frame,
            {"unknown_cap_share": round(unknown_share, 4)},
        ),
    ]
    written = lake.write_partition("universe", day, frame, sort_by=["symbol"])
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "universe_size": frame.height,
            **counts,
            "details_as_of": prior.isoformat() if prior else "none",
            "median_market_cap": float(frame["market_cap"].median() or 0.0),
        },
        check_results=results("universe", gates),
    )

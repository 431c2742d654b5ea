"""event_manifest: the intraday events selected for trades/quotes download, with their windows."""

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import lake
from ..checks import results, spec
from ..gates import evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..schemas import enforce, event_manifest_contract
from ..stages import manifest as mf
from .common import DAILY_FRESHNESS, DOWNSTREAM_AUTOMATION, ONE_DAY_PER_RUN, partition_day, sessions_window

GROUP = "microstructure"
MAX_WINDOW_SESSIONS = 20  # the self-dependency below covers a trailing window up to this long
MIX_SESSIONS = 20  # trailing manifests the session-mix and type-balance rules look at
MIX_MIN_EVENTS = 20  # below this many rows the distribution rules pass (too few to judge)
_R = mf.ManifestRules()


class ManifestConfig(dg.Config):
    """Selection rules (defaults from the old system; docs/manifest.md)."""

    min_score: float = _R.min_score
    max_per_symbol_day: int = _R.max_per_symbol_day
    max_per_symbol_window: int = _R.max_per_symbol_window
    window_sessions: int = _R.window_sessions
    min_bar_dollar_volume: float = _R.min_bar_dollar_volume
    min_bar_shares: float = _R.min_bar_shares
    max_spread_pct: float = _R.max_spread_pct
    spread_bars: int = _R.spread_bars
    max_market_cap: float = _R.max_market_cap
    minutes_before: int = _R.minutes_before
    minutes_after: int = _R.minutes_after
    max_type_share: float = 0.60
    min_rth_share: float = 0.50
    max_rth_share: float = 0.95

    def rules(self) -> mf.ManifestRules:
        try:
            rules = mf.ManifestRules(
                **self.model_dump(exclude={"max_type_share", "min_rth_share", "max_rth_share"})
            )
        except ValueError as exc:
            raise dg.Failure(f"invalid manifest config: {exc}") from exc
        if rules.window_sessions > MAX_WINDOW_SESSIONS:
            raise dg.Failure(f"window_sessions must be <= {MAX_WINDOW_SESSIONS}, got {rules.window_sessions}")
        return rules


MANIFEST_GATES = {
    "manifest_key_unique": "event_id and (symbol, ts, event_type) are unique.",
    "manifest_score_rule": "Every score is known and >= min_score.",
    "manifest_no_large_caps": "Every market cap is known and < max_market_cap (re-checked).",
    "manifest_liquidity_rule": "Event bar dollar volume and shares at least the minimums.",
    "manifest_spread_rule": "Estimated spread at the event <= max_spread_pct.",
    "manifest_window_bounds": "minutes_before <= window around ts <= minutes_after, inside 04:00-20:00 ET.",
    "manifest_in_universe": "Every symbol is in that day's universe.",
    "manifest_symbol_limits": "<= max_per_symbol_day per symbol today and <= max_per_symbol_window over the window.",
    "manifest_session_mix": "Regular-hours share of the trailing manifests in [50%, 95%] (warn).",
    "manifest_type_balance": "No event type above 60% of the trailing manifests (warn).",
}
WARN = {"manifest_session_mix", "manifest_type_balance"}


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name=GROUP,
    kinds={"parquet"},
    deps=[
        "intraday_events",
        "minute_bars",
        "universe",
        # Per-symbol limits count earlier manifests: a self-dependency, so lineage shows it.
        dg.AssetDep("event_manifest", partition_mapping=sessions_window(-(MAX_WINDOW_SESSIONS - 1), -1)),
    ],
    freshness_policy=DAILY_FRESHNESS,
    automation_condition=DOWNSTREAM_AUTOMATION,
    check_specs=[
        spec("event_manifest", name, text, blocking=name not in WARN) for name, text in MANIFEST_GATES.items()
    ],
)
def event_manifest(context: dg.AssetExecutionContext, config: ManifestConfig) -> dg.MaterializeResult:
    """Intraday events selected for trades/quotes download: score >= 0.60, at most 1 per symbol
    per day and 3 per symbol over 5 sessions, event bar >= $100K and >= 10K shares, estimated
    spread <= 5% (close-high-low estimator on the bars up to the event), symbol in the day's
    universe with cap < $2B (re-checked), each with its window [ts - 3 min, ts + 7 min).
    ``manifest_sha256`` in metadata hashes the windows asked for; every downloaded window
    records it. Metadata ``funnel_*`` counts the events left after each rule."""
    day = partition_day(context)
    rules = config.rules()
    events = lake.read_partition("intraday_events", day)
    bars = lake.read_partition("minute_bars", day)
    uni = lake.read_partition("universe", day)
    if events is None or bars is None or uni is None:
        raise dg.Failure(f"intraday_events, minute_bars or universe for {day} is missing")
    prior = lake.read_partitions("event_manifest", cal.sessions_before(day, rules.window_sessions - 1))
    frame, funnel = mf.select(day, events, bars, uni, prior, rules)
    frame = enforce(event_manifest_contract(), frame)
    written = lake.write_partition("event_manifest", day, frame, sort_by=["symbol", "ts", "event_type"])
    sha = mf.content_hash(frame)

    recent = lake.read_partitions("event_manifest", cal.sessions_before(day, MIX_SESSIONS - 1))
    trailing = frame if recent is None else pl.concat([recent, frame], how="diagonal_relaxed")
    gates = _gates(frame, day, uni, prior, rules, config, trailing)
    by_type = dict(frame.group_by("event_type").len().iter_rows())
    by_session = dict(frame.group_by("session").len().iter_rows())
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "manifest_sha256": sha,
            "events": frame.height,
            **{f"funnel_{k}": v for k, v in funnel.items()},
            **{f"type_{k}": int(v) for k, v in sorted(by_type.items())},
            **{f"session_{k}": int(v) for k, v in sorted(by_session.items())},
            "dagster/row_count": frame.height,
        },
        check_results=results("event_manifest", gates, warn=WARN),
    )


def _gates(frame, day, uni, prior, rules: mf.ManifestRules, config: ManifestConfig, trailing):
    sess = cal.session(day)
    assert sess is not None
    before = pl.duration(minutes=rules.minutes_before)
    after = pl.duration(minutes=rules.minutes_after)
    in_bounds = (
        (pl.col("window_start") < pl.col("window_end"))
        & (pl.col("window_start") <= pl.col("ts"))
        & (pl.col("ts") <= pl.col("window_end"))
        & (pl.col("window_start") >= pl.col("ts") - before)
        & (pl.col("window_end") <= pl.col("ts") + after)
        & (pl.col("window_start") >= pl.lit(sess.pre_open).cast(mf.UTC_NS))
        & (pl.col("window_end") <= pl.lit(sess.post_close).cast(mf.UTC_NS))
    )
    keys_unique = (
        not frame["event_id"].is_duplicated().any()
        and not frame.select("symbol", "ts", "event_type").is_duplicated().any()
    )
    per_day = frame.group_by("symbol").len()
    prior_counts = (
        prior.group_by("symbol").len().rename({"len": "prior"})
        if prior is not None and prior.height
        else pl.DataFrame(schema={"symbol": pl.String, "prior": pl.UInt32})
    )
    limits = per_day.join(prior_counts, on="symbol", how="left").with_columns(pl.col("prior").fill_null(0))
    over_day = limits.filter(pl.col("len") > rules.max_per_symbol_day).height
    over_window = limits.filter(pl.col("len") + pl.col("prior") > rules.max_per_symbol_window).height
    members = uni["symbol"].implode()

    n = trailing.height
    rth = float((trailing["session"] == "RTH").mean()) if n else 0.0
    top_type = trailing.group_by("event_type").len()["len"].max() / n if n else 0.0
    judged = n >= MIX_MIN_EVENTS
    return [
        evaluate(frame_rule("manifest_key_unique", lambda f: keys_unique, "unique keys"), frame),
        evaluate(
            row_rule(
                "manifest_score_rule",
                pl.col("score").is_not_null() & (pl.col("score") >= rules.min_score),
                f"score >= {rules.min_score}",
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "manifest_no_large_caps",
                pl.col("market_cap").is_not_null() & (pl.col("market_cap") < rules.max_market_cap),
                f"market_cap < {rules.max_market_cap:,.0f}",
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "manifest_liquidity_rule",
                (pl.col("bar_dollar_volume") >= rules.min_bar_dollar_volume)
                & (pl.col("bar_volume") >= rules.min_bar_shares),
                f"bar >= ${rules.min_bar_dollar_volume:,.0f} and >= {rules.min_bar_shares:,.0f} shares",
            ),
            frame,
        ),
        evaluate(
            row_rule(
                "manifest_spread_rule",
                pl.col("est_spread_pct") <= rules.max_spread_pct,
                f"estimated spread <= {rules.max_spread_pct}%",
            ),
            frame,
        ),
        evaluate(
            row_rule("manifest_window_bounds", in_bounds, "window around ts, inside the session"), frame
        ),
        evaluate(
            row_rule("manifest_in_universe", pl.col("symbol").is_in(members), "symbol in the day's universe"),
            frame,
        ),
        evaluate(
            frame_rule(
                "manifest_symbol_limits", lambda f: over_day == 0 and over_window == 0, "per-symbol limits"
            ),
            frame,
            {"symbols_over_day_limit": over_day, "symbols_over_window_limit": over_window},
        ),
        evaluate(
            frame_rule(
                "manifest_session_mix",
                lambda f: not judged or config.min_rth_share <= rth <= config.max_rth_share,
                f"RTH share in [{config.min_rth_share}, {config.max_rth_share}]",
            ),
            frame,
            {"rth_share": round(rth, 4), "trailing_events": n},
        ),
        evaluate(
            frame_rule(
                "manifest_type_balance",
                lambda f: not judged or top_type <= config.max_type_share,
                f"no type above {config.max_type_share:.0%}",
            ),
            frame,
            {"top_type_share": round(float(top_type), 4), "trailing_events": n},
        ),
    ]

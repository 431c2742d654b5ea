"""The GO/NO-GO gates of event_manifest (pure): every selection rule re-checked on the written
rows, the per-symbol limits against earlier manifests, and the trailing mix of sessions and types."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from .. import calendar as cal
from ..gates import Gate, GateResult, share_confidently_outside
from . import manifest as mf


@dataclass(frozen=True)
class ManifestGateParams:
    """The run's selection rules, and the distribution rules' thresholds (judged only once the
    trailing manifests hold ``mix_min_events`` rows: fewer are too few to judge)."""

    rules: mf.ManifestRules = field(default_factory=mf.ManifestRules)
    max_type_share: float = 0.60
    # The default market's manifests are about half regular hours (the pre-market gappers are
    # the other half): the trailing 20 sessions' RTH share ran 0.49-0.62 over 61 sessions
    # (docs/manifest.md), so the old 0.50 floor sat on the median and failed 17 of 62 days. The
    # band now leaves room on both sides, and a share fails only when the trailing count shows,
    # at ``mix_alpha`` (exact one-sided binomial test), that the true share is outside it.
    min_rth_share: float = 0.40
    max_rth_share: float = 0.85
    mix_alpha: float = 0.001
    mix_min_events: int = 20


DEFAULTS = ManifestGateParams()
MIX_SESSIONS = 20  # trailing manifests the session-mix and type-balance rules look at

KEY_UNIQUE = Gate("manifest_key_unique", "event_id and (symbol, ts, event_type) are unique.")
SCORE_RULE = Gate(
    "manifest_score_rule", "Every score is known and >= {p.rules.min_score:.2f}.", params=DEFAULTS
)
NO_LARGE_CAPS = Gate(
    "manifest_no_large_caps",
    "Every market cap is known and under ${p.rules.max_market_cap:,.0f} (re-checked).",
    params=DEFAULTS,
)
LIQUIDITY_RULE = Gate(
    "manifest_liquidity_rule",
    "The event bar traded at least ${p.rules.min_bar_dollar_volume:,.0f} and "
    "{p.rules.min_bar_shares:,.0f} shares.",
    params=DEFAULTS,
)
SPREAD_RULE = Gate(
    "manifest_spread_rule", "Estimated spread at the event <= {p.rules.max_spread_pct:g}%.", params=DEFAULTS
)
WINDOW_BOUNDS = Gate(
    "manifest_window_bounds",
    "Each window holds ts, starts at most {p.rules.minutes_before} min before it, ends at most "
    "{p.rules.minutes_after} min after it, inside 04:00-20:00 ET.",
    params=DEFAULTS,
)
IN_UNIVERSE = Gate("manifest_in_universe", "Every symbol is in that day's universe.")
SYMBOL_LIMITS = Gate(
    "manifest_symbol_limits",
    "At most {p.rules.max_per_symbol_type_day} per symbol and type and {p.rules.max_per_symbol_day} per "
    "symbol today, and {p.rules.max_per_symbol_window} over {p.rules.window_sessions} sessions.",
    params=DEFAULTS,
)
SESSION_MIX = Gate(
    "manifest_session_mix",
    f"The last {MIX_SESSIONS} manifests' regular-hours share is not shown, at test level "
    "{p.mix_alpha:g}, to lie outside [{p.min_rth_share:.0%}, {p.max_rth_share:.0%}] (judged from "
    "{p.mix_min_events} events).",
    "warn",
    DEFAULTS,
)
TYPE_BALANCE = Gate(
    "manifest_type_balance",
    f"No event type above {{p.max_type_share:.0%}} of the last {MIX_SESSIONS} manifests "
    "(judged from {p.mix_min_events} events).",
    "warn",
    DEFAULTS,
)
MANIFEST_GATES = (
    KEY_UNIQUE,
    SCORE_RULE,
    NO_LARGE_CAPS,
    LIQUIDITY_RULE,
    SPREAD_RULE,
    WINDOW_BOUNDS,
    IN_UNIVERSE,
    SYMBOL_LIMITS,
    SESSION_MIX,
    TYPE_BALANCE,
)


def manifest_gates(
    frame: pl.DataFrame,
    day: dt.date,
    universe: pl.DataFrame,
    prior: pl.DataFrame | None,
    trailing: pl.DataFrame,
    params: ManifestGateParams = DEFAULTS,
) -> list[GateResult]:
    """``prior``: the earlier manifests the per-symbol window counts; ``trailing``: the last
    ``MIX_SESSIONS`` manifests, today's included, for the distribution rules."""
    rules = params.rules
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
    per_type = frame.group_by("symbol", "event_type").len()
    over_type = per_type.filter(pl.col("len") > rules.max_per_symbol_type_day)["symbol"].n_unique()

    n = trailing.height
    rth_count = int((trailing["session"] == "RTH").sum()) if n else 0
    rth = rth_count / n if n else 0.0
    top_type = trailing.group_by("event_type").len()["len"].max() / n if n else 0.0
    judged = n >= params.mix_min_events
    return [
        KEY_UNIQUE.judge(keys_unique),
        SCORE_RULE.rows(
            frame, pl.col("score").is_not_null() & (pl.col("score") >= rules.min_score), params=params
        ),
        NO_LARGE_CAPS.rows(
            frame,
            pl.col("market_cap").is_not_null() & (pl.col("market_cap") < rules.max_market_cap),
            params=params,
        ),
        LIQUIDITY_RULE.rows(
            frame,
            (pl.col("bar_dollar_volume") >= rules.min_bar_dollar_volume)
            & (pl.col("bar_volume") >= rules.min_bar_shares),
            params=params,
        ),
        SPREAD_RULE.rows(frame, pl.col("est_spread_pct") <= rules.max_spread_pct, params=params),
        WINDOW_BOUNDS.rows(frame, in_bounds, params=params),
        IN_UNIVERSE.rows(frame, pl.col("symbol").is_in(universe["symbol"].implode())),
        SYMBOL_LIMITS.judge(
            over_type == 0 and over_day == 0 and over_window == 0,
            {
                "symbols_over_type_limit": over_type,
                "symbols_over_day_limit": over_day,
                "symbols_over_window_limit": over_window,
            },
            params,
        ),
        SESSION_MIX.judge(
            not judged
            or not share_confidently_outside(
                rth_count, n, params.min_rth_share, params.max_rth_share, params.mix_alpha
            ),
            {"rth_share": round(rth, 4), "trailing_events": n},
            params,
        ),
        TYPE_BALANCE.judge(
            not judged or top_type <= params.max_type_share,
            {"top_type_share": round(float(top_type), 4), "trailing_events": n},
            params,
        ),
    ]

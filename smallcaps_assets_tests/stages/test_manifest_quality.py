"""Every GO/NO-GO gate of event_manifest fails on the input it guards against, and passes on a
clean one."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.defs import manifest as manifest_defs
from smallcaps_assets.stages import manifest as mf
from smallcaps_assets.stages import manifest_quality as quality
from smallcaps_assets.stages import windows as win

from .microstructure_cases import DAY, clean_manifest


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    return clean_manifest()


def manifest_gates(frame, prior=None, trailing=None, universe=None, params=quality.DEFAULTS):
    uni = universe if universe is not None else frame.select("symbol").unique()
    trailing = trailing if trailing is not None else frame
    return {g.name: g for g in quality.manifest_gates(frame, DAY, uni, prior, trailing, params)}


def set_row(row: int, **values: float):
    """A mutation: row ``row`` of the frame gets ``values`` (column=value), the others keep theirs."""
    is_row = pl.int_range(pl.len()) == row
    return lambda f: f.with_columns(
        **{col: pl.when(is_row).then(v).otherwise(col) for col, v in values.items()}
    )


def test_a_clean_manifest_passes_every_gate(clean):
    gates = manifest_gates(clean)
    assert list(gates) == [g.name for g in quality.MANIFEST_GATES]
    assert all(g.passed for g in gates.values()), [g.name for g in gates.values() if not g.passed]


@pytest.mark.parametrize(
    ("gate", "mutate"),
    [
        ("manifest_key_unique", lambda f: pl.concat([f, f.head(1)])),
        ("manifest_score_rule", set_row(0, score=0.59)),
        ("manifest_no_large_caps", set_row(0, market_cap=2.0e9)),
        ("manifest_liquidity_rule", set_row(3, bar_volume=9_999.0)),
        ("manifest_spread_rule", set_row(2, est_spread_pct=5.01)),
        (
            "manifest_window_bounds",
            lambda f: f.with_columns(
                window_end=(pl.col("window_end") + dt.timedelta(minutes=1)).cast(win.UTC_NS)
            ),
        ),
        (
            "manifest_window_bounds",
            lambda f: f.with_columns(window_start=(pl.col("ts") + dt.timedelta(seconds=1)).cast(win.UTC_NS)),
        ),
    ],
)
def test_each_row_rule_fails_on_a_bad_row(clean, gate, mutate):
    gates = manifest_gates(mutate(clean), universe=clean.select("symbol"))
    assert not gates[gate].passed
    others = {g.name for g in gates.values() if not g.passed} - {gate}
    # a duplicated row also puts its symbol over the per-day limit; every other rule stands alone
    assert others <= ({"manifest_symbol_limits"} if gate == "manifest_key_unique" else set())


def test_universe_membership(clean):
    gates = manifest_gates(clean, universe=clean.select("symbol").head(29))
    assert not gates["manifest_in_universe"].passed and gates["manifest_in_universe"].failures == 1


def test_per_symbol_limits_count_prior_manifests(clean):
    sym = clean["symbol"][0]
    rules = quality.DEFAULTS.rules
    today = clean.filter(pl.col("symbol") == sym).height
    room = rules.max_per_symbol_window - today
    prior = pl.DataFrame({"symbol": [sym] * room})
    assert manifest_gates(clean, prior=prior)["manifest_symbol_limits"].passed
    prior = pl.DataFrame({"symbol": [sym] * (room + 1)})
    gate = manifest_gates(clean, prior=prior)["manifest_symbol_limits"]
    assert not gate.passed and gate.figures["symbols_over_window_limit"] == 1


def _more_of_first(clean: pl.DataFrame, n: int, types: list[str]) -> pl.DataFrame:
    first = clean.head(1)
    extra = [
        first.with_columns(
            event_id=pl.lit(f"x{i}"),
            event_type=pl.lit(types[i]),
            ts=(pl.col("ts") + dt.timedelta(minutes=i + 1)).cast(win.UTC_NS),
        )
        for i in range(n)
    ]
    return pl.concat([clean, *extra])


def test_per_symbol_day_and_type_limits(clean):
    rules = quality.DEFAULTS.rules
    first_type = clean["event_type"][0]
    others = [t for t in ("hod_break", "flush", "vwap_break", "gap_and_go") if t != first_type]
    at_limit = _more_of_first(clean, rules.max_per_symbol_day - 1, others)
    assert manifest_gates(at_limit)["manifest_symbol_limits"].passed
    over_day = _more_of_first(clean, rules.max_per_symbol_day, others)
    assert manifest_gates(over_day)["manifest_symbol_limits"].figures["symbols_over_day_limit"] == 1
    same_type = _more_of_first(clean, 1, [first_type])
    gate = manifest_gates(same_type)["manifest_symbol_limits"]
    assert not gate.passed and gate.figures["symbols_over_type_limit"] == 1


def test_distribution_rules_are_judged_on_the_trailing_manifests(clean):
    after_hours = clean.with_columns(session=pl.lit("AH"), event_type=pl.lit("flush"))
    gates = manifest_gates(clean, trailing=after_hours)
    assert (
        not gates["manifest_session_mix"].passed and gates["manifest_session_mix"].figures["rth_share"] == 0
    )
    assert not gates["manifest_type_balance"].passed  # one type only
    few = manifest_gates(clean, trailing=after_hours.head(quality.DEFAULTS.mix_min_events - 1))
    assert few["manifest_session_mix"].passed and few["manifest_type_balance"].passed
    warn = {name for name, g in gates.items() if g.severity == "warn"}
    assert warn == {"manifest_session_mix", "manifest_type_balance"}


def test_results_quote_the_run_thresholds(clean):
    """A run with a stricter rule is judged, and described, with its own threshold."""
    strict = quality.ManifestGateParams(mf.ManifestRules(min_score=0.95))
    gate = manifest_gates(clean, params=strict)["manifest_score_rule"]
    assert not gate.passed and gate.failures == clean.height  # every score is 0.9
    assert "0.95" in gate.description
    assert "0.60" in quality.SCORE_RULE.describe()  # the check's own text: the default


def test_manifest_rules_reach_the_config():
    with pytest.raises(Exception, match="window_sessions"):
        manifest_defs.ManifestConfig(window_sessions=21).rules()
    assert manifest_defs.ManifestConfig().rules() == mf.ManifestRules()
    config = manifest_defs.ManifestConfig()
    assert (config.max_type_share, config.min_rth_share, config.max_rth_share) == (
        quality.DEFAULTS.max_type_share,
        quality.DEFAULTS.min_rth_share,
        quality.DEFAULTS.max_rth_share,
    )


def _trailing(clean: pl.DataFrame, n: int, rth: int) -> pl.DataFrame:
    """``n`` trailing manifest rows, ``rth`` of them in regular hours, the rest pre-market."""
    rows = pl.concat([clean] * (n // clean.height + 1)).head(n)
    return rows.with_columns(
        session=pl.when(pl.int_range(pl.len()) < rth).then(pl.lit("RTH")).otherwise(pl.lit("PM"))
    )


def test_session_mix_is_quiet_on_the_healthy_half_and_half_and_fires_on_a_drift(clean):
    """The default market's manifests are about half regular hours: 38 of 80 (0.475) failed the old
    0.50 floor; a drift to 20% regular hours, or to all of them, over 80 events fails."""
    mix = "manifest_session_mix"
    assert manifest_gates(clean, trailing=_trailing(clean, 80, 38))[mix].passed
    assert manifest_gates(clean, trailing=_trailing(clean, 80, 50))[mix].passed
    drift = manifest_gates(clean, trailing=_trailing(clean, 80, 16))[mix]
    assert not drift.passed and drift.figures == {"rth_share": 0.2, "trailing_events": 80}
    assert not manifest_gates(clean, trailing=_trailing(clean, 80, 80))[mix].passed
    # A smaller trailing window needs a clearer skew: 6 of 20 (30%) is not shown below 40%.
    assert manifest_gates(clean, trailing=_trailing(clean, 20, 6))[mix].passed

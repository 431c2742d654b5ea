"""Universe rules at their boundaries, on hand-built frames."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.stages.universe import UniverseRules, build_universe, exclusion_counts

DAY = dt.date(2024, 3, 6)
PRIOR = [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]


def _frames(**over):
    base = {
        "symbol": "ABCD", "type": "CS", "market": "stocks", "primary_exchange": "XNAS", "close": 5.0,
        "volume": 400_000.0, "shares": 100e6, "float": 50e6,
    }  # fmt: skip
    base.update(over)
    reference = pl.DataFrame(
        {"symbol": [base["symbol"]], "type": [base["type"]], "market": [base["market"]],
         "primary_exchange": [base["primary_exchange"]], "active": [True]}
    )  # fmt: skip
    details = pl.DataFrame(
        {"symbol": [base["symbol"]], "weighted_shares_outstanding": [base["shares"]],
         "as_of": [PRIOR[-1]], "float_shares": [base["float"]]},
        schema_overrides={"weighted_shares_outstanding": pl.Float64, "float_shares": pl.Float64},
    )  # fmt: skip
    history = pl.DataFrame(
        {
            "date": PRIOR,
            "symbol": [base["symbol"]] * 2,
            "close": [base["close"]] * 2,
            "volume": [base["volume"]] * 2,
        }
    )
    return reference, details, history


def _run(rules=None, **over):
    reference, details, history = _frames(**over)
    rules = rules or UniverseRules(min_adv_sessions=2)
    eligible, audit = build_universe(DAY, reference, details, history, rules)
    return eligible, audit["excluded_by"][0]


def test_a_plain_small_cap_is_eligible_with_its_values():
    eligible, reason = _run()
    assert reason is None
    row = eligible.row(0, named=True)
    assert row["market_cap"] == 5.0 * 100e6
    assert row["prior_date"] == PRIOR[-1]
    assert row["adv_dollar_20d"] == 5.0 * 400_000


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"type": "ETF"}, "type"),
        ({"type": "WARRANT"}, "type"),
        ({"market": "otc", "primary_exchange": None}, "exchange"),
        ({"close": 0.49}, "price_band"),
        ({"close": 20.01}, "price_band"),
        ({"shares": None}, "unknown_market_cap"),
        ({"shares": 400e6}, "market_cap"),  # 5 x 400M = exactly $2B: not below the cap
        ({"float": 100e6}, "float"),
        ({"volume": 199_999.0}, "adv_dollar"),  # 5 x 199,999 < $1M
    ],
)
def test_each_rule_excludes_at_its_boundary(over, reason):
    eligible, got = _run(**over)
    assert eligible.is_empty()
    assert got == reason


@pytest.mark.parametrize(
    "over",
    [
        {"close": 0.50, "volume": 2_000_000.0},
        {"close": 20.0, "shares": 99e6},
        {"shares": 399.9e6},
        {"float": None},
        {"volume": 200_000.0},  # exactly $1M
    ],
)
def test_each_rule_admits_just_inside_its_boundary(over):
    eligible, got = _run(**over)
    assert got is None and eligible.height == 1


def test_too_little_history_is_excluded():
    _, got = _run(rules=UniverseRules(min_adv_sessions=3))
    assert got == "adv_history"


def test_the_day_itself_is_never_used():
    reference, details, history = _frames()
    leaked = pl.concat(
        [history, pl.DataFrame({"date": [DAY], "symbol": ["ABCD"], "close": [50.0], "volume": [1.0]})]
    )
    eligible, _ = build_universe(DAY, reference, details, leaked, UniverseRules(min_adv_sessions=2))
    assert eligible["prior_close"][0] == 5.0


def test_exclusion_counts_report_the_large_caps_kept_out():
    frames = [_frames(symbol=s, shares=sh) for s, sh in (("AAA", 10e6), ("BBB", 1e9), ("CCC", None))]
    reference = pl.concat([f[0] for f in frames])
    details = pl.concat([f[1] for f in frames])
    history = pl.concat([f[2] for f in frames])
    eligible, audit = build_universe(DAY, reference, details, history, UniverseRules(min_adv_sessions=2))
    counts = exclusion_counts(audit)
    assert eligible["symbol"].to_list() == ["AAA"]
    assert counts["large_caps_excluded"] == 1
    assert counts["unknown_caps_excluded"] == 1
    assert counts["excluded_by_market_cap"] == 1
    assert counts["price_band_candidates"] == 3


def test_invalid_rules_are_refused():
    with pytest.raises(ValueError):
        UniverseRules(min_price=-1)
    with pytest.raises(ValueError):
        UniverseRules(unknown_knob=3)

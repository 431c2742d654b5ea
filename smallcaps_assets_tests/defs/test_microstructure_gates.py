"""Every GO/NO-GO gate of event_manifest, event_trades and event_quotes fails on the input it guards
against, and passes on a clean one."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.defs import manifest as manifest_defs
from smallcaps_assets.defs import windows as window_defs
from smallcaps_assets.stages import manifest as mf
from smallcaps_assets.stages import windows as win

from .test_windows_assets import DAY, synthetic_manifest

NS = 1_000_000_000


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    """30 events, three types, 20 RTH / 10 PM: inside every distribution rule."""
    frame = synthetic_manifest(30)
    i = pl.int_range(pl.len())
    return frame.with_columns(
        event_type=pl.when(i % 3 == 0)
        .then(pl.lit("hod_break"))
        .when(i % 3 == 1)
        .then(pl.lit("flush"))
        .otherwise("event_type"),
        session=pl.when(i % 3 == 2).then(pl.lit("PM")).otherwise("session"),
    )


def manifest_gates(frame, prior=None, trailing=None, universe=None):
    uni = universe if universe is not None else frame.select("symbol").unique()
    config = manifest_defs.ManifestConfig()
    gates = manifest_defs._gates(
        frame, DAY, uni, prior, config.rules(), config, trailing if trailing is not None else frame
    )
    return {g.name: g for g in gates}


def test_a_clean_manifest_passes_every_gate(clean):
    gates = manifest_gates(clean)
    assert set(gates) == set(manifest_defs.MANIFEST_GATES)
    assert all(g.passed for g in gates.values()), [g.name for g in gates.values() if not g.passed]


@pytest.mark.parametrize(
    ("gate", "mutate"),
    [
        ("manifest_key_unique", lambda f: pl.concat([f, f.head(1)])),
        (
            "manifest_score_rule",
            lambda f: f.with_columns(
                score=pl.when(pl.int_range(pl.len()) == 0).then(0.59).otherwise("score")
            ),
        ),
        (
            "manifest_no_large_caps",
            lambda f: f.with_columns(
                market_cap=pl.when(pl.int_range(pl.len()) == 0).then(2.0e9).otherwise("market_cap")
            ),
        ),
        (
            "manifest_liquidity_rule",
            lambda f: f.with_columns(
                bar_volume=pl.when(pl.int_range(pl.len()) == 3).then(9_999.0).otherwise("bar_volume")
            ),
        ),
        (
            "manifest_spread_rule",
            lambda f: f.with_columns(
                est_spread_pct=pl.when(pl.int_range(pl.len()) == 2).then(5.01).otherwise("est_spread_pct")
            ),
        ),
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
    prior = pl.DataFrame({"symbol": [sym, sym]})
    assert manifest_gates(clean, prior=prior)["manifest_symbol_limits"].passed
    prior = pl.DataFrame({"symbol": [sym, sym, sym]})
    gate = manifest_gates(clean, prior=prior)["manifest_symbol_limits"]
    assert not gate.passed and gate.figures["symbols_over_window_limit"] == 1
    twice = pl.concat(
        [
            clean,
            clean.head(1).with_columns(
                event_id=pl.lit("x"), ts=(pl.col("ts") + dt.timedelta(minutes=1)).cast(win.UTC_NS)
            ),
        ]
    )
    assert manifest_gates(twice)["manifest_symbol_limits"].figures["symbols_over_day_limit"] == 1


def test_distribution_rules_are_judged_on_the_trailing_manifests(clean):
    after_hours = clean.with_columns(session=pl.lit("AH"), event_type=pl.lit("flush"))
    gates = manifest_gates(clean, trailing=after_hours)
    assert (
        not gates["manifest_session_mix"].passed and gates["manifest_session_mix"].figures["rth_share"] == 0
    )
    assert not gates["manifest_type_balance"].passed  # one type only
    few = manifest_gates(clean, trailing=after_hours.head(manifest_defs.MIX_MIN_EVENTS - 1))
    assert few["manifest_session_mix"].passed and few["manifest_type_balance"].passed
    assert set(manifest_defs.WARN) == {"manifest_session_mix", "manifest_type_balance"}


# ------------------------------------------------------------------------------ windows gates
def _windows_frames(manifest: pl.DataFrame):
    ids = manifest["event_id"].to_list()
    starts = manifest["window_start"].dt.epoch("ns").to_list()
    syms = manifest["symbol"].to_list()
    trades = pl.DataFrame(
        {
            "event_id": ids,
            "symbol": syms,
            "sip_timestamp": [s + 60 * NS for s in starts],
            "sequence_number": list(range(len(ids))),
        }
    ).with_columns(pl.col("sip_timestamp").cast(win.UTC_NS))
    quotes = pl.DataFrame(
        {
            "event_id": ids,
            "symbol": syms,
            "second": [s // NS * NS + 61 * NS for s in starts],
            "sip_timestamp": [s + 61 * NS for s in starts],
            "bid_price": [5.0] * len(ids),
            "ask_price": [5.01] * len(ids),
            "crossed": [False] * len(ids),
        }
    ).with_columns(pl.col("second", "sip_timestamp").cast(win.UTC_NS))
    outcomes = pl.DataFrame({"event_id": ids, "outcome": ["data"] * len(ids)})
    return outcomes, trades, quotes


def windows_gates(manifest, outcomes, trades, quotes):
    t, q = window_defs._gates(manifest, outcomes, trades, quotes, window_defs.WindowsConfig())
    return {g.name: g for g in t + q}


def test_clean_windows_pass(clean):
    gates = windows_gates(clean, *_windows_frames(clean))
    assert set(gates) == set(window_defs.TRADE_GATES) | set(window_defs.QUOTE_GATES)
    assert all(g.passed for g in gates.values())


def test_windows_gates_fail_on_what_they_guard(clean):
    outcomes, trades, quotes = _windows_frames(clean)
    g = windows_gates(clean, outcomes.head(29), trades, quotes)["windows_coverage"]
    assert not g.passed and g.figures["missing"] == 1
    late = trades.with_columns(
        sip_timestamp=(pl.col("sip_timestamp") + dt.timedelta(minutes=10)).cast(win.UTC_NS)
    )
    assert not windows_gates(clean, outcomes, late, quotes)["trades_in_window"].passed
    dup = pl.concat([trades, trades.head(1)])
    assert not windows_gates(clean, outcomes, dup, quotes)["trades_unique_sequence"].passed
    early = quotes.with_columns(
        sip_timestamp=(pl.col("sip_timestamp") - dt.timedelta(minutes=2)).cast(win.UTC_NS)
    )
    assert not windows_gates(clean, outcomes, trades, early)["quotes_in_window"].passed
    assert not windows_gates(clean, outcomes, trades, pl.concat([quotes, quotes.head(1)]))[
        "quotes_one_per_second"
    ].passed
    crossed = quotes.with_columns(
        bid_price=pl.when(pl.int_range(pl.len()) == 0).then(5.02).otherwise("bid_price")
    )
    gates = windows_gates(clean, outcomes, trades, crossed)
    assert not gates["quotes_bid_le_ask"].passed  # crossed but not flagged
    flagged = crossed.with_columns(crossed=pl.col("bid_price") > pl.col("ask_price"))
    gates = windows_gates(clean, outcomes, trades, flagged)
    assert gates["quotes_bid_le_ask"].passed
    assert not gates["quotes_crossed_share"].passed  # 1 of 30 > 1%
    assert gates["quotes_crossed_share"].figures["crossed_share"] == pytest.approx(1 / 30, abs=1e-5)
    one_sided = quotes.with_columns(ask_price=pl.lit(0.0))
    assert windows_gates(clean, outcomes, trades, one_sided)["quotes_bid_le_ask"].passed


def test_manifest_rules_reach_the_config(clean):
    with pytest.raises(Exception, match="window_sessions"):
        manifest_defs.ManifestConfig(window_sessions=21).rules()
    assert manifest_defs.ManifestConfig().rules() == mf.ManifestRules()

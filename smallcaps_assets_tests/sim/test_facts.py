"""The tape's stylised facts (``smallcaps sim facts``), each asserted with the bound the report
prints, on a market smaller than the default one (same model, a quarter of the names, one month)."""

from __future__ import annotations

import datetime as dt

import pytest

from smallcaps_assets.sim import SimConfig, SimMarket
from smallcaps_assets.sim.facts import facts_table, measure_facts

# Catalysts four times as often as by default, so a month holds enough of them.
CONFIG = SimConfig(
    seed=11, n_symbols=100, start=dt.date(2023, 11, 1), end=dt.date(2024, 2, 29), catalyst_rate=0.05
)


@pytest.fixture(scope="module")
def facts() -> dict:
    market = SimMarket(CONFIG)
    sessions = [d for d in market.sessions() if d >= dt.date(2024, 2, 1)]
    found = measure_facts(market, sessions, tick_minutes=5)
    print(facts_table(found))
    return {f.key: f for f in found}


def _value(facts: dict, key: str, min_sample: int | None = None) -> float:
    f = facts[key]
    assert f.value is not None, f"{key}: nothing measured ({f.sample})"
    if min_sample is not None:
        assert int(f.sample.split()[0]) >= min_sample, f"{key}: sample too small ({f.sample})"
    return f.value


def test_busy_symbol_days_print_every_regular_hours_minute(facts):
    assert _value(facts, "empty_minutes_10m", min_sample=20) <= 0.01


def test_catalyst_days_print_more_not_bigger(facts):
    assert _value(facts, "catalyst_prints", min_sample=15) >= 0.90
    assert _value(facts, "catalyst_print_size", min_sample=15) >= 0.90


def test_prints_scale_with_volume_without_a_ceiling(facts):
    assert _value(facts, "prints_vs_volume", min_sample=1000) >= 0.85
    assert _value(facts, "prints_vs_volume_top_decile", min_sample=100) >= 0.5


def test_trades_print_inside_the_standing_nbbo(facts):
    assert _value(facts, "trades_in_nbbo", min_sample=10_000) >= 0.95


def test_the_nbbo_updates_in_the_seconds_that_trade(facts):
    assert _value(facts, "quote_per_trade_second", min_sample=1000) >= 0.90


def test_spreads_narrow_with_liquidity(facts):
    assert _value(facts, "liquid_spread_ticks", min_sample=10) <= 3
    assert _value(facts, "spread_vs_dollar_volume", min_sample=50) <= -0.6


def test_locked_and_crossed_quotes_are_rare_and_flagged(facts):
    assert _value(facts, "locked_crossed", min_sample=10_000) <= 0.001
    assert facts["locked_crossed"].ok  # also: none misflagged
    assert "0 misflagged" in facts["locked_crossed"].sample


def test_manifest_spread_measure_ranks_event_windows(facts):
    assert _value(facts, "manifest_spread_rank", min_sample=30) >= 0.7


def test_the_tape_mixes_odd_lots_blocks_and_prints_kept_out_of_bars(facts):
    assert 0.05 <= _value(facts, "odd_lot_share") <= 0.5
    assert 0.0005 <= _value(facts, "void_share") <= 0.01  # a few tenths of a percent
    assert _value(facts, "block_share") > 0

"""Every GO/NO-GO gate of event_trades and event_quotes fails on the input it guards against, and
passes on a clean one; a range run's results combine its days."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.defs import windows as window_defs
from smallcaps_assets.stages import windows as win
from smallcaps_assets.stages import windows_quality as quality

from .microstructure_cases import clean_manifest, windows_frames


@pytest.fixture(scope="module")
def clean() -> pl.DataFrame:
    return clean_manifest()


def windows_gates(manifest, outcomes, trades, quotes):
    t, q = quality.windows_gates(manifest, outcomes, trades, quotes)
    return {g.name: g for g in t + q}


def test_clean_windows_pass(clean):
    gates = windows_gates(clean, *windows_frames(clean))
    assert list(gates) == [g.name for g in (*quality.TRADE_GATES, *quality.QUOTE_GATES)]
    assert all(g.passed for g in gates.values())


def test_windows_gates_fail_on_what_they_guard(clean):
    outcomes, trades, quotes = windows_frames(clean)
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


def test_a_range_run_passes_a_gate_only_if_every_day_passed(clean):
    outcomes, trades, quotes = windows_frames(clean)
    good = quality.windows_gates(clean, outcomes, trades, quotes)[0]
    bad = quality.windows_gates(clean, outcomes.head(29), trades, quotes)[0]
    days = [dt.date(2024, 3, 5), dt.date(2024, 3, 6)]
    combined = {g.name: g for g in quality.combine_days([good, bad], days)}
    coverage = combined["windows_coverage"]
    assert not coverage.passed and coverage.figures["failed_days"] == "2024-03-06"
    assert coverage.figures["days"] == 2 and coverage.figures["missing"] == 1
    assert combined["trades_in_window"].passed
    assert quality.combine_days([good], days[:1]) == good


def test_the_crossed_share_threshold_is_the_config_default():
    assert window_defs.WindowsConfig().max_crossed_share == quality.MAX_CROSSED_SHARE
    assert "1.00%" in quality.QUOTES_CROSSED_SHARE.describe()
    assert quality.QUOTES_CROSSED_SHARE.severity == "warn"

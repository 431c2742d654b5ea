"""The census behind docs/simulated_market.md's measured figures: each figure agrees with the same
quantity read another way from the market, and the command prints it (or refuses bad parts, exit 2)."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import polars as pl
import pytest
from typer.testing import CliRunner

from smallcaps_assets.cli import app
from smallcaps_assets.sim import SimConfig, SimMarket
from smallcaps_assets.sim.census import census, intraday


@pytest.fixture(scope="module")
def long_market() -> SimMarket:
    """80 tickers over the default span, pinned: long enough for delistings and splits."""
    return SimMarket(SimConfig(seed=11, n_symbols=80, end=dt.date(2026, 11, 20)))


def test_catalyst_counts_match_the_ground_truth_of_every_session(small_market):
    got = census(small_market, ("catalysts",))["catalysts"]
    truth = pl.concat([small_market.catalysts(d) for d in small_market.sessions()])
    assert got["days"] == truth.height > 20
    assert got["shapes"] == dict(Counter(truth["shape"]))
    assert got["per_session"] == round(truth.height / len(small_market.sessions()), 2)


def test_reference_and_corporate_actions_count_what_the_market_serves(long_market):
    m = long_market
    c = census(m, ("reference", "corporate_actions"))
    assert c["market"]["n_symbols"] == len(m.profiles()) == sum(c["reference"]["types"].values())
    # Delisted by the end: what the vendor's ticker list shows as inactive on the last session + 1.
    gone = m.tickers_on(m.config.end + dt.timedelta(days=1), active=False)
    assert c["reference"]["delisted"] == len(gone) > 0
    assert 0 <= c["reference"]["delisted_for_deficiency"] <= len(gone)
    splits = m.all_splits
    assert c["corporate_actions"]["splits"] == len(splits) > 0
    assert c["corporate_actions"]["reverse_splits"] == sum(s.split_from > s.split_to for s in splits)
    assert sum(c["corporate_actions"]["split_ratios"].values()) == len(splits)
    assert c["corporate_actions"]["dividend_rows"] == len(m.all_dividends) > 0


def test_pauses_are_counted_per_catalyst_day(small_market):
    got = intraday(small_market, normal_days=10, pause_sessions=(0, 20))
    truth = pl.concat([small_market.catalysts(d) for d in small_market.sessions()[:20]])
    assert got["catalyst_days"] == truth.height
    assert sum(got["days_by_pauses"].values()) == truth.height
    assert got["days_by_pauses"].get("0", 0) == int((truth["halts"] == 0).sum())
    assert got["normal_days"] == 10 and got["first_30_vs_12_30"] > 1.0  # the U-shape's open


def test_the_command_prints_json_and_refuses_an_unknown_part(tmp_path):
    cfg = tmp_path / "sim.json"
    cfg.write_text(json.dumps({"seed": 11, "n_symbols": 30, "start": "2024-01-02", "end": "2024-02-28"}))
    ok = CliRunner().invoke(app, ["sim", "census", "--config", str(cfg), "--parts", "reference,catalysts"])
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert set(body) == {"market", "reference", "catalysts"} and body["market"]["last"] == "2024-02-28"
    bad = CliRunner().invoke(app, ["sim", "census", "--config", str(cfg), "--parts", "reference,nope"])
    assert bad.exit_code == 2 and "unknown part(s) ['nope']" in bad.output

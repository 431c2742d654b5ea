"""Crossed and locked quotes of a faulty market reach event_quotes flagged and counted (issue #17).

The offline market marks each quote crossed independently with probability
``CROSSED_RATE + faults.crossed_quote_rate`` (a hash of the quote, ``sim.ticks.quotes``). event_quotes
keeps the last quote of each second, and which quote is last does not depend on its crossed draw,
so the 1 Hz crossed share is a binomial share with the same probability."""

from __future__ import annotations

import json
import math

import polars as pl
import pytest

from smallcaps_assets import lake
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.resources import SimulatedPolygonResource
from smallcaps_assets.sim import ticks

from .conftest import DAY, PIPE_CONFIG
from .test_windows_assets import SELECT, _lake_with, synthetic_manifest

RATE = 0.3
N_EVENTS = 12


def _resource(tmp_path, rate: float) -> SimulatedPolygonResource:
    cfg = json.loads(PIPE_CONFIG.model_dump_json())
    cfg["faults"]["crossed_quote_rate"] = rate
    path = tmp_path / f"sim-{rate}.json"
    path.write_text(json.dumps(cfg))
    return SimulatedPolygonResource(sim_config_path=str(path))


def test_crossed_quotes_at_30_percent_reach_event_quotes_and_its_gate(tmp_path, monkeypatch):
    import dagster as dg

    from smallcaps_assets.defs.windows import event_windows

    root = _lake_with(synthetic_manifest(N_EVENTS), tmp_path / "lake")
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    monkeypatch.delenv("SMALLCAPS_STATE_DIR", raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [event_windows],
            instance=instance,
            resources={"polygon": _resource(tmp_path, RATE)},
            partition_key=str(DAY),
        )
        assert result.success
        mat = next(
            m
            for m in result.asset_materializations_for_node("event_windows")
            if m.asset_key.to_user_string() == "event_quotes"
        )
        meta = {k: v.value for k, v in mat.metadata.items()}
        gate = next(e for e in result.get_asset_check_evaluations() if e.check_name == "quotes_crossed_share")
    quotes = lake.read_partition("event_quotes", DAY, root)
    n = quotes.height
    expected = ticks.CROSSED_RATE + RATE
    share = float(quotes["crossed"].mean())
    assert n > 1000
    assert abs(share - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    # every crossed row really has bid > ask, and no crossed row is also locked
    assert quotes.filter("crossed").select((pl.col("bid_price") > pl.col("ask_price")).all()).item()
    assert not (quotes["crossed"] & quotes["locked"]).any()
    assert meta["crossed_quotes"] == int(quotes["crossed"].sum())
    assert meta["locked_quotes"] == int(quotes["locked"].sum())
    assert meta["crossed_share"] == pytest.approx(share, abs=1e-5)
    # the WARN gate sees them, with the same figure
    assert not gate.passed and gate.severity == dg.AssetCheckSeverity.WARN
    assert gate.metadata["crossed_share"].value == pytest.approx(share, abs=1e-5)


def test_windows_of_a_market_without_the_fault_are_not_reused_from_the_ledger(tmp_path, monkeypatch):
    """The probe's 0.0: windows fetched before the fault was switched on were served from the
    ledger (same request). The offline market's config is now part of the request key."""
    root = _lake_with(synthetic_manifest(4), tmp_path / "lake")
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    monkeypatch.delenv("SMALLCAPS_STATE_DIR", raising=False)
    shares = []
    for rate in (0.0, RATE, RATE):
        out = materialize_range(SELECT, DAY, DAY, resources={"polygon": _resource(tmp_path, rate)})
        assert out.days[0].error is None
        shares.append(out.days[0].metadata["event_quotes"]["crossed_share"])
        fetched = out.days[0].metadata["event_trades"]["windows_fetched"]
    assert fetched == 0  # the same market again: served from the ledger
    assert shares[0] < 0.01 and shares[1] == shares[2] > 0.2

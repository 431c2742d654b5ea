"""Gates are declared once: the asset's check spec and the materialisation's result both read the
declaration (name, description with its thresholds, severity)."""

from __future__ import annotations

import importlib
import pkgutil

import dagster as dg
import polars as pl
import pytest

from smallcaps_assets import checks, stages
from smallcaps_assets.definitions import defs
from smallcaps_assets.gates import Gate
from smallcaps_assets.stages import bars_quality, event_quality, reference_quality


def declared_gates() -> dict[str, Gate]:
    """Every Gate declared at module level in stages/ and checks.py, by name."""
    # Every module of stages/, those of its sub-packages (stages/backtest/quality.py) included.
    modules = [checks] + [
        importlib.import_module(m.name) for m in pkgutil.walk_packages(stages.__path__, f"{stages.__name__}.")
    ]
    found: dict[str, Gate] = {}
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Gate):
                assert found.get(value.name, value) is value, f"{value.name} is declared twice"
                found[value.name] = value
    return found


def test_every_check_spec_is_read_from_one_declaration():
    gates = declared_gates()
    specs = [spec for a in [*defs.assets, *defs.asset_checks] for spec in a.check_specs]
    assert {s.name for s in specs} == set(gates)
    for spec in specs:
        gate = gates[spec.name]
        assert spec.description == gate.describe(), spec.name
        assert spec.blocking == gate.blocking == (gate.severity == "error"), spec.name
        assert "{" not in spec.description, f"{spec.name}: unfilled placeholder"


def test_descriptions_quote_the_thresholds_they_judge():
    assert f"{bars_quality.MIN_COVERAGE:.0%}" in bars_quality.DAILY_COVERAGE.describe()
    assert f"{reference_quality.MIN_LISTED} listed" in reference_quality.REFERENCE_NOT_EMPTY.describe()
    assert "0.05%-10%" in event_quality.DAILY_EVENT_RATE.describe()
    strict = event_quality.Checklist(max_type_share=0.3)
    assert "30%" in event_quality.TYPE_BALANCE.describe(strict)
    assert "60%" in event_quality.TYPE_BALANCE.describe()


def test_a_result_carries_the_declared_severity_into_the_check_result():
    warn = Gate("some_share", "Share at most {p:.0%}.", "warn", 0.1)
    result = warn.judge(False, {"share": 0.2}, 0.15)
    check = checks.to_check_result("daily_bars", result)
    assert (check.check_name, check.passed, check.severity) == (
        "some_share",
        False,
        dg.AssetCheckSeverity.WARN,
    )
    assert check.description == "Share at most 15%."
    assert check.metadata["failures"].value == 1 and check.metadata["share"].value == 0.2
    error = Gate("positive", "Every price is positive.")
    frame = pl.DataFrame({"symbol": ["A", "B", "C"], "price": [1.0, -2.0, 3.0]})
    rows = error.rows(frame, pl.col("price") > 0)
    check = checks.to_check_result("daily_bars", rows)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert rows.failures == 1 and rows.sample["symbol"].to_list() == ["B"]
    assert "| B | -2.0 |" in check.metadata["failure_sample"].value
    assert error.rows(frame.filter(pl.col("price") > 0), pl.col("price") > 0).passed


def test_a_share_is_judged_outside_its_band_only_when_the_count_shows_it():
    from scipy.stats import binom

    from smallcaps_assets.gates import _binom_cdf, share_confidently_outside

    for k, n, p in [(0, 30, 0.03), (5, 40, 0.1), (100, 300, 0.3), (2, 230, 0.03), (299, 300, 0.9)]:
        assert _binom_cdf(k, n, p) == pytest.approx(binom.cdf(k, n, p), rel=1e-9)
    inside = (0.05, 0.85, 0.001)
    assert not share_confidently_outside(0, 30, *inside)  # 0 of 30: 21% by chance at 5%
    assert share_confidently_outside(0, 300, *inside)  # 0 of 300: 2e-7
    assert share_confidently_outside(45, 45, *inside) and not share_confidently_outside(40, 45, *inside)
    assert not share_confidently_outside(0, 0, *inside)
    assert not share_confidently_outside(0, 10_000, 0.0, 1.0, 0.001)  # an open band never fails

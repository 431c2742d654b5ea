"""The detector registry: the production registry matches the output schema and the in-play filter,
its params model is built from its entries, every check refuses its mismatch, and a new detector
(the example of docs/events.md, "Adding a detector") runs end to end in an extension of the registry."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from smallcaps_assets.stages import events
from smallcaps_assets.stages.events.registry import check_registry

from . import event_cases as cases

DOCS = Path(__file__).resolve().parents[2] / "docs" / "events.md"

DOCUMENTED_TYPES = (
    "volume_spike",
    "tape_speed",
    "price_momentum",
    "vwap_break",
    "opening_range_break",
    "hod_break",
    "consolidation_break",
    "flush",
    "halt_resumption",
    "gap_and_go",
    "first_pullback",
    "parabolic_exhaustion",
)


def docs_example() -> dict:
    """Run the python block of docs/events.md's "Adding a detector" section; return its names."""
    text = DOCS.read_text()
    section = text[text.index("## Adding a detector") :]
    start = section.index("```python\n") + len("```python\n")
    code = section[start : section.index("```\n", start)]
    names: dict = {"__name__": "docs_events_example"}
    exec(compile(code, f"{DOCS} (Adding a detector)", "exec", dont_inherit=True), names)
    return names


@pytest.fixture(scope="module")
def example() -> dict:
    return docs_example()


# ----------------------------------------------------------------------------- production registry


def test_production_registry_matches_schema_and_params():
    assert events.EVENT_TYPES == DOCUMENTED_TYPES == events.REGISTRY.event_types
    filled = {c for d in events.REGISTRY for c in d.evidence}
    assert filled == set(events.EVIDENCE_COLUMNS)
    params = events.IntradayParams()
    for d in events.REGISTRY:
        assert type(getattr(params, d.event_type)) is d.params
    assert list(events.EVENT_SCHEMA) == [
        *events.EVENT_KEY_SCHEMA,
        *events.CONTEXT_SCHEMA,
        *events.EVIDENCE_SCHEMA,
    ]


def test_intraday_defaults_are_the_documented_ones():
    """The nested params keep the defaults the flat model had (docs/events.md states them)."""
    assert events.IntradayParams().model_dump() == {
        "min_baseline_days": 5,
        "chunk_rows": 1_000_000,
        "threads": 2,
        "in_play": {
            "enabled": True,
            "min_dollar_volume": 500_000.0,
            "min_rvol": 4.0,
            "min_change": 0.20,
            "baseline_floor": 100.0,
            "exempt": ("gap_and_go", "halt_resumption"),
        },
        "volume_spike": {"ratio": 5.0, "min_volume": 5000, "baseline_floor": 100.0, "cooldown_minutes": 15},
        "tape_speed": {
            "ratio": 4.0,
            "min_transactions": 30,
            "baseline_floor": 3.0,
            "window_minutes": 3,
            "cooldown_minutes": 5,
        },
        "price_momentum": {
            "window_minutes": 3,
            "min_z": 3.0,
            "min_move": 0.02,
            "vol_unit_bars": 30,
            "vol_unit_floor": 0.0005,
            "cooldown_minutes": 5,
        },
        "vwap_break": {"hold_minutes": 15, "margin": 0.0, "min_depth": 0.01},
        "opening_range_break": {
            "minutes": (5, 15, 30),
            "min_bars": 2,
            "valid_minutes": 120,
            "volume_ratio": 0.0,
        },
        "hod_break": {"min_age_minutes": 30},
        "consolidation_break": {
            "minutes": 20,
            "min_bars": 5,
            "tightness": 0.5,
            "volume_ratio": 1.5,
            "cooldown_minutes": 15,
        },
        "flush": {
            "window_minutes": 5,
            "min_drop": 0.05,
            "min_sigmas": 4.0,
            "cooldown_minutes": 10,
            "vol_unit_bars": 30,
            "vol_unit_lag_bars": 3,
        },
        "halt_resumption": {
            "min_gap_minutes": 5,
            "min_reference_bars": 3,
            "band_fraction": 0.8,
            "luld_tier": 2,
        },
        "gap_and_go": {"min_gap": 0.10, "max_minutes": 90},
        "first_pullback": {"min_leg": 0.05, "min_retrace": 0.25, "max_retrace": 0.80, "min_minutes": 3},
        "parabolic_exhaustion": {"window_bars": 30, "min_run": 0.15, "recent_minutes": 5},
    }


def test_nested_params_refuse_unknown_and_out_of_range_values():
    with pytest.raises(ValueError, match="spike_ratio"):
        events.IntradayParams(spike_ratio=2.0)  # the old flat names are gone, not silently ignored
    with pytest.raises(ValueError, match="min_drop"):
        events.IntradayParams(flush={"min_drop": 0.0})
    assert events.IntradayParams(flush={"min_drop": 0.03}).flush.min_drop == 0.03


def test_docs_list_each_types_evidence():
    """The "Evidence" bullet of each type in docs/events.md names exactly its registry entry's columns."""
    text = DOCS.read_text()
    for d in events.REGISTRY:
        section = text[text.index(f"### `{d.event_type}`") :]
        bullet = section[section.index("- **Evidence.**") :]
        bullet = bullet[: re.search(r"\n(- (?=\S)|#)", bullet).start()]  # up to the next top-level bullet
        assert set(re.findall(r"`(ev_[a-z_]+)`", bullet)) == set(d.evidence), d.event_type


# ----------------------------------------------------------------------------------- the checks


def test_a_detector_with_an_unknown_evidence_column_is_refused(example):
    with pytest.raises(ValueError, match=r"ev_colour.*EVIDENCE_SCHEMA"):
        events.Detector("green_bar", example["green_bar"], example["GreenBarParams"], evidence=("ev_colour",))


def test_a_type_registered_twice_is_refused():
    with pytest.raises(ValueError, match=r"more than once: \['flush'\]"):
        events.REGISTRY.extended(next(d for d in events.REGISTRY if d.event_type == "flush"))


def test_registry_must_match_the_schema_and_the_in_play_filter(example):
    without_halts = events.Registry(d for d in events.REGISTRY if d.event_type != "halt_resumption")
    with pytest.raises(ValueError, match="ev_halt_start"):  # an evidence column nobody fills
        check_registry(without_halts)
    stray = events.InPlayParams(exempt=("gap_and_go", "no_such_type"))
    with pytest.raises(
        ValueError, match=r"in_play.exempt names types the registry lacks: \['no_such_type'\]"
    ):
        check_registry(events.REGISTRY, stray)
    check_registry(events.REGISTRY)
    check_registry(example["EXAMPLE_REGISTRY"])  # the docs' example passes


def test_a_detector_named_like_a_setting_or_without_a_params_model_is_refused(example):
    green = next(d for d in example["EXAMPLE_REGISTRY"] if d.event_type == "green_bar")
    with pytest.raises(ValueError, match=r"named like an IntradaySettings field: \['threads'\]"):
        events.Registry([events.Detector("threads", green.find, green.params, evidence=green.evidence)])
    with pytest.raises(TypeError, match="'green_bar': params must be a pydantic model class"):
        events.Detector("green_bar", green.find, dict, evidence=green.evidence)


def test_params_model_is_built_from_the_registry(example):
    model = events.IntradayParams
    settings = ["min_baseline_days", "chunk_rows", "threads", "in_play"]
    assert model is events.REGISTRY.params_model  # cached: one class per registry
    assert model.__name__ == "IntradayParams" and issubclass(model, events.IntradaySettings)
    assert list(model.model_fields) == [*settings, *events.EVENT_TYPES]
    for d in events.REGISTRY:
        field = model.model_fields[d.event_type]
        assert field.annotation is d.params
        assert field.default == d.params()

    # An extended registry's model gets the new detector's field, after the production ones.
    extended = example["EXAMPLE_REGISTRY"].params_model
    assert extended is not model and extended.__name__ == "IntradayParams"
    assert list(extended.model_fields) == [*settings, *events.EVENT_TYPES, "green_bar"]
    assert extended.model_fields["green_bar"].annotation is example["GreenBarParams"]
    assert extended().green_bar == example["GreenBarParams"]() and extended().green_bar.min_gain == 0.01
    assert extended(green_bar={"min_gain": 0.02}).green_bar.min_gain == 0.02
    assert extended().model_dump(exclude={"green_bar"}) == model().model_dump()

    # Unknown fields are refused, at the top and inside a detector's params.
    with pytest.raises(ValueError, match="green_bar"):
        model(green_bar={"min_gain": 0.02})  # the production model has no such detector
    with pytest.raises(ValueError, match="min_gian"):
        extended(green_bar={"min_gian": 0.02})
    with pytest.raises(ValueError, match="min_gain"):
        extended(green_bar={"min_gain": 0.0})  # the detector's own bounds hold


def test_run_refuses_params_of_another_registry_and_undeclared_columns(example):
    case = cases.gap_and_go(11.01, 11.51)
    registry = example["EXAMPLE_REGISTRY"]
    with pytest.raises(TypeError, match="no field 'green_bar'"):
        events.detect_intraday(case.bars, case.context, events.IntradayParams(), registry=registry)
    # Without params, the registry's own model with its defaults.
    assert_frame_equal(
        events.detect_intraday(case.bars, case.context, registry=registry),
        events.detect_intraday(case.bars, case.context, registry.params_model(), registry=registry),
    )
    undeclared = events.REGISTRY.extended(
        events.Detector("green_bar", example["green_bar"], example["GreenBarParams"], evidence=("ev_open",))
    )
    with pytest.raises(RuntimeError, match="'green_bar' returned columns"):
        events.detect_intraday(
            case.bars, case.context, undeclared.params_model(**cases.RULES_ONLY), registry=undeclared
        )


def test_every_detector_fills_only_its_declared_evidence():
    from .test_events import ALL_CASES

    declared = {d.event_type: set(d.evidence) for d in events.REGISTRY}
    for etype, build in ALL_CASES.items():
        case = build()
        found = events.detect_intraday(case.bars, case.context, case.params)
        for row in found.iter_rows(named=True):
            filled = {c for c in events.EVIDENCE_COLUMNS if row[c] is not None}
            assert filled <= declared[row["event_type"]], (etype, row["event_type"], filled)
        assert etype in set(found["event_type"])


# ------------------------------------------------------------------------- the docs' example detector


def _two_symbols() -> tuple[pl.DataFrame, pl.DataFrame]:
    """A gapper (ABCD: green pre-market bars, a gap-and-go) and a quiet HOD break (WXYZ)."""
    gap = cases.gap_and_go(11.01, 11.51)
    hod = cases.hod_break("10:10")
    bars = pl.concat([gap.bars, hod.bars.with_columns(symbol=pl.lit("WXYZ"))])
    ctx = pl.concat([gap.context, hod.context.with_columns(symbol=pl.lit("WXYZ"))])
    return bars, ctx


def test_docs_example_detector_runs_end_to_end(example):
    bars, ctx = _two_symbols()
    # Rules only: the hand-built bars trade too little for the in-play filter to keep them.
    registry = example["EXAMPLE_REGISTRY"]
    params = registry.params_model(**cases.RULES_ONLY)
    out = events.detect_intraday(bars, ctx, params, registry=registry)
    assert out.schema == pl.Schema(events.EVENT_SCHEMA)

    # The new type: exactly the bars closing >= 1% above their open, recomputed here in plain Python.
    expected = [
        (r["symbol"], r["ts"] + dt.timedelta(minutes=1), r["open"], r["close"])
        for r in bars.sort("symbol", "ts").iter_rows(named=True)
        if r["close"] >= r["open"] * 1.01
    ]
    green = out.filter(pl.col("event_type") == "green_bar")
    assert len(expected) >= 3
    assert [
        (r["symbol"], r["ts"], r["ev_open"], r["ev_close"]) for r in green.iter_rows(named=True)
    ] == expected
    for r in green.iter_rows(named=True):
        assert r["direction"] == 1
        assert r["strength"] == pytest.approx((r["ev_close"] / r["ev_open"] - 1) * 100)
        assert r["event_id"] == events.event_id(r["symbol"], int(r["ts"].timestamp() * 1e9), "green_bar")
        others = [c for c in events.EVIDENCE_COLUMNS if c not in ("ev_open", "ev_close")]
        assert all(r[c] is None for c in others)
    assert set(green["session"]) == {"PM", "RTH"}

    # The production detectors' events are unchanged, and the production registry is untouched.
    production = events.detect_intraday(bars, ctx, cases.P())
    assert {"gap_and_go", "hod_break"} <= set(production["event_type"])
    assert_frame_equal(out.filter(pl.col("event_type") != "green_bar"), production)
    assert "green_bar" not in events.EVENT_TYPES
    with pytest.raises(ValueError, match="unknown event types"):
        events.detect_intraday(bars, ctx, only=("green_bar",))

    # ``only`` and the new params work as for any detector.
    alone = events.detect_intraday(bars, ctx, params, only=("green_bar",), registry=registry)
    assert_frame_equal(alone, green)
    stricter = registry.params_model(green_bar={"min_gain": 0.02}, **cases.RULES_ONLY)
    fewer = events.detect_intraday(bars, ctx, stricter, only=("green_bar",), registry=registry)
    assert 0 < fewer.height < green.height

import polars as pl

from smallcaps_assets.stages import features_quality as fq
from smallcaps_assets.stages.events.schema import UTC_NS

from .feature_registry_cases import at


def _frame(**cols):
    base = {
        "event_id": ["e1", "e2"],
        "symbol": ["AAA", "BBB"],
        "ts": [at(10, 0), at(10, 1)],
        "event_type": ["flush", "flush"],
        "session": ["RTH", "RTH"],
        "direction": [1, -1],
        "x_feature": [1.0, 2.0],
        "spread_mean_bps": [10.0, None],
        "bars_input_ts": [at(10, 0), at(9, 59)],
    }
    base.update(cols)
    return pl.DataFrame(base, schema_overrides={"ts": UTC_NS, "bars_input_ts": UTC_NS})


def _by_name(results):
    return {r.name: r for r in results}


def test_healthy_frame_passes_every_gate():
    f = _frame()
    res = _by_name(fq.feature_gates(f, f["event_id"], {"e1"}, "spread_mean_bps"))
    assert all(r.passed for r in res.values())
    assert res["features_tape_coverage"].figures["tape_coverage"] == 1.0


def test_an_input_after_ts_fails_the_look_ahead_gate():
    f = _frame(bars_input_ts=[at(10, 0, 1), at(9, 59)])
    res = _by_name(fq.feature_gates(f, f["event_id"], set(), None))
    assert not res["features_inputs_before_ts"].passed
    assert res["features_inputs_before_ts"].sample["event_id"].to_list() == ["e1"]


def test_missing_and_extra_events_fail_the_join_gate():
    f = _frame()
    res = _by_name(fq.feature_gates(f, pl.Series(["e1", "e3"]), set(), None))
    assert not res["features_one_row_per_event"].passed
    assert res["features_one_row_per_event"].figures == {"missing": 1, "extra": 1, "duplicates": 0}


def test_nan_and_inf_count_against_the_bound():
    f = _frame(x_feature=[float("inf"), float("nan")])
    assert fq.nonfinite_shares(f)["x_feature"] == 1.0
    res = _by_name(fq.feature_gates(f, f["event_id"], set(), None))
    assert not res["features_finite"].passed
    assert res["features_finite"].figures["worst_column"] == "x_feature"
    # Nulls are unknown values, not failures.
    nulls = _frame(x_feature=pl.Series([None, None], dtype=pl.Float64))
    assert fq.nonfinite_shares(nulls)["x_feature"] == 0.0


def test_windowed_events_without_tape_features_warn():
    f = _frame()
    res = _by_name(fq.feature_gates(f, f["event_id"], {"e1", "e2"}, "spread_mean_bps"))
    assert not res["features_tape_coverage"].passed
    assert res["features_tape_coverage"].severity == "warn"
    assert res["features_tape_coverage"].figures["tape_coverage"] == 0.5

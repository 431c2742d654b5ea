"""event_model and event_predictions through Dagster on a lake of hand-made events (the synthetic
market of the model tests, written as per-day event_features and event_labels partitions)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.defs.models import event_model, event_predictions
from smallcaps_assets.stages.models import artifact
from smallcaps_assets.stages.models.splits import month_start

from ..stages.models.synthetic_cases import synthetic_events

FAST = {"ops": {"event_model": {"config": {"target": "barrier_pt", "embargo_minutes": 1440}}}}


def _write_lake(root, events: pl.DataFrame) -> list[dt.date]:
    day = pl.col("ts").dt.convert_time_zone(str(cal.NY)).dt.date().alias("day")
    events = events.with_columns(day).filter(pl.col("day").map_elements(cal.is_trading_day, pl.Boolean))
    days = sorted(events["day"].unique().to_list())
    for d in days:
        part = events.filter(pl.col("day") == d)
        lake.write_partition(
            "event_features",
            d,
            part.select("event_id", "symbol", "ts", "signal", "noise", "day_feature"),
            root=root,
        )
        lake.write_partition(
            "event_labels",
            d,
            part.select("event_id", "symbol", "ts", "t1", "barrier_label", "label_return"),
            root=root,
        )
    return days


@pytest.fixture(scope="module")
def model_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("models_lake")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SMALLCAPS_DATA_DIR", str(root))
        days = _write_lake(root, synthetic_events(3000, seed=1, planted=1.5))
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [event_model], partition_key="2024-03-01", instance=instance, run_config=FAST
            )
            march = [d for d in days if d.month == 3]
            preds = [
                dg.materialize([event_predictions], partition_key=d.isoformat(), instance=instance)
                for d in march[:3]
            ]
            first = dg.materialize(
                [event_model],
                partition_key="2024-01-01",
                instance=instance,
                run_config=FAST,
                raise_on_error=False,
            )
        yield root, result, preds, first, march


def test_model_of_a_month_is_stored_with_its_hash_metrics_and_gates(model_lake):
    root, result, _, _, _ = model_lake
    assert result.success
    stored = lake.read_partition("event_model", dt.date(2024, 3, 1), root)
    _text, record, passed = artifact.read_model_row(stored)
    assert passed and record.month == dt.date(2024, 3, 1)
    assert record.features == ["signal", "noise", "day_feature"]  # never a label column
    assert record.fold.fit_max_t1 < month_start(dt.date(2024, 3, 1)) - dt.timedelta(days=1)
    assert set(record.data_versions) == {"event_features", "event_labels", "sessions"}
    (mat,) = result.asset_materializations_for_node("event_model")
    meta = mat.metadata
    assert meta["model_sha256"].value == record.model_sha256 == stored["model_sha256"][0]
    assert 0.55 < meta["test_auc"].value < 1.0  # the planted signal, out of sample
    for name in ("test_log_loss", "test_brier", "test_precision_top_decile", "fit_auc", "n_test"):
        assert isinstance(meta[name].value, (int, float)), name
    assert "| decile |" in meta["calibration"].value and "| feature |" in meta["gain_importance"].value
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "model_fold_no_overlap": True,
        "model_min_oos_events": True,
        "model_not_constant": True,
        "model_overfit": True,
    }


def test_a_month_without_history_fails_in_one_line(model_lake):
    *_, first, _ = model_lake
    assert not first.success
    failure = next(e for e in first.all_events if e.event_type_value == "STEP_FAILURE")
    assert "too little history to train" in failure.event_specific_data.error.message


def test_predictions_of_a_day_come_from_its_months_model_out_of_sample(model_lake):
    root, _result, preds, _, march = model_lake
    assert all(p.success for p in preds)
    stored = lake.read_partition("event_model", dt.date(2024, 3, 1), root)
    text, record, _ = artifact.read_model_row(stored)
    day = march[0]
    got = lake.read_partition("event_predictions", day, root)
    features = lake.read_partition("event_features", day, root)
    assert got.height == features.height > 0
    assert (got["model_month"] == dt.date(2024, 3, 1)).all() and (
        got["model_sha256"] == record.model_sha256
    ).all()
    # The stored text predicts exactly what the month's walk-forward run predicted for the day.
    again = artifact.predict_day(text, record, features, day).sort("event_id")
    np.testing.assert_allclose(
        got.sort("event_id")["prob"].to_numpy(), again["prob"].to_numpy(), rtol=0, atol=0
    )


def test_predictions_refuse_a_model_that_failed_a_blocking_gate(model_lake, monkeypatch):
    root, _, _, _, march = model_lake
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    month = dt.date(2024, 3, 1)
    original = lake.read_partition("event_model", month, root)
    try:
        lake.write_partition(
            "event_model", month, original.with_columns(blocking_gates_passed=pl.lit(False)), root=root
        )
        with dg.instance_for_test() as instance:
            out = dg.materialize(
                [event_predictions],
                partition_key=march[-1].isoformat(),
                instance=instance,
                raise_on_error=False,
            )
        assert not out.success
        assert lake.read_partition("event_predictions", march[-1], root) is None
    finally:
        lake.write_partition("event_model", month, original, root=root)

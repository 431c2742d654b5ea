"""event_labels wired into the graph: two sessions of the test market, on a copy of the warm lake;
the first session's labels complete once the second session's daily bars land."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

from smallcaps_assets import asset_names, lake
from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.stages import labels

from .conftest import DAY, RULES_ONLY_RUN

NEXT = cal.next_trading_day(DAY)
LABELS = asset_names.EVENT_LABELS


@pytest.fixture(scope="module")
def labels_lake(warm_lake, polygon, tmp_path_factory):
    root = tmp_path_factory.mktemp("labels_lake") / "lake"
    shutil.copytree(warm_lake, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    res = {"polygon": polygon}
    out = materialize_range("*", DAY, NEXT, run_config=RULES_ONLY_RUN, resources=res)
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    first = lake.read_partition(LABELS, DAY, root)
    # DAY again, now that NEXT's daily bars exist: its next-session returns fill in.
    again = materialize_range(f"key:{LABELS}", DAY, DAY, resources=res)
    assert again.success
    yield root, out, first, again
    mp.undo()


def _meta(outcome, day):
    return next(d for d in outcome.days if d.day == day).metadata[LABELS]


def test_one_label_row_per_event_known_after_it(labels_lake):
    root, out, _, _ = labels_lake
    for day in (DAY, NEXT):
        frame = lake.read_partition(LABELS, day, root)
        events = lake.read_partition(asset_names.INTRADAY_EVENTS, day, root)
        assert frame.height == events.height > 0
        assert sorted(frame["event_id"]) == sorted(events["event_id"])
        done = frame.filter(pl.col("t1").is_not_null())
        assert done.height > 0 and (done["t1"] > done["ts"]).all() and (done["t1"] >= done["entry_ts"]).all()
        meta = _meta(out, day)
        assert meta["events"] == frame.height
        assert meta["labelled"] == done.height
        assert meta["entry_from_trades"] == int((frame["entry_source"] == "trade").sum())


def test_entries_come_from_the_downloaded_windows_where_there_is_one(
    labels_lake, polygon, tmp_path, monkeypatch
):
    """The test market's first sessions select no window (no score history yet), so three of
    NEXT's events get a window and one print 2 s after ts, written into a copy of the lake."""
    root, _, _, _ = labels_lake
    copy = tmp_path / "lake"
    shutil.copytree(root, copy)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(copy))
    events = lake.read_partition(asset_names.INTRADAY_EVENTS, NEXT, copy).sort("event_id").head(3)
    windows = events.select(
        "event_id",
        "symbol",
        "ts",
        window_start=pl.col("ts") - pl.duration(minutes=3),
        window_end=pl.col("ts") + pl.duration(minutes=7),
    )
    trades = events.select(
        "event_id",
        "symbol",
        sip_timestamp=pl.col("ts") + pl.duration(seconds=2),
        sequence_number=pl.int_range(pl.len(), dtype=pl.Int64),
        price=pl.lit(1.2345),
        size=pl.lit(100.0),
        conditions=pl.lit([], dtype=pl.List(pl.Int32)),
        correction=pl.lit(0, dtype=pl.Int32),
    )
    lake.write_partition(asset_names.EVENT_MANIFEST, NEXT, windows, root=copy)
    lake.write_partition(asset_names.EVENT_TRADES, NEXT, trades, root=copy)
    out = materialize_range(f"key:{LABELS}", NEXT, NEXT, resources={"polygon": polygon})
    assert out.success
    frame = lake.read_partition(LABELS, NEXT, copy)
    chosen = frame.filter(pl.col("event_id").is_in(events["event_id"].to_list()))
    assert chosen["entry_source"].to_list() == ["trade"] * 3
    assert chosen["entry_price"].to_list() == [1.2345] * 3
    assert (chosen["entry_ts"] - chosen["ts"] == pl.Series([2_000_000_000] * 3).cast(pl.Duration("ns"))).all()
    assert _meta(out, NEXT)["entry_from_trades"] == 3
    others = frame.filter(~pl.col("event_id").is_in(events["event_id"].to_list()))
    assert (others["entry_source"].drop_nulls() == "bar").all()


def test_the_asset_passes_the_lake_inputs_to_the_labels(labels_lake):
    root, _, _, _ = labels_lake

    def part(name, day=DAY):
        return lake.read_partition(name, day, root)

    expected = labels.event_labels(
        DAY,
        part(asset_names.INTRADAY_EVENTS).drop("date", strict=False),
        part(asset_names.MINUTE_BARS),
        trades=part(asset_names.EVENT_TRADES),
        windows=part(asset_names.EVENT_MANIFEST),
        ssr_status=part(asset_names.SSR_STATUS),
        next_daily=part(asset_names.DAILY_BARS, NEXT),
    )
    got = part(LABELS).drop("date", strict=False)
    assert got.select(expected.columns).equals(expected)


def test_next_session_is_pending_until_the_next_day_lands(labels_lake):
    root, out, first, again = labels_lake
    assert _meta(out, DAY)["next_session"] == "pending"
    assert first["next_close_return"].is_null().all()
    assert _meta(again, DAY)["next_session"] == "complete"
    now = lake.read_partition(LABELS, DAY, root)
    nxt = lake.read_partition(asset_names.DAILY_BARS, NEXT, root).select("symbol", "close", "split_ratio")
    joined = now.join(nxt, on="symbol", how="inner").filter(pl.col("entry_price").is_not_null())
    assert joined.height > 0
    expected = joined["close"] / (joined["entry_price"] * joined["split_ratio"]) - 1
    assert (joined["next_close_return"] - expected).abs().max() < 1e-12
    # Everything else is unchanged by the second run.
    same = [c for c in now.columns if not c.startswith("next_")]
    assert now.select(same).equals(first.select(same))
    # The newest session has no next day yet: pending, a warning and not a failure.
    assert _meta(out, NEXT)["next_session"] == "pending"
    assert not any("next_session_complete" in c for d in out.days for c in d.failed_checks)


def test_automation_reruns_a_day_when_the_next_session_lands():
    """Every asset of D and of D+1 (but D+1's daily bars and labels) materialised with passing
    checks: nothing is requested; D+1's daily bars land: D's labels, and only they, are requested."""
    import dagster as dg
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData as Target,
    )

    from smallcaps_assets.definitions import defs

    instance = dg.DagsterInstance.ephemeral()
    checks_of: dict[str, list[str]] = {}
    for a in defs.assets:
        for spec in a.check_specs:
            checks_of.setdefault(spec.asset_key.to_user_string(), []).append(spec.name)

    def landed(name: str, day) -> None:
        key, pk = dg.AssetKey(name), day.isoformat()
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=key, partition=pk))
        rec = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[pk]), limit=1
        ).records[0]
        target = Target(storage_id=rec.storage_id, run_id=rec.run_id, timestamp=rec.timestamp)
        for check in checks_of.get(name, []):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=key,
                    check_name=check,
                    passed=True,
                    partition=pk,
                    target_materialization_data=target,
                )
            )

    for name in asset_names.DAILY:
        landed(name, DAY)
        if name not in (LABELS, asset_names.DAILY_BARS):
            landed(name, NEXT)
    when = dt.datetime.combine(cal.next_trading_day(NEXT), dt.time(12), dt.UTC)
    selection = dg.AssetSelection.assets(LABELS)

    def requested(cursor=None):
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=selection, evaluation_time=when, cursor=cursor
        )
        (labels_result,) = [r for r in result.results if r.key == dg.AssetKey(LABELS)]
        return result.cursor, labels_result.true_subset.expensively_compute_partition_keys()

    cursor, first = requested()
    assert first == set()
    landed(asset_names.DAILY_BARS, NEXT)
    _, second = requested(cursor)
    assert second == {DAY.isoformat()}

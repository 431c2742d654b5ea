"""Check results belong to their trading day: one history row per check per run, with its
partition, pointing at the materialisation the same run wrote."""

from __future__ import annotations

import dagster as dg

from smallcaps_assets.definitions import defs
from smallcaps_assets.materialize import materialize_range

from .conftest import DAY, ROOTS


def test_every_check_spec_is_partitioned_like_its_asset():
    graph = defs.resolve_asset_graph()
    specs = [spec for a in defs.assets for spec in a.check_specs]
    assert len(specs) == len(graph.asset_check_keys)
    for spec in specs:
        assert spec.partitions_def == graph.get(spec.asset_key).partitions_def, spec.key


def test_check_history_rows_carry_their_partition_one_per_check_per_run(
    warm_lake, polygon, tmp_path, monkeypatch
):
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    runs = []
    for _ in range(2):  # the same day twice: two runs, so two rows per check, never more
        out = materialize_range(ROOTS, DAY, DAY, resources={"polygon": polygon})
        assert out.success, out.days[0].error
        runs.append(out.days[0].run_id)
    instance = dg.DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    keys = [k for k in graph.asset_check_keys if f"key:{k.asset_key.to_user_string()}" in ROOTS]
    assert len(keys) == 6  # reference 2, corporate actions 1, daily bars 3
    done = {AssetCheckExecutionRecordStatus.SUCCEEDED, AssetCheckExecutionRecordStatus.FAILED}
    for key in keys:
        rows = instance.event_log_storage.get_asset_check_execution_history(key, limit=10)
        assert [r.run_id for r in rows] == runs[::-1], key  # newest first, one per run
        assert {r.partition for r in rows} == {DAY.isoformat()}, key
        assert {r.status for r in rows} <= done, key  # no "planned"/skipped leftovers
        for row in rows:
            evaluation = row.event.dagster_event.event_specific_data
            assert evaluation.partition == DAY.isoformat()
            # The result judged the materialisation its own run wrote, not the previous one.
            assert evaluation.target_materialization_data.run_id == row.run_id, key
    # Each run reported exactly one evaluation per check, for its day.
    for run_id in runs:
        evaluations = [
            e.dagster_event.event_specific_data
            for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
        assert sorted((e.asset_check_key, e.partition) for e in evaluations) == sorted(
            (k, DAY.isoformat()) for k in keys
        )


def test_a_backfill_runs_each_day_of_a_daily_asset_under_its_partition_key():
    """The asset backfill daemon's run requests (Dagster's own builder) for two days of every
    one-day-per-run asset: one run per day, tagged with the day's partition key. Under
    ``BackfillPolicy.multi_run(1)`` they carried a one-day range instead, and the check results of
    those runs belonged to no partition (seen in the UI; smallcaps_assets_tests/ui/test_browser.py)."""
    from dagster._core.definitions.automation_tick_evaluation_context import (
        build_run_requests_with_backfill_policies,
    )
    from dagster._core.definitions.events import AssetKeyPartitionKey

    from smallcaps_assets.asset_names import EVENT_QUOTES, EVENT_TRADES, INGEST
    from smallcaps_assets.asset_names import EVENTS as EVENT_ASSETS

    graph = defs.resolve_asset_graph()
    days = ["2024-03-06", "2024-03-07"]
    assert {EVENT_TRADES, EVENT_QUOTES} <= set(EVENT_ASSETS)  # the windows too, since #15
    for name in (*INGEST, *EVENT_ASSETS):
        wanted = [AssetKeyPartitionKey(dg.AssetKey(name), d) for d in days]
        requests = build_run_requests_with_backfill_policies(wanted, graph, None)
        assert sorted(r.partition_key for r in requests) == days, name
        assert all("dagster/asset_partition_range_start" not in r.tags for r in requests), name


def test_a_backfill_runs_each_month_of_a_monthly_asset_under_its_partition_key():
    """The same for the month-partitioned assets (the models and the backtests): one run per month,
    keyed, so their check results belong to the month."""
    from dagster._core.definitions.automation_tick_evaluation_context import (
        build_run_requests_with_backfill_policies,
    )
    from dagster._core.definitions.events import AssetKeyPartitionKey

    from smallcaps_assets.asset_names import MONTHLY

    graph = defs.resolve_asset_graph()
    months = ["2024-02-01", "2024-03-01"]
    for name in MONTHLY:
        wanted = [AssetKeyPartitionKey(dg.AssetKey(name), m) for m in months]
        requests = build_run_requests_with_backfill_policies(wanted, graph, None)
        assert sorted(r.partition_key for r in requests) == months, name
        assert all("dagster/asset_partition_range_start" not in r.tags for r in requests), name

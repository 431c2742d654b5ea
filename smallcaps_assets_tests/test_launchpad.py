"""What the Launchpad scaffolds (the default YAML the UI writes for a job) and what the daily
schedule requests, read from the code location's definitions."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import yaml
from dagster._core.snap.snap_to_yaml import default_values_yaml_from_type_snap

from smallcaps_assets.asset_names import DAILY_BARS, MINUTE_BARS, TICKER_DETAILS
from smallcaps_assets.assetkit import SYMBOLS_HELP
from smallcaps_assets.definitions import defs
from smallcaps_assets.partitions import trading_days

BY_SYMBOL = (DAILY_BARS, MINUTE_BARS, TICKER_DETAILS)


def _scaffold(job_name: str) -> dict:
    """The Launchpad's default config for a job: Dagster's own default-values YAML of its run config
    schema (what the UI's GraphQL field ``rootDefaultYaml`` returns)."""
    snap = defs.resolve_job_def(job_name).get_job_snapshot()
    schema = snap.config_schema_snapshot
    root = schema.get_config_snap(snap.mode_def_snaps[0].root_config_key)
    return yaml.safe_load(default_values_yaml_from_type_snap(schema, root))


def test_the_launchpad_scaffolds_symbols_for_every_by_symbol_asset():
    for job in ("__ASSET_JOB", "daily_ingest", "daily_graph"):
        ops = _scaffold(job)["ops"]
        for asset in BY_SYMBOL:
            assert ops[asset]["config"]["symbols"] == [], (job, asset)
        assert not any(
            "symbols" in (op.get("config") or {}) for name, op in ops.items() if name not in BY_SYMBOL
        )


def test_the_symbols_field_carries_its_description():
    schema = defs.resolve_job_def("daily_ingest").run_config_schema.config_type
    for asset in BY_SYMBOL:
        op = schema.fields["ops"].config_type.fields[asset].config_type
        field = op.fields["config"].config_type.fields["symbols"]
        assert field.description == SYMBOLS_HELP
        assert "rewrites only those symbols' rows" in field.description


def test_the_schedule_requests_its_sessions_partition_of_a_partitioned_job():
    """daily_close runs the trading-day-partitioned daily_graph for the evening's own session (a run
    request per tick with that partition key) and skips a day the exchange is closed."""
    schedule = defs.get_schedule_def("daily_close")
    job = defs.resolve_job_def(schedule.job_name)
    assert job.partitions_def == trading_days
    ny = dt.timezone(dt.timedelta(hours=-5))
    sessions = set(trading_days.get_partition_keys())
    for when, expected in (
        (dt.datetime(2024, 3, 6, 20, 35, tzinfo=ny), "2024-03-06"),
        (dt.datetime(2024, 3, 8, 20, 35, tzinfo=ny), "2024-03-08"),
        (dt.datetime(2024, 12, 25, 20, 35, tzinfo=ny), None),  # Christmas: closed
    ):
        # Invoked directly, without an instance or repository: binding the shared ``defs`` to a test
        # instance that then closes breaks later tests that materialise through ``defs``.
        result = schedule(dg.build_schedule_context(scheduled_execution_time=when))
        keys = [result.partition_key] if isinstance(result, dg.RunRequest) else []
        assert keys == ([expected] if expected else []), (when, result)
        assert expected is None or expected in sessions

"""Lateness is judged only while the schedule or automation keeps the lake current."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl

from smallcaps_assets import freshness, lake
from smallcaps_assets.asset_names import DAILY as ALL
from smallcaps_assets.asset_names import DAILY_BARS
from smallcaps_assets.definitions import defs

# 21:00 ET on Wednesday 2024-03-06: that session's data is complete, so it is the one expected.
EVENING = dt.datetime(2024, 3, 7, 2, 0, tzinfo=dt.UTC)
SESSION = dt.date(2024, 3, 6)


def _fill(root, day: dt.date, assets=ALL) -> None:
    for asset in assets:
        lake.write_partition(asset, day, pl.DataFrame({"x": [1]}), root=root)


def test_a_historical_lake_is_never_late(tmp_path):
    _fill(tmp_path, dt.date(2024, 3, 1))  # only an old day
    verdict = freshness.judge(running=[], now=EVENING, root=tmp_path)
    assert not verdict.judged and verdict.late == ()
    assert "never late" in verdict.summary()
    # Other instigators running do not make it current either.
    assert not freshness.judge(running=["some_other_sensor"], now=EVENING, root=tmp_path).judged


def test_late_assets_are_named_while_the_schedule_runs(tmp_path):
    _fill(tmp_path, SESSION, [a for a in ALL if a != DAILY_BARS])
    verdict = freshness.judge(running=["daily_close"], now=EVENING, root=tmp_path)
    assert verdict.judged and verdict.session == SESSION
    assert verdict.late == (DAILY_BARS,)
    assert verdict.summary() == f"late: 1 asset(s) lack {SESSION}: {DAILY_BARS}"


def test_on_time_while_automation_runs(tmp_path):
    _fill(tmp_path, SESSION)
    verdict = freshness.judge(running=["pipeline_automation"], now=EVENING, root=tmp_path)
    assert verdict.judged and verdict.late == ()
    # Before 20:30 ET the day's data is not due: the session before is the one judged.
    afternoon = dt.datetime(2024, 3, 6, 20, 0, tzinfo=dt.UTC)
    assert freshness.judge(["daily_close"], now=afternoon, root=tmp_path).late == ALL


def test_sensor_reports_not_judged_until_the_schedule_is_switched_on(tmp_path, monkeypatch):
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    sensor = defs.get_sensor_def("pipeline_freshness")
    schedule = defs.get_schedule_def("daily_close")
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
        first = sensor.evaluate_tick(context)
        assert not first.run_requests and "not judged" in first.skip_message
        _start(instance, schedule)
        second = sensor.evaluate_tick(context)
        assert not second.run_requests and second.skip_message.startswith(f"late: {len(ALL)} asset(s)")


def _start(instance, schedule) -> None:
    """Switch the schedule on in the instance, as the UI's toggle does (a stored RUNNING state)."""
    from dagster._core.remote_origin import (
        InProcessCodeLocationOrigin,
        RemoteInstigatorOrigin,
        RemoteRepositoryOrigin,
    )
    from dagster._core.scheduler.instigation import (
        InstigatorState,
        InstigatorStatus,
        InstigatorType,
        ScheduleInstigatorData,
    )
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    location = InProcessCodeLocationOrigin(LoadableTargetOrigin(module_name="smallcaps_assets.definitions"))
    origin = RemoteInstigatorOrigin(RemoteRepositoryOrigin(location, "__repository__"), schedule.name)
    data = ScheduleInstigatorData(schedule.cron_schedule, start_timestamp=EVENING.timestamp())
    instance.add_instigator_state(
        InstigatorState(origin, InstigatorType.SCHEDULE, InstigatorStatus.RUNNING, data)
    )

"""Schedules, jobs and the automation sensor."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from .. import calendar as cal
from ..partitions import trading_days

DAILY_ASSETS = [
    "ticker_reference",
    "corporate_actions",
    "ticker_details",
    "daily_bars",
    "universe",
    "minute_bars",
]
# Built from the ingested day by the automation sensor (eager, never past a failed gate).
DERIVED_ASSETS = [
    "daily_events",
    "intraday_events",
    "event_manifest",
    "event_trades",
    "event_quotes",
]

daily_ingest_job = dg.define_asset_job(
    "daily_ingest",
    selection=dg.AssetSelection.assets(*DAILY_ASSETS),
    partitions_def=trading_days,
    description="Reference, corporate actions, bars, universe and events for one trading day.",
)


@dg.schedule(
    name="daily_close",
    cron_schedule="35 20 * * 1-5",
    execution_timezone="America/New_York",
    job=daily_ingest_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="After the session's REST data is complete (~20:30 ET): that day's partition.",
)
def daily_close(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    day = when.astimezone(cal.NY).date()
    if not cal.is_trading_day(day):
        return dg.SkipReason(f"{day} is not an NYSE trading day")
    return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat())


automation_sensor = dg.AutomationConditionSensorDefinition(
    "pipeline_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Declarative automation: downstream assets follow, never past a failed blocking gate.",
)

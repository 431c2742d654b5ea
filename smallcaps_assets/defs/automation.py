"""Jobs, the daily schedule and the automation sensor.

The jobs select by lineage, so an asset added upstream of the minute bars, or downstream of the
events, joins the right job without editing a list here. None of them runs the
``latest_partition_present`` checks: those watch the lake at 21:00 ET on their own cron, and inside
the run that is still writing the day they would only report it missing.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from .. import calendar as cal
from ..asset_names import ALL, DAILY_EVENTS, INTRADAY_EVENTS, MINUTE_BARS, SSR_STATUS
from ..checks import LATEST_PARTITION_PRESENT
from ..partitions import trading_days

FRESHNESS_CHECKS = dg.AssetSelection.checks(
    *(dg.AssetCheckKey(dg.AssetKey(name), LATEST_PARTITION_PRESENT.name) for name in ALL)
)
# Reference data through minute bars: minute_bars and everything it reads.
DAILY_INGEST = dg.AssetSelection.assets(MINUTE_BARS).upstream() - FRESHNESS_CHECKS
# The daily screen, the detectors and the SSR status, and everything they lead to: manifest and
# event windows.
EVENT_PIPELINE = (
    dg.AssetSelection.assets(DAILY_EVENTS, INTRADAY_EVENTS, SSR_STATUS).downstream() - FRESHNESS_CHECKS
)
DAILY_GRAPH = DAILY_INGEST | EVENT_PIPELINE

daily_ingest_job = dg.define_asset_job(
    "daily_ingest",
    selection=DAILY_INGEST,
    partitions_def=trading_days,
    description="One trading day's vendor data: reference, corporate actions, ticker details, daily "
    "bars, universe and minute bars, with their gates.",
)
event_pipeline_job = dg.define_asset_job(
    "event_pipeline",
    selection=EVENT_PIPELINE,
    partitions_def=trading_days,
    description="One trading day's events from the ingested bars: daily and intraday events, the "
    "download manifest, the event windows (trades and quotes) and the SSR status, with their gates.",
)
daily_graph_job = dg.define_asset_job(
    "daily_graph",
    selection=DAILY_GRAPH,
    partitions_def=trading_days,
    description="The whole daily graph for one trading day: daily_ingest, then event_pipeline, in one "
    "run (a failed blocking gate stops everything downstream of it).",
)


@dg.schedule(
    name="daily_close",
    cron_schedule="35 20 * * 1-5",
    execution_timezone="America/New_York",
    job=daily_graph_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="After the session's REST data is complete (~20:30 ET): the whole daily graph for "
    "that day's partition.",
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

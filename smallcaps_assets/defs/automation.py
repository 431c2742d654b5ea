"""Jobs, the daily schedule, the automation sensor and the freshness sensor.

The jobs select by lineage, so an asset added upstream of the minute bars, or downstream of the
events, joins the right job without editing a list here. Freshness is judged by the
``pipeline_freshness`` sensor (``smallcaps_assets.freshness``), never by a step inside a run.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from .. import calendar as cal
from .. import freshness
from ..asset_names import (
    ALTERNATIVE,
    DAILY_EVENTS,
    INTRADAY_EVENTS,
    MINUTE_BARS,
    MODELS,
    RESEARCH,
    SSR_STATUS,
)
from ..partitions import trading_days

# Reference data through minute bars (minute_bars and everything it reads), and the vendor's news
# and FINRA short data (roots that nothing upstream of the bars reads).
DAILY_INGEST = dg.AssetSelection.assets(MINUTE_BARS).upstream() | dg.AssetSelection.assets(*ALTERNATIVE)
# The research half: features, labels and what reads them, but the models (defs/models.py): a
# month's model and its predictions run once the month is complete.
RESEARCH_ALL = dg.AssetSelection.assets(*RESEARCH).downstream()
RESEARCH_DAILY = RESEARCH_ALL - dg.AssetSelection.assets(*MODELS)
# The daily screen, the detectors and the SSR status, and everything they lead to up to the
# research half: manifest and event windows.
EVENT_PIPELINE = (
    dg.AssetSelection.assets(DAILY_EVENTS, INTRADAY_EVENTS, SSR_STATUS).downstream() - RESEARCH_ALL
)
DAILY_GRAPH = DAILY_INGEST | EVENT_PIPELINE | RESEARCH_DAILY

daily_ingest_job = dg.define_asset_job(
    "daily_ingest",
    selection=DAILY_INGEST,
    partitions_def=trading_days,
    description="One trading day's vendor data: reference, corporate actions, ticker details, daily "
    "bars, universe and minute bars; news, short interest and short volume; with their gates.",
)
event_pipeline_job = dg.define_asset_job(
    "event_pipeline",
    selection=EVENT_PIPELINE,
    partitions_def=trading_days,
    description="One trading day's events from the ingested bars: daily and intraday events, the "
    "download manifest, the event windows (trades and quotes) and the SSR status, with their gates.",
)
research_daily_job = dg.define_asset_job(
    "research_daily",
    selection=RESEARCH_DAILY,
    partitions_def=trading_days,
    description="One trading day's research tables from its events and windows: point-in-time "
    "features, labels and the signal report, with their gates.",
)
daily_graph_job = dg.define_asset_job(
    "daily_graph",
    selection=DAILY_GRAPH,
    partitions_def=trading_days,
    description="The whole daily graph for one trading day: daily_ingest, event_pipeline, then "
    "research_daily, in one run (a failed blocking gate stops everything downstream of it).",
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


@dg.sensor(
    name="pipeline_freshness",
    minimum_interval_seconds=15 * 60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Is the pipeline late? Only while daily_close or pipeline_automation is running: "
    "every asset should then hold the latest completed session (today after 20:30 ET, else the "
    "session before). A lake that nothing keeps current is historical and never late.",
)
def pipeline_freshness(context: dg.SensorEvaluationContext):
    verdict = freshness.judge(running_instigators(context.instance))
    if verdict.late:
        context.log.warning(verdict.summary())
    return dg.SkipReason(verdict.summary())


def running_instigators(instance: dg.DagsterInstance) -> set[str]:
    """Names of the schedules and sensors switched on in this instance (ours ship stopped, so a
    stored RUNNING state is the user's decision to keep the lake current)."""
    from dagster._core.scheduler.instigation import InstigatorStatus

    return {s.name for s in instance.all_instigator_state() if s.status == InstigatorStatus.RUNNING}

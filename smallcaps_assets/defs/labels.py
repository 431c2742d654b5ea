"""event_labels: what happened after each intraday event (triple barrier, forward returns, MFE/MAE,
halts, SSR, the next session)."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import (
    DAILY_BARS,
    EVENT_LABELS,
    EVENT_MANIFEST,
    EVENT_TRADES,
    INTRADAY_EVENTS,
    MINUTE_BARS,
    SSR_STATUS,
)
from ..assetkit import DOWNSTREAM_AUTOMATION, daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import labels, labels_quality

GROUP = "research"
# Labels of D complete when D+1's daily bars land: the downstream automation, looking back over
# the last week's partitions instead of the latest one only, re-runs D once D+1 is updated.
NEXT_SESSION_LOOKBACK = dt.timedelta(days=7)
LABELS_AUTOMATION = DOWNSTREAM_AUTOMATION.replace(
    "in_latest_time_window", dg.AutomationCondition.in_latest_time_window(NEXT_SESSION_LOOKBACK)
)


class LabelsConfig(dg.Config):
    """The label settings (defaults: stages/labels.py ``LabelParams``, docs/labels.md)."""

    vertical_minutes: int = labels.LabelParams().vertical_minutes
    k_pt: float = labels.LabelParams().k_pt
    k_sl: float = labels.LabelParams().k_sl

    def params(self) -> labels.LabelParams:
        return labels.LabelParams(vertical_minutes=self.vertical_minutes, k_pt=self.k_pt, k_sl=self.k_sl)


@daily_asset(
    EVENT_LABELS,
    schemas.event_labels_contract(),
    labels_quality.LABEL_GATES,
    group=GROUP,
    automation=LABELS_AUTOMATION,
    deps=[
        INTRADAY_EVENTS,
        MINUTE_BARS,
        EVENT_TRADES,
        EVENT_MANIFEST,  # the windows: which minutes the trades cover
        SSR_STATUS,
        # A forward mapping: the next session's open and close. Until D+1 exists the next-session
        # returns are null (metadata next_session: pending).
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(1, 1)),
    ],
)
def event_labels(context: dg.AssetExecutionContext, config: LabelsConfig) -> Iterator[checks.CheckedEvent]:
    """One row per intraday event: the entry (first eligible trade 1 s after ts, else the next bar's
    open), a side-aware triple barrier (k x pre-event volatility, 30 minutes; gaps exit at the
    open, a bar touching both barriers is resolved by the trades or taken as the stop) with ``t1``,
    the instant the outcome was known; forward returns at 1-60 minutes (null past 20:00 ET); MFE
    and MAE; whether a trading pause or SSR touched the horizon; and the next session's open and
    close return. Labels of D complete once D+1's daily bars exist (metadata ``next_session``,
    check ``next_session_complete``); the automation re-runs D when they land. docs/labels.md."""
    day = partition_day(context)
    events = lake.read_partition(INTRADAY_EVENTS, day)
    bars = lake.read_partition(MINUTE_BARS, day)
    if events is None or bars is None:
        raise dg.Failure(f"intraday_events or minute_bars for {day} is missing")
    nxt = cal.next_trading_day(day)
    next_daily = lake.read_partition(DAILY_BARS, nxt) if nxt else None
    frame = labels.event_labels(
        day,
        events,
        bars,
        trades=lake.read_partition(EVENT_TRADES, day),
        windows=lake.read_partition(EVENT_MANIFEST, day),
        ssr_status=lake.read_partition(SSR_STATUS, day),
        next_daily=next_daily,
        p=config.params(),
    )
    frame = schemas.enforce(schemas.event_labels_contract(), frame)
    written = lake.write_partition(EVENT_LABELS, day, frame, sort_by=["event_id"])
    balance = labels_quality.class_balance(frame)
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "events": frame.height,
                "labelled": int(frame["barrier_label"].is_not_null().sum()),
                "entry_from_trades": int((frame["entry_source"] == "trade").sum()),
                **{f"share_{k}": round(v, 4) for k, v in balance.items()},
                "halt_in_horizon": int(frame["halt_in_horizon"].sum() or 0),
                "ssr_in_horizon": int(frame["ssr_in_horizon"].sum() or 0),
                "next_session": "complete" if next_daily is not None else "pending",
            },
            check_results=checks.results(
                EVENT_LABELS, labels_quality.label_gates(frame, events["event_id"], next_daily)
            ),
        )
    )

"""signal_report: how each feature ranks each forward return over a window of sessions."""

from collections.abc import Iterator

import dagster as dg

from .. import calendar as cal
from .. import checks, lake
from ..asset_names import EVENT_FEATURES, EVENT_LABELS, SIGNAL_REPORT
from ..assetkit import daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import signal_report as sr
from ..stages.labels import LabelParams, fwd_column

GROUP = "research"
WINDOW_SESSIONS = 20  # the day and the 19 sessions before it
TARGETS = (*(fwd_column(h) for h in LabelParams().horizons_minutes), "label_return")
SHOWN_TARGETS = (fwd_column(15), "label_return")  # the Markdown tables in the metadata


def report_window(day) -> list:
    days = [day]
    while len(days) < WINDOW_SESSIONS:
        prev = cal.previous_trading_day(days[-1])
        if prev is None:
            break
        days.append(prev)
    return days[::-1]


@daily_asset(
    SIGNAL_REPORT,
    sr.signal_report_contract(),
    sr.REPORT_GATES,
    group=GROUP,
    # The window reads the sessions that have features and labels; a fresh lake's first report
    # covers fewer sessions rather than pulling 19 more days of the whole graph.
    history_as_found=True,
    deps=[
        dg.AssetDep(EVENT_FEATURES, partition_mapping=sessions_window(-(WINDOW_SESSIONS - 1), 0)),
        dg.AssetDep(EVENT_LABELS, partition_mapping=sessions_window(-(WINDOW_SESSIONS - 1), 0)),
    ],
)
def signal_report(context: dg.AssetExecutionContext) -> Iterator[checks.CheckedEvent]:
    """IC (Pearson) and rank IC (Spearman) of every numeric feature of event_features against each
    forward return and the barrier label's return of event_labels, pooled ("ALL") and per event
    type, over the day and its 19 prior sessions (the days that have both tables). A pair needs
    30 events with both values, else its IC is null. The metadata shows the strongest features for
    the 15-minute return and the label return as Markdown tables. A report for reading: nothing
    downstream learns from it."""
    day = partition_day(context)
    days = report_window(day)
    features = lake.read_partitions(EVENT_FEATURES, days)
    labels = lake.read_partitions(EVENT_LABELS, days)
    if features is None or labels is None:
        raise dg.Failure(f"event_features or event_labels has no partition in {days[0]}..{day}")
    table = sr.signal_table(features.drop("date"), labels.drop("date"), list(TARGETS))
    written = lake.write_partition(SIGNAL_REPORT, day, table, sort_by=["target", "event_type", "feature"])
    joined = features.select("event_id").join(labels.select("event_id", "label_return"), on="event_id")
    labelled = int(joined["label_return"].is_not_null().sum())
    metadata = {
        **partition_metadata(written),
        "sessions": int(features["date"].n_unique()),
        "events": features.height,
        "labelled_events": labelled,
        **{f"top/{t}": dg.MetadataValue.md(sr.markdown(table, t)) for t in SHOWN_TARGETS},
    }
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata=metadata,
            check_results=checks.results(
                SIGNAL_REPORT,
                sr.report_gates(table, labelled, window_full=metadata["sessions"] >= WINDOW_SESSIONS),
            ),
        )
    )

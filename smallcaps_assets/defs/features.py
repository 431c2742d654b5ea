"""event_features: point-in-time features of every intraday event (stages/features/)."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import (
    DAILY_BARS,
    EVENT_FEATURES,
    EVENT_MANIFEST,
    EVENT_QUOTES,
    EVENT_TRADES,
    INTRADAY_EVENTS,
    MINUTE_BARS,
    NEWS,
    SHORT_INTEREST,
    SHORT_VOLUME,
    SSR_STATUS,
    UNIVERSE,
)
from ..assetkit import daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import events as ev
from ..stages import features as feat
from ..stages import features_quality as quality

GROUP = "research"
# ATR(14), the 20-session regime and the former-runner count need 20 prior sessions; 25 leaves room
# for a symbol that missed a few.
HISTORY_SESSIONS = 25
# The time-of-day volume baselines, as intraday_events builds them.
BASELINE_SESSIONS = 20
# Set for every windowed event whose window held a print or a quote before ts.
TAPE_PROBE = "tape_input_ts"


def daily_history(day, root=None) -> pl.DataFrame | None:
    """daily_bars of the prior sessions, plus D's rows with only their split_ratio (announced
    before the open): D's prices are end-of-day data, so they are never handed to a family."""
    history = lake.read_partitions(DAILY_BARS, cal.sessions_before(day, HISTORY_SESSIONS), root)
    today = lake.read_partition(DAILY_BARS, day, root)
    if today is None:
        return history
    today = today.select("symbol", "split_ratio").with_columns(date=pl.lit(day, dtype=pl.Date))
    return pl.concat([today] if history is None else [history, today], how="diagonal_relaxed")


def _baseline(day, symbols: list[str], root=None) -> pl.DataFrame | None:
    prior = lake.read_partitions(MINUTE_BARS, cal.sessions_before(day, BASELINE_SESSIONS), root)
    if prior is None:
        return None
    return ev.baselines(prior.filter(pl.col("symbol").is_in(symbols)))


def feature_inputs(day, root=None) -> feat.FeatureInputs:
    """The day's inputs from the lake; a missing optional input is None (its features null)."""
    events = lake.read_partition(INTRADAY_EVENTS, day, root)
    bars = lake.read_partition(MINUTE_BARS, day, root)
    universe = lake.read_partition(UNIVERSE, day, root)
    if events is None or bars is None or universe is None:
        raise dg.Failure(f"intraday_events, minute_bars or universe for {day} is missing")
    prev = cal.previous_trading_day(day)
    symbols = sorted(set(events["symbol"]))
    return feat.FeatureInputs(
        day=day,
        events=events,
        minute_bars=bars.filter(pl.col("symbol").is_in(symbols)),
        universe=universe,
        daily_history=daily_history(day, root),
        baseline=_baseline(day, symbols, root) if symbols else None,
        trades=lake.read_partition(EVENT_TRADES, day, root),
        quotes=lake.read_partition(EVENT_QUOTES, day, root),
        manifest=lake.read_partition(EVENT_MANIFEST, day, root),
        ssr_status=lake.read_partition(SSR_STATUS, day, root),
        news=lake.read_partitions(NEWS, [d for d in (prev, day) if d], root),
        short_interest=lake.read_partition(SHORT_INTEREST, day, root),
        short_volume=lake.read_partition(SHORT_VOLUME, prev, root) if prev else None,
    )


def coverage(frame: pl.DataFrame) -> dict[str, float]:
    """Share of events with a non-null value, per feature family (its input-time column)."""
    if frame.height == 0:
        return {}
    return {
        f"coverage/{c.removesuffix('_input_ts')}": round(float(frame[c].is_not_null().mean()), 4)
        for c in feat.input_ts_columns(frame)
    }


@daily_asset(
    EVENT_FEATURES,
    schemas.event_features_contract(),
    quality.FEATURE_GATES,
    group=GROUP,
    deps=[
        INTRADAY_EVENTS,
        UNIVERSE,
        EVENT_MANIFEST,
        EVENT_TRADES,
        EVENT_QUOTES,
        SSR_STATUS,
        SHORT_INTEREST,
        dg.AssetDep(SHORT_VOLUME, partition_mapping=sessions_window(-1, -1)),
        dg.AssetDep(NEWS, partition_mapping=sessions_window(-1, 0)),
        # D's own rows are read for their split_ratio alone.
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-HISTORY_SESSIONS, 0)),
        dg.AssetDep(MINUTE_BARS, partition_mapping=sessions_window(-BASELINE_SESSIONS, 0)),
    ],
)
def event_features(context: dg.AssetExecutionContext) -> Iterator[checks.CheckedEvent]:
    """One row per intraday event of the day with every feature knowable at the event's ``ts``:
    bars and context, tape and quotes before ``ts`` (events with a downloaded window; null
    otherwise), point-in-time reference data, the day's prior events, news and the SSR status.
    Each feature family carries ``<family>_input_ts``, the latest instant it read, and a blocking
    gate checks it is at or before ``ts``. Features, units and windows: docs/features.md."""
    day = partition_day(context)
    inputs = feature_inputs(day)
    frame = schemas.enforce(schemas.event_features_contract(), feat.build_features(inputs))
    written = lake.write_partition(EVENT_FEATURES, day, frame, sort_by=["symbol", "ts", "event_type"])
    windowed = set() if inputs.trades is None else set(inputs.trades["event_id"].unique().to_list())
    tape_column = TAPE_PROBE if TAPE_PROBE in frame.columns else None
    figures = coverage(frame)
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "events": frame.height,
                "features": len(feat.feature_columns(frame)),
                "windowed_events": len(windowed),
                **figures,
            },
            check_results=checks.results(
                EVENT_FEATURES, quality.feature_gates(frame, inputs.events["event_id"], windowed, tape_column)
            ),
        )
    )

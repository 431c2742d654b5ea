"""Event assets: daily_events (the daily screen) and intraday_events (the detectors)."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import DAILY_BARS, DAILY_EVENTS, INTRADAY_EVENTS, MINUTE_BARS, UNIVERSE
from ..assetkit import daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import event_quality
from ..stages import events as ev

DAILY_LOOKBACK = 25  # sessions: the 20-day volume average plus slack for the 14-day ATR
BASELINE_SESSIONS = 20  # prior sessions of minute bars for the time-of-day baselines
SCORE_WINDOW = 60  # prior sessions of events the score ranks against
# Sessions of intraday_events that `smallcaps materialize` runs before a range on a fresh lake: with
# the in-play filter a session gives tens of events, so five give the pooled score its 20.
SCORE_WARM_UP = 5
GROUP = "events"


class DailyEventsConfig(dg.Config):
    """Daily screen thresholds (defaults in docs/events.md)."""

    gap_min: float = ev.DailyScreenParams().gap_min
    rvol_min: float = ev.DailyScreenParams().rvol_min
    dollar_volume_min: float = ev.DailyScreenParams().dollar_volume_min
    atr_move_min: float = ev.DailyScreenParams().atr_move_min
    range_ratio_min: float = ev.DailyScreenParams().range_ratio_min
    flush_drop_min: float = ev.DailyScreenParams().flush_drop_min

    def params(self) -> ev.DailyScreenParams:
        return ev.DailyScreenParams(**self.model_dump())


@daily_asset(
    DAILY_EVENTS,
    schemas.DailyEvents,
    [event_quality.DAILY_EVENT_RATE],
    group=GROUP,
    deps=[dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-DAILY_LOOKBACK, 0))],
)
def daily_events(
    context: dg.AssetExecutionContext, config: DailyEventsConfig
) -> Iterator[checks.CheckedEvent]:
    """Symbol-days of the trading day that pass a daily gate: the triple gate (gap >= 10% from
    the prior close, volume >= 3x the 20-session average, dollar volume >= $2M), an ATR breakout,
    a range explosion or a daily flush, with every measured value. Averages use prior sessions
    only; prices are split-adjusted as of the day. Metadata holds the calibration report: the
    event rate per symbol-day against a grid of thresholds for each gate."""
    day = partition_day(context)
    history = lake.read_partitions(DAILY_BARS, [*cal.sessions_before(day, DAILY_LOOKBACK), day])
    if history is None or history.filter(pl.col("date") == day).is_empty():
        raise dg.Failure(f"daily_bars for {day} is missing")
    params = config.params()
    screened = ev.daily_screen(history, day, params)
    frame = schemas.enforce(schemas.DailyEvents, screened)
    written = lake.write_partition(DAILY_EVENTS, day, frame, sort_by=["symbol"])
    symbol_days = history.filter(pl.col("date") == day).height
    rate = frame.height / max(1, symbol_days)
    calib = ev.calibration(history, params)
    counts = {g: int(frame[g].sum()) for g in ev.DAILY_GATES}
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "events": frame.height,
                "symbol_days": symbol_days,
                "event_rate": round(rate, 5),
                **{f"gate_{k}": v for k, v in counts.items()},
                "calibration": dg.MetadataValue.md(checks.markdown_table(calib, ".4g")),
            },
            check_results=checks.results(
                DAILY_EVENTS, [event_quality.daily_event_rate(frame.height, symbol_days)]
            ),
        )
    )


class IntradayEventsConfig(dg.Config):
    """The in-play filter (docs/events.md, "In play"); the detectors' own thresholds are the
    documented defaults. ``in_play=False`` keeps every event the rules find."""

    in_play: bool = ev.InPlayParams().enabled
    min_dollar_volume: float = ev.InPlayParams().min_dollar_volume
    min_rvol: float = ev.InPlayParams().min_rvol
    min_change: float = ev.InPlayParams().min_change

    def params(self) -> ev.IntradayParams:
        values = self.model_dump()
        enabled = values.pop("in_play")
        return ev.IntradayParams(in_play={**values, "enabled": enabled})


@daily_asset(
    INTRADAY_EVENTS,
    schemas.intraday_events_contract(),
    event_quality.INTRADAY_GATES,
    group=GROUP,
    warm_up_sessions=SCORE_WARM_UP,
    deps=[
        UNIVERSE,
        dg.AssetDep(MINUTE_BARS, partition_mapping=sessions_window(-BASELINE_SESSIONS, 0)),
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-1, 0)),
        # The score ranks against earlier partitions of this asset: a self-dependency, so lineage
        # shows it and a backfill runs the days in order.
        dg.AssetDep(INTRADAY_EVENTS, partition_mapping=sessions_window(-SCORE_WINDOW, -1)),
    ],
)
def intraday_events(
    context: dg.AssetExecutionContext, config: IntradayEventsConfig
) -> Iterator[checks.CheckedEvent]:
    """Intraday events of the day's universe from its minute bars: volume_spike, tape_speed,
    price_momentum, vwap_break, opening_range_break, hod_break, consolidation_break, flush,
    halt_resumption, gap_and_go, first_pullback, parabolic_exhaustion (rules in docs/events.md).

    Context comes only from before each bar: prior close (from daily_bars of the prior session,
    in today's share units), 20-session time-of-day volume and transaction baselines (minute_bars
    of the prior sessions), and the day's own bars up to the bar. An event is kept only when its
    symbol is in play at the bar: $500k traded so far and 4x its usual volume so far
    (``rvol_so_far``) or a 20% move from the prior close (gap_and_go and halt_resumption exempt).
    ``score`` blends the strength's rank within type with the rank of ``rvol_so_far`` among all
    types, against the prior 60 sessions' events only. ``event_id`` is a stable hash of
    (symbol, ts, type); a rerun replaces the partition."""
    day = partition_day(context)
    bars = lake.read_partition(MINUTE_BARS, day)
    uni = lake.read_partition(UNIVERSE, day)
    if bars is None or uni is None:
        raise dg.Failure(f"minute_bars or universe for {day} is missing")
    prior_days = cal.sessions_before(day, BASELINE_SESSIONS)
    prior_bars = lake.read_partitions(MINUTE_BARS, prior_days)
    symbols = set(uni["symbol"])
    if prior_bars is not None:
        prior_bars = prior_bars.filter(pl.col("symbol").is_in(sorted(symbols)))
    prior_close = _prior_close(day, symbols)
    context_frame = ev.make_context(prior_close, ev.baselines(prior_bars) if prior_bars is not None else None)
    params = config.params()
    detected = ev.detect_intraday(bars.filter(pl.col("symbol").is_in(sorted(symbols))), context_frame, params)
    history = lake.read_partitions(INTRADAY_EVENTS, cal.sessions_before(day, SCORE_WINDOW))
    scored = ev.score(detected, history if history is not None else detected.clear())
    frame = schemas.enforce(schemas.intraday_events_contract(), scored.select(*ev.EVENT_SCHEMA, "score"))
    written = lake.write_partition(INTRADAY_EVENTS, day, frame, sort_by=["symbol", "ts", "event_type"])

    window_days = cal.sessions_before(day, event_quality.Checklist().window_sessions - 1)
    window = lake.read_partitions(INTRADAY_EVENTS, window_days)
    today = frame.with_columns(date=pl.lit(day, dtype=pl.Date))
    window = today if window is None else pl.concat([window, today], how="diagonal_relaxed")
    gates = event_quality.checklist(window.select("date", "symbol", "event_type", "session"))
    gates += event_quality.partition_rules(frame, symbols, day)
    by_type = dict(frame.group_by("event_type").len().iter_rows())
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "events": frame.height,
                "symbols_with_events": frame["symbol"].n_unique(),
                "baseline_sessions": len(prior_days) if prior_bars is not None else 0,
                "scored": int(frame["score"].is_not_null().sum()),
                "in_play": params.in_play.enabled,
                **{f"type_{t}": int(by_type.get(t, 0)) for t in ev.EVENT_TYPES},
            },
            check_results=checks.results(INTRADAY_EVENTS, gates),
        )
    )


def _prior_close(day, symbols: set[str]) -> pl.DataFrame:
    """Each symbol's previous close in today's share units (a split executed today rescales it)."""
    prev = cal.previous_trading_day(day)
    prior = lake.read_partition(DAILY_BARS, prev) if prev else None
    today = lake.read_partition(DAILY_BARS, day)
    if prior is None:
        return pl.DataFrame(schema={"symbol": pl.String, "prior_close": pl.Float64})
    ratio = (
        today.select("symbol", "split_ratio")
        if today is not None
        else pl.DataFrame(schema={"symbol": pl.String, "split_ratio": pl.Float64})
    )
    return (
        # D-1's own split_ratio column is dropped first: the product must use D's ratio (a split
        # executed on D is announced before the open), not the one that took D-2 to D-1.
        prior.filter(pl.col("symbol").is_in(sorted(symbols)))
        .select("symbol", "close")
        .join(ratio, on="symbol", how="left")
        .select("symbol", prior_close=pl.col("close") * pl.col("split_ratio").fill_null(1.0))
    )

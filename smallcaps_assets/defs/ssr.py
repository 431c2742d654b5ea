"""ssr_status: SEC Rule 201 (the short-sale circuit breaker) per universe symbol and trading day."""

import dagster as dg

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import DAILY_BARS, MINUTE_BARS, SSR_STATUS, UNIVERSE
from ..assetkit import daily_asset, partition_day, sessions_window
from ..assetkit.metadata import partition_metadata
from ..stages import ssr, ssr_quality

GROUP = "events"


@daily_asset(
    SSR_STATUS,
    schemas.SsrStatus,
    ssr_quality.SSR_GATES,
    group=GROUP,
    # One earlier session of its own: a carried-over restriction comes from the previous day's
    # trigger, so the first day of a fresh lake is run once before a range.
    warm_up_sessions=1,
    deps=[
        UNIVERSE,
        MINUTE_BARS,
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-1, 0)),
        # The previous session's triggers carry over: a self-dependency, so lineage shows it and a
        # backfill runs the days in order.
        dg.AssetDep(SSR_STATUS, partition_mapping=sessions_window(-1, -1)),
    ],
)
def ssr_status(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """SEC Rule 201 per symbol of the day's universe (rule in docs/ssr.md). It triggers when a
    regular-hours minute bar's low is at or under 90% of the previous session's close (in today's
    share units: daily_bars of D-1, rescaled by D's split ratio); ``triggered_at`` is that bar's
    close. A trigger keeps SSR active to the end of the next session's extended hours; a trigger on
    the previous session (this asset's D-1 partition) makes it active from today's 04:00 ET
    pre-market (``carried_over``). SSR is active at t when ``active_from <= t < active_until``.
    A symbol missing from the previous partition (not in D-1's universe, or D-1 never run) is not
    carried over; the metadata counts them (``previous_unknown``)."""
    day = partition_day(context)
    bars = lake.read_partition(MINUTE_BARS, day)
    uni = lake.read_partition(UNIVERSE, day)
    if bars is None or uni is None:
        raise dg.Failure(f"minute_bars or universe for {day} is missing")
    symbols = sorted(set(uni["symbol"]))
    prev = cal.previous_trading_day(day)
    prior_daily = lake.read_partition(DAILY_BARS, prev) if prev else None
    prior_close = ssr.prior_close_today_units(symbols, prior_daily, lake.read_partition(DAILY_BARS, day))
    previous = lake.read_partition(SSR_STATUS, prev) if prev else None
    status = ssr.ssr_status(day, bars, prior_close, previous)
    frame = schemas.enforce(schemas.SsrStatus, status)
    written = lake.write_partition(SSR_STATUS, day, frame, sort_by=["symbol"])
    known = set() if previous is None else set(previous["symbol"])
    return dg.MaterializeResult(
        metadata={
            **partition_metadata(written),
            "symbols": frame.height,
            "triggered": int(frame["triggered_at"].is_not_null().sum()),
            "carried_over": int(frame["carried_over"].sum()),
            "active_today": int(frame["active_from"].is_not_null().sum()),
            "without_prior_close": int(frame["prior_close"].is_null().sum()),
            "previous_partition": previous is not None,
            "previous_unknown": len(set(symbols) - known),
        },
        check_results=checks.results(SSR_STATUS, ssr_quality.ssr_gates(frame, set(symbols), day)),
    )

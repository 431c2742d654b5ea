"""ssr_status: SEC Rule 201 (the short-sale circuit breaker) per universe symbol and trading day."""

from collections.abc import Iterator

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
    deps=[
        UNIVERSE,
        MINUTE_BARS,
        # D-1's close (and D's split ratio) is the prior close; D-2's close with D-1's low answers
        # the carry-over for symbols D-1's status lacks.
        dg.AssetDep(DAILY_BARS, partition_mapping=sessions_window(-2, 0)),
        # The previous session's triggers carry over: a self-dependency, so lineage shows it and a
        # backfill runs the days in order.
        dg.AssetDep(SSR_STATUS, partition_mapping=sessions_window(-1, -1)),
    ],
)
def ssr_status(context: dg.AssetExecutionContext) -> Iterator[checks.CheckedEvent]:
    """SEC Rule 201 per symbol of the day's universe (rule in docs/ssr.md). It triggers when a
    regular-hours minute bar's low is at or under 90% of the previous session's close (in today's
    share units: daily_bars of D-1, rescaled by D's split ratio); ``triggered_at`` is that bar's
    close. A trigger keeps SSR active to the end of the next session's extended hours; a trigger on
    the previous session (this asset's D-1 partition) makes it active from today's 04:00 ET
    pre-market (``carried_over``). SSR is active at t when ``active_from <= t < active_until``.
    For a symbol missing from the previous partition (not in D-1's universe, or D-1 never run) the
    carry-over comes from the daily bars: D-1's regular-hours low against 90% of D-2's close in
    D-1's share units (metadata ``previous_unknown``, ``carried_over_from_daily_bars``)."""
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
    prev2 = cal.previous_trading_day(prev) if prev else None
    before_prior = lake.read_partition(DAILY_BARS, prev2) if prev2 else None
    from_daily = ssr.daily_triggers(before_prior, prior_daily)
    status = ssr.ssr_status(day, bars, prior_close, previous, from_daily)
    frame = schemas.enforce(schemas.SsrStatus, status)
    written = lake.write_partition(SSR_STATUS, day, frame, sort_by=["symbol"])
    known = set() if previous is None else set(previous["symbol"])
    unknown = set(symbols) - known
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "symbols": frame.height,
                "triggered": int(frame["triggered_at"].is_not_null().sum()),
                "carried_over": int(frame["carried_over"].sum()),
                "active_today": int(frame["active_from"].is_not_null().sum()),
                "without_prior_close": int(frame["prior_close"].is_null().sum()),
                "previous_partition": previous is not None,
                "previous_unknown": len(unknown),
                "carried_over_from_daily_bars": len(unknown & set(from_daily)),
            },
            check_results=checks.results(SSR_STATUS, ssr_quality.ssr_gates(frame, set(symbols), day)),
        )
    )

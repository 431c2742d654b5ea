"""Reference assets: ticker_reference, corporate_actions, ticker_details (all point in time)."""

import asyncio
import datetime as dt
from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import CORPORATE_ACTIONS, TICKER_DETAILS, TICKER_REFERENCE
from ..assetkit import (
    SymbolsConfig,
    by_symbol_metadata,
    daily_asset,
    partition_day,
    run,
    unknown_symbols,
    usage_metadata,
    vendor_rows,
)
from ..assetkit.metadata import partition_metadata
from ..resources import PolygonResource
from ..stages import reference as ref
from ..stages import reference_quality as quality

GROUP = "reference"


@daily_asset(
    TICKER_REFERENCE,
    schemas.TickerReference,
    quality.TICKER_REFERENCE_GATES,
    group=GROUP,
    vendor=True,
    root=True,
)
def ticker_reference(
    context: dg.AssetExecutionContext, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Every ticker known on the trading day, point in time: listed ones (``active``) and those
    already delisted, with type, market, primary exchange and identifiers. Two paginated
    ``/v3/reference/tickers`` walks per day (``active=true`` and ``active=false``)."""
    day = partition_day(context)

    async def fetch():
        async with polygon.connect() as client:
            active, delisted = await asyncio.gather(
                client.tickers(date=day, active=True, market=None),
                client.tickers(date=day, active=False, market=None),
            )
            return vendor_rows(active), vendor_rows(delisted), client.usage

    active, delisted, usage = run(fetch())
    frame = schemas.enforce(schemas.TickerReference, ref.reference_frame(active, delisted))
    written = lake.write_partition(TICKER_REFERENCE, day, frame, sort_by=["symbol"])
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "listed": int(frame["active"].sum()),
                **usage_metadata(usage),
            },
            check_results=checks.results(TICKER_REFERENCE, quality.reference_gates(frame, day)),
        )
    )


@daily_asset(
    CORPORATE_ACTIONS,
    schemas.CorporateActions,
    quality.CORPORATE_ACTIONS_GATES,
    group=GROUP,
    vendor=True,
    root=True,
)
def corporate_actions(
    context: dg.AssetExecutionContext, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Splits executed and dividends going ex on the trading day (one request each). Daily bars
    take the day's split ratio from here, so adjustment never needs a later date."""
    day = partition_day(context)

    async def fetch():
        async with polygon.connect() as client:
            splits, dividends = await asyncio.gather(
                client.splits(execution_date_gte=day, execution_date_lte=day),
                client.dividends(ex_dividend_date_gte=day, ex_dividend_date_lte=day),
            )
            return vendor_rows(splits), vendor_rows(dividends), client.usage

    splits, dividends, usage = run(fetch())
    frame = schemas.enforce(schemas.CorporateActions, ref.corporate_actions_frame(splits, dividends, day))
    written = lake.write_partition(CORPORATE_ACTIONS, day, frame, sort_by=["symbol", "action", "action_id"])
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "splits": int((frame["action"] == "split").sum()),
                "reverse_splits": int(frame.filter(quality.SPLIT_RATIO > 1).height),
                "dividends": int((frame["action"] == "dividend").sum()),
                **usage_metadata(usage),
            },
            check_results=checks.results(CORPORATE_ACTIONS, quality.corporate_actions_gates(frame)),
        )
    )


class TickerDetailsConfig(SymbolsConfig):
    types: list[str] = list(ref.DETAIL_TYPES_DEFAULT)


@daily_asset(
    TICKER_DETAILS,
    schemas.TickerDetails,
    quality.TICKER_DETAILS_GATES,
    group=GROUP,
    deps=[TICKER_REFERENCE],
    vendor=True,
)
def ticker_details(
    context: dg.AssetExecutionContext, config: TickerDetailsConfig, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Point-in-time shares outstanding (weighted and share class), SIC and list date for the
    tracked types, plus an estimated float.

    Sparse refresh: every ticker is asked on the first session of each week (``as_of`` = that
    date); mid-week partitions carry those rows forward and re-ask only tickers that split or
    newly listed since. Float = shares x the vendor's *latest* free-float percentage (the vendor
    keeps no float history; see docs/universe.md on this residual look-ahead)."""
    day = partition_day(context)
    reference = lake.read_partition(TICKER_REFERENCE, day)
    if reference is None:
        raise dg.Failure(f"ticker_reference for {day} is missing; materialize it first")
    tracked = reference.filter(pl.col("active") & pl.col("type").is_in(config.types))["symbol"].to_list()
    selected = config.selected()
    if selected:
        missing = unknown_symbols(selected, set(tracked))
        if missing:
            raise dg.Failure(f"unknown or untracked symbols for {day}: {missing}")
    anchor = ref.week_anchor(day)

    async def fetch():
        async with polygon.connect() as client:
            floats = {f.ticker: f.free_float_percent for f in await client.free_float()}
            counter = {"asked": 0}

            async def one(symbol: str, as_of: dt.date) -> dict | None:
                counter["asked"] += 1
                d = await client.ticker_details(symbol, date=as_of)
                if d is None:
                    return None
                return ref.details_row(vendor_rows([d])[0], as_of, floats.get(symbol))

            wanted = selected or tracked
            # Anchor rows: from the lake when the anchor partition exists (cheap), else asked
            # with date=anchor, which returns the same values.
            stored = None if (day == anchor or selected) else lake.read_partition(TICKER_DETAILS, anchor)
            if stored is not None:
                anchor_rows = {r["symbol"]: r for r in stored.iter_rows(named=True) if r["as_of"] == anchor}
            else:
                fetched = await asyncio.gather(*(one(s, anchor) for s in wanted))
                anchor_rows = {r["symbol"]: r for r in fetched if r is not None}
            rows = {s: anchor_rows[s] for s in wanted if s in anchor_rows}
            if day != anchor:
                # Mid-week: re-ask tickers whose share count changed by a split since the anchor,
                # and tickers not listed at the anchor.
                splits = await client.splits(
                    execution_date_gte=cal.next_trading_day(anchor), execution_date_lte=day
                )
                changed = {x.ticker for x in splits}
                refresh = sorted(s for s in wanted if s in changed or s not in anchor_rows)
                for r in await asyncio.gather(*(one(s, day) for s in refresh)):
                    if r is not None:
                        rows[r["symbol"]] = r
            return list(rows.values()), client.usage, counter["asked"]

    rows, usage, asked = run(fetch())
    fresh = ref.details_frame(rows)
    frame = schemas.enforce(schemas.TickerDetails, fresh)
    if selected:
        written = lake.replace_symbols(TICKER_DETAILS, day, frame, selected, sort_by=["symbol"])
        rewritten = by_symbol_metadata(context, TICKER_DETAILS, day, selected, frame)
        frame = lake.read_partition(TICKER_DETAILS, day)
    else:
        written = lake.write_partition(TICKER_DETAILS, day, frame, sort_by=["symbol"])
        rewritten = by_symbol_metadata(context, TICKER_DETAILS, day, None, frame)
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "refreshed": asked,
                "week_anchor": anchor.isoformat(),
                **rewritten,
                **usage_metadata(usage),
            },
            check_results=checks.results(TICKER_DETAILS, quality.ticker_details_gates(frame, len(tracked))),
        )
    )

"""Reference assets: ticker_reference, corporate_actions, ticker_details (all point in time)."""

import asyncio
import datetime as dt

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import lake, schemas
from ..checks import results, spec
from ..gates import evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..resources import PolygonResource
from ..stages import reference as ref
from .common import (
    DAILY_FRESHNESS,
    DOWNSTREAM_AUTOMATION,
    ONE_DAY_PER_RUN,
    VENDOR_POOL,
    SymbolsConfig,
    partition_day,
    run,
    unknown_symbols,
    usage_metadata,
)

GROUP = "reference"


def _dump(models) -> list[dict]:
    return [m.model_dump(mode="json", by_alias=True) for m in models]


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    pool=VENDOR_POOL,
    group_name=GROUP,
    kinds={"parquet", "polygon"},
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[
        spec("ticker_reference", "reference_not_empty", "At least 10 listed tickers on the date."),
        spec(
            "ticker_reference",
            "reference_includes_delisted",
            "Delisted tickers are kept (no survivorship bias).",
            blocking=False,
        ),
    ],
)
def ticker_reference(context: dg.AssetExecutionContext, polygon: PolygonResource) -> dg.MaterializeResult:
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
            return _dump(active), _dump(delisted), client.usage

    active, delisted, usage = run(fetch())
    frame = schemas.enforce(schemas.TickerReference, ref.reference_frame(active, delisted))
    written = lake.write_partition("ticker_reference", day, frame, sort_by=["symbol"])
    gates = [
        evaluate(
            frame_rule(
                "reference_not_empty",
                lambda f: f.filter(pl.col("active")).height >= 10,
                "at least 10 listed tickers",
            ),
            frame,
            {"listed": int(frame["active"].sum())},
        ),
        evaluate(
            frame_rule(
                "reference_includes_delisted",
                lambda f: (~f["active"]).any() or day < dt.date(2000, 1, 1),
                "delisted tickers present",
            ),
            frame,
            {"delisted": int((~frame["active"]).sum())},
        ),
    ]
    return dg.MaterializeResult(
        metadata={**written.metadata(), "listed": int(frame["active"].sum()), **usage_metadata(usage)},
        check_results=results("ticker_reference", gates, warn={"reference_includes_delisted"}),
    )


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    pool=VENDOR_POOL,
    group_name=GROUP,
    kinds={"parquet", "polygon"},
    freshness_policy=DAILY_FRESHNESS,
    check_specs=[
        spec(
            "corporate_actions",
            "split_ratios_plausible",
            "Split ratios between 1:200 and 200:1.",
            blocking=False,
        )
    ],
)
def corporate_actions(context: dg.AssetExecutionContext, polygon: PolygonResource) -> dg.MaterializeResult:
    """Splits executed and dividends going ex on the trading day (one request each). Daily bars
    take the day's split ratio from here, so adjustment never needs a later date."""
    day = partition_day(context)

    async def fetch():
        async with polygon.connect() as client:
            splits, dividends = await asyncio.gather(
                client.splits(execution_date_gte=day, execution_date_lte=day),
                client.dividends(ex_dividend_date_gte=day, ex_dividend_date_lte=day),
            )
            return _dump(splits), _dump(dividends), client.usage

    splits, dividends, usage = run(fetch())
    frame = schemas.enforce(schemas.CorporateActions, ref.corporate_actions_frame(splits, dividends, day))
    written = lake.write_partition("corporate_actions", day, frame, sort_by=["symbol", "action", "action_id"])
    ratio = pl.col("split_from") / pl.col("split_to")
    gate = evaluate(
        row_rule(
            "split_ratios_plausible",
            ratio.is_null() | ratio.is_between(1 / 200, 200),
            "ratio in [1/200, 200]",
        ),
        frame,
    )
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "splits": int((frame["action"] == "split").sum()),
            "reverse_splits": int(frame.filter(ratio > 1).height),
            "dividends": int((frame["action"] == "dividend").sum()),
            **usage_metadata(usage),
        },
        check_results=results("corporate_actions", [gate], warn={"split_ratios_plausible"}),
    )


class TickerDetailsConfig(SymbolsConfig):
    types: list[str] = list(ref.DETAIL_TYPES_DEFAULT)


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    pool=VENDOR_POOL,
    group_name=GROUP,
    kinds={"parquet", "polygon"},
    deps=["ticker_reference"],
    freshness_policy=DAILY_FRESHNESS,
    automation_condition=DOWNSTREAM_AUTOMATION,
    check_specs=[
        spec(
            "ticker_details",
            "shares_mostly_known",
            "At least 90% of tracked tickers have shares outstanding.",
            blocking=False,
        ),
    ],
)
def ticker_details(
    context: dg.AssetExecutionContext, config: TickerDetailsConfig, polygon: PolygonResource
) -> dg.MaterializeResult:
    """Point-in-time shares outstanding (weighted and share class), SIC and list date for the
    tracked types, plus an estimated float.

    Sparse refresh: every ticker is asked on the first session of each week (``as_of`` = that
    date); mid-week partitions carry those rows forward and re-ask only tickers that split or
    newly listed since. Float = shares x the vendor's *latest* free-float percentage (the vendor
    keeps no float history; see docs/universe.md on this residual look-ahead)."""
    day = partition_day(context)
    reference = lake.read_partition("ticker_reference", day)
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
                return ref.details_row(d.model_dump(mode="json", by_alias=True), as_of, floats.get(symbol))

            wanted = selected or tracked
            # Anchor rows: from the lake when the anchor partition exists (cheap), else asked
            # with date=anchor, which returns the same values.
            stored = None if (day == anchor or selected) else lake.read_partition("ticker_details", anchor)
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
        written = lake.replace_symbols("ticker_details", day, frame, selected, sort_by=["symbol"])
        frame = lake.read_partition("ticker_details", day)
    else:
        written = lake.write_partition("ticker_details", day, frame, sort_by=["symbol"])
    known = frame["weighted_shares_outstanding"].is_not_null().sum() / max(1, len(tracked))
    gate = evaluate(
        frame_rule(
            "shares_mostly_known", lambda f: known >= 0.9, "shares known for >= 90% of tracked tickers"
        ),
        frame,
        {"known_share": round(float(known), 4)},
    )
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "refreshed": asked,
            "week_anchor": anchor.isoformat(),
            **usage_metadata(usage),
        },
        check_results=results("ticker_details", [gate], warn={"shares_mostly_known"}),
    )

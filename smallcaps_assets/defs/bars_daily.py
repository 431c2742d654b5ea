"""daily_bars: the whole market's session bars, one request per trading day."""

import dagster as dg
import polars as pl

from .. import lake, schemas
from ..checks import results, spec
from ..gates import evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..resources import PolygonResource
from ..stages import daily
from . import flatfiles
from .common import (
    DAILY_FRESHNESS,
    DOWNSTREAM_AUTOMATION,
    OHLC_OK,
    ONE_DAY_PER_RUN,
    POSITIVE,
    VENDOR_POOL,
    BarsSourceConfig,
    partition_day,
    run,
    unknown_symbols,
    usage_metadata,
)


class DailyBarsConfig(BarsSourceConfig):
    """By-symbol backfill and source selection for daily bars."""


MIN_COVERAGE = 0.8


@dg.asset(
    partitions_def=trading_days,
    pool=VENDOR_POOL,
    group_name="bars",
    kinds={"parquet", "polygon"},
    deps=["corporate_actions", "ticker_reference"],
    freshness_policy=DAILY_FRESHNESS,
    automation_condition=DOWNSTREAM_AUTOMATION,
    backfill_policy=ONE_DAY_PER_RUN,
    check_specs=[
        spec("daily_bars", "daily_ohlc_consistent", "low <= open, close <= high on every bar."),
        spec("daily_bars", "daily_positive_prices", "Prices > 0 and volume >= 0."),
        spec(
            "daily_bars", "daily_coverage", "Bars for at least 80% of the exchange-listed tickers of the day."
        ),
    ],
)
def daily_bars(
    context: dg.AssetExecutionContext, config: DailyBarsConfig, polygon: PolygonResource
) -> dg.MaterializeResult:
    """Raw (unadjusted) session OHLCV, VWAP and trade count for every US-listed ticker, from one
    grouped-daily request per day (or the day_aggs_v1 flat file, with VWAP rebuilt from trades_v1
    when present; metadata ``vwap_source``), plus ``split_ratio``: how much that day's raw prices
    jumped because of a split. Prices adjusted as of any decision date are derived from the
    ratios up to that date only (stages/daily.py ``adjust_as_of``)."""
    day = partition_day(context)
    actions = lake.read_partition("corporate_actions", day)
    if actions is None:
        raise dg.Failure(f"corporate_actions for {day} is missing; materialize it first")
    usage_meta: dict[str, object] = {}
    vwap_meta: dict[str, object] = {"vwap_source": "rest"}
    selected = config.selected()
    if config.source == "flatfiles":
        root = flatfiles.require_root(config.flatfiles_root)
        raw = flatfiles.read_aggs(root, "day_aggs_v1", day)
        vw = flatfiles.trade_vwap(context, root, day, daily=True, tickers=selected)
        bars = daily.flatfile_frame(raw, vw)
        if selected:
            bars = bars.filter(pl.col("symbol").is_in(selected))
        mismatched = daily.volume_mismatches(bars, vw) if vw is not None else []
        vwap_meta = flatfiles.vwap_metadata(vw, mismatched)
    else:

        async def fetch():
            async with polygon.connect() as client:
                rows = await client.grouped_daily(day, adjusted=False)
                return [r.model_dump(mode="json", by_alias=True) for r in rows], client.usage

        rows, usage = run(fetch())
        bars = daily.grouped_frame(rows)
        usage_meta = usage_metadata(usage)
    frame = schemas.enforce(schemas.DailyBars, daily.with_split_ratio(bars, actions))
    if selected:
        missing = unknown_symbols(selected, set(frame["symbol"]))
        if missing:
            raise dg.Failure(f"no {day} daily bar for symbols {missing}: unknown or not traded")
        written = lake.replace_symbols("daily_bars", day, frame, selected, sort_by=["symbol"])
        frame = lake.read_partition("daily_bars", day)  # gates judge the partition as written
    else:
        written = lake.write_partition("daily_bars", day, frame, sort_by=["symbol"])
    reference = lake.read_partition("ticker_reference", day)
    listed = (
        set()
        if reference is None
        else set(reference.filter(pl.col("active") & (pl.col("market") == "stocks"))["symbol"])
    )
    coverage = len(listed & set(frame["symbol"])) / max(1, len(listed)) if listed else 1.0
    gates = [
        evaluate(row_rule("daily_ohlc_consistent", OHLC_OK, "low <= open, close <= high"), frame),
        evaluate(row_rule("daily_positive_prices", POSITIVE, "low > 0 and volume >= 0"), frame),
        evaluate(
            frame_rule(
                "daily_coverage",
                lambda f: coverage >= MIN_COVERAGE,
                f"bars for >= {MIN_COVERAGE:.0%} of listed tickers",
            ),
            frame,
            {"symbols": frame.height, "listed": len(listed), "coverage": round(coverage, 4)},
        ),
    ]
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "symbols": frame.height,
            "source": config.source,
            **vwap_meta,
            "split_days": int((frame["split_ratio"] != 1.0).sum()),
            **usage_meta,
        },
        check_results=results("daily_bars", gates),
    )

"""daily_bars: the whole market's session bars, one request per trading day."""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import checks, lake, schemas
from ..asset_names import CORPORATE_ACTIONS, DAILY_BARS, TICKER_REFERENCE
from ..assetkit import (
    BarsSourceConfig,
    by_symbol_metadata,
    daily_asset,
    flatfiles,
    partition_day,
    run,
    unknown_symbols,
    usage_metadata,
)
from ..assetkit.metadata import partition_metadata
from ..resources import PolygonResource
from ..stages import bars_quality as quality
from ..stages import daily

GROUP = "bars"


class DailyBarsConfig(BarsSourceConfig):
    """By-symbol backfill and source selection for daily bars."""


@daily_asset(
    DAILY_BARS,
    schemas.DailyBars,
    quality.DAILY_GATES,
    group=GROUP,
    deps=[CORPORATE_ACTIONS, TICKER_REFERENCE],
    vendor=True,
)
def daily_bars(
    context: dg.AssetExecutionContext, config: DailyBarsConfig, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Raw (unadjusted) session OHLCV, VWAP and trade count for every US-listed ticker, from one
    grouped-daily request per day (or the day_aggs_v1 flat file, with VWAP rebuilt from trades_v1
    when present; metadata ``vwap_source``), plus ``split_ratio``: how much that day's raw prices
    jumped because of a split. Prices adjusted as of any decision date are derived from the
    ratios up to that date only (stages/daily.py ``adjust_as_of``)."""
    day = partition_day(context)
    actions = lake.read_partition(CORPORATE_ACTIONS, day)
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
        written = lake.replace_symbols(DAILY_BARS, day, frame, selected, sort_by=["symbol"])
        rewritten = by_symbol_metadata(context, DAILY_BARS, day, selected, frame)
        frame = lake.read_partition(DAILY_BARS, day)  # gates judge the partition as written
    else:
        written = lake.write_partition(DAILY_BARS, day, frame, sort_by=["symbol"])
        rewritten = by_symbol_metadata(context, DAILY_BARS, day, None, frame)
    gates = quality.daily_gates(frame, lake.read_partition(TICKER_REFERENCE, day))
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "symbols": frame.height,
                "source": config.source,
                **vwap_meta,
                "split_days": int((frame["split_ratio"] != 1.0).sum()),
                **rewritten,
                **usage_meta,
            },
            check_results=checks.results(DAILY_BARS, gates),
        )
    )

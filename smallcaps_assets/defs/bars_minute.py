"""minute_bars: 04:00-20:00 ET minute bars for the day's universe."""

import asyncio
from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import checks, lake, schemas
from ..asset_names import DAILY_BARS, MINUTE_BARS, UNIVERSE
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
from ..stages import bad_prints, minute
from ..stages import bars_quality as quality

GROUP = "bars"


class MinuteBarsConfig(BarsSourceConfig):
    """By-symbol backfill and source selection for minute bars."""


@daily_asset(
    MINUTE_BARS,
    schemas.MinuteBars,
    quality.MINUTE_GATES,
    group=GROUP,
    deps=[UNIVERSE, DAILY_BARS],
    vendor=True,
)
def minute_bars(
    context: dg.AssetExecutionContext, config: MinuteBarsConfig, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Minute bars from 04:00 to 20:00 ET (13:00/17:00 on early closes) for the day's universe,
    one aggregates request per symbol (or the minute_aggs_v1 flat file, with VWAP rebuilt from
    trades_v1 when present; metadata ``vwap_source``), with the ET session (PM / RTH / AH) of
    each bar. Minutes without trades are absent, as at the vendor. Bad prints are quarantined
    (``stages.bad_prints``): open/high/low/close are the cleaned prices every reader uses,
    ``bad_print`` flags the bars changed and ``raw_<price>`` keeps their vendor prices."""
    day = partition_day(context)
    uni = lake.read_partition(UNIVERSE, day)
    if uni is None:
        raise dg.Failure(f"universe for {day} is missing")
    symbols = uni["symbol"].to_list()
    selected = config.selected()
    if selected:
        missing = unknown_symbols(selected, set(symbols))
        if missing:
            raise dg.Failure(f"symbols not in the {day} universe: {missing}")
        symbols = selected
    usage_meta: dict[str, object] = {}
    vwap_meta: dict[str, object] = {"vwap_source": "rest"}
    if config.source == "flatfiles":
        root = flatfiles.require_root(config.flatfiles_root)
        raw = flatfiles.read_aggs(root, "minute_aggs_v1", day)
        vw = flatfiles.trade_vwap(context, root, day, daily=False, tickers=symbols)
        bars = minute.flatfile_frame(raw, symbols, vw)
        mismatched = minute.volume_mismatches(bars, vw) if vw is not None else []
        vwap_meta = flatfiles.vwap_metadata(vw, mismatched)
    else:

        async def fetch():
            async with polygon.connect() as client:

                async def one(sym: str) -> pl.DataFrame:
                    rows = await client.aggs(sym, 1, "minute", day, day, adjusted=False)
                    return minute.minute_frame(sym, [r.model_dump(mode="json") for r in rows])

                frames = await asyncio.gather(*(one(s) for s in symbols))
                return frames, client.usage

        frames, usage = run(fetch())
        bars = pl.concat(frames) if frames else minute.minute_frame("X", []).clear()
        usage_meta = usage_metadata(usage)
    bars = bad_prints.clean_bars(minute.with_session(bars, day).sort("symbol", "ts"))
    frame = schemas.enforce(schemas.MinuteBars, bars)
    if selected:
        written = lake.replace_symbols(MINUTE_BARS, day, frame, selected, sort_by=["symbol", "ts"])
    else:
        written = lake.write_partition(MINUTE_BARS, day, frame, sort_by=["symbol", "ts"])
    rewritten = by_symbol_metadata(context, MINUTE_BARS, day, selected, frame)

    gates = quality.minute_gates(frame, day, symbols, lake.read_partition(DAILY_BARS, day))
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "symbols": frame["symbol"].n_unique(),
                "bars": frame.height,
                "bad_print_bars": int(frame["bad_print"].sum()),
                "source": config.source,
                **vwap_meta,
                **rewritten,
                **usage_meta,
            },
            check_results=checks.results(MINUTE_BARS, gates),
        )
    )

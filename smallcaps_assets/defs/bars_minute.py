"""minute_bars: 04:00-20:00 ET minute bars for the day's universe."""

import asyncio

import dagster as dg
import polars as pl

from .. import lake, schemas
from ..checks import results, spec
from ..gates import evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..resources import PolygonResource
from ..stages import minute
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


class MinuteBarsConfig(BarsSourceConfig):
    """By-symbol backfill and source selection for minute bars."""


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=ONE_DAY_PER_RUN,
    pool=VENDOR_POOL,
    group_name="bars",
    kinds={"parquet", "polygon"},
    deps=["universe", "daily_bars"],
    freshness_policy=DAILY_FRESHNESS,
    automation_condition=DOWNSTREAM_AUTOMATION,
    check_specs=[
        spec("minute_bars", "minute_ohlc_consistent", "low <= open, close <= high on every bar."),
        spec("minute_bars", "minute_positive", "Prices > 0 and volume >= 0."),
        spec(
            "minute_bars",
            "minute_in_session",
            "Every bar starts inside 04:00-20:00 ET (early closes honoured).",
        ),
        spec("minute_bars", "minute_sorted_unique", "Rows sorted and unique by (symbol, ts)."),
        spec(
            "minute_bars", "minute_coverage", "Every universe symbol that traded (daily volume > 0) has bars."
        ),
    ],
)
def minute_bars(
    context: dg.AssetExecutionContext, config: MinuteBarsConfig, polygon: PolygonResource
) -> dg.MaterializeResult:
    """Minute bars from 04:00 to 20:00 ET (13:00/17:00 on early closes) for the day's universe,
    one aggregates request per symbol (or the minute_aggs_v1 flat file, with VWAP rebuilt from
    trades_v1 when present; metadata ``vwap_source``), with the ET session (PM / RTH / AH) of
    each bar. Minutes without trades are absent, as at the vendor."""
    day = partition_day(context)
    uni = lake.read_partition("universe", day)
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
    bars = minute.with_session(bars, day).sort("symbol", "ts")
    frame = schemas.enforce(schemas.MinuteBars, bars)
    if selected:
        written = lake.replace_symbols("minute_bars", day, frame, selected, sort_by=["symbol", "ts"])
    else:
        written = lake.write_partition("minute_bars", day, frame, sort_by=["symbol", "ts"])

    daily = lake.read_partition("daily_bars", day)
    traded = set(daily.filter(pl.col("volume") > 0)["symbol"]) if daily is not None else set(symbols)
    with_bars = set(frame["symbol"].unique())
    idle = sorted(set(symbols) - with_bars - traded)
    uncovered = sorted((set(symbols) & traded) - with_bars)
    keys = frame.select("symbol", "ts")
    sorted_unique = keys.equals(keys.sort("symbol", "ts")) and not keys.is_duplicated().any()
    gates = [
        evaluate(row_rule("minute_ohlc_consistent", OHLC_OK, "low <= open, close <= high"), frame),
        evaluate(
            row_rule("minute_positive", POSITIVE, "low > 0, volume >= 0"),
            frame,
        ),
        evaluate(
            row_rule("minute_in_session", ~minute.outside_session(frame, day), "04:00 <= ts < 20:00 ET"),
            frame,
        ),
        evaluate(
            frame_rule(
                "minute_sorted_unique", lambda f: bool(sorted_unique), "sorted and unique (symbol, ts)"
            ),
            frame,
        ),
        evaluate(
            frame_rule("minute_coverage", lambda f: not uncovered, "traded universe symbols all have bars"),
            frame,
            {
                "uncovered": ", ".join(uncovered[:50]) or "none",
                "did_not_trade": ", ".join(idle[:50]) or "none",
                "uncovered_count": len(uncovered),
                "did_not_trade_count": len(idle),
            },
        ),
    ]
    return dg.MaterializeResult(
        metadata={
            **written.metadata(),
            "symbols": len(with_bars),
            "bars": frame.height,
            "source": config.source,
            **vwap_meta,
            **usage_meta,
        },
        check_results=results("minute_bars", gates),
    )

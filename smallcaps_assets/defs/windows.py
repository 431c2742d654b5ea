"""event_trades and event_quotes: the manifest's event windows, downloaded once, resumably."""

import datetime as dt
from dataclasses import dataclass

import dagster as dg
import polars as pl
from pydantic import Field

from .. import lake
from ..checks import to_check_result
from ..gates import GateResult, evaluate, frame_rule, row_rule
from ..partitions import trading_days
from ..resources import PolygonResource
from ..schemas import enforce, event_quotes_contract, event_trades_contract
from ..stages import manifest as mf
from ..stages import windows as win
from .common import (
    DAILY_FRESHNESS,
    DOWNSTREAM_AUTOMATION,
    VENDOR_POOL,
    partition_day,
    run,
    usage_metadata,
)

GROUP = "microstructure"
LEDGER_FILE = "event_windows.sqlite"
DAYS_PER_RUN = 20


class WindowsConfig(dg.Config):
    """Download settings."""

    max_crossed_share: float = Field(0.01, ge=0, le=1, description="quotes_crossed_share warns above this")
    workers: int | None = Field(
        None, ge=1, le=256, description="asyncio workers (default: the resource's max_concurrency)"
    )


TRADE_GATES = {
    "windows_coverage": "Every manifest event has a recorded outcome: data or no trades in window.",
    "trades_in_window": "Every trade's SIP time lies inside its event's window.",
    "trades_unique_sequence": "No duplicate (event_id, sequence_number).",
}
QUOTE_GATES = {
    "quotes_in_window": "Every quote's SIP time lies inside its event's window.",
    "quotes_one_per_second": "At most one quote per (event_id, second).",
    "quotes_bid_le_ask": "bid <= ask on every quote not flagged crossed.",
    "quotes_crossed_share": "Share of crossed quotes at most max_crossed_share (warn).",
}


def ledger_path():
    return lake.state_dir() / LEDGER_FILE


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "event_trades",
            deps=["event_manifest"],
            description="Tick-level trades inside each manifest event's window, with conditions, "
            "exchange, TRF and sequence numbers; rows carry event_id. One file per day.",
            group_name=GROUP,
            kinds={"parquet", "polygon"},
            freshness_policy=DAILY_FRESHNESS,
            automation_condition=DOWNSTREAM_AUTOMATION,
        ),
        dg.AssetSpec(
            "event_quotes",
            deps=["event_manifest"],
            description="NBBO inside each manifest event's window at 1 Hz: the last quote of each "
            "second that had one (empty seconds have no row), with the second's quote count and "
            "crossed/locked flags; rows carry event_id. One file per day.",
            group_name=GROUP,
            kinds={"parquet", "polygon"},
            freshness_policy=DAILY_FRESHNESS,
            automation_condition=DOWNSTREAM_AUTOMATION,
        ),
    ],
    partitions_def=trading_days,
    # Up to 20 days per backfill run: one download pool across the days keeps the rate limit
    # saturated between them; each day still gets its own two files.
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=DAYS_PER_RUN),
    pool=VENDOR_POOL,
    check_specs=[
        *(
            dg.AssetCheckSpec(n, asset="event_trades", description=t, blocking=True)
            for n, t in TRADE_GATES.items()
        ),
        *(
            dg.AssetCheckSpec(n, asset="event_quotes", description=t, blocking=n != "quotes_crossed_share")
            for n, t in QUOTE_GATES.items()
        ),
    ],
)
def event_windows(context: dg.AssetExecutionContext, config: WindowsConfig, polygon: PolygonResource):
    """Trades v3 and quotes v3 for every manifest event's window, two requests per event.

    Each finished event is committed to a ledger at once, so a killed or failed run, rerun,
    fetches only what is missing and an unchanged manifest costs no API call. Both files are
    assembled from the ledger and written atomically. A backfill runs up to 20 days per run with
    one download pool across them (the rate limit stays saturated between days) and still one
    file per asset per day. Metadata: the manifest's sha256, outcomes, API usage by endpoint and
    requests per fetched event."""
    days = partition_days(context)
    manifests: dict[dt.date, pl.DataFrame] = {}
    for day in days:
        manifest = lake.read_partition("event_manifest", day)
        if manifest is None:
            raise dg.Failure(f"event_manifest for {day} is missing")
        manifests[day] = manifest
    shas = {day: mf.content_hash(m) for day, m in manifests.items()}
    windows = {day: win.windows_from_manifest(m, day) for day, m in manifests.items()}

    with win.WindowLedger(ledger_path()) as ledger:

        async def fetch():
            async with polygon.connect() as client:
                every = [w for day in days for w in windows[day]]
                report = await win.download(
                    client, every, ledger, manifest_sha256=shas, workers=config.workers
                )
                return report, client.usage

        report, usage = run(fetch())
        if report.failed:
            context.log.error(
                "%d windows failed after retries (they stay missing; a rerun fetches only them): %s",
                len(report.failed),
                "; ".join(f"{k}: {v}" for k, v in list(report.failed.items())[:5]),
            )
        per_day = []
        for day in days:
            trades, quotes, outcomes = ledger.assemble(windows[day])
            trades = enforce(event_trades_contract(), trades)
            quotes = enforce(event_quotes_contract(), quotes)
            written = (
                lake.write_partition("event_trades", day, trades, sort_by=None),
                lake.write_partition("event_quotes", day, quotes, sort_by=None),
            )
            per_day.append(
                _Day(
                    day,
                    outcomes,
                    trades,
                    quotes,
                    written,
                    _gates(manifests[day], outcomes, trades, quotes, config),
                )
            )

    calls = usage.total().http_requests
    outcomes = pl.concat([d.outcomes for d in per_day])
    common = {
        "manifest_sha256": shas[days[0]]
        if len(days) == 1
        else dg.MetadataValue.json({str(d): h for d, h in shas.items()}),
        "events": sum(m.height for m in manifests.values()),
        **report.as_metadata(),
        "events_with_trades": int((outcomes["outcome"] == "data").sum()),
        "events_no_trades": int((outcomes["outcome"] == "no_trades").sum()),
        "requests_per_fetched_event": round(calls / report.fetched, 3) if report.fetched else 0.0,
    }
    trade_gates = _combine([d.gates[0] for d in per_day], days)
    quote_gates = _combine([d.gates[1] for d in per_day], days)
    # One step made the calls for both assets: the usage goes on event_trades only, so sums over
    # materialisations (the demo summary, dashboards) count each request once.
    yield dg.MaterializeResult(
        asset_key="event_trades",
        metadata={
            **_files(days, [d.written[0] for d in per_day]),
            **common,
            **usage_metadata(usage),
            "dagster/row_count": sum(d.trades.height for d in per_day),
        },
        check_results=[to_check_result("event_trades", g) for g in trade_gates],
    )
    yield dg.MaterializeResult(
        asset_key="event_quotes",
        metadata={
            **_files(days, [d.written[1] for d in per_day]),
            **common,
            "raw_quotes": int(outcomes["raw_quotes"].sum()) if outcomes.height else 0,
            "quotes_1hz": sum(d.quotes.height for d in per_day),
            "dagster/row_count": sum(d.quotes.height for d in per_day),
        },
        check_results=[
            to_check_result(
                "event_quotes",
                g,
                dg.AssetCheckSeverity.WARN
                if g.name == "quotes_crossed_share"
                else dg.AssetCheckSeverity.ERROR,
            )
            for g in quote_gates
        ],
    )


@dataclass(frozen=True)
class _Day:
    day: dt.date
    outcomes: pl.DataFrame
    trades: pl.DataFrame
    quotes: pl.DataFrame
    written: tuple[lake.WrittenPartition, lake.WrittenPartition]
    gates: tuple[list[GateResult], list[GateResult]]


def partition_days(context: dg.AssetExecutionContext) -> list[dt.date]:
    """The run's trading days: one, or a backfill's range."""
    if not context.has_partition_key_range:
        return [partition_day(context)]
    return [dt.date.fromisoformat(k) for k in context.partition_keys]


def _files(days: list[dt.date], written: list) -> dict[str, object]:
    if len(days) == 1:
        return written[0].metadata()
    return {
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "files": len(written),
        "rows": sum(w.rows for w in written),
        "bytes": sum(w.bytes for w in written),
    }


def _combine(per_day: list[list[GateResult]], days: list[dt.date]) -> list[GateResult]:
    """One result per gate over the run's days: passed only if every day passed; a single day's
    result is returned unchanged."""
    if len(per_day) == 1:
        return per_day[0]
    out = []
    for same in zip(*per_day, strict=True):
        failed = [str(d) for d, g in zip(days, same, strict=True) if not g.passed]
        first_bad = next((g for g in same if not g.passed), same[0])
        out.append(
            GateResult(
                same[0].name,
                not failed,
                sum(g.failures for g in same),
                same[0].description,
                first_bad.sample,
                {"days": len(days), "failed_days": ", ".join(failed[:20]) or "none", **first_bad.figures},
            )
        )
    return out


def _gates(
    manifest: pl.DataFrame,
    outcomes: pl.DataFrame,
    trades: pl.DataFrame,
    quotes: pl.DataFrame,
    config: WindowsConfig,
) -> tuple[list[GateResult], list[GateResult]]:
    bounds = manifest.select("event_id", "window_start", "window_end")
    missing = sorted(set(manifest["event_id"]) - set(outcomes["event_id"]))

    def inside(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(bounds, on="event_id", how="left")

    within = (
        pl.col("window_start").is_not_null()
        & (pl.col("sip_timestamp") >= pl.col("window_start"))
        & (pl.col("sip_timestamp") < pl.col("window_end"))
    )
    dup_seq = trades.select("event_id", "sequence_number").is_duplicated()
    dup_sec = quotes.select("event_id", "second").is_duplicated()
    crossed_share = float(quotes["crossed"].mean()) if quotes.height else 0.0
    ok_side = (
        (pl.col("bid_price") <= pl.col("ask_price"))
        | pl.col("crossed")
        | (pl.col("bid_price") == 0)
        | (pl.col("ask_price") == 0)
    )
    trade_gates = [
        evaluate(
            frame_rule("windows_coverage", lambda f: not missing, "every manifest event has an outcome"),
            outcomes,
            {
                "manifest_events": manifest.height,
                "with_outcome": outcomes.height,
                "missing": len(missing),
                "missing_sample": ", ".join(missing[:20]) or "none",
            },
        ),
        evaluate(
            row_rule("trades_in_window", within, "window_start <= sip_timestamp < window_end"), inside(trades)
        ),
        evaluate(
            frame_rule("trades_unique_sequence", lambda f: not dup_seq.any(), "unique (event_id, sequence)"),
            trades,
            {"duplicates": int(dup_seq.sum())},
        ),
    ]
    quote_gates = [
        evaluate(
            row_rule("quotes_in_window", within, "window_start <= sip_timestamp < window_end"), inside(quotes)
        ),
        evaluate(
            frame_rule(
                "quotes_one_per_second", lambda f: not dup_sec.any(), "one quote per (event_id, second)"
            ),
            quotes,
            {"duplicates": int(dup_sec.sum())},
        ),
        evaluate(row_rule("quotes_bid_le_ask", ok_side, "bid <= ask unless flagged crossed"), quotes),
        evaluate(
            frame_rule(
                "quotes_crossed_share",
                lambda f: crossed_share <= config.max_crossed_share,
                f"crossed share <= {config.max_crossed_share:.2%}",
            ),
            quotes,
            {"crossed_share": round(crossed_share, 5), "crossed": int(quotes["crossed"].sum())},
        ),
    ]
    return trade_gates, quote_gates

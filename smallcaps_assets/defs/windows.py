"""event_trades and event_quotes: the manifest's event windows, downloaded once, resumably."""

import datetime as dt
import os
from dataclasses import dataclass

import dagster as dg
import polars as pl
from pydantic import Field

from .. import checks, lake
from ..asset_names import EVENT_MANIFEST, EVENT_QUOTES, EVENT_TRADES
from ..assetkit import ONE_DAY_PER_RUN, VENDOR_POOL, daily_spec, partition_day, run, usage_metadata
from ..assetkit.metadata import ROW_COUNT, partition_metadata
from ..gates import GateResult
from ..partitions import trading_days
from ..polygon.ratelimit import SHARED_STATE_ENV
from ..resources import PolygonResource
from ..schemas import enforce, event_quotes_contract, event_trades_contract
from ..stages import manifest as mf
from ..stages import windows as win
from ..stages import windows_quality as quality

GROUP = "microstructure"


class WindowsConfig(dg.Config):
    """Download settings."""

    max_crossed_share: float = Field(
        quality.MAX_CROSSED_SHARE, ge=0, le=1, description="quotes_crossed_share warns above this"
    )
    workers: int | None = Field(
        None, ge=1, le=256, description="asyncio workers (default: the resource's max_concurrency)"
    )


def ledger_path():
    return lake.state_dir() / win.LEDGER_FILE


def open_ledger() -> win.LedgerBase:
    """The event-window ledger: shared by every run on every machine in the PostgreSQL database of
    ``SMALLCAPS_SHARED_STATE_URL`` (stages/windows_pg.py), else a SQLite file in the state folder
    for the runs of one machine."""
    url = os.environ.get(SHARED_STATE_ENV)
    if url:
        from ..stages.windows_pg import PostgresWindowLedger

        return PostgresWindowLedger(url)
    return win.WindowLedger(ledger_path())


@dg.multi_asset(
    specs=[
        daily_spec(
            EVENT_TRADES,
            event_trades_contract(),
            "Tick-level trades inside each manifest event's window, with conditions, exchange, TRF and "
            "sequence numbers; rows carry event_id. One file per day.",
            group=GROUP,
            deps=[EVENT_MANIFEST],
        ),
        daily_spec(
            EVENT_QUOTES,
            event_quotes_contract(),
            "NBBO inside each manifest event's window at 1 Hz: the last quote of each second that had "
            "one (empty seconds have no row), with the second's quote count and crossed/locked flags; "
            "rows carry event_id. One file per day.",
            group=GROUP,
            deps=[EVENT_MANIFEST],
        ),
    ],
    partitions_def=trading_days,
    # One run per day like every daily asset, so each day's check results carry its partition
    # (Dagster 1.13 ties them to a partition key only). A range run (launched with a partition
    # range) still works: one download pool across its days, results without a partition.
    backfill_policy=ONE_DAY_PER_RUN,
    pool=VENDOR_POOL,
    check_specs=[
        *checks.specs(EVENT_TRADES, quality.TRADE_GATES),
        *checks.specs(EVENT_QUOTES, quality.QUOTE_GATES),
    ],
)
def event_windows(context: dg.AssetExecutionContext, config: WindowsConfig, polygon: PolygonResource):
    """Trades v3 and quotes v3 for every manifest event's window, two requests per event.

    Each finished event is committed to a ledger at once, so a killed or failed run, rerun,
    fetches only what is missing and an unchanged manifest costs no API call. Both files are
    assembled from the ledger and written atomically. A backfill runs one day per run, as every
    daily asset does, so each day's checks belong to that day. Metadata: the manifest's sha256, outcomes, API usage by endpoint and
    requests per fetched event."""
    days = partition_days(context)
    manifests: dict[dt.date, pl.DataFrame] = {}
    for day in days:
        manifest = lake.read_partition(EVENT_MANIFEST, day)
        if manifest is None:
            raise dg.Failure(f"event_manifest for {day} is missing")
        manifests[day] = manifest
    shas = {day: mf.content_hash(m) for day, m in manifests.items()}
    source = polygon.market_source()
    windows = {day: win.windows_from_manifest(m, day, source) for day, m in manifests.items()}

    with open_ledger() as ledger:

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
                lake.write_partition(EVENT_TRADES, day, trades, sort_by=None),
                lake.write_partition(EVENT_QUOTES, day, quotes, sort_by=None),
            )
            per_day.append(
                _Day(
                    day,
                    outcomes,
                    trades,
                    quotes,
                    written,
                    quality.windows_gates(manifests[day], outcomes, trades, quotes, config.max_crossed_share),
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
    trade_gates = quality.combine_days([d.gates[0] for d in per_day], days)
    quote_gates = quality.combine_days([d.gates[1] for d in per_day], days)
    # One step made the calls for both assets: the usage goes on event_trades only, so sums over
    # materialisations (the demo summary, dashboards) count each request once.
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            asset_key=EVENT_TRADES,
            metadata={
                **_files(days, [d.written[0] for d in per_day]),
                **common,
                **usage_metadata(usage),
            },
            check_results=checks.results(EVENT_TRADES, trade_gates),
        )
    )
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            asset_key=EVENT_QUOTES,
            metadata={
                **_files(days, [d.written[1] for d in per_day]),
                **common,
                "raw_quotes": int(outcomes["raw_quotes"].sum()) if outcomes.height else 0,
                "quotes_1hz": sum(d.quotes.height for d in per_day),
                **quality.crossed_locked_counts(pl.concat([d.quotes for d in per_day])),
            },
            check_results=checks.results(EVENT_QUOTES, quote_gates),
        )
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


def _files(days: list[dt.date], written: list[lake.WrittenPartition]) -> dict[str, object]:
    """One asset's file facts: the partition's, or a range run's totals."""
    if len(days) == 1:
        return partition_metadata(written[0])
    rows = sum(w.rows for w in written)
    return {
        "days": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "files": len(written),
        "rows": rows,
        "bytes": sum(w.bytes for w in written),
        ROW_COUNT: rows,
    }

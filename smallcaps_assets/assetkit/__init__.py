"""What the asset modules in ``defs/`` share: policies, run config, run helpers.

Nothing here defines a Dagster object, which is why it lives outside ``defs/``: the code location
loads every module in ``defs/`` as definitions (``dg.load_from_defs_folder``). ``metadata`` holds
the catalogue metadata every asset carries; ``flatfiles`` the flat-file source of the bars.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Sequence
from typing import Literal, TypeVar

import dagster as dg
import polars as pl
from pydantic import Field

from .. import calendar as cal
from .. import checks
from ..gates import Gate
from ..partitions import trading_days
from ..stages.reference import validate_symbols
from .metadata import HISTORY_AS_FOUND_METADATA, WARM_UP_METADATA, Contract, contract_metadata

T = TypeVar("T")

# No Dagster freshness policy: it judges the wall-clock age of the last materialisation, so every
# historical lake would read as late. The pipeline_freshness sensor judges lateness instead, and
# only while the schedule or automation is on (smallcaps_assets/freshness.py).
# The daily_close schedule starts each session's run; when an upstream partition is later
# re-materialised, downstream follows eagerly, but never past a failed blocking gate.
DOWNSTREAM_AUTOMATION = (
    dg.AutomationCondition.eager() & dg.AutomationCondition.all_deps_blocking_checks_passed()
)
VENDOR_POOL = "polygon_api"
# One run per trading day: each asset writes exactly its day's files, lookbacks find their
# upstream days in date order, and a failed day is retried alone. No BackfillPolicy gives that: a
# backfill then launches one run per partition tagged with its partition key, while
# BackfillPolicy.multi_run(1) tags each run with a one-day *range*, and Dagster 1.13 ties a check
# result to a partition only under a partition key (the UI showed each backfilled day's checks as a
# "Skipped" row plus a result without a partition; the browser test guards it).
ONE_DAY_PER_RUN: dg.BackfillPolicy | None = None
VENDOR_KINDS = {"parquet", "polygon"}
LAKE_KINDS = {"parquet"}


def daily_asset(
    name: str,
    contract: Contract,
    gates: Sequence[Gate],
    *,
    group: str,
    deps: Sequence[str | dg.AssetDep] = (),
    vendor: bool = False,
    root: bool = False,
    warm_up_sessions: int = 0,
    automation: dg.AutomationCondition | None = None,
    history_as_found: bool = False,
):
    """``@dg.asset`` for one daily lake asset with the project's policies: trading-day partitions,
    one day per run, downstream automation (not on a ``root``, which
    only the schedule starts), the vendor pool and kinds when it calls the ``vendor``, its
    contract's column schema and its gates' check specs.

    ``warm_up_sessions``: an asset that reads its own earlier partitions (the score's history) asks
    ``smallcaps materialize`` to run this many of its own sessions before a range on a lake that
    lacks them (``WARM_UP_METADATA``), so the first reported day is not cold. ``automation``
    replaces the downstream automation (an asset that completes when a later session lands).
    ``history_as_found``: its lookbacks read whichever earlier partitions exist (a report over a
    window), so ``smallcaps materialize`` never fills them (``HISTORY_AS_FOUND_METADATA``)."""
    metadata = contract_metadata(contract)
    if warm_up_sessions:
        metadata[WARM_UP_METADATA] = warm_up_sessions
    if history_as_found:
        metadata[HISTORY_AS_FOUND_METADATA] = True
    return dg.asset(
        name=name,
        partitions_def=trading_days,
        backfill_policy=ONE_DAY_PER_RUN,
        pool=VENDOR_POOL if vendor else None,
        group_name=group,
        kinds=VENDOR_KINDS if vendor else LAKE_KINDS,
        deps=list(deps),
        automation_condition=None if root else (automation or DOWNSTREAM_AUTOMATION),
        metadata=metadata,
        check_specs=checks.specs(name, gates),
    )


def daily_spec(name: str, contract: Contract, description: str, *, group: str, deps: Sequence[str]):
    """An ``AssetSpec`` of a vendor-fed daily asset written by a multi-asset, with the policies of
    :func:`daily_asset` (the multi-asset carries partitions, backfill policy, pool and checks)."""
    return dg.AssetSpec(
        name,
        deps=list(deps),
        description=description,
        group_name=group,
        kinds=VENDOR_KINDS,
        automation_condition=DOWNSTREAM_AUTOMATION,
        metadata=contract_metadata(contract),
    )


SYMBOLS_HELP = (
    "Backfill by symbol: e.g. ['ABCD', 'EFGH'] rewrites only those symbols' rows of each partition "
    "and keeps every other row; empty (the default) = the whole partition."
)


class SymbolsConfig(dg.Config):
    """Backfill by symbol: when ``symbols`` is set, only those symbols' rows are recomputed and
    every other row of each partition is kept as it is.

    A plain default (not a default factory) so the Launchpad scaffolds ``symbols: []`` with its
    description: Dagster turns only plain defaults into config defaults."""

    symbols: list[str] = Field(default=[], description=SYMBOLS_HELP)

    def selected(self) -> list[str] | None:
        try:
            return validate_symbols(self.symbols) if self.symbols else None
        except ValueError as exc:
            raise dg.Failure(str(exc)) from exc


class BarsSourceConfig(SymbolsConfig):
    """Where bars come from: the REST API (default) or the vendor's flat files."""

    source: Literal["rest", "flatfiles"] = Field("rest", description="REST aggregates or the day's flat file")
    flatfiles_root: str | None = Field(
        None, description="folder or s3://bucket[/prefix] holding us_stocks_sip/"
    )


def by_symbol_metadata(
    context: dg.AssetExecutionContext, asset: str, day: dt.date, selected: list[str] | None, fresh
) -> dict[str, object]:
    """What a run rewrote: ``rewritten_symbols`` is ``all`` for a whole partition, else the
    symbols a by-symbol run replaced (also logged) with ``rewritten_rows``, their rows in ``fresh``
    (the frame the run built; the REST path builds the whole market and keeps only these); the
    partition's other metadata (``rows``, ``symbols``) still describe all of it."""
    if not selected:
        return {"rewritten_symbols": "all"}
    rows = fresh.filter(pl.col("symbol").is_in(selected)).height
    context.log.info(f"{asset} {day}: rewrote {len(selected)} symbol(s), {rows} rows: {', '.join(selected)}")
    return {"rewritten_symbols": ", ".join(selected), "rewritten_rows": rows}


def sessions_window(start: int, end: int) -> dg.TimeWindowPartitionMapping:
    """Upstream trading days ``start``..``end`` relative to the partition (e.g. -20, -1: the 20
    sessions before it). Days before the first partition simply do not exist yet."""
    return dg.TimeWindowPartitionMapping(
        start_offset=start, end_offset=end, allow_nonexistent_upstream_partitions=True
    )


def run(coro: Awaitable[T]) -> T:
    """Run the async vendor code from a (synchronous) asset body."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def vendor_rows(models) -> list[dict]:
    """The client's pydantic models as the vendor's JSON rows (its field names), for the stages."""
    return [m.model_dump(mode="json", by_alias=True) for m in models]


def partition_day(context: dg.AssetExecutionContext) -> dt.date:
    day = dt.date.fromisoformat(context.partition_key)
    if not cal.is_trading_day(day):
        raise dg.Failure(f"partition {day} is not an NYSE trading day")
    return day


def usage_metadata(usage) -> dict[str, object]:
    meta: dict[str, object] = dict(usage.as_metadata())
    meta["api_usage"] = dg.MetadataValue.md(usage.as_table())
    return meta


def unknown_symbols(requested: list[str], known: set[str]) -> list[str]:
    return sorted(set(requested) - known)

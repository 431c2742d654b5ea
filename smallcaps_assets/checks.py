"""Gates as Dagster asset checks: specs and results from one declaration, and the latest completed
session the freshness sensor judges the lake against."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator

import dagster as dg

from . import calendar as cal
from .gates import Gate, GateResult
from .partitions import trading_days

SEVERITY = {"error": dg.AssetCheckSeverity.ERROR, "warn": dg.AssetCheckSeverity.WARN}


def specs(
    asset: str, gates: Iterable[Gate], partitions_def: dg.PartitionsDefinition = trading_days
) -> list[dg.AssetCheckSpec]:
    """The asset's check specs, read from the gates' declarations (blocking = ERROR severity).

    Each check is partitioned like its asset (``partitions_def``: trading days, or the models'
    months): a result belongs to the partition it judged, so the UI's history rows and plots are
    per partition, and "Latest execution" names its day."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)  # partitioned checks are "preview" in 1.13
        return [
            dg.AssetCheckSpec(
                g.name,
                asset=asset,
                description=g.describe(),
                blocking=g.blocking,
                partitions_def=partitions_def,
            )
            for g in gates
        ]


CheckedEvent = dg.MaterializeResult | dg.AssetCheckResult


def materialized_then_checked(result: dg.MaterializeResult) -> Iterator[CheckedEvent]:
    """``result``'s materialisation, then its check results, as separate events.

    A partitioned check result is tied to the partition's latest materialisation when it is
    evaluated; results carried inside the ``MaterializeResult`` are evaluated before that
    materialisation is stored, so they would point at the previous one (or none)."""
    yield dg.MaterializeResult(
        asset_key=result.asset_key,
        metadata=result.metadata,
        data_version=result.data_version,
        tags=result.tags,
    )
    yield from result.check_results


def to_check_result(asset: str, result: GateResult) -> dg.AssetCheckResult:
    """A GateResult as an AssetCheckResult with its figures and a markdown sample of failing rows."""
    metadata: dict[str, object] = {"failures": result.failures, **result.figures}
    if result.sample is not None and result.sample.height:
        metadata["failure_sample"] = dg.MetadataValue.md(markdown_table(result.sample))
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=result.name,
        passed=result.passed,
        severity=SEVERITY[result.severity],
        description=result.description,
        metadata=metadata,
    )


def results(asset: str, gates: Iterable[GateResult]) -> list[dg.AssetCheckResult]:
    return [to_check_result(asset, g) for g in gates]


def markdown_table(frame, float_format: str | None = None) -> str:
    """A polars frame as a Markdown table (floats with ``float_format``, e.g. ``.4g``, when given)."""

    def cell(v) -> str:
        return format(v, float_format) if float_format and isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


DATA_READY_ET = dt.time(20, 30)  # REST aggregates for a session are complete about 20:30 ET


def expected_latest_session(now: dt.datetime | None = None) -> dt.date:
    """The newest session whose data should exist: today after 20:30 ET, else the one before."""
    now_et = (now or dt.datetime.now(dt.UTC)).astimezone(cal.NY)
    today = now_et.date()
    if cal.is_trading_day(today) and now_et.time() >= DATA_READY_ET:
        return today
    prev = cal.previous_trading_day(today)
    assert prev is not None
    return prev

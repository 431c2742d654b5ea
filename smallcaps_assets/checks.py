"""Turn pure gate results into Dagster asset checks, and shared check builders."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import dagster as dg

from . import calendar as cal
from . import lake
from .gates import GateResult


def spec(asset: str, gate: str, description: str, blocking: bool = True) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(gate, asset=asset, description=description, blocking=blocking)


def to_check_result(
    asset: str, result: GateResult, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
) -> dg.AssetCheckResult:
    """A GateResult as an AssetCheckResult with its figures and a markdown sample of failing rows."""
    metadata: dict[str, object] = {"failures": result.failures, **result.figures}
    if result.sample is not None and result.sample.height:
        metadata["failure_sample"] = dg.MetadataValue.md(_markdown(result.sample))
    return dg.AssetCheckResult(
        asset_key=asset,
        check_name=result.name,
        passed=result.passed,
        severity=severity,
        description=result.description,
        metadata=metadata,
    )


def _markdown(frame) -> str:
    cols = frame.columns
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.iter_rows():
        lines.append("| " + " | ".join(str(v) for v in row) + " |")
    return "\n".join(lines)


def results(asset: str, gates: Iterable[GateResult], warn: Iterable[str] = ()) -> list[dg.AssetCheckResult]:
    warn = set(warn)
    return [
        to_check_result(
            asset, g, dg.AssetCheckSeverity.WARN if g.name in warn else dg.AssetCheckSeverity.ERROR
        )
        for g in gates
    ]


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


def latest_partition_check(asset: str) -> dg.AssetChecksDefinition:
    """Freshness of the *latest* partition: freshness policies look at any partition's
    materialisation, so a backfill of an old day would otherwise hide a missing today."""

    @dg.asset_check(
        asset=asset,
        name="latest_partition_present",
        description="The latest completed trading-day partition exists in the lake.",
        blocking=False,
        automation_condition=dg.AutomationCondition.on_cron("0 21 * * 1-5", "America/New_York"),
    )
    def _check() -> dg.AssetCheckResult:
        expected = expected_latest_session()
        present = lake.partition_exists(asset, expected)
        return dg.AssetCheckResult(
            passed=present,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "expected_partition": expected.isoformat(),
                "path": str(lake.partition_file(asset, expected)),
            },
        )

    return _check

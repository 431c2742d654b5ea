"""Materialise an asset selection for every trading day of a range, in process.

Used by ``smallcaps materialize``, the demo and CI. One run per trading day (in date order, so
lookbacks find their upstream days), each recorded in the Dagster instance of ``DAGSTER_HOME``
when it is set, so the runs show up in the UI.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from . import calendar as cal
from .checks import LATEST_PARTITION_PRESENT


@dataclass
class DayOutcome:
    day: dt.date
    success: bool
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None
    metadata: dict[str, dict] = field(default_factory=dict)  # asset -> materialisation metadata


@dataclass
class RangeOutcome:
    days: list[DayOutcome]

    @property
    def success(self) -> bool:
        return all(d.success for d in self.days)


def _error_text(failure_event) -> str:
    """The innermost useful message of a step failure (Dagster wraps user errors)."""
    info = failure_event.event_specific_data.error
    parts = []
    while info is not None:
        parts.append(info.message.strip().splitlines()[0] if info.message.strip() else "")
        info = info.cause
    meaningful = [p for p in parts if p and "Error occurred while executing" not in p]
    return (meaningful[-1] if meaningful else parts[0])[:400]


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def trading_days_in(start: dt.date, end: dt.date) -> list[dt.date]:
    for d, name in ((start, "start"), (end, "end")):
        if not cal.is_trading_day(d):
            raise ValueError(f"--{name} {d} is not an NYSE trading day")
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return cal.trading_days(start, end)


def materialize_range(
    selection: str,
    start: dt.date,
    end: dt.date | None = None,
    run_config: dict | None = None,
    defs: dg.Definitions | None = None,
    resources: dict | None = None,
    on_day: Callable[[DayOutcome], None] | None = None,
    log_level: str = "WARNING",
) -> RangeOutcome:
    """Run ``selection`` (Dagster selection syntax, e.g. ``key:daily_bars+``) day by day."""
    from .definitions import build_defs

    defs = defs or build_defs()
    days = trading_days_in(start, end or start)
    graph = defs.resolve_asset_graph()
    try:
        asset_selection = dg.AssetSelection.from_string(selection)
        keys = asset_selection.resolve(graph)
    except Exception as exc:  # selection syntax errors come from several layers
        raise ValueError(f"invalid asset selection {selection!r}: {exc}") from exc
    if not keys:
        raise ValueError(f"asset selection {selection!r} matches no asset")
    # The latest-partition freshness checks watch today's data; they mean nothing in a range run.
    freshness_checks = [
        k for k in graph.asset_check_keys if k.name == LATEST_PARTITION_PRESENT.name and k.asset_key in keys
    ]
    if freshness_checks:
        asset_selection = asset_selection - dg.AssetSelection.checks(*freshness_checks)
    run_config = {**(run_config or {})}
    run_config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    merged_resources = {**(defs.resources or {}), **(resources or {})}
    instance = _instance()
    outcomes: list[DayOutcome] = []
    for day in days:
        outcome = DayOutcome(day=day, success=False)
        try:
            result = dg.materialize(
                [*assets, *checks],
                selection=asset_selection,
                partition_key=day.isoformat(),
                instance=instance,
                resources=merged_resources,
                run_config=run_config,
                raise_on_error=False,
                tags={"smallcaps/launched_by": "smallcaps materialize"},
            )
            outcome.success = result.success
            for ev in result.get_asset_check_evaluations():
                if not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR:
                    outcome.failed_checks.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}")
            for mat in result.get_asset_materialization_events():
                m = mat.materialization
                outcome.metadata[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
            if not result.success:
                failures = result.get_step_failure_events()
                outcome.error = "; ".join(f"{f.step_key}: {_error_text(f)}" for f in failures) or "run failed"
        except Exception as exc:  # a definition-level error: report it as this day's failure
            outcome.error = f"{type(exc).__name__}: {exc}"
        outcomes.append(outcome)
        if on_day:
            on_day(outcome)
    return RangeOutcome(outcomes)

"""The dashboard's state, read back from a Dagster instance: per asset check, how many trading days
it passed and failed (the latest evaluation of each partition, as the UI shows it) and which days
failed. ``smallcaps checks`` prints it; it is how a WARN rule's calibration is judged over many
sessions (docs/operations.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

HISTORY_LIMIT = 100_000  # evaluations read per check: far above any lake's days x re-runs


@dataclass
class CheckTally:
    """One check's latest result per partition."""

    asset: str
    check: str
    blocking: bool
    passed: int = 0
    failed: list[str] = field(default_factory=list)  # the partitions whose latest result failed

    @property
    def evaluated(self) -> int:
        return self.passed + len(self.failed)

    def as_dict(self) -> dict:
        return {
            "asset": self.asset,
            "check": self.check,
            "severity": "error" if self.blocking else "warn",
            "evaluated": self.evaluated,
            "passed": self.passed,
            "failed": len(self.failed),
            "failed_partitions": sorted(self.failed),
        }


def tally(instance: dg.DagsterInstance, defs: dg.Definitions) -> list[CheckTally]:
    """Every check of ``defs`` with its latest passed/failed result per partition in ``instance``
    (a check never evaluated is listed with zero counts)."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus as S

    blocking = {spec.key: spec.blocking for a in defs.assets or [] for spec in a.check_specs}
    out = []
    for key in sorted(blocking, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        row = CheckTally(key.asset_key.to_user_string(), key.name, blocking[key])
        latest: dict[str | None, bool] = {}
        done = {S.SUCCEEDED, S.FAILED}
        for record in instance.event_log_storage.get_asset_check_execution_history(
            key, limit=HISTORY_LIMIT, status=done
        ):  # newest first: the first record of a partition is its current state
            latest.setdefault(record.partition, _passed(record))
        for partition, passed in latest.items():
            if passed:
                row.passed += 1
            else:
                row.failed.append(partition or "(no partition)")
        out.append(row)
    return out


def _passed(record) -> bool:
    evaluation = record.event.dagster_event.event_specific_data if record.event else None
    return bool(evaluation is not None and evaluation.passed)


def format_tally(rows: list[CheckTally], only_failing: bool = False) -> str:
    shown = [r for r in rows if r.failed or not only_failing]
    width = max((len(f"{r.asset}:{r.check}") for r in shown), default=10)
    lines = [f"{'check':<{width}}  severity  passed  failed  failed days"]
    for r in shown:
        days = ", ".join(sorted(r.failed)[:5]) + (" ..." if len(r.failed) > 5 else "")
        lines.append(
            f"{r.asset + ':' + r.check:<{width}}  {'error' if r.blocking else 'warn':<8}  "
            f"{r.passed:>6}  {len(r.failed):>6}  {days}"
        )
    failing = sum(1 for r in rows if r.failed)
    lines.append(f"{len(rows)} checks, {failing} with a failed day")
    return "\n".join(lines)

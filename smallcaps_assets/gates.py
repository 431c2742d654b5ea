"""Quality gates as pandera (polars) schemas, evaluated into plain results.

Each gate is a named pandera ``DataFrameSchema`` whose checks are polars expressions. Pure: no
Dagster here; ``checks.py`` turns a ``GateResult`` into an ``AssetCheckResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

SAMPLE_ROWS = 10


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    failures: int
    description: str
    sample: pl.DataFrame | None = None
    figures: dict[str, float | int | str] = field(default_factory=dict)


def row_rule(name: str, expr: pl.Expr, description: str) -> pa.DataFrameSchema:
    """A gate that every row must satisfy; failing rows become the failure sample."""
    return pa.DataFrameSchema(
        name=name,
        checks=[pa.Check(lambda data: data.lazyframe.select(expr.alias(name)), name=name, error=description)],
    )


def frame_rule(name: str, predicate: Callable[[pl.DataFrame], bool], description: str) -> pa.DataFrameSchema:
    """A gate on the frame as a whole (a distribution rule, a share, a count)."""

    def check(data) -> bool:
        return bool(predicate(data.lazyframe.collect()))

    return pa.DataFrameSchema(name=name, checks=[pa.Check(check, name=name, error=description)])


def evaluate(
    schema: pa.DataFrameSchema, frame: pl.DataFrame, figures: dict[str, float | int | str] | None = None
) -> GateResult:
    description = "; ".join(str(c.error) for c in schema.checks if c.error) or (schema.name or "")
    try:
        schema.validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
        sample = None
        failures = cases.height if isinstance(cases, pl.DataFrame) else 1
        if isinstance(cases, pl.DataFrame) and "index" in cases.columns:
            idx = cases["index"].drop_nulls().unique().sort().head(SAMPLE_ROWS).to_list()
            if idx:
                sample = frame.with_row_index("_row").filter(pl.col("_row").is_in(idx)).drop("_row")
        return GateResult(schema.name or "gate", False, failures, description, sample, figures or {})
    return GateResult(schema.name or "gate", True, 0, description, None, figures or {})

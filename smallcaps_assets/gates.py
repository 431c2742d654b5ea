"""Quality gates: each declared once, then judged into plain results.

A :class:`Gate` holds everything both sides of a Dagster asset check need: its name, its
description, its severity and the thresholds the description quotes. ``checks.py`` turns the same
declaration into the ``AssetCheckSpec`` (on the asset) and a :class:`GateResult` into the
``AssetCheckResult`` (in the materialisation), so a gate is written once.

A gate is judged one of two ways:

- :meth:`Gate.rows`: a rule every row must satisfy, run as a pandera (polars backend) schema whose
  check is a polars expression; failing rows become the result's sample;
- :meth:`Gate.judge`: a figure computed beforehand (a share, a count, a coverage) compared with its
  threshold; the figures go into the result's metadata.

Pure: no Dagster here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import pandera.polars as pa
import polars as pl

SAMPLE_ROWS = 10

Severity = Literal["error", "warn"]
Figures = dict[str, float | int | str]


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    failures: int
    description: str
    sample: pl.DataFrame | None = None
    figures: Figures = field(default_factory=dict)
    severity: Severity = "error"


@dataclass(frozen=True)
class Gate:
    """One quality gate, declared once.

    ``description`` may quote thresholds as ``{p.<name>}`` placeholders: they are filled from
    ``params`` (any object with those attributes: a pydantic model, a dataclass). The declaration's
    own ``params`` are the defaults shown on the asset's check; a result is described with the
    values of its run. An ``error`` gate is blocking (a failure stops downstream assets); a
    ``warn`` gate never blocks.
    """

    name: str
    description: str
    severity: Severity = "error"
    params: Any = None

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def describe(self, params: Any = None) -> str:
        values = params if params is not None else self.params
        return self.description if values is None else self.description.format(p=values)

    def judge(self, passed: bool, figures: Figures | None = None, params: Any = None) -> GateResult:
        """The result of a rule on a figure computed beforehand."""
        return GateResult(
            self.name,
            bool(passed),
            0 if passed else 1,
            self.describe(params),
            None,
            dict(figures or {}),
            self.severity,
        )

    def rows(
        self, frame: pl.DataFrame, rule: pl.Expr, figures: Figures | None = None, params: Any = None
    ) -> GateResult:
        """The result of a rule every row of ``frame`` must satisfy (pandera, polars backend)."""
        result = evaluate(row_rule(self.name, rule, self.describe(params)), frame, figures)
        return replace(result, severity=self.severity)


def row_rule(name: str, expr: pl.Expr, description: str) -> pa.DataFrameSchema:
    """A pandera schema whose one check is that every row satisfies ``expr``."""
    return pa.DataFrameSchema(
        name=name,
        checks=[pa.Check(lambda data: data.lazyframe.select(expr.alias(name)), name=name, error=description)],
    )


def evaluate(schema: pa.DataFrameSchema, frame: pl.DataFrame, figures: Figures | None = None) -> GateResult:
    """Validate ``frame`` against ``schema`` (all failures at once) into a result with a sample of
    the failing rows."""
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


def share_confidently_outside(k: int, n: int, low: float, high: float, alpha: float) -> bool:
    """Whether ``k`` hits in ``n`` trials show, each at level ``alpha``, that the true share lies
    below ``low`` or above ``high`` (exact one-sided binomial tests: P(X <= k | n, low) < alpha or
    P(X >= k | n, high) < alpha).

    Why: a WARN rule on a day's share must not fire on the chance swings of a small count. Ten
    labels with no stop among them say little; three hundred say a lot. Judged this way a healthy
    share well inside the band passes at any count, and a skew fires once the count can show it."""
    if n <= 0:
        return False
    below = low > 0 and _binom_cdf(k, n, low) < alpha
    above = high < 1 and 1.0 - _binom_cdf(k - 1, n, high) < alpha
    return below or above


def _binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), 0 < p < 1, summed in log space (n up to ~1e5)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))

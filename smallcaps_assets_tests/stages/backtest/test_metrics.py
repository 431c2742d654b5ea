"""Our metrics equal quantstats on the same daily series (quantstats is the oracle, dev only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from smallcaps_assets.stages.backtest import metrics

qs = pytest.importorskip("quantstats")

rng = np.random.default_rng(5)
SERIES = {
    "noisy": rng.normal(0.001, 0.02, 300),
    "losing_streak": np.r_[rng.normal(0.002, 0.01, 40), np.full(12, -0.03), rng.normal(0.001, 0.01, 40)],
    "flat_days": np.where(rng.random(120) < 0.5, 0.0, rng.normal(0.0, 0.015, 120)),
    "first_day_loss": np.r_[-0.05, rng.normal(0.003, 0.01, 30)],
}


def _series(r: np.ndarray) -> pd.Series:
    return pd.Series(r, index=pd.bdate_range("2024-01-02", periods=len(r)))


@pytest.mark.parametrize("name", sorted(SERIES))
def test_metrics_equal_quantstats(name):
    r = SERIES[name]
    s = _series(r)
    pairs = {
        "sharpe": (metrics.sharpe(r), qs.stats.sharpe(s)),
        "sortino": (metrics.sortino(r), qs.stats.sortino(s)),
        "cagr": (metrics.cagr(r), qs.stats.cagr(s)),
        "max_drawdown": (metrics.max_drawdown(r), qs.stats.max_drawdown(s)),
        "calmar": (metrics.calmar(r), qs.stats.calmar(s)),
    }
    for key, (ours, theirs) in pairs.items():
        assert ours == pytest.approx(float(theirs), rel=1e-9, abs=0), (name, key)
    assert metrics.max_drawdown(r) < 0


def test_probabilistic_sharpe_reads_length_and_sign():
    strong = rng.normal(0.003, 0.01, 500)
    null = rng.normal(0.0, 0.01, 500) - 0.0  # no edge
    assert metrics.probabilistic_sharpe(strong) > 0.99
    assert 0.05 < metrics.probabilistic_sharpe(null - null.mean()) < 0.95
    assert metrics.probabilistic_sharpe(-strong) < 0.01
    # normal returns: PSR is Phi(SR sqrt(n-1)) up to the moments' terms
    r = SERIES["noisy"]
    sr = r.mean() / r.std(ddof=1)
    assert metrics.probabilistic_sharpe(r) == pytest.approx(
        0.5 * (1 + __import__("math").erf(sr * np.sqrt(len(r) - 1) / np.sqrt(2))), abs=0.05
    )

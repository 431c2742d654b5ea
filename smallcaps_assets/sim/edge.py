"""The planted edge: a latent order-flow signal ``z`` seen before a setup's trigger, and the outcome
that depends on it.

Every catalyst day carries a latent ``z`` (a standard normal across days). In the minutes before
the setup's trigger the tape leans with it, the setup's way: the share of prints at the ask
(buyer-initiated) is shifted by ``direction * flow_tilt * (z + flow_noise * e_m)`` for each minute
``m`` of the window (``e_m`` standard normal; ``direction`` -1 for the short setups), so trade signs against the quotes show ``z`` with noise, and minute bars show it
more faintly (closes nearer the highs, ask-side volume).

**Planted mode**, for the shapes in ``EdgeConfig.setups``:
``P(continue | z) = sigmoid(a + b z)`` with ``b = signal_strength`` and ``a`` solved so that the
average continuation rate is ``continuation_prob``. Other shapes continue with probability 0.5
whatever ``z``.

The daily path is drawn first (the outcome, hence the day's close, is ``u_win < base rate``, as it
was before the edge had a signal), and ``z`` is then drawn from its law given that outcome:
density proportional to ``phi(z) * sigmoid(a + b z)`` after a continuation and ``phi(z) * (1 -
sigmoid(a + b z))`` after a failure. The joint law of ``(z, outcome)`` is exactly the logistic model
above, and the default market's prices are unchanged by the signal except in the tape of the flow
window.

**Null mode**: the same ``z`` and the same tape up to the trigger; the outcome is an independent
coin (probability 0.5 for every shape), so nothing before the trigger predicts it.

**Bayes-optimal AUC**: the true probability ``P(continue | z, shape)`` is the best possible score;
``expected_bayes_auc`` integrates its AUC analytically for the concerned setups, and
``SimMarket.bayes_auc`` measures it on the realised outcomes of given sessions.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from .config import EdgeConfig

_GRID = np.linspace(-7.0, 7.0, 2801)
_PHI = np.exp(-0.5 * _GRID**2)
_PHI /= _PHI.sum()


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


@lru_cache(maxsize=64)
def intercept(mean_prob: float, strength: float) -> float:
    """``a`` such that ``E[sigmoid(a + strength * z)] = mean_prob`` for a standard normal ``z``."""
    if not 0.0 < mean_prob < 1.0:
        raise ValueError(f"mean_prob must be inside (0, 1), got {mean_prob}")
    lo, hi = -40.0, 40.0
    for _ in range(200):  # bisection: the mean is increasing in a
        mid = 0.5 * (lo + hi)
        if float((_PHI * sigmoid(mid + strength * _GRID)).sum()) < mean_prob:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def planted_prob(z: np.ndarray, mean_prob: float, strength: float) -> np.ndarray:
    """``P(continue | z)`` of a concerned setup in planted mode."""
    return sigmoid(intercept(mean_prob, strength) + strength * np.asarray(z, dtype=np.float64))


def true_prob(z: np.ndarray, mean_prob: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """``P(continue | z)`` per day in planted mode: logistic where ``strength`` > 0, else the mean."""
    z, mean_prob, strength = (np.asarray(a, dtype=np.float64) for a in (z, mean_prob, strength))
    out = mean_prob.copy()
    for mp, b in set(zip(mean_prob.tolist(), strength.tolist(), strict=True)):
        if b > 0.0:
            sel = (mean_prob == mp) & (strength == b)
            out[sel] = planted_prob(z[sel], mp, b)
    return out


@lru_cache(maxsize=64)
def _conditional_cdfs(mean_prob: float, strength: float) -> tuple[np.ndarray, np.ndarray]:
    p = planted_prob(_GRID, mean_prob, strength) if 0.0 < mean_prob < 1.0 else np.full(_GRID.shape, mean_prob)
    cdfs = []
    for dens in (_PHI * (1.0 - p), _PHI * p):
        c = np.cumsum(dens)
        cdfs.append(c / c[-1])
    return cdfs[0], cdfs[1]


def draw_z(u: np.ndarray, won: np.ndarray, mean_prob: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """Latent ``z`` given the outcome, by inverse CDF of its conditional law on a fine grid.

    ``u`` uniforms; ``mean_prob`` and ``strength`` per day (``strength`` 0 gives a plain normal).
    """
    out = np.zeros(len(u))
    mean_prob, strength = np.asarray(mean_prob), np.asarray(strength)
    for mp, b in set(zip(mean_prob.tolist(), strength.tolist(), strict=True)):
        sel = (mean_prob == mp) & (strength == b)
        if not 0.0 < mp < 1.0:
            mp, b = 0.5, 0.0  # a certain outcome carries no signal: z is a plain normal
        lose_cdf, win_cdf = _conditional_cdfs(mp, b)
        for flag, cdf in ((False, lose_cdf), (True, win_cdf)):
            s = sel & (won == flag)
            out[s] = np.interp(u[s], cdf, _GRID)
    return out


def expected_bayes_auc(edge: EdgeConfig) -> float:
    """The AUC of the true probability against the outcome, in expectation, for the concerned setups.

    The probability is increasing in ``z``, so the AUC is ``P(z_win > z_loss)`` with ``z_win`` and
    ``z_loss`` drawn from their conditional laws (integrated on the grid). 0.5 in null mode.
    """
    if edge.mode == "null" or edge.signal_strength == 0.0 or not 0.0 < edge.continuation_prob < 1.0:
        return 0.5
    lose_cdf, win_cdf = _conditional_cdfs(edge.continuation_prob, edge.signal_strength)
    f_win = np.diff(win_cdf, prepend=0.0)
    f_lose = np.diff(lose_cdf, prepend=0.0)
    return float((f_win * lose_cdf).sum() - 0.5 * (f_win * f_lose).sum())


def auc(score: np.ndarray, outcome: np.ndarray) -> float:
    """Mann-Whitney AUC of ``score`` against a boolean ``outcome`` (ties count one half)."""
    score = np.asarray(score, dtype=np.float64)
    outcome = np.asarray(outcome, dtype=bool)
    n1, n0 = int(outcome.sum()), int((~outcome).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    order = np.argsort(score, kind="stable")
    s = score[order]
    ranks = np.empty(len(s))
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    ends = np.concatenate([starts[1:], [len(s)]])
    avg = (starts + ends + 1) / 2.0  # average 1-based rank of each tie group
    ranks[order] = np.repeat(avg, ends - starts)
    return float((ranks[outcome].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def flow_tilt(
    edge: EdgeConfig,
    z: float,
    noise: np.ndarray,
    first_minute: int,
    trigger_minute: int,
    n_minutes: int,
    direction: int = 1,
) -> np.ndarray:
    """Per-minute shift of the ask share: ``direction * flow_tilt * (z + flow_noise * noise)`` in the
    window ``[max(first_minute, trigger_minute - flow_minutes), trigger_minute)``, zero elsewhere.
    A high ``z`` leans the flow the setup's way: buyers before a long setup, sellers before a short
    one, so that "flow in the setup's direction" reads ``z`` for every shape."""
    out = np.zeros(n_minutes)
    a = max(first_minute, trigger_minute - edge.flow_minutes)
    b = min(trigger_minute, n_minutes)
    if b > a:
        out[a:b] = direction * edge.flow_tilt * (z + edge.flow_noise * noise[: b - a])
    return out

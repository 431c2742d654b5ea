"""Metrics of an event model's predictions (pure numpy/polars; scikit-learn for the scores).

- ``auc``: ROC AUC (scikit-learn); None when the sample holds a single class.
- ``log_loss`` and ``brier``: scikit-learn's, predictions clipped to [1e-15, 1 - 1e-15] by it.
- ``precision_top_decile``: the observed positive rate among the tenth of events with the highest
  predicted probability (ceil(n / 10) events, ties broken by input order); read it against
  ``base_rate``.
- ``calibration_table``: events cut into deciles of predicted probability (by rank, so each
  decile holds n/10 events even when predictions tie): mean predicted, observed rate, count.
- ``feature_attribution``: LightGBM's gain importance per feature and the mean |pred_contrib|
  (LightGBM's own SHAP-style contributions, in log-odds) over a frame.

``null_auc_bound`` is the yardstick of the validity check: with features independent of the labels
the AUC is the Mann-Whitney U over n1 * n0, whose standard error is sqrt((n1 + n0 + 1) / (12 n1 n0))
(the Hanley-McNeil form at AUC = 0.5); ``z`` standard errors give the bound. That formula
assumes independent events. Event outcomes cluster (one symbol's events of a day share its news
and its tape) and so do a model's predictions within a cluster, which widens the AUC's spread:
``clustered_auc_se`` is the cluster-robust standard error (DeLong's placement values summed per
cluster, Obuchowski 1997), equal to DeLong's with one event per cluster.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

DECILES = 10
EPS = 1e-15


def null_auc_se(n_pos: int, n_neg: int) -> float:
    """Standard error of the AUC when scores are independent of the labels."""
    if n_pos == 0 or n_neg == 0:
        return math.inf
    return math.sqrt((n_pos + n_neg + 1) / (12 * n_pos * n_neg))


def null_auc_bound(n_pos: int, n_neg: int, z: float = 3.0) -> float:
    """Half-width of the band around 0.5 a null model's AUC stays in (z standard errors)."""
    return z * null_auc_se(n_pos, n_neg)


def clustered_auc_se(y, p, clusters) -> float | None:
    """Cluster-robust standard error of the AUC of ``p`` for labels ``y`` (0/1), events grouped
    by ``clusters`` (any hashable labels, e.g. symbol + day). None with one class or one cluster."""
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    keep = ~np.isnan(y_arr) & ~np.isnan(p_arr)
    _, codes = np.unique(np.asarray(clusters)[keep], return_inverse=True)
    y_arr, p_arr = y_arr[keep].astype(int), p_arr[keep]
    pos, neg = p_arr[y_arr == 1], p_arr[y_arr == 0]
    n1, n0, k = pos.size, neg.size, int(codes.max()) + 1 if codes.size else 0
    if n1 == 0 or n0 == 0 or k < 2:
        return None
    neg_sorted, pos_sorted = np.sort(neg), np.sort(pos)
    # Placement values: the share of negatives a positive beats (ties count half), and the share
    # of positives that beat a negative; the AUC is the mean of either.
    v10 = (np.searchsorted(neg_sorted, pos, "left") + np.searchsorted(neg_sorted, pos, "right")) / (2 * n0)
    v01 = (2 * n1 - np.searchsorted(pos_sorted, neg, "left") - np.searchsorted(pos_sorted, neg, "right")) / (
        2 * n1
    )
    area = float(v10.mean())
    s10 = np.bincount(codes[y_arr == 1], weights=v10 - area, minlength=k)
    s01 = np.bincount(codes[y_arr == 0], weights=v01 - area, minlength=k)
    var = k / (k - 1) * ((s10**2).sum() / n1**2 + (s01**2).sum() / n0**2 + 2 * (s10 * s01).sum() / (n1 * n0))
    return float(np.sqrt(max(var, 0.0)))


def _arrays(y, p) -> tuple[np.ndarray, np.ndarray]:
    y_arr = np.asarray(y, dtype=float)
    p_arr = np.asarray(p, dtype=float)
    if y_arr.shape != p_arr.shape:
        raise ValueError(f"labels {y_arr.shape} and predictions {p_arr.shape} differ in shape")
    keep = ~np.isnan(y_arr) & ~np.isnan(p_arr)
    return y_arr[keep].astype(int), p_arr[keep]


def auc(y, score) -> float | None:
    """ROC AUC of any score (a probability or a raw signal); None with a single class."""
    from sklearn.metrics import roc_auc_score

    y_arr, s_arr = _arrays(y, score)
    return float(roc_auc_score(y_arr, s_arr)) if 0 < y_arr.sum() < y_arr.size else None


def top_decile_precision(y, p) -> float | None:
    y_arr, p_arr = _arrays(y, p)
    if y_arr.size == 0:
        return None
    k = math.ceil(y_arr.size / DECILES)
    top = np.argsort(-p_arr, kind="stable")[:k]
    return float(y_arr[top].mean())


def classification_metrics(y, p) -> dict[str, float | int | None]:
    """AUC, log loss, Brier, precision in the top decile, base rate and counts of binary labels
    ``y`` (0/1; NaN/None rows dropped) against predicted probabilities ``p``."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y_arr, p_arr = _arrays(y, p)
    n_pos = int(y_arr.sum())
    n_neg = int(y_arr.size - n_pos)
    both = n_pos > 0 and n_neg > 0
    return {
        "n": int(y_arr.size),
        "n_pos": n_pos,
        "n_neg": n_neg,
        "base_rate": float(y_arr.mean()) if y_arr.size else None,
        "auc": float(roc_auc_score(y_arr, p_arr)) if both else None,
        "log_loss": float(log_loss(y_arr, np.clip(p_arr, EPS, 1 - EPS), labels=[0, 1]))
        if y_arr.size
        else None,
        "brier": float(brier_score_loss(y_arr, p_arr, pos_label=1)) if y_arr.size else None,
        "precision_top_decile": top_decile_precision(y_arr, p_arr),
        "null_auc_se": null_auc_se(n_pos, n_neg) if both else None,
    }


def calibration_table(y, p, bins: int = DECILES) -> pl.DataFrame:
    """decile (0 = lowest predictions), mean_predicted, observed_rate, count."""
    y_arr, p_arr = _arrays(y, p)
    frame = pl.DataFrame({"y": y_arr.astype(float), "p": p_arr})
    n = max(frame.height, 1)
    return (
        frame.with_columns(
            decile=(pl.col("p").rank("ordinal") - 1).cast(pl.Int64) * bins // n,
        )
        .group_by("decile")
        .agg(
            mean_predicted=pl.col("p").mean(),
            observed_rate=pl.col("y").mean(),
            count=pl.len().cast(pl.Int64),
        )
        .sort("decile")
    )


def feature_attribution(booster, frame: pl.DataFrame, features: list[str]) -> pl.DataFrame:
    """feature, gain (total split gain), gain_share, mean_abs_contrib (mean |pred_contrib| over
    ``frame``, log-odds), sorted by gain. ``frame`` holds the model's features, cast as trained."""
    gain = booster.feature_importance(importance_type="gain")
    names = booster.feature_name()
    if frame.height:
        contrib = np.asarray(booster.predict(frame.select(names), pred_contrib=True))
        mean_abs = np.abs(contrib[:, : len(names)]).mean(axis=0)
    else:
        mean_abs = np.full(len(names), np.nan)
    total = float(gain.sum())
    out = pl.DataFrame(
        {
            "feature": names,
            "gain": gain.astype(float),
            "gain_share": gain / total if total > 0 else np.zeros(len(names)),
            "mean_abs_contrib": mean_abs.astype(float),
        }
    )
    missing = set(features) - set(names)
    if missing:
        raise ValueError(f"the model has no features {sorted(missing)}")
    return out.sort("gain", descending=True, maintain_order=True)

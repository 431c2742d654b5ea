"""LightGBM event models: targets, deterministic training with early stopping, the model as text.

**Targets** (``TARGETS``). The labels are side-adjusted (``barrier_label`` and ``label_return``
read "did the event's direction pay"), so a binary target already says "take this event":

- ``barrier_pt`` (default): ``barrier_label == +1``, the profit-take was hit before the stop and
  the vertical barrier. A stop (-1) and a vertical exit (0) are both "not": the trade the event
  suggests did not reach its target.
- ``take`` (meta-label): ``label_return > 0``, taking the event in its direction and exiting at the
  first barrier (or the vertical) ended in profit; it also credits vertical exits that drifted the
  right way.

Events without a barrier (null ``barrier_label``) have no target and never train.

**Training.** ``lightgbm.train`` on polars frames (LightGBM 4.7 takes them directly), binary
objective, early stopping on the purged validation fold (``splits``). Deterministic: a fixed
seed, ``deterministic=True``, ``force_col_wise`` and two threads give the same trees, hence the
same model text and hash, for the same rows. Features are cast to Float64 first so a column that is
all null in one month (dtype Null) or Boolean trains and predicts alike.

**The model** is ``Booster.model_to_string()`` text; ``sha256`` is the hash of that text, so it
changes when the rows, the features or the params do. ``predict`` loads the booster from text:
the stored model is what predicts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl
from pydantic import Field

from ..events.params import FrozenParams

TARGETS: dict[str, Callable[[], pl.Expr]] = {
    "barrier_pt": lambda: pl.col("barrier_label") == 1,
    "take": lambda: (pl.col("label_return") > 0) & pl.col("barrier_label").is_not_null(),
}
TargetName = Literal["barrier_pt", "take"]
NUMERIC = (pl.Float64, pl.Float32, pl.Int64, pl.Int32, pl.Int16, pl.Int8, pl.UInt32, pl.UInt8)


class TrainParams(FrozenParams):
    """LightGBM settings of the event models (small trees, strong regularisation: a few thousand
    noisy events a month)."""

    target: TargetName = "barrier_pt"
    num_boost_round: int = Field(500, ge=1)
    early_stopping_rounds: int = Field(50, ge=1)
    # Rounds used when the validation fold is empty or single-class (no early stopping possible).
    fallback_rounds: int = Field(100, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(15, ge=2)
    min_data_in_leaf: int = Field(50, ge=1)
    feature_fraction: float = Field(0.8, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1)
    bagging_freq: int = Field(1, ge=0)
    lambda_l2: float = Field(1.0, ge=0)
    seed: int = 7
    num_threads: int = Field(2, ge=1)

    def lgb_params(self) -> dict[str, Any]:
        return {
            "objective": "binary",
            "metric": "binary_logloss",
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_data_in_leaf,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": self.bagging_freq,
            "lambda_l2": self.lambda_l2,
            "seed": self.seed,
            "num_threads": self.num_threads,
            "deterministic": True,
            "force_col_wise": True,
            "verbosity": -1,
        }


@dataclass(frozen=True)
class TrainedModel:
    text: str  # Booster.model_to_string()
    sha256: str
    features: tuple[str, ...]
    best_iteration: int
    early_stopped: bool
    n_fit: int
    n_valid: int

    def booster(self):
        return load_booster(self.text)


def target(frame: pl.DataFrame, name: str) -> pl.Series:
    """The binary target (Int64 0/1; null where the event has no barrier label)."""
    expr = TARGETS[name]()
    return frame.select(
        pl.when(pl.col("barrier_label").is_not_null()).then(expr.cast(pl.Int64)).alias(name)
    ).to_series()


def model_matrix(frame: pl.DataFrame, features: list[str] | tuple[str, ...]) -> pl.DataFrame:
    """The features as Float64 columns, in order. Text columns are refused (encode them first)."""
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ValueError(f"missing feature columns {missing}")
    bad = sorted(set(features) - set(numeric_features(frame, features)))
    if bad:
        raise ValueError(f"features {bad} are not numeric or boolean")
    return frame.select(pl.col(c).cast(pl.Float64) for c in features)


def numeric_features(frame: pl.DataFrame, columns: list[str] | tuple[str, ...]) -> list[str]:
    """The columns a model can read as they are (numeric or boolean), in order; text columns
    (e.g. ``event_type``) need an encoding first and are left out."""
    return [c for c in columns if frame.schema[c] in (*NUMERIC, pl.Boolean, pl.Null)]


def model_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def load_booster(text: str):
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def train_model(
    fit: pl.DataFrame,
    valid: pl.DataFrame,
    features: list[str] | tuple[str, ...],
    params: TrainParams = TrainParams(),
) -> TrainedModel:
    """Train on ``fit`` (rows with a target), stop early on ``valid``. Rows without a target are
    dropped from both."""
    import lightgbm as lgb

    features = tuple(features)
    fit, valid = (f.filter(target(f, params.target).is_not_null()) for f in (fit, valid))
    if fit.is_empty():
        raise ValueError("no labelled rows to fit")
    y_fit, y_valid = target(fit, params.target), target(valid, params.target)
    train_set = lgb.Dataset(model_matrix(fit, features), label=y_fit.to_numpy(), free_raw_data=False)
    stoppable = valid.height > 0 and y_valid.n_unique() == 2
    if stoppable:
        valid_set = lgb.Dataset(model_matrix(valid, features), label=y_valid.to_numpy(), reference=train_set)
        booster = lgb.train(
            params.lgb_params(),
            train_set,
            num_boost_round=params.num_boost_round,
            valid_sets=[valid_set],
            callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
        )
        best = booster.best_iteration or params.num_boost_round
    else:
        booster = lgb.train(params.lgb_params(), train_set, num_boost_round=params.fallback_rounds)
        best = params.fallback_rounds
    text = booster.model_to_string(num_iteration=best)
    return TrainedModel(text, model_sha256(text), features, best, stoppable, fit.height, valid.height)


def predict(model: TrainedModel | str, frame: pl.DataFrame, features=None) -> np.ndarray:
    """Predicted probabilities of the target for every row of ``frame``, from the model's text."""
    text = model.text if isinstance(model, TrainedModel) else model
    booster = load_booster(text)
    names = features if features is not None else booster.feature_name()
    if frame.is_empty():
        return np.zeros(0)
    return np.asarray(booster.predict(model_matrix(frame, names)), dtype=float)

"""One walk-forward month end to end: split, train, predict out of sample, measure, record (pure).

``run_month`` takes every event known so far joined with its labels (``event_id``, ``symbol``,
``ts``, ``t1``, ``barrier_label``, ``label_return`` and the feature columns), trains the model of
``month`` on its purged fit fold with early stopping on its purged validation fold, predicts every
event of the month (labelled or not) and returns the model, the predictions and an
:class:`ExperimentRecord`: params, features, fold dates, the input data versions the caller passes
in, metrics in sample (fit), on validation and out of sample (test), the out-of-sample calibration
table and the feature attribution. ``ExperimentRecord.metadata()`` flattens the numbers for an
asset's metadata (numeric values plot across partitions in the UI).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict

from .metrics import calibration_table, classification_metrics, feature_attribution
from .splits import FIT, ROLE, TEST, VALID, FoldRecord, SplitParams, split_month, walk_forward_months
from .train import TrainedModel, TrainParams, model_matrix, predict, target, train_model

PREDICTION_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "ts": pl.Datetime("ns", "UTC"),
    "model_month": pl.Date(),
    "model_sha256": pl.String(),
    "target": pl.String(),
    "prob": pl.Float64(),
}
Metrics = dict[str, float | int | None]
# The label columns a model reads (event_labels); t1 is set exactly when barrier_label is.
LABEL_COLUMNS = ("t1", "barrier_label", "label_return")


class ExperimentRecord(BaseModel):
    """What a month's model is and how it did; JSON-serialisable (``model_dump_json``)."""

    model_config = ConfigDict(frozen=True)

    month: dt.date
    target: str
    train_params: dict[str, Any]
    split_params: dict[str, Any]
    features: list[str]
    fold: FoldRecord
    data_versions: dict[str, str]
    model_sha256: str
    best_iteration: int
    early_stopped: bool
    metrics: dict[str, Metrics]  # "fit" (in sample), "valid", "test" (out of sample)
    calibration: list[dict[str, float | int | None]]  # out-of-sample deciles
    attribution: list[dict[str, float | str | None]]  # per feature: gain, gain_share, mean_abs_contrib

    def metadata(self) -> dict[str, float | int | str | None]:
        """Flat figures: ``<split>_<metric>`` (NaN when undefined, so the series still plots),
        fold counts, the hash and the best iteration."""
        out: dict[str, float | int | str | None] = {
            f"{split}_{name}": float("nan") if value is None else value
            for split, m in self.metrics.items()
            for name, value in m.items()
        }
        out |= {k: v for k, v in self.fold.model_dump().items() if k.startswith("n_")}
        out |= {"model_sha256": self.model_sha256, "best_iteration": self.best_iteration}
        return out


@dataclass(frozen=True)
class MonthResult:
    model: TrainedModel
    predictions: pl.DataFrame  # PREDICTION_SCHEMA, one row per event of the month
    record: ExperimentRecord
    roles: pl.DataFrame  # event_id, role (splits.ROLES) of every input row


def model_input(features: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """event_features with the label columns a model reads, joined on event_id (left: an event
    without a label row is unlabelled, never dropped)."""
    return features.join(labels.select("event_id", *LABEL_COLUMNS), on="event_id", how="left")


def _metrics(frame: pl.DataFrame, prob: np.ndarray, name: str) -> Metrics:
    return classification_metrics(target(frame, name).cast(pl.Float64).fill_null(np.nan).to_numpy(), prob)


def run_month(
    events: pl.DataFrame,
    month: dt.date,
    features: list[str],
    data_versions: dict[str, str],
    train_params: TrainParams = TrainParams(),
    split_params: SplitParams = SplitParams(),
) -> MonthResult:
    """Train, predict and record the model of ``month`` (see the module docstring)."""
    tagged, fold = split_month(events, month, split_params)
    fit, valid, test = (tagged.filter(pl.col(ROLE) == r) for r in (FIT, VALID, TEST))
    model = train_model(fit, valid, features, train_params)
    probs = {name: predict(model, frame) for name, frame in (("fit", fit), ("valid", valid), ("test", test))}
    name = train_params.target
    metrics = {
        split: _metrics(frame, probs[split], name)
        for split, frame in (("fit", fit), ("valid", valid), ("test", test))
    }
    y_test = target(test, name).cast(pl.Float64).fill_null(np.nan).to_numpy()
    attribution = feature_attribution(
        model.booster(), model_matrix(test, model.features), list(model.features)
    )
    predictions = test.select(
        "event_id",
        "symbol",
        "ts",
        model_month=pl.lit(month, pl.Date),
        model_sha256=pl.lit(model.sha256),
        target=pl.lit(name),
        prob=pl.Series(probs["test"], dtype=pl.Float64),
    )
    record = ExperimentRecord(
        month=month,
        target=name,
        train_params=train_params.model_dump(),
        split_params=split_params.model_dump(),
        features=list(model.features),
        fold=fold,
        data_versions=dict(data_versions),
        model_sha256=model.sha256,
        best_iteration=model.best_iteration,
        early_stopped=model.early_stopped,
        metrics=metrics,
        calibration=calibration_table(y_test, probs["test"]).to_dicts(),
        attribution=attribution.to_dicts(),
    )
    return MonthResult(model, predictions.cast(PREDICTION_SCHEMA), record, tagged.select("event_id", ROLE))


def walk_forward(
    events: pl.DataFrame,
    features: list[str],
    data_versions: dict[str, str],
    train_params: TrainParams = TrainParams(),
    split_params: SplitParams = SplitParams(),
) -> list[MonthResult]:
    """``run_month`` for every month of ``splits.walk_forward_months`` (months without a single
    training row are skipped: they have no model)."""
    out = []
    for month in walk_forward_months(events, split_params):
        _, fold = split_month(events, month, split_params)
        if fold.n_fit > 0:
            out.append(run_month(events, month, features, data_versions, train_params, split_params))
    return out

"""Gates of an event model partition (pure): the fold's purge re-asserted from its stored dates, a
minimum out-of-sample sample, and degenerate models.

- ``model_fold_no_overlap`` (blocking): ``splits.fold_violations`` on the experiment record's fold:
  no training label interval overlaps a test (or validation) interval widened by the embargo.
- ``model_min_oos_events`` (blocking): at least ``min_oos_events`` labelled test events, and both
  classes present, or the month's metrics mean nothing.
- ``model_not_constant`` (blocking): the out-of-sample predictions take at least two values more
  than ``min_prediction_spread`` apart; a constant model ranks nothing.
- ``model_overfit`` (WARN): in-sample AUC at or above ``overfit_in_sample_auc`` while the
  out-of-sample AUC stays within ``null_band_z`` null standard errors of 0.5
  (``metrics.null_auc_bound``): the model memorised its training rows.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from ..gates import Gate, GateResult
from .events.params import FrozenParams
from .models.experiment import ExperimentRecord
from .models.metrics import null_auc_bound
from .models.splits import fold_violations


class ModelGateParams(FrozenParams):
    min_oos_events: int = Field(200, ge=1, description="labelled out-of-sample events at least")
    min_prediction_spread: float = Field(1e-6, ge=0, description="max - min prediction above this")
    overfit_in_sample_auc: float = Field(0.95, gt=0.5, le=1, description="in-sample AUC this high")
    null_band_z: float = Field(3.0, gt=0, description="OOS AUC within z null standard errors of 0.5")


FOLD_NO_OVERLAP = Gate(
    "model_fold_no_overlap",
    "From the stored fold dates: no training label interval overlaps a test or validation interval "
    "widened by the embargo.",
)
MIN_OOS_EVENTS = Gate(
    "model_min_oos_events",
    "At least {p.min_oos_events} labelled out-of-sample events, with both classes.",
    params=ModelGateParams(),
)
NOT_CONSTANT = Gate(
    "model_not_constant",
    "Out-of-sample predictions spread by more than {p.min_prediction_spread}.",
    params=ModelGateParams(),
)
OVERFIT = Gate(
    "model_overfit",
    "Not (in-sample AUC >= {p.overfit_in_sample_auc} with out-of-sample AUC within "
    "{p.null_band_z} null standard errors of 0.5).",
    "warn",
    ModelGateParams(),
)
MODEL_GATES = (FOLD_NO_OVERLAP, MIN_OOS_EVENTS, NOT_CONSTANT, OVERFIT)


def model_gates(
    record: ExperimentRecord, oos_predictions: np.ndarray, params: ModelGateParams = ModelGateParams()
) -> list[GateResult]:
    """The gates of one month's model from its record and its out-of-sample predictions."""
    violations = fold_violations(record.fold)
    test, fit = record.metrics.get("test", {}), record.metrics.get("fit", {})
    n_pos, n_neg = int(test.get("n_pos") or 0), int(test.get("n_neg") or 0)
    preds = np.asarray(oos_predictions, dtype=float)
    spread = float(preds.max() - preds.min()) if preds.size else 0.0
    in_auc, oos_auc = fit.get("auc"), test.get("auc")
    band = null_auc_bound(n_pos, n_neg, params.null_band_z)
    overfit = (
        in_auc is not None
        and oos_auc is not None
        and in_auc >= params.overfit_in_sample_auc
        and abs(oos_auc - 0.5) <= band
    )
    return [
        FOLD_NO_OVERLAP.judge(
            not violations, {"violations": len(violations), "first": violations[0] if violations else ""}
        ),
        MIN_OOS_EVENTS.judge(
            n_pos + n_neg >= params.min_oos_events and n_pos > 0 and n_neg > 0,
            {"oos_events": n_pos + n_neg, "oos_positives": n_pos},
            params,
        ),
        NOT_CONSTANT.judge(
            preds.size > 0 and spread > params.min_prediction_spread,
            {"prediction_spread": spread, "predictions": int(preds.size)},
            params,
        ),
        OVERFIT.judge(
            not overfit,
            {
                "in_sample_auc": in_auc if in_auc is not None else float("nan"),
                "oos_auc": oos_auc if oos_auc is not None else float("nan"),
                "null_band": band,
            },
            params,
        ),
    ]


PREDICTIONS_ONE_PER_EVENT = Gate(
    "predictions_one_per_event", "One prediction per event of the day's event_features."
)
PREDICTION_GATES = (PREDICTIONS_ONE_PER_EVENT,)

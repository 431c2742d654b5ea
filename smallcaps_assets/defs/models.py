"""event_model (monthly walk-forward LightGBM) and event_predictions (its out-of-sample predictions
per trading day), the job that trains a month and its schedule. docs/models.md."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import EVENT_FEATURES, EVENT_LABELS, EVENT_MODEL, EVENT_PREDICTIONS
from ..assetkit import LAKE_KINDS, daily_asset, partition_day
from ..assetkit.metadata import contract_metadata, partition_metadata
from ..partitions import partitions_start, trading_months
from ..stages import models_quality
from ..stages.features import feature_columns
from ..stages.models import artifact
from ..stages.models.experiment import model_input, run_month
from ..stages.models.splits import SplitParams, add_months, split_month
from ..stages.models.train import TrainParams, numeric_features

GROUP = "models"
# The model of month M reads every trading day from the first partition through M's last session
# (expanding window: the months before M train it, M's own days only judge it out of sample).
# Offsets of a month-to-day mapping count months; 240 reaches back to any lake's first day.
HISTORY_MONTHS = 240
THROUGH_THE_MONTH = dg.TimeWindowPartitionMapping(
    start_offset=-HISTORY_MONTHS, end_offset=0, allow_nonexistent_upstream_partitions=True
)
PREDICTION_GATES = models_quality.PREDICTION_GATES


class EventModelConfig(dg.Config):
    """The model's target and the fold's embargo (defaults: stages/models/train.py, splits.py)."""

    target: str = TrainParams().target
    embargo_minutes: int = SplitParams().embargo_minutes


def month_days(month: dt.date) -> list[dt.date]:
    """Trading days from the first partition through ``month``'s last session."""
    return cal.trading_days(partitions_start(), add_months(month, 1) - dt.timedelta(days=1))


def _markdown(rows: list[dict], fmt: str = ".4g") -> dg.MetadataValue:
    return dg.MetadataValue.md(checks.markdown_table(pl.DataFrame(rows), fmt) if rows else "(none)")


@dg.asset(
    name=EVENT_MODEL,
    partitions_def=trading_months,
    group_name=GROUP,
    kinds=LAKE_KINDS | {"lightgbm"},
    deps=[
        dg.AssetDep(EVENT_FEATURES, partition_mapping=THROUGH_THE_MONTH),
        dg.AssetDep(EVENT_LABELS, partition_mapping=THROUGH_THE_MONTH),
    ],
    metadata=contract_metadata(schemas.event_model_contract()),
    check_specs=checks.specs(EVENT_MODEL, models_quality.MODEL_GATES, trading_months),
)
def event_model(context: dg.AssetExecutionContext, config: EventModelConfig) -> Iterator[checks.CheckedEvent]:
    """The LightGBM model of one month (walk-forward, docs/models.md): trained on the labelled
    events whose label interval ends a day (the embargo) before the month starts, with early
    stopping on a purged validation fold, and judged out of sample on the month's own events. The
    partition holds the model as text, its sha256 and the experiment record (params, features,
    fold dates, the input partitions' content hashes, metrics). Metadata: fit/valid/test AUC, log
    loss, Brier and top-decile precision (numbers, so the UI plots them across months), the
    calibration table and the gain importance. A month without a single training event fails in
    one line: the first model is the month after the first month of data."""
    month = dt.date.fromisoformat(context.partition_key)
    days = month_days(month)
    features = lake.read_partitions(EVENT_FEATURES, days)
    labels = lake.read_partitions(EVENT_LABELS, days)
    if features is None or labels is None:
        raise dg.Failure(
            f"event_model {month:%Y-%m}: event_features or event_labels has no partition by then"
        )
    features = features.drop("date")
    rows = model_input(features, labels.drop("date"))
    split = SplitParams(embargo_minutes=config.embargo_minutes)
    train = TrainParams(target=config.target)
    _, fold = split_month(rows, month, split)
    if fold.n_fit == 0:
        raise dg.Failure(
            f"event_model {month:%Y-%m}: no labelled event ends before {fold.test_start - split.embargo} "
            f"(data from {days[0]}): too little history to train this month"
        )
    # From event_features alone: the label columns joined into rows are never features.
    names = numeric_features(features, feature_columns(features))
    versions = {
        EVENT_FEATURES: lake.partitions_sha256(EVENT_FEATURES, days),
        EVENT_LABELS: lake.partitions_sha256(EVENT_LABELS, days),
        "sessions": f"{days[0]}..{days[-1]}",
    }
    result = run_month(rows, month, names, versions, train, split)
    gates = models_quality.model_gates(result.record, result.predictions["prob"].to_numpy())
    blocking_passed = all(g.passed for g in gates if g.severity == "error")
    frame = schemas.enforce(schemas.event_model_contract(), artifact.model_row(result, blocking_passed))
    written = lake.write_partition(EVENT_MODEL, month, frame)
    record, f = result.record, result.record.fold
    metadata = {
        **partition_metadata(written),
        **record.metadata(),
        "target": record.target,
        "features": len(record.features),
        "feature_list": ", ".join(record.features),
        "params": dg.MetadataValue.json(record.train_params),
        "data_versions": dg.MetadataValue.json(record.data_versions),
        **{k: str(getattr(f, k)) for k in ("train_start", "valid_start", "test_start", "test_end")},
        "fit_max_t1": str(f.fit_max_t1),
        "blocking_gates_passed": blocking_passed,
        "calibration": _markdown(record.calibration),
        "gain_importance": _markdown(record.attribution[:20]),
    }
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(metadata=metadata, check_results=checks.results(EVENT_MODEL, gates))
    )


@daily_asset(
    EVENT_PREDICTIONS,
    schemas.event_predictions_contract(),
    PREDICTION_GATES,
    group=GROUP,
    # A day maps to its month's model (the default time-window mapping, day -> month).
    deps=[EVENT_FEATURES, dg.AssetDep(EVENT_MODEL, partition_mapping=dg.TimeWindowPartitionMapping())],
)
def event_predictions(context: dg.AssetExecutionContext) -> Iterator[checks.CheckedEvent]:
    """The probability of the model's target (default: the profit-take barrier is hit first) for
    every event of the day, from the stored model of the day's month, loaded from its text. Out of
    sample by construction and asserted: the model's fold must put the whole day in its test span
    with no training label inside the embargo. A month whose model failed a blocking gate gets no
    predictions (the step fails and says which)."""
    day = partition_day(context)
    month = artifact.event_month(day)
    stored = lake.read_partition(EVENT_MODEL, month)
    features = lake.read_partition(EVENT_FEATURES, day)
    if stored is None or features is None:
        raise dg.Failure(f"event_predictions {day}: event_model {month:%Y-%m} or event_features is missing")
    text, record, blocking_passed = artifact.read_model_row(stored)
    if not blocking_passed:
        raise dg.Failure(f"event_predictions {day}: the model of {month:%Y-%m} failed a blocking gate")
    try:
        frame = artifact.predict_day(text, record, features, day)
    except ValueError as exc:
        raise dg.Failure(f"event_predictions {day}: {exc}") from exc
    frame = schemas.enforce(schemas.event_predictions_contract(), frame)
    written = lake.write_partition(EVENT_PREDICTIONS, day, frame, sort_by=["event_id"])
    one_each = frame.height == features.height and frame["event_id"].n_unique() == frame.height
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "events": frame.height,
                "model_month": str(month),
                "model_sha256": record.model_sha256,
                "mean_prob": float(frame["prob"].mean()) if frame.height else float("nan"),
            },
            check_results=checks.results(
                EVENT_PREDICTIONS,
                [
                    PREDICTION_GATES[0].judge(
                        one_each, {"events": features.height, "predictions": frame.height}
                    )
                ],
            ),
        )
    )


event_model_monthly_job = dg.define_asset_job(
    "event_model_monthly",
    selection=dg.AssetSelection.assets(EVENT_MODEL),
    partitions_def=trading_months,
    description="Train one month's event model (walk-forward) with its gates.",
)


@dg.schedule(
    name="monthly_retrain",
    cron_schedule="0 22 * * 1-5",
    execution_timezone="America/New_York",
    job=event_model_monthly_job,
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description="On the first session of a month, after daily_close: the model of the month just "
    "ended (its sessions and labels are then complete, so it is judged out of sample).",
)
def monthly_retrain(context: dg.ScheduleEvaluationContext):
    when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
    day = when.astimezone(cal.NY).date()
    prev = cal.previous_trading_day(day)
    if not cal.is_trading_day(day) or prev is None or prev.month == day.month:
        return dg.SkipReason(f"{day} is not the first session of a month")
    month = prev.replace(day=1)
    return dg.RunRequest(run_key=month.isoformat(), partition_key=month.isoformat())

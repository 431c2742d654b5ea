"""Walk-forward folds of the event models, purged by label-interval overlap and embargoed (pure).

**Partitions.** One model per calendar month M (America/New_York; an after-hours event at 19:30 ET
belongs to its ET day even though its UTC date is the next one). Monthly because it is the retrain
cadence the models are scheduled on; a month holds enough events for an out-of-sample AUC worth
reading (its standard error shrinks with the square root of the events), few enough models to train
on two cores, and a demo span of three months already gives two out-of-sample partitions. Weekly
folds would quadruple the trainings and give each partition too few events; quarterly ones would
leave a model stale and give a demo a single partition.

**The model of month M** predicts every event whose ``ts`` falls in [M start, next month start).
Its training rows are the labelled events (``t1`` not null) whose whole label interval
[``ts``, ``t1``] lies before ``M start - embargo``: a row is purged when its interval OVERLAPS the
test month widened by the embargo, [M start - embargo, ...). Events are multi-symbol and intraday,
so their order in a frame says nothing about when their labels resolve: a row-count gap (sklearn's
``gap``) can keep an event whose 30-minute label ends after the first test event. The rule uses
the month's boundary, not the test events' own labels, so the model of M can be trained before M's
labels exist, and it implies the issue's gate: every test event has ``ts >= M start``, so no kept
interval overlaps any test interval [ts, t1] widened by the embargo on both sides.

**Embargo** (wall clock, default one day): a test event's features look back over its own session
(from 04:00 ET) and the previous session's close; the embargo keeps every training label a day
clear of the first test event so that no training outcome is also an input of a test feature.

**Validation fold** (early stopping): the training rows whose ``ts`` is in the last
``valid_fraction`` of the training span (its start floored to an ET midnight). The rows before it
are purged against it by the same rule: a fit row's interval must end before
``valid start - embargo``.

**Why not purgedcv 0.1.11** (checked): its ``WalkForwardSplit`` cuts test folds by row counts, not
calendar months, requires the rows sorted by time, treats the embargo as a no-op in walk-forward,
and purges against the test rows' own evaluation times, which a model trained before its month
does not know. Its ``purge`` primitive is a half-open overlap on pandas times. Our splitter is a few
polars expressions and is tested against a brute-force pairwise reference instead.

Every fold yields a :class:`FoldRecord` with its dates and counts; :func:`fold_violations`
re-asserts the no-overlap rule from those dates alone (the blocking gate of the model asset).
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from ...calendar import NY
from ..events.params import FrozenParams

ROLE = "role"
FIT, VALID, TEST = "fit", "valid", "test"
PURGED = "purged"  # labelled, before the test month, but its interval reaches an embargoed zone
UNLABELLED = "unlabelled"  # before the test month without a label (t1 null): never trained on
OUTSIDE = "outside"  # after the test month, or before a sliding window's start
ROLES = (FIT, VALID, TEST, PURGED, UNLABELLED, OUTSIDE)


class SplitParams(FrozenParams):
    """Defaults of the walk-forward folds (see the module docstring for why)."""

    embargo_minutes: int = Field(24 * 60, ge=0, description="wall-clock embargo before a test span")
    valid_fraction: float = Field(0.2, gt=0, lt=1, description="last share of the training span")
    max_train_months: int | None = Field(None, ge=1, description="sliding window; None: expanding")
    min_history_months: int = Field(1, ge=1, description="months of data before the first test month")

    @property
    def embargo(self) -> dt.timedelta:
        return dt.timedelta(minutes=self.embargo_minutes)


class FoldRecord(BaseModel):
    """The dates and counts of one fold: enough to re-assert the purge without the data.

    All instants are UTC. ``*_max_t1`` is the latest label end among the rows of that role (None
    when the role has no row)."""

    model_config = ConfigDict(frozen=True)

    month: dt.date  # first day of the test month
    embargo_minutes: int
    train_start: dt.datetime  # ET midnight of the first training event's day (or of a window)
    valid_start: dt.datetime
    test_start: dt.datetime
    test_end: dt.datetime  # exclusive
    fit_max_t1: dt.datetime | None
    valid_max_t1: dt.datetime | None
    valid_min_ts: dt.datetime | None
    test_min_ts: dt.datetime | None
    test_max_ts: dt.datetime | None
    n_fit: int
    n_valid: int
    n_test: int
    n_test_labelled: int
    n_purged_test: int  # purged against the test month
    n_purged_valid: int  # purged against the validation span
    n_unlabelled: int


def month_start(month: dt.date) -> dt.datetime:
    """00:00 ET of the month's first day, as a UTC instant."""
    local = dt.datetime(month.year, month.month, 1, tzinfo=NY)
    return local.astimezone(dt.UTC)


def add_months(month: dt.date, n: int) -> dt.date:
    k = month.year * 12 + month.month - 1 + n
    return dt.date(k // 12, k % 12 + 1, 1)


def _et_midnight(instant: dt.datetime) -> dt.datetime:
    d = instant.astimezone(NY).date()
    return dt.datetime(d.year, d.month, d.day, tzinfo=NY).astimezone(dt.UTC)


def event_month() -> pl.Expr:
    """First day of each event's ET month (from ``ts``)."""
    return pl.col("ts").dt.convert_time_zone(str(NY)).dt.date().dt.truncate("1mo")


def walk_forward_months(events: pl.DataFrame, params: SplitParams = SplitParams()) -> list[dt.date]:
    """Months that get a model: every month from the first one with ``min_history_months`` of data
    before it to the last month holding an event (months in between without events included)."""
    if events.is_empty():
        return []
    months = events.select(event_month()).to_series()
    first, last = add_months(months.min(), params.min_history_months), months.max()
    out, m = [], first
    while m <= last:
        out.append(m)
        m = add_months(m, 1)
    return out


def split_month(
    events: pl.DataFrame, month: dt.date, params: SplitParams = SplitParams()
) -> tuple[pl.DataFrame, FoldRecord]:
    """``events`` (at least event_id, ts, t1; t1 null = unlabelled) with a ``role`` column for the
    model of ``month``, and the fold's record. Rows keep their order."""
    embargo = params.embargo
    test_start, test_end = month_start(month), month_start(add_months(month, 1))
    window_start = (
        month_start(add_months(month, -params.max_train_months)) if params.max_train_months else None
    )
    ts, t1 = pl.col("ts"), pl.col("t1")
    in_window = ts < test_start if window_start is None else (ts >= window_start) & (ts < test_start)
    # Training candidates: labelled, before the month, interval clear of the embargoed month.
    train_ok = in_window & t1.is_not_null() & (t1 < pl.lit(test_start - embargo))
    first_ts = events.filter(train_ok)["ts"].min()
    span_start = _et_midnight(first_ts) if first_ts is not None else (window_start or test_start)
    if window_start is not None:
        span_start = max(span_start, window_start)
    boundary = test_start - embargo
    valid_start = _et_midnight(span_start + (boundary - span_start) * (1 - params.valid_fraction))
    valid_start = max(valid_start, span_start)
    role = (
        pl.when((ts >= test_start) & (ts < test_end))
        .then(pl.lit(TEST))
        .when(~in_window)
        .then(pl.lit(OUTSIDE))
        .when(t1.is_null())
        .then(pl.lit(UNLABELLED))
        .when(~train_ok)
        .then(pl.lit(PURGED))
        .when(ts >= valid_start)
        .then(pl.lit(VALID))
        .when(t1 < pl.lit(valid_start - embargo))
        .then(pl.lit(FIT))
        .otherwise(pl.lit("purged_valid"))
    )
    tagged = events.with_columns(role.alias(ROLE))
    n_purged_valid = int((tagged[ROLE] == "purged_valid").sum())
    tagged = tagged.with_columns(
        pl.when(pl.col(ROLE) == "purged_valid").then(pl.lit(PURGED)).otherwise(pl.col(ROLE)).alias(ROLE)
    )

    def of(r: str) -> pl.DataFrame:
        return tagged.filter(pl.col(ROLE) == r)

    fit, valid, test = of(FIT), of(VALID), of(TEST)
    record = FoldRecord(
        month=month,
        embargo_minutes=params.embargo_minutes,
        train_start=span_start,
        valid_start=valid_start,
        test_start=test_start,
        test_end=test_end,
        fit_max_t1=fit["t1"].max(),
        valid_max_t1=valid["t1"].max(),
        valid_min_ts=valid["ts"].min(),
        test_min_ts=test["ts"].min(),
        test_max_ts=test["ts"].max(),
        n_fit=fit.height,
        n_valid=valid.height,
        n_test=test.height,
        n_test_labelled=int(test["t1"].is_not_null().sum()),
        n_purged_test=of(PURGED).height - n_purged_valid,
        n_purged_valid=n_purged_valid,
        n_unlabelled=of(UNLABELLED).height,
    )
    return tagged, record


def fold_violations(record: FoldRecord) -> list[str]:
    """What breaks the purge, read from the fold's dates alone (empty: none).

    No training label (fit or valid) may end at or after ``test_start - embargo``; no fit label at
    or after ``valid_start - embargo``; every test event lies in [test_start, test_end) and every
    validation event at or after ``valid_start``. Together these mean no training interval
    overlaps any test (or validation) interval widened by the embargo."""
    embargo = dt.timedelta(minutes=record.embargo_minutes)
    out = []
    for name, end in (("fit", record.fit_max_t1), ("valid", record.valid_max_t1)):
        if end is not None and end >= record.test_start - embargo:
            out.append(f"{name} label ends {end} within the embargo of the test span {record.test_start}")
    if record.fit_max_t1 is not None and record.fit_max_t1 >= record.valid_start - embargo:
        out.append(f"fit label ends {record.fit_max_t1} within the embargo of valid {record.valid_start}")
    if record.valid_min_ts is not None and record.valid_min_ts < record.valid_start:
        out.append(f"a validation event at {record.valid_min_ts} precedes valid_start")
    if record.test_min_ts is not None and record.test_min_ts < record.test_start:
        out.append(f"a test event at {record.test_min_ts} precedes test_start")
    if record.test_max_ts is not None and record.test_max_ts >= record.test_end:
        out.append(f"a test event at {record.test_max_ts} is at or after test_end")
    if not record.train_start <= record.valid_start <= record.test_start < record.test_end:
        out.append("spans out of order: train_start <= valid_start <= test_start < test_end fails")
    return out

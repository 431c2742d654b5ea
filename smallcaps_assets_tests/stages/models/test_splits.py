"""Walk-forward folds: purge by label-interval overlap across symbols, the embargo, the validation
fold, and the no-overlap assertion read from the fold's dates alone."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.calendar import NY
from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.models.splits import (
    FIT,
    OUTSIDE,
    PURGED,
    TEST,
    UNLABELLED,
    VALID,
    SplitParams,
    fold_violations,
    month_start,
    split_month,
    walk_forward_months,
)

MARCH = dt.date(2024, 3, 1)


def et(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=NY).astimezone(dt.UTC)


def frame(rows: list[tuple[str, str, dt.datetime, dt.datetime | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS, "t1": UTC_NS},
        orient="row",
    )


# Hand-built intervals on two symbols around the March 2024 boundary (2024-02-29 exists).
CASES = frame(
    [
        ("a_old", "A", et(2024, 1, 10, 10, 0), et(2024, 1, 10, 10, 30)),
        ("a_feb28", "A", et(2024, 2, 28, 10, 0), et(2024, 2, 28, 10, 30)),
        # 20:00 ET on Feb 28 is Feb 29 01:00 UTC: kept only because the boundary is in ET.
        ("b_feb28_late", "B", et(2024, 2, 28, 19, 50), et(2024, 2, 28, 20, 0)),
        ("b_feb29", "B", et(2024, 2, 29, 9, 0), et(2024, 2, 29, 9, 30)),  # inside the 1-day embargo
        ("a_cross", "A", et(2024, 2, 29, 23, 0), et(2024, 3, 1, 0, 30)),  # overlaps the month itself
        ("a_nolabel", "A", et(2024, 2, 27, 10, 0), None),
        ("b_mar1", "B", et(2024, 3, 1, 4, 5), et(2024, 3, 1, 4, 35)),
        ("a_mar31_ah", "A", et(2024, 3, 31, 19, 30), None),  # UTC date is April 1: still March
        ("b_apr1", "B", et(2024, 4, 1, 4, 0), et(2024, 4, 1, 4, 30)),
    ]
)


def roles(tagged: pl.DataFrame) -> dict[str, str]:
    return dict(zip(tagged["event_id"], tagged["role"], strict=True))


def test_hand_built_roles_and_counts():
    tagged, rec = split_month(CASES, MARCH, SplitParams(embargo_minutes=24 * 60, valid_fraction=0.2))
    got = roles(tagged)
    assert got["b_feb29"] == PURGED and got["a_cross"] == PURGED
    assert got["b_feb28_late"] == VALID and got["a_feb28"] == VALID
    assert got["a_old"] == FIT
    assert got["a_nolabel"] == UNLABELLED
    assert got["b_mar1"] == TEST and got["a_mar31_ah"] == TEST
    assert got["b_apr1"] == OUTSIDE
    assert (rec.n_fit, rec.n_valid, rec.n_test, rec.n_test_labelled) == (1, 2, 2, 1)
    assert (rec.n_purged_test, rec.n_purged_valid, rec.n_unlabelled) == (2, 0, 1)
    assert rec.test_start == et(2024, 3, 1, 0, 0) and rec.test_end == et(2024, 4, 1, 0, 0)
    assert rec.train_start == et(2024, 1, 10, 0, 0)
    # valid starts at the ET midnight 80% of the way from Jan 10 to Feb 29 00:00 ET (50 days).
    assert rec.valid_start == et(2024, 2, 19, 0, 0)
    assert fold_violations(rec) == []


def test_zero_embargo_still_purges_intervals_that_reach_the_month():
    tagged, _ = split_month(CASES, MARCH, SplitParams(embargo_minutes=0))
    got = roles(tagged)
    assert got["b_feb29"] == VALID  # no embargo: its label ends before March
    assert got["a_cross"] == PURGED  # its interval overlaps March itself


def random_events(n: int, seed: int) -> pl.DataFrame:
    """Intraday events on 5 symbols over Jan-Apr 2024, labels 1-240 minutes long, some unlabelled
    and some (hand-made) intervals spanning hours across midnight."""
    rng = np.random.default_rng(seed)
    start = et(2024, 1, 2, 4, 0)
    ts = [start + dt.timedelta(minutes=int(m)) for m in rng.integers(0, 110 * 24 * 60, n)]
    lengths = rng.choice([1, 30, 240, 24 * 60], size=n, p=[0.3, 0.4, 0.2, 0.1])
    t1 = [
        t + dt.timedelta(minutes=int(k)) if rng.random() > 0.1 else None
        for t, k in zip(ts, lengths, strict=True)
    ]
    sym = rng.choice(list("ABCDE"), size=n)
    return frame([(f"e{i}", str(sym[i]), ts[i], t1[i]) for i in range(n)])


def overlaps(a0, a1, b0, b1) -> bool:
    """Closed intervals [a0, a1] and [b0, b1] share an instant."""
    return a0 <= b1 and b0 <= a1


FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def brute_force_roles(events: pl.DataFrame, month: dt.date, p: SplitParams, valid_start) -> dict:
    """The rule written pairwise: a labelled row before the month trains iff its interval shares no
    instant with the embargoed test zone [test_start - e, FAR] nor with any test event's interval
    widened by e on both sides (across every symbol); within training, a row fits iff it shares no
    instant with [valid_start - e, FAR]."""
    e = p.embargo
    t0 = month_start(month)
    t_end = month_start(dt.date(month.year + (month.month == 12), month.month % 12 + 1, 1))
    rows = events.to_dicts()
    tests = [r for r in rows if t0 <= r["ts"] < t_end]
    out = {}
    for r in rows:
        if t0 <= r["ts"] < t_end:
            out[r["event_id"]] = TEST
        elif r["ts"] >= t_end:
            out[r["event_id"]] = OUTSIDE
        elif r["t1"] is None:
            out[r["event_id"]] = UNLABELLED
        elif overlaps(r["ts"], r["t1"], t0 - e, FAR) or any(
            overlaps(r["ts"], r["t1"], x["ts"] - e, (x["t1"] or x["ts"]) + e) for x in tests
        ):
            out[r["event_id"]] = PURGED
        elif r["ts"] >= valid_start:
            out[r["event_id"]] = VALID
        elif overlaps(r["ts"], r["t1"], valid_start - e, FAR):
            out[r["event_id"]] = PURGED
        else:
            out[r["event_id"]] = FIT
    return out


@pytest.mark.parametrize("embargo_minutes", [0, 60, 24 * 60])
def test_matches_brute_force_reference_across_symbols(embargo_minutes):
    events = random_events(400, seed=embargo_minutes)
    p = SplitParams(embargo_minutes=embargo_minutes, valid_fraction=0.25)
    months = walk_forward_months(events, p)
    assert months == [dt.date(2024, 2, 1), dt.date(2024, 3, 1), dt.date(2024, 4, 1)]
    purged = purged_valid = 0
    for month in months:
        tagged, rec = split_month(events, month, p)
        assert roles(tagged) == brute_force_roles(events, month, p, rec.valid_start)
        assert fold_violations(rec) == []
        purged += rec.n_purged_test
        purged_valid += rec.n_purged_valid
        # The gate, pairwise: no training interval meets a test interval widened by e.
        train = tagged.filter(pl.col("role").is_in([FIT, VALID])).to_dicts()
        test = tagged.filter((pl.col("role") == TEST) & pl.col("t1").is_not_null()).to_dicts()
        e = p.embargo
        assert not any(overlaps(a["ts"], a["t1"], b["ts"] - e, b["t1"] + e) for a in train for b in test)
    assert purged > 0  # the random intervals do exercise the purge (and the valid purge at 1 day)
    assert purged_valid > 0 or embargo_minutes < 24 * 60


def test_reference_catches_a_splitter_without_embargo():
    """The comparison can fail: a splitter that forgets the embargo disagrees with the reference."""
    events = random_events(400, seed=11)
    p = SplitParams(embargo_minutes=24 * 60)
    leaky, rec = split_month(events, MARCH, p.model_copy(update={"embargo_minutes": 0}))
    assert roles(leaky) != brute_force_roles(events, MARCH, p, rec.valid_start)


def test_row_count_gap_is_not_enough():
    """A split by rows sorted by ts with a gap of 5 rows (sklearn's TimeSeriesSplit ``gap``) keeps
    intervals that reach into the test month; the fold assertion reports it."""
    events = random_events(400, seed=3).sort("ts")
    _, rec = split_month(events, MARCH, SplitParams())
    first_test = events.with_row_index().filter(pl.col("ts") >= rec.test_start)["index"][0]
    gap_train = events.head(int(first_test) - 5).drop_nulls("t1")
    leaky = rec.model_copy(update={"fit_max_t1": gap_train["t1"].max()})
    assert fold_violations(leaky)


def test_fold_violations_reads_the_dates():
    _, rec = split_month(CASES, MARCH, SplitParams())
    assert fold_violations(rec) == []
    inside = rec.test_start - dt.timedelta(hours=1)
    assert fold_violations(rec.model_copy(update={"valid_max_t1": inside}))
    assert fold_violations(rec.model_copy(update={"fit_max_t1": rec.valid_start}))
    assert fold_violations(rec.model_copy(update={"test_min_ts": rec.test_start - dt.timedelta(1)}))
    assert fold_violations(rec.model_copy(update={"valid_min_ts": rec.valid_start - dt.timedelta(1)}))
    assert fold_violations(rec.model_copy(update={"test_max_ts": rec.test_end}))


def test_sliding_window_and_months():
    tagged, rec = split_month(CASES, MARCH, SplitParams(max_train_months=1))
    got = roles(tagged)
    assert got["a_old"] == OUTSIDE  # January is outside a one-month window for March
    assert rec.train_start == et(2024, 2, 28, 0, 0)  # the first training event's ET day
    assert walk_forward_months(CASES, SplitParams(min_history_months=2)) == [MARCH, dt.date(2024, 4, 1)]
    assert walk_forward_months(CASES.head(0)) == []

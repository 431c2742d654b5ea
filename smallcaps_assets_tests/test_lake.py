"""The lake: hive layout, atomic replacement, by-symbol rewrites, refusal of bad names."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import threading
from unittest import mock

import polars as pl
import pytest

from smallcaps_assets import lake

DAY = dt.date(2024, 3, 5)


def test_hive_layout_and_round_trip(tmp_path):
    df = pl.DataFrame({"symbol": ["B", "A"], "x": [2, 1]})
    w = lake.write_partition("daily_bars", DAY, df, ["symbol"], root=tmp_path)
    assert w.path.endswith("daily_bars/date=2024-03-05/part-0.parquet")
    assert lake.read_partition("daily_bars", DAY, tmp_path)["symbol"].to_list() == ["A", "B"]
    assert w.rows == 2 and len(w.sha256) == 64


def test_failed_write_keeps_the_old_partition_and_leaves_no_file(tmp_path, monkeypatch):
    old = pl.DataFrame({"symbol": ["A"], "x": [1]})
    lake.write_partition("universe", DAY, old, root=tmp_path)

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(lake.os, "replace", boom)
    with pytest.raises(OSError):
        lake.write_partition("universe", DAY, pl.DataFrame({"symbol": ["Z"], "x": [9]}), root=tmp_path)
    assert lake.read_partition("universe", DAY, tmp_path).equals(old)
    monkeypatch.undo()
    leftovers = [p.name for p in (tmp_path / "universe" / "date=2024-03-05").iterdir()]
    assert leftovers == ["part-0.parquet"]


def test_replace_symbols_keeps_other_rows(tmp_path):
    lake.write_partition(
        "minute_bars", DAY, pl.DataFrame({"symbol": ["A", "B", "C"], "x": [1, 2, 3]}), root=tmp_path
    )
    fresh = pl.DataFrame({"symbol": ["B", "Z"], "x": [20, 99]})
    lake.replace_symbols("minute_bars", DAY, fresh, ["B"], ["symbol"], root=tmp_path)
    got = lake.read_partition("minute_bars", DAY, tmp_path)
    assert got.to_dicts() == [{"symbol": "A", "x": 1}, {"symbol": "B", "x": 20}, {"symbol": "C", "x": 3}]


@pytest.mark.parametrize(
    ("asset", "day"), [("../etc", DAY), ("daily_bars", "2024-13-01"), ("daily bars", DAY)]
)
def test_bad_names_are_refused(tmp_path, asset, day):
    with pytest.raises(ValueError):
        lake.partition_file(asset, day, tmp_path)


# ------------------------------------------------------------- concurrent by-symbol repairs of one day
def _repair(root: str, symbol: str, value: int, barrier) -> None:
    """One by-symbol repair whose read waits (up to 1 s) for the other repair's read: without a lock
    both read the old file before either writes, so the second rename drops the first's rows."""
    read = lake.read_partition

    def read_then_wait(*args, **kwargs):
        frame = read(*args, **kwargs)
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=1.0)
        return frame

    with mock.patch.object(lake, "read_partition", read_then_wait):
        fresh = pl.DataFrame({"symbol": [symbol], "x": [value]})
        lake.replace_symbols("minute_bars", DAY, fresh, [symbol], ["symbol"], root=root)


def _two_repairs(root, kind: str) -> list[dict]:
    lake.write_partition(
        "minute_bars", DAY, pl.DataFrame({"symbol": ["A", "B", "C"], "x": [1, 2, 3]}), root=root
    )
    jobs = [("A", 10), ("C", 30)]
    if kind == "thread":
        barrier = threading.Barrier(2)
        workers = [threading.Thread(target=_repair, args=(str(root), s, v, barrier)) for s, v in jobs]
    else:
        ctx = multiprocessing.get_context("spawn")  # fork would copy polars' thread pool mid-flight
        barrier = ctx.Barrier(2)
        workers = [ctx.Process(target=_repair, args=(str(root), s, v, barrier)) for s, v in jobs]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    if kind == "process":
        assert [w.exitcode for w in workers] == [0, 0]
    return lake.read_partition("minute_bars", DAY, root).to_dicts()


@pytest.mark.parametrize("kind", ["thread", "process"])
def test_two_concurrent_repairs_of_one_day_keep_both_repairs_rows(tmp_path, kind):
    got = _two_repairs(tmp_path, kind)
    assert got == [{"symbol": "A", "x": 10}, {"symbol": "B", "x": 2}, {"symbol": "C", "x": 30}]


def test_without_the_lock_the_same_race_loses_a_repair(tmp_path, monkeypatch):
    """The control: the interleaving above really is a race, so the test above can fail."""
    monkeypatch.setattr(lake, "partition_lock", lambda *a, **k: contextlib.nullcontext())
    got = _two_repairs(tmp_path, "thread")
    assert {"symbol": "B", "x": 2} in got
    assert sum(row["x"] in (10, 30) for row in got) == 1  # one repair's row is lost


def test_a_lock_lives_in_the_state_folder_never_beside_the_partition(tmp_path):
    with lake.partition_lock("minute_bars", DAY, tmp_path):
        pass
    assert (tmp_path / "_state" / "locks" / "minute_bars" / f"date={DAY}.lock").exists()
    lake.write_partition("minute_bars", DAY, pl.DataFrame({"symbol": ["A"], "x": [1]}), root=tmp_path)
    assert [p.name for p in (tmp_path / "minute_bars" / f"date={DAY}").iterdir()] == ["part-0.parquet"]


def test_partitions_sha256_changes_with_the_bytes_and_the_days(tmp_path):
    import datetime as _dt

    import polars as _pl

    from smallcaps_assets import lake as _lake

    d1, d2 = _dt.date(2024, 3, 1), _dt.date(2024, 3, 4)
    _lake.write_partition("event_labels", d1, _pl.DataFrame({"x": [1, 2]}), root=tmp_path)
    first = _lake.partitions_sha256("event_labels", [d1, d2], root=tmp_path)
    assert first == _lake.partitions_sha256("event_labels", [d2, d1], root=tmp_path)  # order-free
    _lake.write_partition("event_labels", d2, _pl.DataFrame({"x": [3]}), root=tmp_path)
    second = _lake.partitions_sha256("event_labels", [d1, d2], root=tmp_path)
    _lake.write_partition("event_labels", d1, _pl.DataFrame({"x": [1, 5]}), root=tmp_path)
    third = _lake.partitions_sha256("event_labels", [d1, d2], root=tmp_path)
    assert len({first, second, third}) == 3

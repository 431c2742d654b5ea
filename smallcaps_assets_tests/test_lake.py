"""The lake: hive layout, atomic replacement, by-symbol rewrites, refusal of bad names."""

from __future__ import annotations

import datetime as dt

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

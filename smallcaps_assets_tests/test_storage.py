"""The storage footprint: what the lake holds per asset per partition, and its linear projection
to another span and market size (storage.py, ``smallcaps storage``)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from typer.testing import CliRunner

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake, storage
from smallcaps_assets.cli import app

D1, D2, D3 = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)


@pytest.fixture
def small(tmp_path):
    """A lake of known files: ticker_reference on three days (4, 4 and 6 tickers), intraday_events
    on the first and last of them only, a monthly backtest, and stray files no reader sees."""
    root = tmp_path / "lake"
    sizes: dict[tuple[str, dt.date], int] = {}
    for day, n in ((D1, 4), (D2, 4), (D3, 6)):
        frame = pl.DataFrame({"ticker": [f"T{i}" for i in range(n)]})
        sizes["ticker_reference", day] = lake.write_partition("ticker_reference", day, frame, root=root).bytes
    for day in (D1, D3):
        frame = pl.DataFrame({"symbol": ["A", "B"], "score": [0.5, 0.9]})
        sizes["intraday_events", day] = lake.write_partition("intraday_events", day, frame, root=root).bytes
    month = dt.date(2024, 3, 1)
    sizes["backtest", month] = lake.write_partition(
        "backtest", month, pl.DataFrame({"x": [1]}), root=root
    ).bytes
    (root / "intraday_events" / f"date={D1}" / ".tmp-part-0.parquet").write_bytes(b"half")
    (root / "_state").mkdir(exist_ok=True)  # (the writers keep their locks there)
    (root / "_state" / "ledger.sqlite").write_bytes(b"x" * 100)
    return root, sizes


def test_measure_lists_each_committed_file_with_its_bytes(small):
    root, sizes = small
    got = storage.measure(str(root))
    assert {(a, d): b for a, d, b in got.select("asset", "date", "bytes").iter_rows()} == sizes
    assert got["files"].to_list() == [1] * len(sizes)


def test_per_partition_means_and_coverage(small):
    root, sizes = small
    stats = {r["asset"]: r for r in storage.per_partition(storage.measure(str(root))).to_dicts()}
    events = stats["intraday_events"]
    assert events["partitions"] == 2 and events["files"] == 2
    assert events["bytes_per_partition"] == (sizes["intraday_events", D1] + sizes["intraday_events", D3]) / 2
    assert events["coverage"] == pytest.approx(2 / 3)  # two of the three sessions D1..D3
    assert stats["ticker_reference"]["coverage"] == 1.0
    assert stats["backtest"]["coverage"] == 1.0  # one month of one


def test_the_projection_scales_by_sessions_coverage_and_market(small):
    root, sizes = small
    start, end = dt.date(2024, 1, 1), dt.date(2024, 12, 31)
    sessions = len(cal.trading_days(start, end))
    got = {r["asset"]: r for r in storage.project(storage.measure(str(root)), start, end, 2.0).to_dicts()}
    ref = got["ticker_reference"]
    mean_ref = sum(b for (a, _), b in sizes.items() if a == "ticker_reference") / 3
    assert ref["partitions"] == ref["files"] == sessions
    assert ref["bytes"] == round(sessions * mean_ref * 2.0)
    events = got["intraday_events"]
    assert events["partitions"] == round(sessions * 2 / 3)
    assert got["backtest"]["partitions"] == 12 and got["backtest"]["files"] == 12


def test_measured_tickers_is_the_mean_listing(small):
    root, _ = small
    assert storage.measured_tickers(str(root)) == pytest.approx((4 + 4 + 6) / 3)


def test_the_cli_projects_and_refuses_bad_input(small, monkeypatch):
    root, _ = small
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(root))
    runner = CliRunner()
    out = runner.invoke(app, ["storage", "--json"])
    assert out.exit_code == 0, out.output
    measured = json.loads(out.output)
    assert measured["files"] == 6
    args = ["storage", "--project", "--start", "2024-01-01", "--end", "2024-12-31", "--json"]
    base = json.loads(runner.invoke(app, args).output)
    doubled = json.loads(runner.invoke(app, [*args, "--tickers", "28"]).output)
    # 28 tickers over a measured mean of 14/3: the bytes grow six-fold, the files do not
    assert doubled["scale"] == pytest.approx(6.0)
    assert doubled["files"] == base["files"]
    assert doubled["bytes"] == pytest.approx(6 * base["bytes"], rel=1e-6)
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0 and "projected 2024-01-01..2024-12-31:" in text.output
    for bad, message in (
        (["storage", "--project", "--start", "2024-01-01"], "--project needs --start and --end"),
        (["storage", "--project", "--start", "2024-12-31", "--end", "2024-01-01"], "is before --start"),
        ([*args, "--tickers", "0"], "--tickers must be positive"),
        (["storage", "--start", "2024-01-01"], "belong to --project"),
    ):
        got = runner.invoke(app, bad)
        assert got.exit_code == 2, (bad, got.output)
        assert message in got.output


def test_an_empty_lake_is_a_clear_refusal(tmp_path, monkeypatch):
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    got = CliRunner().invoke(app, ["storage"])
    assert got.exit_code == 2 and "no partition file to measure" in got.output


def test_a_written_partition_says_one_file(tmp_path):
    meta = lake.write_partition("news", D1, pl.DataFrame({"a": [1]}), root=tmp_path).metadata()
    assert (
        meta["files"] == 1
        and meta["bytes"] == (tmp_path / "news" / f"date={D1}" / "part-0.parquet").stat().st_size
    )

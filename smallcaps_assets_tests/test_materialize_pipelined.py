"""`materialize_pipelined` (two processes, the first stage a day ahead) writes the lake a serial
`materialize_range` writes, and `materialize_months` trains months in order (docs/models.md)."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import (
    materialize_months,
    materialize_pipelined,
    materialize_range,
    month_starts,
)

from .defs.conftest import DAY, ROOTS

FIRST_STAGE = ("ticker_reference", "corporate_actions")


def _digests(root) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("part-*.parquet"))
    }


@pytest.fixture()
def sim_env(monkeypatch, sim_config_file):
    monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", sim_config_file)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    return monkeypatch


def test_pipelined_days_write_the_serial_lake(sim_env, tmp_path):
    days = cal.sessions_before(DAY, 3)
    serial, piped = tmp_path / "serial", tmp_path / "piped"
    sim_env.setenv("SMALLCAPS_DATA_DIR", str(serial))
    assert materialize_range(ROOTS, days[0], days[-1]).success
    sim_env.setenv("SMALLCAPS_DATA_DIR", str(piped))
    seen = []
    out = materialize_pipelined(ROOTS, FIRST_STAGE, days[0], days[-1], on_day=lambda o: seen.append(o.day))
    assert out.success, [(d.day, d.error) for d in out.days]
    assert seen == days
    # one outcome a day, carrying both stages' assets
    assert [sorted(d.metadata) for d in out.days] == [
        ["corporate_actions", "daily_bars", "ticker_reference"]
    ] * 3
    assert _digests(piped) == _digests(serial) and len(_digests(serial)) == 9


def test_a_failed_first_stage_day_stops_the_second(sim_env, tmp_path):
    sim_env.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    sim_env.setenv("SMALLCAPS_SIM_CONFIG", str(tmp_path / "missing.json"))  # every vendor call fails
    out = materialize_pipelined(ROOTS, FIRST_STAGE, *cal.sessions_before(DAY, 2))
    assert not out.success
    assert len(out.days) == 1 and out.days[0].error
    assert not list(tmp_path.rglob("daily_bars/*/part-*.parquet"))


def test_month_starts_and_bad_ranges():
    assert month_starts(dt.date(2024, 1, 16), dt.date(2024, 3, 15)) == [
        dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="before"):
        month_starts(dt.date(2024, 3, 1), dt.date(2024, 2, 1))
    with pytest.raises(ValueError, match="no month-partitioned asset"):
        materialize_months("key:daily_bars", [dt.date(2024, 2, 1)])


def test_the_parent_takes_the_later_half_of_the_leading_first_stage_only_days():
    from smallcaps_assets.materialize import _parent_share

    days = cal.sessions_before(DAY, 6)
    firsts = {d: ["daily_bars"] for d in days}
    rests = {d: set() if i < 4 else {"universe"} for i, d in enumerate(days)}
    assert _parent_share(days, firsts, rests, lambda d: True) == days[2:4]
    # a day reading other days (a lookback) ends the lead; fewer than two leading days: none
    assert _parent_share(days, firsts, rests, lambda d: d != days[2]) == days[1:2]
    assert _parent_share(days, firsts, rests, lambda d: d != days[1]) == []
    assert _parent_share(days, firsts, {d: {"universe"} for d in days}, lambda d: True) == []


def test_reads_only_its_day_follows_the_partition_mappings():
    import dagster as dg

    from smallcaps_assets.definitions import build_defs
    from smallcaps_assets.materialize import _reads_only_its_day

    graph = build_defs().resolve_asset_graph()
    keys = {dg.AssetKey(k) for k in ("ticker_reference", "corporate_actions", "daily_bars")}
    assert _reads_only_its_day(graph, keys, DAY)
    assert not _reads_only_its_day(graph, {dg.AssetKey("universe")}, DAY)  # 20 sessions of daily bars
    assert not _reads_only_its_day(graph, {dg.AssetKey("intraday_events")}, DAY)  # its score history


def test_leading_days_split_over_both_processes_write_the_serial_lake(sim_env, tmp_path):
    """A lookback's shape: four days of first-stage assets only, then one with a second stage. The
    parent runs the later two leading days itself; the lake is the serial one, reported in date order."""
    import dagster as dg

    from smallcaps_assets.definitions import build_defs
    from smallcaps_assets.materialize import _pipeline

    days = cal.sessions_before(DAY, 5)
    serial, piped = tmp_path / "serial", tmp_path / "piped"
    sim_env.setenv("SMALLCAPS_DATA_DIR", str(serial))
    assert materialize_range("key:ticker_reference or key:corporate_actions", days[0], days[-1]).success
    assert materialize_range("key:daily_bars", days[-1]).success
    sim_env.setenv("SMALLCAPS_DATA_DIR", str(piped))
    head = {dg.AssetKey("ticker_reference"), dg.AssetKey("corporate_actions")}
    work = {d: set(head) for d in days[:-1]} | {days[-1]: head | {dg.AssetKey("daily_bars")}}
    seen = []
    out = _pipeline(build_defs(), work, FIRST_STAGE, lambda o: seen.append(o.day), 0.1)
    assert out.success, [(d.day, d.error) for d in out.days]
    assert seen == days and [d.day for d in out.days] == days
    assert _digests(piped) == _digests(serial) and len(_digests(serial)) == 11

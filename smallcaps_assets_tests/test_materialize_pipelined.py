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

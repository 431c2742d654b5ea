"""A small offline market wired into the real Dagster definitions, on a temporary lake."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.resources import PolygonResource
from smallcaps_assets.sim import SimConfig

PIPE_CONFIG = SimConfig(seed=21, n_symbols=160, start=dt.date(2023, 10, 2), end=dt.date(2024, 6, 28))
DAY = dt.date(2024, 3, 6)  # a Wednesday: exercises the weekly shares anchor and carry-forward
ROOTS = "key:ticker_reference or key:corporate_actions or key:daily_bars"
WARM_SESSIONS = 6


def warm_days(day: dt.date, n: int) -> list[dt.date]:
    out = [cal.previous_trading_day(day)]
    while len(out) < n:
        out.append(cal.previous_trading_day(out[-1]))
    return sorted(out)


@pytest.fixture(scope="session")
def sim_config_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("simcfg") / "sim.json"
    path.write_text(PIPE_CONFIG.model_dump_json())
    return str(path)


@pytest.fixture(scope="session")
def polygon(sim_config_file) -> PolygonResource:
    return PolygonResource(sim_config_path=sim_config_file)


@pytest.fixture(scope="session")
def warm_lake(tmp_path_factory, polygon):
    """A lake with 6 sessions of roots before DAY, plus shares on the session before DAY."""
    root = tmp_path_factory.mktemp("lake")
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    mp.delenv("DAGSTER_HOME", raising=False)
    days = warm_days(DAY, WARM_SESSIONS)
    res = {"polygon": polygon}
    out = materialize_range(ROOTS, days[0], days[-1], resources=res)
    assert out.success, [(d.day, d.error) for d in out.days]
    out = materialize_range("key:ticker_details", days[-2], days[-1], resources=res)
    assert out.success, [(d.day, d.error) for d in out.days]
    yield root
    mp.undo()


def sim_json() -> str:
    return json.dumps(json.loads(PIPE_CONFIG.model_dump_json()))

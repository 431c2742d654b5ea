"""Shared fixtures: small, deterministic simulated markets (tests never touch the network)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from smallcaps_assets.sim import SimConfig, SimMarket

from .defs.conftest import DAY, PIPE_CONFIG, ROOTS, WARM_SESSIONS, warm_days

CAPTURES = Path(__file__).parent / "fixtures" / "vendor_captures"


@pytest.fixture(scope="session")
def small_config() -> SimConfig:
    """60 tickers over one quarter: big enough for every stylised fact to appear, fast to build."""
    return SimConfig(seed=11, n_symbols=60, start=dt.date(2024, 1, 2), end=dt.date(2024, 3, 28))


@pytest.fixture(scope="session")
def small_market(small_config: SimConfig) -> SimMarket:
    return SimMarket(small_config)


@pytest.fixture(scope="session")
def default_market() -> SimMarket:
    """The default market (600 tickers, 2022-10 to 2026-11); use for distribution-level assertions."""
    return SimMarket()


def load_capture(name: str) -> object:
    return json.loads((CAPTURES / name).read_text())


# ------------------------------------------------------------------------------------------
# The pipeline's small market (constants in defs/conftest.py), shared by defs/ and test_cli.py
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sim_config_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("simcfg") / "sim.json"
    path.write_text(PIPE_CONFIG.model_dump_json())
    return str(path)


@pytest.fixture(scope="session")
def polygon(sim_config_file):
    from smallcaps_assets.resources import SimulatedPolygonResource  # (Dagster is imported only when needed)

    return SimulatedPolygonResource(sim_config_path=sim_config_file)


@pytest.fixture(scope="session")
def warm_lake(tmp_path_factory, polygon):
    """A lake with 6 sessions of roots before DAY, plus shares on the session before DAY."""
    from smallcaps_assets.materialize import materialize_range

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

"""Shared fixtures: small, deterministic simulated markets (tests never touch the network)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from smallcaps_assets.sim import SimConfig, SimMarket

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

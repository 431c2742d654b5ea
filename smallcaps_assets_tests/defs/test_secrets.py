"""The API key appears nowhere: the pipeline's roots run in "real" mode (POLYGON_API_KEY set)
against `smallcaps sim serve` in a child process that accepts only that key, with a persistent
Dagster instance, and every file, log line and metadata value is searched for the key."""

from __future__ import annotations

import logging
import secrets
import shutil
from pathlib import Path

import polars as pl
import pytest

import smallcaps_assets
from smallcaps_assets import lake
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.polygon import describe_mode
from smallcaps_assets.sim.server import served_sim

from .conftest import DAY, PIPE_CONFIG, ROOTS

REPO = Path(smallcaps_assets.__file__).resolve().parents[1]
ROOT_ASSETS = ("ticker_reference", "corporate_actions", "daily_bars")


@pytest.fixture(scope="module")
def server():
    key = "sk_" + secrets.token_urlsafe(24)
    with served_sim(PIPE_CONFIG, api_keys=[key]) as url:
        yield url, key


@pytest.fixture
def real_mode(server, tmp_path, monkeypatch):
    """DAGSTER_HOME with the repo's dagster.yaml, an empty lake, and the vendor env of real mode."""
    url, key = server
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "lake"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(data))
    monkeypatch.setenv("POLYGON_BASE_URL", url)
    monkeypatch.delenv("SMALLCAPS_SIM_CONFIG", raising=False)
    return home, data, key


def _files_containing(root: Path, needle: str) -> list[str]:
    """Files under ``root`` holding ``needle`` in their bytes, or in any cell or metadata of a
    Parquet file (whose column data is compressed, so a byte search alone could miss it)."""
    raw = needle.encode()
    hits = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if raw in data:
            hits.append(str(path))
        elif path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            text = frame.select(pl.all().cast(pl.String)).write_csv() + str(pl.read_parquet_metadata(path))
            if needle in text:
                hits.append(str(path))
    return hits


def test_the_api_key_appears_nowhere(real_mode, monkeypatch, capfd, caplog):
    home, data, key = real_mode
    monkeypatch.setenv("POLYGON_API_KEY", key)
    assert describe_mode() == "real"
    caplog.set_level(logging.DEBUG)
    out = materialize_range(ROOTS, DAY, DAY)
    day = out.days[0]
    assert out.success, day.error
    for asset in ROOT_ASSETS:
        assert lake.partition_exists(asset, DAY, data), asset
        assert day.metadata[asset]["api_calls"] > 0, asset  # it really went over HTTP
    assert list(home.rglob("*.db")), "the Dagster instance stored its runs under DAGSTER_HOME"

    assert _files_containing(data, key) == []
    assert _files_containing(home, key) == []
    captured = capfd.readouterr()
    assert key not in captured.out and key not in captured.err
    assert key not in caplog.text
    assert all(key not in str(r.args) for r in caplog.records)
    assert key not in repr(day.metadata)


def test_a_wrong_key_fails_clearly_and_writes_nothing(real_mode, monkeypatch):
    home, data, _ = real_mode
    wrong = "sk_" + secrets.token_urlsafe(24)
    monkeypatch.setenv("POLYGON_API_KEY", wrong)
    out = materialize_range(ROOTS, DAY, DAY)
    day = out.days[0]
    assert not day.success
    assert "401" in day.error and "Unknown API Key" in day.error
    for asset in ROOT_ASSETS:
        assert not lake.partition_exists(asset, DAY, data), asset
    assert wrong not in day.error
    assert _files_containing(home, wrong) == []


def test_a_served_simulator_gives_its_market_fingerprint_over_http(server):
    """``smallcaps sim serve`` answers GET /sim/market with the fingerprint the in-process market
    of the same config has, so the event-window ledger keys both alike (no key sent)."""
    from smallcaps_assets.resources import served_market_source
    from smallcaps_assets.sim.config import market_fingerprint

    url, _ = server
    assert served_market_source(url) == market_fingerprint(PIPE_CONFIG)

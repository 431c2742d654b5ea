"""connect(): the three vendor modes (docs/operations.md), chosen from arguments and environment (no network)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from smallcaps_assets.polygon import DEFAULT_BASE_URL, PolygonError, connect, describe_mode, sim_market
from smallcaps_assets.polygon.connect import API_KEY_ENV, BASE_URL_ENV, IN_PROCESS_BASE_URL, OFFLINE_KEY
from smallcaps_assets.sim import ApiFaults, SimConfig

from .conftest import SECRET


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    monkeypatch.delenv(BASE_URL_ENV, raising=False)


def _close(client: object) -> None:
    asyncio.run(client.aclose())  # type: ignore[attr-defined]


def test_real_mode_from_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(API_KEY_ENV, SECRET)
    assert describe_mode() == "real"
    client = connect()
    try:
        assert client.mode == "real" and client.base_url == DEFAULT_BASE_URL == "https://api.massive.com"
        assert client._http.headers["authorization"] == f"Bearer {SECRET}"
        assert SECRET not in repr(client) and SECRET not in describe_mode()
    finally:
        _close(client)


def test_real_mode_from_argument_with_base_url_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")  # a key wins over the served-sim URL...
    assert describe_mode(api_key=SECRET) == "real"
    client = connect(api_key=SECRET, base_url="https://api.polygon.io", max_retries=2)
    try:
        assert (client.mode, client.base_url, client.max_retries) == ("real", "https://api.polygon.io", 2)
    finally:
        _close(client)
    client = connect(api_key=SECRET)  # ...and the env URL still overrides the host (legacy host, proxy)
    try:
        assert client.base_url == "http://127.0.0.1:9"
    finally:
        _close(client)


def test_http_mode_from_env_or_argument(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "   ")  # blank counts as unset
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:8765")
    assert describe_mode() == "http"
    with caplog.at_level(logging.WARNING):
        client = connect(api_faults=ApiFaults(error_rate=0.5))
    try:
        assert (client.mode, client.base_url) == ("http", "http://127.0.0.1:8765")
        assert client._http.headers["authorization"] == f"Bearer {OFFLINE_KEY}"
        assert "ignored" in caplog.text
    finally:
        _close(client)
    monkeypatch.delenv(BASE_URL_ENV)
    assert describe_mode(base_url="http://localhost:1") == "http"


def test_in_process_mode_serves_the_sim(small_config: SimConfig) -> None:
    assert describe_mode() == "in_process"
    client = connect(sim_config=small_config)
    assert (client.mode, client.base_url) == ("in_process", IN_PROCESS_BASE_URL)
    assert isinstance(client._http._transport, httpx.ASGITransport)

    async def go() -> list:
        async with client:
            return await client.exchanges()

    assert len(asyncio.run(go())) > 10
    assert sim_market(small_config) is sim_market(small_config.model_copy())  # one market per config
    assert sim_market(small_config) is not sim_market(small_config.model_copy(update={"seed": 12}))


def test_in_process_mode_with_api_faults(small_config: SimConfig) -> None:
    client = connect(sim_config=small_config, api_faults=ApiFaults(error_rate=1.0), max_retries=0)

    async def go() -> None:
        async with client:
            with pytest.raises(PolygonError, match="giving up"):
                await client.exchanges()

    asyncio.run(go())
    assert client.usage["/v3/reference/exchanges"].http_5xx == 1

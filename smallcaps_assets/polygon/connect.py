"""Choose how to reach the vendor (docs/operations.md, "Vendor access"); the client code is the same in all three modes.

1. ``real``: a key is given (argument, else env ``POLYGON_API_KEY``) -> the real API at
   ``https://api.massive.com``, or ``base_url`` (argument, else env ``POLYGON_BASE_URL``);
2. ``http``: no key, but a base URL (argument, else env ``POLYGON_BASE_URL``) -> the offline market
   served by ``smallcaps sim serve`` at that URL, with the placeholder key ``offline``;
3. ``in_process``: neither -> the offline market inside this process through
   ``httpx.ASGITransport`` (no port, no network), at ``http://offline.sim``.

The simulator is imported only in mode 3. One ``SimMarket`` is kept per ``SimConfig`` per process,
because its caches (skeletons, day plans, ticks) are what make repeated requests cheap.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Literal

import httpx

from .client import DEFAULT_BASE_URL, PolygonClient

if TYPE_CHECKING:
    from smallcaps_assets.sim import ApiFaults, SimConfig, SimMarket

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "IN_PROCESS_BASE_URL",
    "OFFLINE_KEY",
    "Mode",
    "connect",
    "describe_mode",
    "sim_market",
]

log = logging.getLogger(__name__)

Mode = Literal["real", "http", "in_process"]
API_KEY_ENV = "POLYGON_API_KEY"
BASE_URL_ENV = "POLYGON_BASE_URL"
IN_PROCESS_BASE_URL = "http://offline.sim"
OFFLINE_KEY = "offline"

_MARKETS: dict[Any, SimMarket] = {}
_MARKETS_LOCK = threading.Lock()


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def _resolve(api_key: str | None, base_url: str | None) -> tuple[Mode, str | None, str | None]:
    """(mode, key, base_url) for the given arguments and the environment."""
    key = (api_key or "").strip() or _env(API_KEY_ENV)
    url = (base_url or "").strip() or _env(BASE_URL_ENV)
    if key:
        return "real", key, url or DEFAULT_BASE_URL
    if url:
        return "http", OFFLINE_KEY, url
    return "in_process", OFFLINE_KEY, IN_PROCESS_BASE_URL


def describe_mode(*, api_key: str | None = None, base_url: str | None = None) -> Mode:
    """The mode ``connect`` would pick for these arguments and the current environment."""
    return _resolve(api_key, base_url)[0]


def sim_market(config: SimConfig | None = None) -> SimMarket:
    """The process-wide ``SimMarket`` of ``config`` (default config when None)."""
    from smallcaps_assets.sim import SimConfig, SimMarket

    config = config or SimConfig()
    with _MARKETS_LOCK:
        market = _MARKETS.get(config)
        if market is None:
            market = _MARKETS[config] = SimMarket(config)
        return market


def connect(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    sim_config: SimConfig | None = None,
    api_faults: ApiFaults | None = None,
    **client_kwargs: Any,
) -> PolygonClient:
    """A ``PolygonClient`` for the mode chosen as in the module docstring.

    ``sim_config`` and ``api_faults`` only apply in process; elsewhere they are ignored with a
    warning (the served simulator has its own configuration). ``client_kwargs`` go to
    ``PolygonClient`` (rate limit, retries, timeouts, ``usage``...). ``client.mode`` tells the mode.
    """
    mode, key, url = _resolve(api_key, base_url)
    assert key is not None and url is not None
    if mode == "in_process":
        from smallcaps_assets.sim.api import create_app

        app = create_app(sim_market(sim_config), faults=api_faults)
        client_kwargs.setdefault("transport", httpx.ASGITransport(app=app))
    elif sim_config is not None or api_faults is not None:
        log.warning("connect(): sim_config/api_faults are ignored in %s mode (base_url=%s)", mode, url)
    client = PolygonClient(url, key, **client_kwargs)
    client.mode = mode
    log.info("polygon client in %s mode at %s", mode, url)
    return client

"""Dagster resources: the vendor connection and the DuckDB catalogue.

The vendor mode (docs/operations.md, "Vendor access, rate limits and concurrency") is decided at
run time from the environment, so no secret ever sits in run config or metadata:
``POLYGON_API_KEY`` → the real API; else ``POLYGON_BASE_URL`` → an HTTP server such as
``smallcaps sim serve``; else the offline market in-process. Every mode runs the same client code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
from pydantic import Field

# The in-process offline market's default pace. ``rate_limit_per_s`` (50/s) shares a vendor account
# between the pool's slots (docs/operations.md); in process there is no account and no network, only
# this process's own CPU answering, so 50/s only made steps sleep: a week's first ticker_details
# asks every tracked ticker (about 360 requests, over 7 s of waiting at 50/s) and minute_bars asks
# each universe symbol (about 85 a day). An explicit ``rate_limit_per_s`` still applies in process.
IN_PROCESS_RATE_LIMIT_PER_S = 1000.0


class PolygonResource(dg.ConfigurableResource):
    """Connection settings for the vendor REST API (keys come from the environment only).

    Only production settings: this is what the code location registers and the Launchpad shows.
    The offline market is chosen by the environment (``SMALLCAPS_SIM_CONFIG``, a JSON SimConfig);
    its fault injector and size knobs are on :class:`SimulatedPolygonResource`, for tests and
    benchmarks."""

    rate_limit_per_s: float = Field(50.0, gt=0, description="process-wide token-bucket rate (requests/s)")
    rate_burst: int = Field(
        10, ge=1, le=1000, description="token-bucket burst (requests sent at once after idling)"
    )
    max_concurrency: int = Field(16, ge=1, le=256, description="in-flight requests per process")
    max_retries: int = Field(6, ge=0, le=20)
    timeout_s: float = Field(30.0, gt=0)

    def sim_config_source(self) -> str | None:
        return os.environ.get("SMALLCAPS_SIM_CONFIG")

    def sim_config(self):
        from .sim.config import SimConfig

        data: dict = {}
        path = self.sim_config_source()
        if path:
            try:
                data = json.loads(Path(path).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise dg.Failure(f"cannot read the offline market config {path}: {exc}") from exc
        return SimConfig.model_validate(data)

    def api_faults(self):
        """The offline API's faults: none."""
        from .sim.config import ApiFaults

        return ApiFaults()

    def request_timeout_s(self) -> float:
        return self.timeout_s

    def connect(self):
        """A new PolygonClient (use as ``async with``); its ``usage`` counts this step's calls.

        In process, an unset ``rate_limit_per_s`` is ``IN_PROCESS_RATE_LIMIT_PER_S``."""
        from .polygon import connect

        kwargs = dict(
            rate_limit_per_s=self.effective_rate_limit_per_s(),
            burst=self.rate_burst,
            max_concurrency=self.max_concurrency,
            max_retries=self.max_retries,
            timeout_s=self.request_timeout_s(),
        )
        if not self.in_process():
            return connect(**kwargs)
        return connect(sim_config=self.sim_config(), api_faults=self.api_faults(), **kwargs)

    def in_process(self) -> bool:
        """Whether ``connect`` serves the offline market in this process (no key, no base URL)."""
        return not (os.environ.get("POLYGON_API_KEY") or os.environ.get("POLYGON_BASE_URL"))

    def effective_rate_limit_per_s(self) -> float:
        """The token bucket's rate: ``rate_limit_per_s`` when set (config or constructor) or when a
        vendor or served simulator answers; in process, unset, ``IN_PROCESS_RATE_LIMIT_PER_S``."""
        if self.in_process() and "rate_limit_per_s" not in self.model_fields_set:
            return IN_PROCESS_RATE_LIMIT_PER_S
        return self.rate_limit_per_s

    def market_source(self) -> str:
        """Which market answers, for keys of cached downloads (the event-window ledger): "" for
        the vendor, else ``sim-`` and a fingerprint of the offline market's config
        (``sim.config.market_fingerprint``), so a market with other faults or another seed is
        downloaded again. In process the config is at hand; behind ``POLYGON_BASE_URL`` the
        server is asked (``served_market_source``): ``smallcaps sim serve`` names its market, the
        vendor does not (a 404), so the vendor's keys stay as they were."""
        from .sim.config import market_fingerprint

        base_url = os.environ.get("POLYGON_BASE_URL")
        if base_url:
            return served_market_source(base_url)
        if os.environ.get("POLYGON_API_KEY"):
            return ""
        return market_fingerprint(self.sim_config())

    def mode(self) -> str:
        from .polygon import describe_mode

        return describe_mode()


def served_market_source(base_url: str, timeout_s: float = 5.0) -> str:
    """The fingerprint a served simulator gives at ``GET <base_url>/sim/market``, or "" when the
    server gives none (the vendor, an older simulator, no answer). No key is sent."""
    import httpx

    from .sim.config import MARKET_PATH

    try:
        response = httpx.get(base_url.rstrip("/") + MARKET_PATH, timeout=timeout_s)
        market = response.json().get("market") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return ""
    return market if isinstance(market, str) and market.startswith("sim-") else ""


class SimulatedPolygonResource(PolygonResource):
    """:class:`PolygonResource` with the offline market's knobs: its size and seed, its config
    file, and the fault injector. Tests and benchmarks construct it; the code location does not
    register it, so none of these fields reaches the Launchpad."""

    sim_seed: int | None = Field(None, description="offline market seed (default: SimConfig's)")
    sim_symbols: int | None = Field(None, description="offline market size (default: SimConfig's)")
    sim_config_path: str | None = Field(
        None, description="JSON SimConfig for the offline market (env SMALLCAPS_SIM_CONFIG also works)"
    )
    fault_error_rate: float = Field(0.0, ge=0, le=1, description="offline API: share of 5xx answers")
    fault_429_rate: float = Field(0.0, ge=0, le=1, description="offline API: share of random 429s")
    fault_timeout_rate: float = Field(0.0, ge=0, le=1, description="offline API: share of hanging requests")
    fault_truncate_rate: float = Field(0.0, ge=0, le=1, description="offline API: share of truncated bodies")
    fault_timeout_seconds: float = Field(2.0, ge=0)
    fault_seed: int = 0

    def sim_config_source(self) -> str | None:
        return self.sim_config_path or super().sim_config_source()

    def sim_config(self):
        config = super().sim_config()
        changes: dict = {}
        if self.sim_seed is not None:
            changes["seed"] = self.sim_seed
        if self.sim_symbols is not None:
            changes["n_symbols"] = self.sim_symbols
        return type(config).model_validate({**config.model_dump(), **changes}) if changes else config

    def api_faults(self):
        from .sim.config import ApiFaults

        return ApiFaults(
            error_rate=self.fault_error_rate,
            too_many_requests_rate=self.fault_429_rate,
            timeout_rate=self.fault_timeout_rate,
            timeout_seconds=self.fault_timeout_seconds,
            truncate_rate=self.fault_truncate_rate,
            seed=self.fault_seed,
        )

    def request_timeout_s(self) -> float:
        # A hanging simulated request should time out well before the injected hang ends.
        if self.fault_timeout_rate > 0:
            return min(self.timeout_s, max(0.5, self.fault_timeout_seconds / 2))
        return self.timeout_s

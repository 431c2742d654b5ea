"""Fixtures of the vendor-client tests: fresh shared rate-limit buckets, fast client settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from smallcaps_assets.polygon import PolygonClient, reset_buckets

SECRET = "sk_test_Zq8v1-never-log-me-42"
BASE = "https://api.test.invalid"

# Settings that keep the tests fast: no real pacing, millisecond backoff.
FAST: dict[str, Any] = {
    "rate_limit_per_s": 10_000.0,
    "burst": 1000,
    "backoff_base_s": 0.001,
    "backoff_cap_s": 0.005,
    "timeout_s": 5.0,
}


@pytest.fixture(autouse=True)
def _fresh_buckets() -> Iterator[None]:
    reset_buckets()
    yield
    reset_buckets()


@pytest.fixture
def make_client() -> Callable[..., PolygonClient]:
    """``make_client(handler, **overrides)``: a client over ``httpx.MockTransport(handler)``."""

    def make(handler: Callable[[httpx.Request], Any], **overrides: Any) -> PolygonClient:
        kwargs = {**FAST, **overrides}
        api_key = kwargs.pop("api_key", SECRET)
        base_url = kwargs.pop("base_url", BASE)
        return PolygonClient(base_url, api_key, transport=httpx.MockTransport(handler), **kwargs)

    return make

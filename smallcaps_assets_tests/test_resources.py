"""The code location's resource config is production config: the simulator's knobs stay out."""

from __future__ import annotations

from smallcaps_assets.definitions import defs
from smallcaps_assets.resources import PolygonResource, SimulatedPolygonResource

SIMULATOR_FIELDS = {"fault_error_rate", "fault_429_rate", "fault_timeout_rate", "fault_truncate_rate"}


def _polygon_fields(job_name: str) -> set[str]:
    """The fields the Launchpad scaffolds under resources.polygon.config for a job."""
    job = defs.resolve_job_def(job_name)
    resources = job.run_config_schema.config_type.fields["resources"].config_type
    return set(resources.fields["polygon"].config_type.fields["config"].config_type.fields)


def test_launchpad_shows_no_simulator_knobs_for_any_job():
    assert type(defs.resources["polygon"]) is PolygonResource
    jobs = ["daily_ingest", "event_pipeline", "daily_graph", "__ASSET_JOB"]
    for name in jobs:
        fields = _polygon_fields(name)
        assert {"rate_limit_per_s", "max_concurrency", "timeout_s"} <= fields, name
        assert not {f for f in fields if f.startswith(("fault_", "sim_"))}, (name, fields)


def test_the_simulated_resource_still_carries_them_for_tests():
    fields = set(SimulatedPolygonResource.model_fields)
    assert SIMULATOR_FIELDS | {"sim_config_path", "sim_seed"} <= fields
    faults = SimulatedPolygonResource(fault_429_rate=0.5, fault_seed=3).api_faults()
    assert faults.too_many_requests_rate == 0.5 and faults.seed == 3
    assert PolygonResource().api_faults().too_many_requests_rate == 0.0


def test_market_source_tells_offline_markets_apart_and_is_empty_for_the_vendor(monkeypatch):
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("POLYGON_BASE_URL", raising=False)
    monkeypatch.delenv("SMALLCAPS_SIM_CONFIG", raising=False)
    seed7, seed8 = SimulatedPolygonResource(sim_seed=7), SimulatedPolygonResource(sim_seed=8)
    assert seed7.market_source().startswith("sim-")
    assert seed7.market_source() == SimulatedPolygonResource(sim_seed=7).market_source()
    assert seed7.market_source() != seed8.market_source()
    monkeypatch.setenv("POLYGON_BASE_URL", "http://127.0.0.1:9")  # nothing listens: no fingerprint
    assert seed7.market_source() == ""
    monkeypatch.delenv("POLYGON_BASE_URL")
    monkeypatch.setenv("POLYGON_API_KEY", "k")  # the vendor: no request, the key as before
    assert seed7.market_source() == ""


def test_a_served_simulator_names_its_market_and_the_ledger_key_follows_it(monkeypatch, tmp_path):
    """``GET /sim/market`` answers the market's fingerprint without a key, past every fault; the
    resource asks for it behind POLYGON_BASE_URL, so the served market keys the event-window
    ledger as the same market in process does. A server without the route (the vendor) gives ""."""
    import datetime as dt

    import httpx
    from starlette.testclient import TestClient

    from smallcaps_assets.sim import SimConfig, SimMarket
    from smallcaps_assets.sim.api import create_app
    from smallcaps_assets.sim.config import ApiFaults

    config = SimConfig(seed=3, n_symbols=20, faults={"crossed_quote_rate": 0.3}, end=dt.date(2024, 6, 28))
    app = create_app(SimMarket(config), api_keys={"k"}, faults=ApiFaults(error_rate=1.0))
    with TestClient(app) as client:
        answer = client.get("/sim/market")
        assert answer.status_code == 200
        assert client.get("/v3/reference/tickers").status_code == 401  # the API itself still wants a key
    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("POLYGON_BASE_URL", raising=False)
    (tmp_path / "sim.json").write_text(config.model_dump_json())
    monkeypatch.setenv("SMALLCAPS_SIM_CONFIG", str(tmp_path / "sim.json"))
    in_process = PolygonResource().market_source()  # the same market, in process
    assert in_process.startswith("sim-")
    assert answer.json() == {"market": in_process}

    def served(url, timeout):  # httpx.get, answered by the app (no socket)
        with TestClient(app) as client:
            return client.get(httpx.URL(url).path)

    monkeypatch.setattr(httpx, "get", served)
    monkeypatch.setenv("POLYGON_BASE_URL", "http://127.0.0.1:8000")
    assert PolygonResource().market_source() == in_process
    monkeypatch.delenv("SMALLCAPS_SIM_CONFIG")  # the client's own config plays no part when served
    assert PolygonResource().market_source() == in_process
    other = SimConfig(seed=3, n_symbols=20, faults={"crossed_quote_rate": 0.0})
    app = create_app(SimMarket(other))
    assert PolygonResource().market_source() not in ("", in_process)
    monkeypatch.setattr(httpx, "get", lambda url, timeout: httpx.Response(404, text="404 page not found"))
    assert PolygonResource().market_source() == ""


def test_the_in_process_market_is_not_paced_like_a_vendor_account_unless_asked(monkeypatch):
    """The 50/s default shares a vendor account; in process an unset rate is the in-process one, in
    the client the step builds too, while an explicit rate (constructor or run config) and every
    remote mode keep theirs."""
    import asyncio

    import dagster as dg

    from smallcaps_assets.resources import IN_PROCESS_RATE_LIMIT_PER_S

    monkeypatch.delenv("POLYGON_API_KEY", raising=False)
    monkeypatch.delenv("POLYGON_BASE_URL", raising=False)
    assert PolygonResource().effective_rate_limit_per_s() == IN_PROCESS_RATE_LIMIT_PER_S > 50.0
    assert PolygonResource(rate_limit_per_s=8.0).effective_rate_limit_per_s() == 8.0
    assert SimulatedPolygonResource(rate_limit_per_s=8.0).effective_rate_limit_per_s() == 8.0
    seen: list[float] = []

    @dg.asset
    def rate(polygon: PolygonResource) -> None:
        async def build() -> float:
            async with polygon.connect() as client:
                return client.rate_limit_per_s

        seen.append(asyncio.run(build()))

    dg.materialize([rate], resources={"polygon": PolygonResource()})
    config = {"resources": {"polygon": {"config": {"rate_limit_per_s": 20.0}}}}
    dg.materialize([rate], resources={"polygon": PolygonResource()}, run_config=config)
    assert seen == [IN_PROCESS_RATE_LIMIT_PER_S, 20.0]
    monkeypatch.setenv("POLYGON_BASE_URL", "http://127.0.0.1:9")  # a served simulator: the account's rate
    assert PolygonResource().effective_rate_limit_per_s() == 50.0
    monkeypatch.delenv("POLYGON_BASE_URL")
    monkeypatch.setenv("POLYGON_API_KEY", "k")
    assert PolygonResource().effective_rate_limit_per_s() == 50.0

"""Serving the simulated vendor API over HTTP: in this process (``run``) or as a child process
(``served_sim``, used by the ingest benchmark and by tests that need a real port).

Several workers: the simulator is CPU-bound (a whole-market grouped-daily day generates every
ticker's trades, ~3 s on the default 600-ticker market), and one Python process serves one
request's generation at a time. ``--workers N`` starts N uvicorn worker processes sharing the
port; each builds its own ``SimMarket`` through the ``app_from_env`` factory, whose configuration
(market, API faults, accepted keys) travels in the environment variable ``SMALLCAPS_SIM_SERVE``
of the server process. Per-process state is per worker: caches, the fault RNG and the per-key
rate limit (so ``--rate-limit R`` with N workers admits up to N x R requests/s).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from .config import ApiFaults, SimConfig
    from .market import SimMarket

SERVE_ENV = "SMALLCAPS_SIM_SERVE"


def _spec(config: SimConfig, faults: ApiFaults | None, api_keys: set[str] | None) -> str:
    return json.dumps(
        {
            "config": json.loads(config.model_dump_json()),
            "faults": json.loads(faults.model_dump_json()) if faults is not None else None,
            "api_keys": sorted(api_keys) if api_keys is not None else None,
        }
    )


def warm(market: SimMarket) -> None:
    """Pay the one-off costs before the port answers: the exchange calendar (~3 s on first use),
    the reference data and every ticker's daily path. Requests then cost only what they ask for,
    with freed memory kept for the next one (``sim/memory.py``)."""
    from .. import calendar as cal
    from .memory import keep_freed_memory

    keep_freed_memory()
    cal.session(market.today)
    for p in market.profiles():
        market.skeleton(p)


def app_from_env() -> Starlette:
    """uvicorn app factory for worker processes: the app described by ``$SMALLCAPS_SIM_SERVE``."""
    from .api import create_app
    from .config import ApiFaults, SimConfig
    from .market import SimMarket

    raw = os.environ.get(SERVE_ENV)
    if not raw:
        raise RuntimeError(f"{SERVE_ENV} is not set: start workers through `smallcaps sim serve --workers N`")
    spec = json.loads(raw)
    faults = ApiFaults.model_validate(spec["faults"]) if spec.get("faults") is not None else None
    keys = set(spec["api_keys"]) if spec.get("api_keys") is not None else None
    market = SimMarket(SimConfig.model_validate(spec["config"]))
    warm(market)
    return create_app(market, api_keys=keys, faults=faults)


def run(
    config: SimConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    faults: ApiFaults | None = None,
    api_keys: set[str] | None = None,
    workers: int = 1,
) -> None:
    """Serve until interrupted (blocking)."""
    import uvicorn

    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers == 1:
        from .api import create_app
        from .market import SimMarket

        market = SimMarket(config)
        warm(market)
        app = create_app(market, api_keys=api_keys, faults=faults)
        uvicorn.run(app, host=host, port=port, log_level="warning")
        return
    os.environ[SERVE_ENV] = _spec(config, faults, api_keys)
    uvicorn.run(
        f"{__name__}:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="warning"
    )


# ------------------------------------------------------------------------------------------ child process


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the usual small race applies)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def smallcaps_command() -> list[str]:
    """How to run the ``smallcaps`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("smallcaps")
    if script.exists():
        return [str(script)]
    found = shutil.which("smallcaps")
    if found:
        return [found]
    return [sys.executable, "-c", "from smallcaps_assets.cli import main; main()"]


@contextlib.contextmanager
def served_sim(
    config: SimConfig,
    *,
    latency_ms: float = 0.0,
    rate_limit: float | None = None,
    rate_burst: int = 1,
    workers: int = 1,
    api_keys: list[str] | None = None,
    port: int | None = None,
    startup_timeout_s: float = 90.0,
) -> Iterator[str]:
    """Run ``smallcaps sim serve`` on 127.0.0.1 as a child process; yields its base URL.

    The market config goes through a temporary ``--config`` JSON file, so both sides simulate the
    same market. The child is stopped (SIGTERM, then SIGKILL of its own process group) on exit.
    """
    import httpx

    port = port or free_port()
    with tempfile.TemporaryDirectory(prefix="smallcaps-sim-") as tmp:
        cfg_path = Path(tmp) / "sim.json"
        cfg_path.write_text(config.model_dump_json())
        log_path = Path(tmp) / "server.log"
        cmd = [
            *smallcaps_command(),
            "sim", "serve",
            "--host", "127.0.0.1",
            "--port", str(port),
            "--config", str(cfg_path),
            "--latency-ms", str(latency_ms),
            "--workers", str(workers),
        ]  # fmt: skip
        if api_keys:
            cmd += ["--api-keys", ",".join(api_keys)]
        if rate_limit is not None:
            cmd += ["--rate-limit", str(rate_limit), "--rate-burst", str(rate_burst)]
        env = {k: v for k, v in os.environ.items() if k not in ("POLYGON_API_KEY", SERVE_ENV)}
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + startup_timeout_s
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"smallcaps sim serve exited with {proc.returncode}: "
                        f"{log_path.read_text(errors='replace')[-2000:]}"
                    )
                try:
                    httpx.get(f"{url}/v1/marketstatus/upcoming", timeout=2.0)
                    break  # any HTTP answer (even 401) means it is listening
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"smallcaps sim serve did not start within {startup_timeout_s}s"
                        ) from None
                    time.sleep(0.1)
            yield url
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # our child's own session
                    proc.wait(timeout=5)

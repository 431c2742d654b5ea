"""``smallcaps bench ui-run``: one partition of the whole graph through the executor the UI uses.

What is measured (one JSON object; nothing here is a unit test):

- ``seconds``: wall-clock seconds of one run of the ``daily_graph`` job (every asset, 14 steps,
  with their gates) for one trading day, launched with ``dg.execute_job`` on a temporary
  persistent instance, so the steps go through the job's executor exactly as a run the UI or the
  schedule launches does (the run launcher's own process start, ~3 s, is not included);
- ``executor``: the code location's executor (``assetkit.executors.LOCATION_EXECUTOR``), or the one
  ``--executor`` names, e.g. ``spawn``: Dagster's default, one new interpreter per step (before);
- ``steps`` and ``step_seconds``: the run's steps and the sum of their own durations, so
  ``executor_overhead_seconds`` = ``seconds - step_seconds`` is roughly what the executor added;
- ``baseline`` (with ``--baseline spawn``): the same figures for the same partition on the same
  prepared lake through another executor, run first, and ``speedup`` = its seconds / ours.

Before the timed run, the lookbacks of that day (45 earlier sessions of roots, 25 of universe and
minute bars, 5 of intraday events) are materialised in process on a temporary lake from a small
offline market (``--symbols``, default 60), which takes a few minutes and is reported as
``prepare_seconds``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from unittest import mock

from . import machine_info

DAY = dt.date(2024, 3, 6)
JOB = "daily_graph"


def daily_graph_job(executor: str):
    """The ``daily_graph`` job with ``executor`` (module level, so that ``execute_job`` can
    rebuild it in a step's process)."""
    from ..definitions import build_defs

    return build_defs(executor).resolve_job_def(JOB)


def bench_ui_run(
    executor: str | None = None,
    symbols: int = 60,
    day: dt.date = DAY,
    seed: int = 7,
    baseline: str | None = None,
) -> dict:
    """The report; with ``baseline`` (e.g. ``spawn``), the same partition is first run through that
    executor on the same prepared lake, for a before/after figure."""
    from ..assetkit.executors import EXECUTORS, LOCATION_EXECUTOR
    from ..sim import SimConfig

    executor = executor or LOCATION_EXECUTOR
    for name in (executor, baseline):
        if name is not None and name not in EXECUTORS:
            raise ValueError(f"unknown executor {name!r}; one of {', '.join(EXECUTORS)}")
    with tempfile.TemporaryDirectory(prefix="smallcaps-ui-run-") as tmp:
        root = Path(tmp)
        sim_path = root / "sim.json"
        config = SimConfig(seed=seed, n_symbols=symbols, start=day - dt.timedelta(days=120), end=day)
        sim_path.write_text(config.model_dump_json())
        (root / "home").mkdir()
        (root / "home" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        # The steps' own processes read the environment too; patch.dict restores it exactly.
        env = {
            "SMALLCAPS_DATA_DIR": str(root / "lake"),
            "SMALLCAPS_SIM_CONFIG": str(sim_path),
            "DAGSTER_HOME": str(root / "home"),
        }
        with mock.patch.dict(os.environ, env):
            prepare_seconds = _prepare(day)
            before = _timed_run(baseline, day, root / "lake") if baseline else None
            report = _timed_run(executor, day, root / "lake")
    return {
        "benchmark": "ui-run",
        "job": JOB,
        "partition": day.isoformat(),
        **report,
        "baseline": before,
        "speedup": round(before["seconds"] / report["seconds"], 2) if before else None,
        "prepare_seconds": round(prepare_seconds, 2),
        "parameters": {"symbols": symbols, "seed": seed, "day": day.isoformat()},
        "machine": machine_info(),
    }


def _timed_run(executor: str, day: dt.date, lake_root: Path) -> dict:
    """One run of the day through ``executor``. The event-window ledger is emptied first, so every
    run downloads the windows (a rerun would otherwise reuse them and look faster)."""
    import shutil

    import dagster as dg

    shutil.rmtree(lake_root / "_state", ignore_errors=True)
    with dg.DagsterInstance.get() as instance:
        job = dg.build_reconstructable_job(__name__, "daily_graph_job", reconstructable_args=(executor,))
        started = time.perf_counter()
        result = dg.execute_job(
            job,
            instance=instance,
            tags={"dagster/partition": day.isoformat()},
            run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
        )
        seconds = time.perf_counter() - started
        stats = instance.get_run_step_stats(result.run_id)
    step_seconds = sum((s.end_time or 0) - (s.start_time or 0) for s in stats)
    return {
        "executor": executor,
        "success": result.success,
        "seconds": round(seconds, 2),
        "steps": len(stats),
        "step_seconds": round(step_seconds, 2),
        "executor_overhead_seconds": round(seconds - step_seconds, 2),
    }


def prepare_plan(defs, day: dt.date) -> dict:
    """{earlier day: asset keys} the day's ``daily_graph`` run reads and an empty lake lacks. The
    monthly models are not in that job, and their walk-forward history would reach back past the
    small market's start (2023 days for a 2024 partition)."""
    from ..asset_names import MODELS
    from ..materialize import missing_upstream

    graph = defs.resolve_asset_graph()
    daily = {k for k in graph.get_all_asset_keys() if k.to_user_string() not in MODELS}
    return missing_upstream(graph, daily, [day])


def _prepare(day: dt.date) -> float:
    """Materialise the partitions the day's lookbacks read (in process), not the day itself."""
    import dagster as dg

    from ..definitions import build_defs
    from ..materialize import materialize_range

    started = time.perf_counter()
    defs = build_defs()
    for plan_day, keys in prepare_plan(defs, day).items():
        selection = " or ".join(
            f"key:{k.to_user_string()}" for k in sorted(keys, key=dg.AssetKey.to_user_string)
        )
        out = materialize_range(selection, plan_day, plan_day, defs=defs, upstream=False)
        if not out.success:
            raise RuntimeError(f"preparing {plan_day} failed: {out.days[0].error}")
    return time.perf_counter() - started


def format_report(report: dict) -> str:
    lines = [f"one partition ({report['partition']}) of {report['job']}:"]
    for run in (report["baseline"], report):
        if run:
            lines.append(
                f"  {run['executor']}: {run['seconds']} s for {run['steps']} steps ({run['step_seconds']} s "
                f"inside the steps, {run['executor_overhead_seconds']} s added), success={run['success']}"
            )
    if report["speedup"]:
        lines.append(f"  speedup: {report['speedup']}x")
    return "\n".join(lines)

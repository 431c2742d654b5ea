"""How a run's steps execute: the code location's executor, and the alternatives the
``smallcaps bench ui-run`` benchmark compares it with.

Dagster's default (multiprocess, ``spawn``) starts a fresh Python for every step, and each one
re-imports Dagster, polars and the code location: 3-4 s per step before any work, so one partition
of the 14-step ``daily_graph`` spent most of its time starting processes. The steps of one trading
day are a chain (reference -> bars -> universe -> minute bars -> events -> manifest -> windows) with
little to run side by side on a 2-core machine, so the code location runs them in the run's own
process (``in_process``). Each run is still its own process (the run launcher), so runs, and the
``polygon_api`` pool across them, are isolated as before; within a run the vendor steps share one
token bucket instead of one each, which can only lower the request rate.
"""

from __future__ import annotations

import dagster as dg

# Each step forks from a server that has already imported the code location: parallel steps
# without the per-step import cost (Linux and macOS only).
FORKSERVER = dg.multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["smallcaps_assets.definitions"]}}},
    name="multiprocess_forkserver",
)

EXECUTORS: dict[str, dg.ExecutorDefinition] = {
    "in_process": dg.in_process_executor,
    "forkserver": FORKSERVER,
    "spawn": dg.multiprocess_executor,  # Dagster's default: a new interpreter per step
}
LOCATION_EXECUTOR = "in_process"

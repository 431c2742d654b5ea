"""The engine: ``detect_intraday`` prepares the day, runs the registry's detectors on chunks of whole
symbols (in worker threads) and finishes their rows into ``EVENT_SCHEMA`` with event ids."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
from pydantic import BaseModel

from .frames import ChunkFrames, DayEnv, UnsortedError, chunk_frame, chunk_ranges, prepare
from .ids import event_ids, h64, h64_many
from .inplay import annotate
from .params import InPlayParams, IntradaySettings
from .registry import REGISTRY, Detector, Registry
from .schema import EVENT_SCHEMA, EVIDENCE_COLUMNS, MINUTE_NS, UTC_NS, empty_events


def _detect_chunk(
    frames: ChunkFrames, detectors: list[tuple[Detector, BaseModel]], in_play: InPlayParams
) -> pl.DataFrame | None:
    """Every detector's rows on one chunk, in registry order (the frames are built on first use),
    with their running context and only the symbols in play (``inplay.annotate``)."""
    out = []
    for detector, params in detectors:
        found = detector.run(frames, params)
        if found is not None:
            out.append(found)
    if not out:
        return None
    return annotate(frames, pl.concat(out, how="diagonal_relaxed"), in_play)


def _finish(ev: pl.DataFrame | None, env: DayEnv, event_types: tuple[str, ...]) -> pl.DataFrame:
    """One chunk's detector rows as ``EVENT_SCHEMA`` rows: ``ts`` (the bar's close), the session, the
    id and the unused evidence columns (null), sorted by (symbol, ts, event_type)."""
    if ev is None or ev.is_empty():
        return empty_events()
    missing = [pl.lit(None).alias(col) for col in EVIDENCE_COLUMNS if col not in ev.columns]
    if missing:
        ev = ev.with_columns(missing)
    r0, r1 = env.r0, env.r1
    ev = ev.with_columns(
        ts=pl.col("t") + MINUTE_NS,
        session=pl.when(pl.col("m") < r0)
        .then(pl.lit("PM"))
        .when(pl.col("m") < r1)
        .then(pl.lit("RTH"))
        .otherwise(pl.lit("AH")),
    ).sort("sid", "ts", "event_type")
    # Hash each symbol and type once; combine with the timestamp vectorised.
    used = np.unique(ev["sid"].to_numpy())
    sym_h = np.zeros(len(env.symbols), dtype=np.uint64)
    sym_h[used] = h64_many(env.symbols.gather(used).to_list())
    type_h = {t: h64(t) for t in event_types}
    ids = event_ids(
        sym_h[ev["sid"].to_numpy()],
        ev["ts"].to_numpy(),
        np.array([type_h[t] for t in event_types], dtype=np.uint64)[
            ev["event_type"].cast(pl.Enum(event_types)).to_physical().to_numpy()
        ],
    )
    casts: dict[str, pl.Expr | pl.Series] = {}
    for col, dtype in EVENT_SCHEMA.items():
        if col == "event_id":
            casts[col] = ids
        elif col == "symbol":
            casts[col] = env.symbols.gather(ev["sid"])
        elif dtype == UTC_NS:
            casts[col] = pl.col(col).cast(pl.Int64).cast(UTC_NS)
        else:
            casts[col] = pl.col(col).cast(dtype)
    return ev.select(**casts)


def detect_intraday(
    bars: pl.DataFrame,
    context: pl.DataFrame | None = None,
    params: IntradaySettings | None = None,
    *,
    only: tuple[str, ...] | None = None,
    registry: Registry = REGISTRY,
) -> pl.DataFrame:
    """All intraday events of one day's minute bars (many symbols), in ``EVENT_SCHEMA``.

    ``bars``: the ``MinuteBars`` columns (symbol, ts, open, high, low, close, volume, vwap,
    transactions; ``session`` is ignored and re-derived from the calendar) of a single trading day,
    any order, no duplicate (symbol, ts). ``context``: one row per symbol from ``make_context``
    (prior_close; optional vol_baseline / txn_baseline arrays and baseline_days). Symbols missing
    from it get no gap/LULD context and no baseline. ``only`` restricts to some event types (used by
    the benchmark to time detectors alone). ``registry``: the detectors to run (the production
    ``REGISTRY`` unless a test extends it). ``params``: an instance of the registry's
    ``params_model`` (``IntradayParams`` for ``REGISTRY``); default, its defaults.

    Output: one row per event, sorted by (symbol, ts, event_type), unique on those three by
    construction (each detector fires at most once per symbol-bar).
    """
    p = params or registry.params_model()
    if bars.is_empty():
        return empty_events()
    unknown = set(only or ()) - set(registry.event_types)
    if unknown:
        raise ValueError(f"unknown event types {sorted(unknown)}")
    detectors = [(d, dp) for d, dp in registry.params_of(p) if only is None or d.event_type in only]
    try:
        return _detect(bars, context, p, detectors, registry.event_types, force_sort=False)
    except UnsortedError:
        return _detect(bars, context, p, detectors, registry.event_types, force_sort=True)


def _detect(
    bars: pl.DataFrame,
    context: pl.DataFrame | None,
    p: IntradaySettings,
    detectors: list[tuple[Detector, BaseModel]],
    event_types: tuple[str, ...],
    force_sort: bool,
) -> pl.DataFrame:
    bars, env = prepare(bars, context, p.min_baseline_days, force_sort)

    def run(rng: tuple[int, int]) -> pl.DataFrame:
        a, b = rng
        # Chunks hold whole symbols in sid order, so events finished (sorted, with ids) chunk by
        # chunk concatenate in the final order; this keeps the per-event work in the workers.
        frames = ChunkFrames(chunk_frame(bars.slice(a, b - a), env), env)
        return _finish(_detect_chunk(frames, detectors, p.in_play), env, event_types)

    ranges = chunk_ranges(bars["sid"].to_numpy(), p.chunk_rows)
    if p.threads > 1 and len(ranges) > 1:
        with ThreadPoolExecutor(p.threads) as pool:
            parts = list(pool.map(run, ranges))
    else:
        parts = [run(r) for r in ranges]
    parts = [part for part in parts if part.height]
    if not parts:
        return empty_events()
    return pl.concat(parts) if len(parts) > 1 else parts[0]

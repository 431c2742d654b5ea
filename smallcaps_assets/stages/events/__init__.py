"""Event detection: the daily screen, the intraday detectors and the past-only score (pure polars/numpy).

Nothing here knows about Dagster; the assets ``daily_events`` and ``intraday_events`` call these
functions, and a live (streaming) detector can call ``detect_intraday`` on the bars seen so far.
The exact rule of every type, its defaults, sessions, direction, strength and evidence columns are
documented in ``docs/events.md``; the docstrings only summarise.

Where things are
----------------
* ``schema``: the output contract (``EVENT_SCHEMA``, evidence columns, ``UTC_NS``); imports polars only.
* ``params``: every threshold (one model per detector, the shared ``IntradaySettings``,
  ``DailyScreenParams``).
* ``daily_screen``: the daily gates and the calibration report.
* ``context``: time-of-day baselines and the per-symbol context ``detect_intraday`` takes.
* ``inplay``: the in-play filter and the running context (``rvol_so_far``) of every event.
* ``registry``: the detectors, one entry each (type, function, params, sessions, evidence);
  ``EVENT_TYPES`` is its order, ``IntradayParams`` its params model. ``detectors/``: the detector
  functions by family.
* ``engine``: ``detect_intraday`` (day preparation in ``frames``, chunks, threads, event rows into
  ``EVENT_SCHEMA``); ``kernels``: the numpy kernels; ``ids``: event ids; ``score``: the score.

Conventions
-----------
* Minute bars follow the ``MinuteBars`` contract: ``ts`` is the minute's start (UTC). An event's
  ``ts`` is the **close** of the bar that confirms it (bar start + 1 minute), so an event at ``ts``
  uses only bars that started before ``ts``.
* **No look-ahead by construction.** Every quantity at bar *k* is computed from bars <= *k* of the
  same symbol: cumulative sums and maxima, backward windows, forward-filled "last time that ...".
  Re-arm rules look only backwards too ("first occurrence of the day", or "no raw trigger in the
  previous N minutes"), so ``detect_intraday(bars[ts <= t])`` yields exactly the events with
  ``ts <= t + 1 min`` of ``detect_intraday(bars)``.
* The bar price used for VWAP and the LULD reference is the bar's ``vwap`` when present, else the
  typical price (high + low + close) / 3.
* Windows called "bars" count the symbol's bars (rows); windows called "minutes" use timestamps.
* Vectorised over all symbols at once: the day is processed in chunks of whole symbols (a memory
  optimisation that does not change results). Per-row work runs on the chunk's contiguous columns
  as whole-array numpy kernels (cumulative sums and maxima, shifted slices, gathers), which cost a
  fraction of the equivalent polars passes; candidate rows, usually few, are then measured and
  turned into event rows with polars. No Python loop runs per symbol or per bar, and every float
  is computed by the same operations in the same order as the rule states, so results do not
  depend on the engine.
"""

from .context import BASELINE_SCHEMA, PRE_OPEN_MINUTE_OF_DAY, SESSION_MINUTES, baselines, make_context
from .daily_screen import CALIBRATION_GRIDS, DAILY_COLUMNS, DAILY_GATES, calibration, daily_screen
from .detectors.common import event_rows
from .detectors.halts import luld_band
from .engine import detect_intraday
from .frames import ChunkFrames
from .ids import event_id
from .params import (
    ConsolidationBreakParams,
    DailyScreenParams,
    FirstPullbackParams,
    FlushParams,
    FrozenParams,
    GapAndGoParams,
    HaltResumptionParams,
    HodBreakParams,
    InPlayParams,
    IntradaySettings,
    OpeningRangeBreakParams,
    ParabolicExhaustionParams,
    PriceMomentumParams,
    TapeSpeedParams,
    VolumeSpikeParams,
    VwapBreakParams,
)
from .registry import EVENT_TYPES, REGISTRY, Detector, IntradayParams, Registry
from .schema import (
    CONTEXT_SCHEMA,
    EVENT_KEY_COLUMNS,
    EVENT_KEY_SCHEMA,
    EVENT_SCHEMA,
    EVIDENCE_COLUMNS,
    EVIDENCE_SCHEMA,
    MINUTE_NS,
    SESSIONS,
    UTC_NS,
    empty_events,
)
from .score import score

__all__ = [
    "BASELINE_SCHEMA",
    "CALIBRATION_GRIDS",
    "CONTEXT_SCHEMA",
    "DAILY_COLUMNS",
    "DAILY_GATES",
    "EVENT_KEY_COLUMNS",
    "EVENT_KEY_SCHEMA",
    "EVENT_SCHEMA",
    "EVENT_TYPES",
    "EVIDENCE_COLUMNS",
    "EVIDENCE_SCHEMA",
    "MINUTE_NS",
    "PRE_OPEN_MINUTE_OF_DAY",
    "REGISTRY",
    "SESSIONS",
    "SESSION_MINUTES",
    "UTC_NS",
    "ChunkFrames",
    "ConsolidationBreakParams",
    "DailyScreenParams",
    "Detector",
    "FirstPullbackParams",
    "FlushParams",
    "FrozenParams",
    "GapAndGoParams",
    "HaltResumptionParams",
    "HodBreakParams",
    "InPlayParams",
    "IntradayParams",
    "IntradaySettings",
    "OpeningRangeBreakParams",
    "ParabolicExhaustionParams",
    "PriceMomentumParams",
    "Registry",
    "TapeSpeedParams",
    "VolumeSpikeParams",
    "VwapBreakParams",
    "baselines",
    "calibration",
    "daily_screen",
    "detect_intraday",
    "empty_events",
    "event_id",
    "event_rows",
    "luld_band",
    "make_context",
    "score",
]

"""The registry of intraday detectors: the one place that says which detectors exist and what each needs.

A detector is one function ``find(frames, params) -> DataFrame | None``: it reads the chunk's frames
(``ChunkFrames``: ``full``, ``rth``, ``stats``, ``env``) and its own params model, and returns its
events as ``event_rows(...)`` (keys, ``direction``, ``strength`` and evidence columns), or None. Its
entry here names its event type, its params class, the sessions it reads and the evidence columns
it fills.

Everything else follows from the registry: ``EVENT_TYPES`` is its order; ``IntradayParams`` is its
params model (``Registry.params_model``: the shared settings plus one field per detector, named
after its type, holding its params class); the engine runs the entries in that order, skips the
regular-session ones for chunks without regular-session bars, stamps each row with its type and
refuses rows whose columns differ from the entry's. At import the production registry is checked
against the output schema (every evidence column in ``EVIDENCE_SCHEMA``, and every column there
filled by some detector) and the in-play exemptions against its types. docs/events.md, "Adding a
detector", shows an example.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, create_model

from . import params as thresholds
from .detectors.halts import halt_resumption
from .detectors.levels import consolidation_break, hod_break, opening_range_break, vwap_break
from .detectors.momentum import flush, price_momentum
from .detectors.runners import first_pullback, gap_and_go, parabolic_exhaustion
from .detectors.volume import tape_speed, volume_spike
from .frames import ChunkFrames
from .params import InPlayParams, IntradaySettings
from .schema import EVIDENCE_COLUMNS, EVIDENCE_SCHEMA

# The columns of every detector's rows besides its evidence (see ``event_rows``).
ROW_COLUMNS = frozenset({"sid", "t", "m", "direction", "strength"})
PARAMS_MODEL_DOC = """The thresholds of every intraday detector (one field per event type, in registry
order) and the shared settings (``IntradaySettings``).

Nested values may be given as dicts: ``IntradayParams(flush={"min_drop": 0.03})``.
"""


@dataclass(frozen=True)
class Detector:
    """One registry entry.

    ``sessions``: "all" (reads ``frames.full``: pre-market, regular and after-hours bars) or "RTH"
    (reads the regular-session frames; not run on a chunk without regular-session bars). The event
    rows' session comes from the bar's time either way.
    """

    event_type: str
    find: Callable[[ChunkFrames, Any], pl.DataFrame | None]
    params: type[BaseModel]
    evidence: tuple[str, ...]
    sessions: Literal["all", "RTH"] = "all"

    def __post_init__(self) -> None:
        unknown = [c for c in self.evidence if c not in EVIDENCE_SCHEMA]
        if unknown:
            raise ValueError(
                f"detector {self.event_type!r} declares evidence columns {unknown} that EVIDENCE_SCHEMA "
                "(stages/events/schema.py) lacks"
            )
        if len(set(self.evidence)) != len(self.evidence):
            raise ValueError(f"detector {self.event_type!r} declares an evidence column twice")
        if self.sessions not in ("all", "RTH"):
            raise ValueError(f"detector {self.event_type!r}: sessions must be 'all' or 'RTH'")
        if not (isinstance(self.params, type) and issubclass(self.params, BaseModel)):
            raise TypeError(f"detector {self.event_type!r}: params must be a pydantic model class")

    def run(self, frames: ChunkFrames, params: BaseModel) -> pl.DataFrame | None:
        """The detector's rows on one chunk, stamped with its type (None when it found nothing)."""
        if self.sessions == "RTH" and frames.rth.height == 0:
            return None
        found = self.find(frames, params)
        if found is None or found.height == 0:
            return None
        if set(found.columns) != ROW_COLUMNS | set(self.evidence):
            raise RuntimeError(
                f"detector {self.event_type!r} returned columns {sorted(found.columns)}; its registry entry "
                f"declares {sorted(ROW_COLUMNS | set(self.evidence))}"
            )
        return found.with_columns(event_type=pl.lit(self.event_type))


class Registry:
    """An ordered set of detectors with unique event types, none named like a shared setting."""

    def __init__(self, detectors: Iterable[Detector]) -> None:
        self.detectors = tuple(detectors)
        types = [d.event_type for d in self.detectors]
        repeated = sorted({t for t in types if types.count(t) > 1})
        if repeated:
            raise ValueError(f"event types registered more than once: {repeated}")
        # A type named like a setting would silently replace that setting's field in ``params_model``.
        clashing = sorted(set(types) & set(IntradaySettings.model_fields))
        if clashing:
            raise ValueError(f"event types named like an IntradaySettings field: {clashing}")

    def __iter__(self) -> Iterator[Detector]:
        return iter(self.detectors)

    @property
    def event_types(self) -> tuple[str, ...]:
        return tuple(d.event_type for d in self.detectors)

    def extended(self, *detectors: Detector) -> Registry:
        """A new registry: these detectors after this one's (the production registry is unchanged)."""
        return Registry([*self.detectors, *detectors])

    @cached_property
    def params_model(self) -> type[IntradaySettings]:
        """The params model of these detectors, named ``IntradayParams``: the shared settings
        (``IntradaySettings``) plus one field per detector, in registry order, named after its type
        and holding its params class (default: its defaults). Built once per registry, so every
        access returns the same class."""
        fields: dict[str, Any] = {d.event_type: (d.params, d.params()) for d in self.detectors}
        return create_model(
            "IntradayParams",
            __base__=IntradaySettings,
            __module__=__name__,
            __doc__=PARAMS_MODEL_DOC,
            **fields,
        )

    def params_of(self, params: BaseModel) -> list[tuple[Detector, BaseModel]]:
        """Each detector with its params: the field of ``params`` named by its event type."""
        out = []
        for d in self.detectors:
            value = getattr(params, d.event_type, None)
            if not isinstance(value, d.params):
                raise TypeError(
                    f"{type(params).__name__} has no field {d.event_type!r} of type {d.params.__name__}"
                )
            out.append((d, value))
        return out


REGISTRY = Registry(
    [
        Detector(
            "volume_spike",
            volume_spike,
            thresholds.VolumeSpikeParams,
            evidence=("ev_open", "ev_close", "ev_volume", "ev_baseline"),
        ),
        Detector(
            "tape_speed",
            tape_speed,
            thresholds.TapeSpeedParams,
            evidence=("ev_open", "ev_close", "ev_transactions", "ev_txn_baseline", "ev_window_minutes"),
        ),
        Detector(
            "price_momentum",
            price_momentum,
            thresholds.PriceMomentumParams,
            evidence=("ev_ref_price", "ev_close", "ev_vol_unit", "ev_window_minutes"),
        ),
        Detector(
            "vwap_break",
            vwap_break,
            thresholds.VwapBreakParams,
            evidence=("ev_vwap", "ev_close", "ev_level_ts", "ev_depth"),
            sessions="RTH",
        ),
        Detector(
            "opening_range_break",
            opening_range_break,
            thresholds.OpeningRangeBreakParams,
            evidence=(
                "ev_or_high",
                "ev_or_low",
                "ev_or_minutes",
                "ev_level",
                "ev_volume",
                "ev_baseline",
                "ev_close",
            ),
            sessions="RTH",
        ),
        Detector(
            "hod_break",
            hod_break,
            thresholds.HodBreakParams,
            evidence=("ev_level", "ev_level_ts", "ev_high", "ev_close"),
            sessions="RTH",
        ),
        Detector(
            "consolidation_break",
            consolidation_break,
            thresholds.ConsolidationBreakParams,
            evidence=(
                "ev_range_high",
                "ev_range_low",
                "ev_vol_unit",
                "ev_level",
                "ev_window_minutes",
                "ev_volume",
                "ev_baseline",
                "ev_close",
            ),
            sessions="RTH",
        ),
        Detector(
            "flush",
            flush,
            thresholds.FlushParams,
            evidence=("ev_level", "ev_close", "ev_vol_unit", "ev_window_minutes"),
            sessions="RTH",
        ),
        Detector(
            "halt_resumption",
            halt_resumption,
            thresholds.HaltResumptionParams,
            evidence=(
                "ev_halt_start",
                "ev_halt_minutes",
                "ev_move_before_halt",
                "ev_ref_price",
                "ev_bars",
                "ev_band_pct",
                "ev_prior_close",
                "ev_prev_high",
                "ev_prev_low",
                "ev_open",
                "ev_close",
            ),
            sessions="RTH",
        ),
        Detector(
            "gap_and_go",
            gap_and_go,
            thresholds.GapAndGoParams,
            evidence=(
                "ev_pm_high",
                "ev_level",
                "ev_gap_pct",
                "ev_prior_close",
                "ev_open",
                "ev_high",
                "ev_close",
            ),
            sessions="RTH",
        ),
        Detector(
            "first_pullback",
            first_pullback,
            thresholds.FirstPullbackParams,
            evidence=("ev_level", "ev_level_ts", "ev_open", "ev_pullback_low", "ev_prev_high", "ev_close"),
            sessions="RTH",
        ),
        Detector(
            "parabolic_exhaustion",
            parabolic_exhaustion,
            thresholds.ParabolicExhaustionParams,
            evidence=("ev_level", "ev_level_ts", "ev_ref_price", "ev_prev_low", "ev_open", "ev_close"),
            sessions="RTH",
        ),
    ]
)

EVENT_TYPES: tuple[str, ...] = REGISTRY.event_types


# The production params model; pickled instances find their class here (its ``__module__``).
IntradayParams = REGISTRY.params_model


def check_registry(registry: Registry, in_play: InPlayParams | None = None) -> None:
    """Refuse a registry that does not match the output schema or the in-play filter: an evidence
    column no detector fills, or an exemption of ``in_play`` (default: the filter's defaults) naming
    no registered type. (Its params cannot mismatch: ``params_model`` is built from the entries.)"""
    filled = {c for d in registry for c in d.evidence}
    unused = [c for c in EVIDENCE_COLUMNS if c not in filled]
    if unused:
        raise ValueError(f"EVIDENCE_SCHEMA columns no detector fills: {unused}")
    exempt = (in_play or InPlayParams()).exempt
    stray = [t for t in exempt if t not in registry.event_types]
    if stray:
        raise ValueError(f"in_play.exempt names types the registry lacks: {stray}")


check_registry(REGISTRY)

"""Every threshold of the detectors and the daily screen, with the platform's defaults.

One frozen pydantic model per intraday detector, named after its event type, and
``IntradaySettings``, the settings shared by all. ``IntradayParams`` is not declared here: the
registry builds it from its entries (``Registry.params_model``), one field per detector under the
event type's name (``IntradayParams().flush.min_drop``) on top of ``IntradaySettings``, so a new
detector needs no field here. docs/events.md states each rule with these defaults.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class FrozenParams(BaseModel):
    """Base of every params model: immutable, and unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeSpikeParams(FrozenParams):
    ratio: float = Field(5.0, gt=0, description="bar volume >= ratio x time-of-day baseline")
    min_volume: float = Field(5_000, ge=0, description="bar volume at least this (shares)")
    baseline_floor: float = Field(100.0, gt=0, description="baseline floor (shares per minute)")
    # 15 minutes (not 5): a busy name's volume stays high for a while after a spike, and a 5-minute
    # cool-down re-fired on the same burst up to 30 times a day on the simulated market.
    cooldown_minutes: int = Field(15, ge=1, description="no raw spike in the previous N minutes")


class TapeSpeedParams(FrozenParams):
    ratio: float = Field(4.0, gt=0, description="window transactions >= ratio x baseline")
    min_transactions: int = Field(30, ge=0, description="window transactions at least this")
    baseline_floor: float = Field(3.0, gt=0, description="floor of the window's baseline")
    window_minutes: int = Field(3, ge=1, le=5, description="window length (minutes, incl. the bar)")
    cooldown_minutes: int = Field(5, ge=1)


class PriceMomentumParams(FrozenParams):
    window_minutes: int = Field(3, ge=1, le=5, description="move measured over N minutes")
    min_z: float = Field(3.0, gt=0, description="|$ per minute| / vol unit at least this")
    min_move: float = Field(0.02, ge=0, description="|move| / reference at least this")
    vol_unit_bars: int = Field(30, ge=5, le=390, description="bars in the volatility unit")
    vol_unit_floor: float = Field(0.0005, ge=0, description="vol unit at least this x reference price")
    cooldown_minutes: int = Field(5, ge=1, description="per direction")


class VwapBreakParams(FrozenParams):
    hold_minutes: int = Field(15, ge=1, description="minutes since the last close on the new side")
    margin: float = Field(0.0, ge=0, description="close beyond VWAP by more than this fraction")
    min_depth: float = Field(
        0.01, ge=0, description="one of the previous hold bars closed at least this far on the other side"
    )


class OpeningRangeBreakParams(FrozenParams):
    minutes: tuple[int, ...] = Field((5, 15, 30), min_length=1, description="opening-range lengths")
    min_bars: int = Field(2, ge=1, description="bars the range needs")
    valid_minutes: int = Field(120, ge=1, description="breaks count until open + N minutes")
    volume_ratio: float = Field(
        0.0, ge=0, description="break bar volume >= this x the range's volume per minute"
    )


class HodBreakParams(FrozenParams):
    min_age_minutes: int = Field(30, ge=1, description="the broken HOD was set >= N minutes ago")


class ConsolidationBreakParams(FrozenParams):
    minutes: int = Field(20, ge=3, le=120, description="consolidation window (minutes before the bar)")
    min_bars: int = Field(5, ge=2, description="bars the window needs (and the volume reference)")
    tightness: float = Field(
        0.5, gt=0, description="window range <= this x session vol unit x sqrt(window minutes)"
    )
    volume_ratio: float = Field(
        1.5, ge=0, description="bar volume >= this x mean volume of the previous min_bars bars"
    )
    cooldown_minutes: int = Field(15, ge=1)


class FlushParams(FrozenParams):
    window_minutes: int = Field(5, ge=2, le=10, description="high of the last N minutes")
    min_drop: float = Field(0.05, gt=0, description="close below that high by this fraction")
    min_sigmas: float = Field(4.0, ge=0, description="drop at least this many vol units")
    cooldown_minutes: int = Field(10, ge=1)
    # The vol unit is price_momentum's (same defaults), measured from this detector's own settings.
    vol_unit_bars: int = Field(30, ge=5, le=390, description="bars in the volatility unit")
    vol_unit_lag_bars: int = Field(3, ge=1, le=5, description="the vol unit ends N bars before the bar")


class HaltResumptionParams(FrozenParams):
    min_gap_minutes: int = Field(5, ge=2, description="RTH bar-start gap at least N minutes")
    min_reference_bars: int = Field(3, ge=1, le=5, description="bars in the 5-minute reference")
    band_fraction: float = Field(0.8, gt=0, description="move >= this x LULD band")
    luld_tier: int = Field(2, ge=1, le=2, description="LULD tier assumed (small caps are Tier 2)")


class GapAndGoParams(FrozenParams):
    min_gap: float = Field(0.10, gt=0, description="RTH open >= prior close x (1 + min_gap)")
    max_minutes: int = Field(90, ge=1, description="break must come by open + N minutes")


class FirstPullbackParams(FrozenParams):
    min_leg: float = Field(0.05, gt=0, description="HOD >= RTH open x (1 + leg)")
    min_retrace: float = Field(0.25, ge=0, description="pullback >= this share of the leg")
    max_retrace: float = Field(0.80, gt=0, description="pullback <= this share of the leg")
    min_minutes: int = Field(3, ge=1, description="HOD set at least N minutes before")


class ParabolicExhaustionParams(FrozenParams):
    window_bars: int = Field(30, ge=2, description="run measured from the low of N bars")
    min_run: float = Field(0.15, gt=0, description="HOD >= that low x (1 + run)")
    recent_minutes: int = Field(5, ge=1, description="HOD set at most N minutes before")


class InPlayParams(FrozenParams):
    """The in-play filter: an event is kept only when its symbol is already "in play" at the event's
    bar, measured from the day's bars up to and including that bar (docs/events.md, "In play").

    In play = dollar volume so far >= ``min_dollar_volume`` and (``rvol_so_far`` >= ``min_rvol`` or
    |close / prior close - 1| >= ``min_change``). Types in ``exempt`` are kept regardless: they carry
    their own catalyst test (a 10% gap, a trading pause).
    """

    enabled: bool = Field(True, description="False keeps every event the rules find")
    min_dollar_volume: float = Field(500_000.0, ge=0, description="sum of bar price x volume so far ($)")
    min_rvol: float = Field(4.0, gt=0, description="volume so far >= this x the baseline so far")
    min_change: float = Field(0.20, ge=0, description="|close / prior close - 1| at least this")
    baseline_floor: float = Field(
        100.0, ge=0, description="the baseline so far is at least this x minutes since 04:00 (shares)"
    )
    exempt: tuple[str, ...] = Field(("gap_and_go", "halt_resumption"), description="types never filtered")


class IntradaySettings(FrozenParams):
    """The settings shared by every intraday detector: the base of ``IntradayParams``, which the
    registry builds on it with one field per detector (``Registry.params_model``)."""

    # context: volume_spike and tape_speed use a symbol's baselines only with this much history
    min_baseline_days: int = Field(5, ge=1, description="days of history a baseline needs to be used")
    # engine (does not change results)
    chunk_rows: int = Field(1_000_000, ge=1_000, description="rows per chunk of whole symbols")
    threads: int = Field(2, ge=1, le=64, description="chunks processed concurrently")
    # the in-play filter applied to every detector's rows
    in_play: InPlayParams = InPlayParams()


class DailyScreenParams(FrozenParams):
    """Thresholds of the daily screen (docs/events.md, "Daily screen")."""

    gap_min: float = Field(0.10, description="open >= prior close x (1 + gap_min)")
    rvol_min: float = Field(3.0, gt=0, description="volume >= rvol_min x average volume of prior days")
    dollar_volume_min: float = Field(2.0e6, ge=0, description="close x volume at least this ($)")
    volume_lookback: int = Field(20, ge=1, description="prior sessions in the average volume")
    min_history: int = Field(5, ge=1, description="prior sessions needed for any average")
    atr_lookback: int = Field(14, ge=1, description="prior sessions in the ATR")
    atr_move_min: float = Field(2.0, gt=0, description="|close - prior close| >= this x ATR")
    range_lookback: int = Field(20, ge=1, description="prior sessions in the average range")
    range_ratio_min: float = Field(3.0, gt=0, description="high - low >= this x average range")
    flush_drop_min: float = Field(0.10, gt=0, description="close <= prior close x (1 - this)")
    flush_fade_min: float = Field(0.15, gt=0, description="close <= high x (1 - this)")

"""Configuration of the simulated market: one pydantic model, validated on construction.

Every knob has a default that reproduces the stylised facts documented in ``docs/simulated_market.md``.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SETUP_SHAPES: tuple[str, ...] = (
    "gap_and_go",
    "fade",
    "opening_range_break",
    "vwap_reclaim",
    "vwap_reject",
    "first_pullback",
    "parabolic_flush",
    "consolidation_break",
    "hod_break",
    "gap_down",
)


def _last_completed_session() -> dt.date:
    from .. import calendar as cal

    today = dt.datetime.now(dt.UTC).astimezone(cal.NY).date()
    return cal.previous_trading_day(today) or today


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EdgeConfig(_Strict):
    """Validity switch for ML tests: a latent order-flow signal ``z`` per catalyst day (see ``sim/edge.py``).

    ``planted``: on catalyst days whose shape is in ``setups``, the move after the setup's trigger
    continues in the setup's direction with probability ``sigmoid(a + signal_strength * z)``, ``a``
    chosen so the average rate is ``continuation_prob``; other shapes continue with probability 0.5.
    ``z`` shows only before the trigger: the ask share of the prints in the ``flow_minutes`` minutes
    before it leans by ``direction * flow_tilt * (z + flow_noise * noise)`` (toward buyers before a
    long setup, sellers before a short one). ``null``: the same ``z`` and the same flow before the
    trigger, but every shape continues with probability 0.5 whatever ``z``.

    ``paths`` says how a catalyst day's price moves. ``shapes`` (the default market): the shape's
    drawn path, pre-market run, trigger, continuation or failure, LULD lurches; a momentum trader's
    market, where the path itself gives direction in both modes. ``martingale`` (the validity
    markets): the same catalyst days, gaps, news, volumes and flow, but the price after the news is
    a Brownian motion scaled by the day's move, so nothing observable predicts its direction;
    in planted mode the concerned setups alone add their shape's first leg after the trigger (up
    if the planted outcome continues, down if it fails). A null market on martingale paths has no
    edge anywhere on its catalyst days; that is the market a model or a backtest must find nothing in.
    """

    mode: Literal["planted", "null"] = "planted"
    paths: Literal["shapes", "martingale"] = "shapes"
    setups: tuple[str, ...] = ("gap_and_go", "opening_range_break", "consolidation_break")
    continuation_prob: float = Field(0.65, gt=0.0, lt=1.0, description="mean continuation rate of the setups")
    signal_strength: float = Field(1.0, ge=0.0, le=6.0, description="logistic slope of P(continue) in z")
    flow_tilt: float = Field(0.25, ge=0.0, le=0.4, description="ask-share shift per unit of z")
    flow_noise: float = Field(0.3, ge=0.0, le=5.0, description="per-minute noise of the flow, in z units")
    flow_minutes: int = Field(10, ge=1, le=60, description="minutes before the trigger that show the flow")

    @model_validator(mode="after")
    def _known_setups(self) -> EdgeConfig:
        unknown = sorted(set(self.setups) - set(SETUP_SHAPES))
        if unknown:
            raise ValueError(f"unknown setups {unknown}; known: {list(SETUP_SHAPES)}")
        return self

    def base_prob(self, shape: str) -> float:
        """The shape's mean continuation rate in planted mode; it fixes the daily path in both modes."""
        return self.continuation_prob if shape in self.setups else 0.5

    def strength_for(self, shape: str) -> float:
        """The logistic slope of the shape's continuation in ``z`` (0: ``z`` says nothing)."""
        return self.signal_strength if shape in self.setups else 0.0


class DataFaults(_Strict):
    """Data faults, all off by default. Rates are per symbol-day, except bad ticks (per trade) and
    crossed quotes (per quote)."""

    bad_tick_rate: float = Field(0.0, ge=0.0, le=0.05, description="share of trades printed at a wrong price")
    duplicate_bar_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of symbol-days with a repeated bar"
    )
    missing_day_rate: float = Field(
        0.0, ge=0.0, le=1.0, description="share of symbol-days with no data at all"
    )
    crossed_quote_rate: float = Field(
        0.0, ge=0.0, le=0.5, description="extra share of quotes (per quote) with bid > ask"
    )


class SimConfig(_Strict):
    """Everything that defines one simulated market. Same config -> byte-identical market."""

    seed: int = Field(7, ge=0, description="master seed")
    n_symbols: int = Field(600, ge=10, le=20_000, description="tickers ever listed in the span")
    start: dt.date = Field(dt.date(2022, 10, 3), description="first session simulated")
    end: dt.date = Field(
        default_factory=lambda: _last_completed_session(),
        description="last session simulated, the market's 'today' (default: the last completed session)",
    )
    catalyst_rate: float = Field(
        0.012, ge=0.0, le=0.2, description="probability a small-cap symbol-day is a catalyst day"
    )
    large_cap_share: float = Field(
        0.30, ge=0.0, le=0.9, description="share of common stocks drawn from the >= $2B tail"
    )
    delist_rate: float = Field(
        0.16,
        ge=0.0,
        le=0.5,
        description="share of tickers scheduled to delist within 8 years of listing/start",
    )
    ipo_rate: float = Field(
        0.20, ge=0.0, le=0.5, description="share of tickers whose listing falls in the 8 years after start"
    )
    reverse_split_rate: float = Field(
        0.5, ge=0.0, le=1.0, description="probability a sub-$1 name reverse-splits after 30 sessions below $1"
    )
    forward_split_rate: float = Field(
        0.02, ge=0.0, le=1.0, description="yearly forward-split rate of >$100 names"
    )
    offering_rate: float = Field(0.6, ge=0.0, le=5.0, description="dilutive offerings per small cap per year")
    max_trades_per_minute: int = Field(
        3000,
        ge=5,
        le=20_000,
        description="cap on prints per minute (where it binds, that minute's lots grow)",
    )
    edge: EdgeConfig = EdgeConfig()
    faults: DataFaults = DataFaults()

    @model_validator(mode="after")
    def _span(self) -> SimConfig:
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class ApiFaults(_Strict):
    """Faults of the simulated REST API, all off by default.

    Decisions are drawn from a private RNG seeded with ``seed``, so a serial client sees the same
    fault sequence on every run.
    """

    latency_ms: float = Field(0.0, ge=0.0, le=60_000.0, description="mean added latency per request")
    latency_jitter_ms: float = Field(0.0, ge=0.0, le=60_000.0, description="sd of the added latency")
    rate_limit: float | None = Field(
        None, gt=0.0, description="requests per second per key; excess gets 429 with Retry-After"
    )
    rate_burst: int = Field(1, ge=1, description="token-bucket burst for the rate limit")
    error_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of requests answered 500/502/503/504")
    too_many_requests_rate: float = Field(0.0, ge=0.0, le=1.0, description="share answered 429 at random")
    timeout_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of requests that hang")
    timeout_seconds: float = Field(30.0, ge=0.0, description="how long a hanging request hangs")
    truncate_rate: float = Field(0.0, ge=0.0, le=1.0, description="share of 200 bodies cut short")
    seed: int = 0


# The served simulator answers ``GET /sim/market`` with ``{"market": market_fingerprint(config)}``
# (no key needed), so a client downloading through ``sim serve`` can key its caches by the market
# as it does in process (``PolygonResource.market_source``).
MARKET_PATH = "/sim/market"


def market_fingerprint(config: SimConfig) -> str:
    """``sim-`` and 12 hex characters of the config's hash: equal for equal markets, whether served
    or in process. ``end`` is left out: it only says how far the market runs, and its default moves
    with the clock."""
    import hashlib
    import json

    data = config.model_dump(mode="json", exclude={"end"})
    return "sim-" + hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]

"""The event quality checklist, evaluated over a trailing window of partitions (pure).

Defaults come from the old system's checklist. Which rules block is a judgement documented in
docs/events.md: rules that only a broken detector or broken data can violate are ERROR; rules a
real market regime can legitimately bend (a meme day, a quiet tape) are WARN.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from .. import calendar as cal
from ..gates import Gate, GateResult


class Checklist(BaseModel):
    """The window rules' thresholds, each set against what a healthy market produces (the default
    market over 60 sessions, planted and null; docs/events.md, "Quality checklist")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_sessions: int = Field(60, ge=5, description="trailing partitions evaluated, today included")
    # A window of a few days or a few dozen events says nothing about rates: the rules report their
    # figures but pass until the window holds enough of both.
    min_events: int = Field(
        200, ge=0, description="the rules are judged once the window holds this many events"
    )
    min_days: int = Field(20, ge=1, description="... and this many days")
    max_type_share: float = Field(0.60, gt=0, le=1, description="no event type above this share")
    min_rth_share: float = Field(0.50, ge=0, le=1)
    max_rth_share: float = Field(0.995, ge=0, le=1)
    max_symbol_share: float = Field(0.15, gt=0, le=1, description="no symbol above this share")
    min_median_per_symbol: float = Field(1.0, ge=0, description="median events per active symbol")
    # A healthy market reaches about 4.3x (the default market's 2023-12-28, six names in play, in the
    # windows of March 2024); a broken filter or baseline gives a day tens of times the mean.
    max_day_ratio: float = Field(8.0, gt=1, description="no day above this x the window's mean per day")


MIN_DAILY_EVENT_RATE = 0.0005
MAX_DAILY_EVENT_RATE = 0.10
DEFAULTS = Checklist()

DAILY_EVENT_RATE = Gate(
    "daily_event_rate",
    f"Share of symbol-days with an event stays within {MIN_DAILY_EVENT_RATE:.2%}-{MAX_DAILY_EVENT_RATE:.0%}.",
    "warn",
)
_JUDGED = " (judged once the window holds {p.min_events} events over {p.min_days} days)"
TYPE_BALANCE = Gate(
    "events_type_balance",
    "No event type above {p.max_type_share:.0%} of the trailing {p.window_sessions} sessions' events"
    + _JUDGED
    + ".",
    params=DEFAULTS,
)
SESSION_MIX = Gate(
    "events_session_mix",
    "Regular-hours share of events between {p.min_rth_share:.0%} and {p.max_rth_share:.1%}" + _JUDGED + ".",
    "warn",
    DEFAULTS,
)
SYMBOL_CONCENTRATION = Gate(
    "events_symbol_concentration",
    "No symbol above {p.max_symbol_share:.0%} of the window's events" + _JUDGED + ".",
    "warn",
    DEFAULTS,
)
PER_SYMBOL = Gate(
    "events_per_symbol", "Median events per active symbol >= {p.min_median_per_symbol:g}.", "warn", DEFAULTS
)
DAY_SHARE = Gate(
    "events_day_share",
    "No single day above {p.max_day_ratio:g}x the window's mean events per day" + _JUDGED + ".",
    params=DEFAULTS,
)
IN_UNIVERSE = Gate("events_in_universe", "Every event's symbol is in that day's universe.")
IN_SESSION = Gate(
    "events_in_session",
    "Every timestamp lies inside its extended session: after 04:00 ET, at most the end of after-hours.",
)
CHECKLIST_GATES = (TYPE_BALANCE, SESSION_MIX, SYMBOL_CONCENTRATION, PER_SYMBOL, DAY_SHARE)
INTRADAY_GATES = (*CHECKLIST_GATES, IN_UNIVERSE, IN_SESSION)
# Blocking rules of the checklist; the others are WARN.
ERROR_RULES = frozenset(g.name for g in CHECKLIST_GATES if g.blocking)


def daily_event_rate(events: int, symbol_days: int) -> GateResult:
    """The daily screen's hit rate: events per symbol-day of the partition."""
    rate = events / max(1, symbol_days)
    return DAILY_EVENT_RATE.judge(
        MIN_DAILY_EVENT_RATE <= rate <= MAX_DAILY_EVENT_RATE, {"rate": round(rate, 5)}
    )


def checklist(window: pl.DataFrame, params: Checklist | None = None) -> list[GateResult]:
    """``window``: intraday events of the trailing partitions (columns date, symbol, event_type,
    session). Returns one GateResult per rule, with its figures; ``judged`` says whether the window
    was large enough (``min_events``, ``min_days``) for the rule to fail."""
    p = params or DEFAULTS
    n = window.height
    if n == 0:
        return [g.judge(True, {"events": 0, "judged": False}, p) for g in CHECKLIST_GATES]
    types = window.group_by("event_type").len().sort("len", "event_type", descending=[True, False])
    top_type_share = types["len"][0] / n
    rth_share = float((window["session"] == "RTH").mean())
    per_symbol = window.group_by("symbol").len().sort("len", "symbol", descending=[True, False])
    symbol_share = per_symbol["len"][0] / n
    median_per_symbol = float(per_symbol["len"].median())
    days = window.group_by("date").len().sort("len", "date", descending=[True, False])
    day_ratio = days["len"][0] / (n / days.height)
    judged = n >= p.min_events and days.height >= p.min_days
    return [
        TYPE_BALANCE.judge(
            not judged or top_type_share <= p.max_type_share,
            {
                "top_type": types["event_type"][0],
                "top_type_share": round(top_type_share, 4),
                "events": n,
                "judged": judged,
            },
            p,
        ),
        SESSION_MIX.judge(
            not judged or p.min_rth_share <= rth_share <= p.max_rth_share,
            {"rth_share": round(rth_share, 4), "judged": judged},
            p,
        ),
        SYMBOL_CONCENTRATION.judge(
            not judged or symbol_share <= p.max_symbol_share,
            {
                "top_symbol": per_symbol["symbol"][0],
                "top_symbol_share": round(symbol_share, 4),
                "active_symbols": per_symbol.height,
                "judged": judged,
            },
            p,
        ),
        PER_SYMBOL.judge(
            median_per_symbol >= p.min_median_per_symbol, {"median_per_symbol": median_per_symbol}, p
        ),
        DAY_SHARE.judge(
            not judged or day_ratio <= p.max_day_ratio,
            {
                "top_day": str(days["date"][0]),
                "top_day_ratio": round(day_ratio, 3),
                "mean_per_day": round(n / days.height, 2),
                "days": days.height,
                "judged": judged,
            },
            p,
        ),
    ]


def partition_rules(events: pl.DataFrame, universe_symbols: set[str], day: dt.date) -> list[GateResult]:
    """Per-partition rules: every event's symbol was in the day's universe; every timestamp lies
    inside the extended session (an event's ts is a bar close, so 04:00 < ts <= close of AH)."""
    sess = cal.session(day)
    ts = pl.col("ts").dt.epoch("ns")
    inside = (ts > sess.ns("pre_open")) & (ts <= sess.ns("post_close"))
    return [
        IN_UNIVERSE.rows(events, pl.col("symbol").is_in(sorted(universe_symbols))),
        IN_SESSION.rows(events, inside),
    ]

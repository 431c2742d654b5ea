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
from ..gates import GateResult, evaluate, frame_rule, row_rule


class Checklist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_sessions: int = Field(60, ge=5, description="trailing partitions evaluated, today included")
    max_type_share: float = Field(0.60, gt=0, le=1, description="no event type above this share")
    min_rth_share: float = Field(0.50, ge=0, le=1)
    max_rth_share: float = Field(0.95, ge=0, le=1)
    max_top20_share: float = Field(0.40, gt=0, le=1, description="top-20 symbols below this share")
    min_median_per_symbol: float = Field(1.0, ge=0, description="median events per active symbol")
    max_day_share: float = Field(0.05, gt=0, le=1, description="no single day above this share")
    min_days_for_day_share: int = Field(20, ge=1, description="the day rule needs this many days")


# Blocking rules; the others are WARN.
ERROR_RULES = frozenset({"events_type_balance", "events_day_share"})


def checklist(window: pl.DataFrame, params: Checklist | None = None) -> list[GateResult]:
    """``window``: intraday events of the trailing partitions (columns date, symbol, event_type,
    session). Returns one GateResult per rule, with its figures."""
    p = params or Checklist()
    n = window.height
    if n == 0:
        empty = {"events": 0}
        return [
            evaluate(frame_rule(name, lambda f: True, "no events in the window"), window, empty)
            for name in (
                "events_type_balance",
                "events_session_mix",
                "events_symbol_concentration",
                "events_per_symbol",
                "events_day_share",
            )
        ]
    types = window.group_by("event_type").len().sort("len", descending=True)
    top_type_share = types["len"][0] / n
    rth_share = float((window["session"] == "RTH").mean())
    per_symbol = window.group_by("symbol").len().sort("len", descending=True)
    top20_share = per_symbol["len"].head(20).sum() / n
    median_per_symbol = float(per_symbol["len"].median())
    days = window.group_by("date").len().sort("len", descending=True)
    day_share = days["len"][0] / n
    enough_days = days.height >= p.min_days_for_day_share
    return [
        evaluate(
            frame_rule(
                "events_type_balance",
                lambda f: top_type_share <= p.max_type_share,
                f"no type above {p.max_type_share:.0%} of events",
            ),
            window,
            {"top_type": types["event_type"][0], "top_type_share": round(top_type_share, 4), "events": n},
        ),
        evaluate(
            frame_rule(
                "events_session_mix",
                lambda f: p.min_rth_share <= rth_share <= p.max_rth_share,
                f"regular-hours share in [{p.min_rth_share:.0%}, {p.max_rth_share:.0%}]",
            ),
            window,
            {"rth_share": round(rth_share, 4)},
        ),
        evaluate(
            frame_rule(
                "events_symbol_concentration",
                lambda f: top20_share < p.max_top20_share,
                f"top-20 symbols below {p.max_top20_share:.0%} of events",
            ),
            window,
            {"top20_share": round(top20_share, 4), "active_symbols": per_symbol.height},
        ),
        evaluate(
            frame_rule(
                "events_per_symbol",
                lambda f: median_per_symbol >= p.min_median_per_symbol,
                f"median events per active symbol >= {p.min_median_per_symbol}",
            ),
            window,
            {"median_per_symbol": median_per_symbol},
        ),
        evaluate(
            frame_rule(
                "events_day_share",
                lambda f: (not enough_days) or day_share <= p.max_day_share,
                f"no day above {p.max_day_share:.0%} of the window (needs {p.min_days_for_day_share} days)",
            ),
            window,
            {"top_day": str(days["date"][0]), "top_day_share": round(day_share, 4), "days": days.height},
        ),
    ]


def partition_rules(events: pl.DataFrame, universe_symbols: set[str], day: dt.date) -> list[GateResult]:
    """Per-partition rules: every event's symbol was in the day's universe; every timestamp lies
    inside the extended session (an event's ts is a bar close, so 04:00 < ts <= close of AH)."""
    sess = cal.session(day)
    ts = pl.col("ts").dt.epoch("ns")
    inside = (ts > sess.ns("pre_open")) & (ts <= sess.ns("post_close"))
    return [
        evaluate(
            row_rule(
                "events_in_universe",
                pl.col("symbol").is_in(sorted(universe_symbols)),
                "every event's symbol is in the day's universe",
            ),
            events,
        ),
        evaluate(row_rule("events_in_session", inside, "04:00 ET < ts <= end of after-hours"), events),
    ]

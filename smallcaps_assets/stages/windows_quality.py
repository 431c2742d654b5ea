"""The GO/NO-GO gates of event_trades and event_quotes (pure): every manifest event has an
outcome, every tick lies in its window, keys are unique, and crossed quotes stay rare."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import polars as pl

from ..gates import Gate, GateResult

MAX_CROSSED_SHARE = 0.01
SAMPLE_IDS = 20  # event ids (or days) named in a figure

WINDOWS_COVERAGE = Gate(
    "windows_coverage", "Every manifest event has a recorded outcome: data or no trades in window."
)
TRADES_IN_WINDOW = Gate("trades_in_window", "Every trade's SIP time lies inside its event's window.")
TRADES_UNIQUE_SEQUENCE = Gate("trades_unique_sequence", "No duplicate (event_id, sequence_number).")
QUOTES_IN_WINDOW = Gate("quotes_in_window", "Every quote's SIP time lies inside its event's window.")
QUOTES_ONE_PER_SECOND = Gate("quotes_one_per_second", "At most one quote per (event_id, second).")
QUOTES_BID_LE_ASK = Gate("quotes_bid_le_ask", "bid <= ask on every quote not flagged crossed.")
QUOTES_CROSSED_SHARE = Gate(
    "quotes_crossed_share", "Share of crossed quotes at most {p:.2%}.", "warn", MAX_CROSSED_SHARE
)
TRADE_GATES = (WINDOWS_COVERAGE, TRADES_IN_WINDOW, TRADES_UNIQUE_SEQUENCE)
QUOTE_GATES = (QUOTES_IN_WINDOW, QUOTES_ONE_PER_SECOND, QUOTES_BID_LE_ASK, QUOTES_CROSSED_SHARE)

WITHIN = (
    pl.col("window_start").is_not_null()
    & (pl.col("sip_timestamp") >= pl.col("window_start"))
    & (pl.col("sip_timestamp") < pl.col("window_end"))
)
# A one-sided quote (a zero price) or one flagged crossed may have bid > ask.
BID_LE_ASK = (
    (pl.col("bid_price") <= pl.col("ask_price"))
    | pl.col("crossed")
    | (pl.col("bid_price") == 0)
    | (pl.col("ask_price") == 0)
)


def crossed_locked_counts(quotes: pl.DataFrame) -> dict[str, int | float]:
    """How many 1 Hz quotes are crossed (bid > ask) and locked (bid == ask), and their shares."""
    n = quotes.height
    crossed, locked = int(quotes["crossed"].sum()), int(quotes["locked"].sum())
    return {
        "crossed_quotes": crossed,
        "locked_quotes": locked,
        "crossed_share": round(crossed / n, 5) if n else 0.0,
        "locked_share": round(locked / n, 5) if n else 0.0,
    }


def windows_gates(
    manifest: pl.DataFrame,
    outcomes: pl.DataFrame,
    trades: pl.DataFrame,
    quotes: pl.DataFrame,
    max_crossed_share: float = MAX_CROSSED_SHARE,
) -> tuple[list[GateResult], list[GateResult]]:
    """One day's results: (event_trades gates, event_quotes gates)."""
    bounds = manifest.select("event_id", "window_start", "window_end")
    missing = sorted(set(manifest["event_id"]) - set(outcomes["event_id"]))

    def inside(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(bounds, on="event_id", how="left")

    dup_seq = trades.select("event_id", "sequence_number").is_duplicated()
    dup_sec = quotes.select("event_id", "second").is_duplicated()
    counts = crossed_locked_counts(quotes)
    trade_gates = [
        WINDOWS_COVERAGE.judge(
            not missing,
            {
                "manifest_events": manifest.height,
                "with_outcome": outcomes.height,
                "missing": len(missing),
                "missing_sample": ", ".join(missing[:SAMPLE_IDS]) or "none",
            },
        ),
        TRADES_IN_WINDOW.rows(inside(trades), WITHIN),
        TRADES_UNIQUE_SEQUENCE.judge(not dup_seq.any(), {"duplicates": int(dup_seq.sum())}),
    ]
    quote_gates = [
        QUOTES_IN_WINDOW.rows(inside(quotes), WITHIN),
        QUOTES_ONE_PER_SECOND.judge(not dup_sec.any(), {"duplicates": int(dup_sec.sum())}),
        QUOTES_BID_LE_ASK.rows(quotes, BID_LE_ASK),
        QUOTES_CROSSED_SHARE.judge(
            counts["crossed_share"] <= max_crossed_share,
            counts,
            max_crossed_share,
        ),
    ]
    return trade_gates, quote_gates


def combine_days(per_day: list[list[GateResult]], days: list[dt.date]) -> list[GateResult]:
    """One result per gate over a run's days: passed only if every day passed, with the first
    failing day's sample and figures; a single day's results are returned unchanged."""
    if len(per_day) == 1:
        return per_day[0]
    out = []
    for same in zip(*per_day, strict=True):
        failed = [str(d) for d, g in zip(days, same, strict=True) if not g.passed]
        first_bad = next((g for g in same if not g.passed), same[0])
        out.append(
            replace(
                same[0],
                passed=not failed,
                failures=sum(g.failures for g in same),
                sample=first_bad.sample,
                figures={
                    "days": len(days),
                    "failed_days": ", ".join(failed[:SAMPLE_IDS]) or "none",
                    **first_bad.figures,
                },
            )
        )
    return out

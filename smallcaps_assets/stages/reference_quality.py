"""Gates of the reference assets: ticker_reference, corporate_actions, ticker_details (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..gates import Gate, GateResult

MIN_LISTED = 10
# The vendor's delisted history starts around 2000: before it an empty delisted list is expected,
# not a survivorship leak.
DELISTED_HISTORY_FROM = dt.date(2000, 1, 1)
MAX_SPLIT_RATIO = 200
MIN_SHARES_KNOWN = 0.9

REFERENCE_NOT_EMPTY = Gate("reference_not_empty", f"At least {MIN_LISTED} listed tickers on the date.")
REFERENCE_INCLUDES_DELISTED = Gate(
    "reference_includes_delisted", "Delisted tickers are kept (no survivorship bias).", "warn"
)
SPLIT_RATIOS_PLAUSIBLE = Gate(
    "split_ratios_plausible", f"Split ratios between 1:{MAX_SPLIT_RATIO} and {MAX_SPLIT_RATIO}:1.", "warn"
)
SHARES_MOSTLY_KNOWN = Gate(
    "shares_mostly_known",
    f"At least {MIN_SHARES_KNOWN:.0%} of tracked tickers have shares outstanding.",
    "warn",
)

TICKER_REFERENCE_GATES = (REFERENCE_NOT_EMPTY, REFERENCE_INCLUDES_DELISTED)
CORPORATE_ACTIONS_GATES = (SPLIT_RATIOS_PLAUSIBLE,)
TICKER_DETAILS_GATES = (SHARES_MOSTLY_KNOWN,)

# Old shares per new share: > 1 is a reverse split; null on dividends.
SPLIT_RATIO = pl.col("split_from") / pl.col("split_to")


def reference_gates(reference: pl.DataFrame, day: dt.date) -> list[GateResult]:
    listed = int(reference["active"].sum())
    delisted = reference.height - listed
    return [
        REFERENCE_NOT_EMPTY.judge(listed >= MIN_LISTED, {"listed": listed}),
        REFERENCE_INCLUDES_DELISTED.judge(
            delisted > 0 or day < DELISTED_HISTORY_FROM, {"delisted": delisted}
        ),
    ]


def corporate_actions_gates(actions: pl.DataFrame) -> list[GateResult]:
    plausible = SPLIT_RATIO.is_null() | SPLIT_RATIO.is_between(1 / MAX_SPLIT_RATIO, MAX_SPLIT_RATIO)
    return [SPLIT_RATIOS_PLAUSIBLE.rows(actions, plausible)]


def ticker_details_gates(details: pl.DataFrame, tracked: int) -> list[GateResult]:
    """``tracked``: how many tickers of the tracked types were listed on the day."""
    known = details["weighted_shares_outstanding"].is_not_null().sum() / max(1, tracked)
    return [SHARES_MOSTLY_KNOWN.judge(known >= MIN_SHARES_KNOWN, {"known_share": round(float(known), 4)})]

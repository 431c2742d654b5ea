"""Gates of ssr_status: one row per universe symbol, triggers inside the regular session after the
first bar that could trigger, and every active interval runs forward (pure)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar as cal
from ..gates import Gate, GateResult
from .ssr import BAR, PRICE_TOLERANCE

ONE_ROW_PER_SYMBOL = Gate(
    "ssr_one_row_per_symbol", "Exactly one row for every symbol of the day's universe, and no other."
)
TRIGGER_IN_SESSION = Gate(
    "ssr_trigger_in_session",
    "Every triggered_at lies between the close of the first regular-hours bar (09:31 ET) and the "
    "regular close, and the triggering low is at or under the trigger price.",
)
ACTIVE_INTERVAL = Gate(
    "ssr_active_interval",
    "Every active interval has active_until after active_from; a symbol is active exactly when it "
    "triggered or was carried over.",
)
SSR_GATES = (ONE_ROW_PER_SYMBOL, TRIGGER_IN_SESSION, ACTIVE_INTERVAL)


def ssr_gates(status: pl.DataFrame, universe_symbols: set[str], day: dt.date) -> list[GateResult]:
    symbols = status["symbol"]
    missing = sorted(universe_symbols - set(symbols))
    extra = sorted(set(symbols) - universe_symbols)
    duplicates = symbols.len() - symbols.n_unique()
    sess = cal.session(day)
    first_close, close = sess.market_open + BAR, sess.market_close
    trigger = pl.col("triggered_at")
    active = pl.col("triggered_at").is_not_null() | pl.col("carried_over")
    return [
        ONE_ROW_PER_SYMBOL.judge(
            not missing and not extra and duplicates == 0,
            {
                "missing": len(missing),
                "extra": len(extra),
                "duplicates": duplicates,
                "sample": missing[:5] + extra[:5],
            },
        ),
        TRIGGER_IN_SESSION.rows(
            status,
            trigger.is_null()
            | (
                (trigger >= first_close)
                & (trigger <= close)
                & (pl.col("trigger_low") <= pl.col("trigger_price") * (1 + PRICE_TOLERANCE))
            ),
        ),
        ACTIVE_INTERVAL.rows(
            status,
            pl.when(active)
            .then(
                pl.col("active_from").is_not_null()
                & pl.col("active_until").is_not_null()
                & (pl.col("active_until") > pl.col("active_from"))
            )
            .otherwise(pl.col("active_from").is_null() & pl.col("active_until").is_null()),
        ),
    ]

"""Baselines run beside the model (docs/backtests.md#baselines): the rule taken on every manifest
event is ``strategies.manifest_signals``; here are the random entries matched to the model's and
the equal-weight universe held over the span."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ... import calendar as cal
from .costs import CostParams, order_costs
from .strategies import SIGNAL_SCHEMA


def random_signals(matched: pl.DataFrame, bars: pl.DataFrame, day: dt.date, seed: int) -> pl.DataFrame:
    """One entry per row of ``matched`` (the model's signals of the day) at the same instant, on a
    symbol drawn from the day's symbols with a bar by then and a side drawn at random. Seeded by
    ``seed`` and the day, so a rerun draws the same entries."""
    if matched.is_empty():
        return pl.DataFrame(schema=SIGNAL_SCHEMA)
    rng = np.random.default_rng([seed, day.toordinal()])
    first_bar = bars.group_by("symbol").agg(pl.col("ts").min()).sort("ts", "symbol")
    syms = first_bar["symbol"].to_numpy()
    opened = first_bar["ts"].dt.epoch("ns").to_numpy()
    m = matched.sort("ts", "event_id")
    ts = m["ts"].dt.epoch("ns").to_numpy()
    # The symbols that had traded by each instant are a prefix of ``syms`` (ordered by first bar).
    n_open = np.searchsorted(opened, ts, side="right")
    n_open = np.where(n_open > 0, n_open, len(syms))
    pick = np.floor(rng.random(len(ts)) * n_open).astype(np.int64)
    side = rng.choice([-1, 1], len(ts))
    prefix = f"random-{day:%Y%m%d}-"  # formatted once: a date format per row costs more
    rows = pl.DataFrame(
        {
            "event_id": [f"{prefix}{i:05d}" for i in range(len(ts))],
            "symbol": syms[pick],
            "ts": m["ts"],
            "side": side.astype(np.int64),
            "event_type": "random",
            "session": m["session"],
            "prob": None,
        }
    )
    return rows.select(pl.col(c).cast(t) for c, t in SIGNAL_SCHEMA.items())


def universe_closes(days: list[dt.date], bars_of) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the first day's first regular-hours open per symbol, each day's last regular-hours close
    per symbol). ``bars_of(day)`` gives a day's minute bars."""
    opens, closes = None, []
    for day in days:
        rth = bars_of(day).filter(pl.col("session") == "RTH").sort("symbol", "ts")
        if opens is None:
            opens = rth.group_by("symbol").agg(pl.col("open").first(), ts=pl.col("ts").first())
        closes.append(
            rth.group_by("symbol")
            .agg(pl.col("close").last(), ts=pl.col("ts").last())
            .with_columns(day=pl.lit(day))
        )
    return opens, pl.concat(closes)


def universe_equal_weight(
    days: list[dt.date], opens: pl.DataFrame, closes: pl.DataFrame, equity: float, cp: CostParams
) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    """Every symbol with a regular-hours open on the first day bought with an equal share of
    ``equity`` at that open and sold at its last regular-hours close of the span (or of its last
    day with bars), through vectorbt. Returns (one trade row per symbol, each day's end value from
    vectorbt, the same from our own arithmetic)."""
    import vectorbt as vbt  # heavy: only when a backtest runs

    syms = opens["symbol"].sort().to_list()
    if not syms:
        return pl.DataFrame(), np.full(len(days), equity), np.full(len(days), equity)
    wide = (
        closes.filter(pl.col("symbol").is_in(syms))
        .pivot(on="symbol", index="day", values="close")
        .sort("day")
    )
    wide = pl.DataFrame({"day": days}).join(wide, on="day", how="left").fill_null(strategy="forward")
    o = opens.sort("symbol")["open"].to_numpy()
    px = np.vstack([o, wide.select(syms).to_numpy().astype(float)])
    px = np.where(np.isnan(px), o[None, :], px)  # a symbol with no close yet: its entry price
    # A symbol without bars on a later day keeps its last close (forward fill): it is sold at that
    # price on the last day.
    last_row = np.full(len(syms), len(days))
    # 0.5% of the account stays in cash for the costs, so no order is ever short of cash.
    shares = np.floor(equity * 0.995 / len(syms) / o)
    exit_px = px[last_row, np.arange(len(syms))]
    first, last = days[0], days[-1]
    buy = order_costs(first, shares, o, np.zeros(len(syms), bool), cp)
    sell = order_costs(last, shares, exit_px, np.ones(len(syms), bool), cp)
    buy_cost, sell_cost = sum(buy.values()), sum(sell.values())
    keep = shares >= 1
    size = np.full(px.shape, np.nan)
    fees = np.zeros(px.shape)
    size[0, keep] = shares[keep]
    fees[0, keep] = buy_cost[keep]
    size[last_row[keep], np.flatnonzero(keep)] = -shares[keep]
    fees[last_row[keep], np.flatnonzero(keep)] = sell_cost[keep]
    # Each symbol is a column with exactly the cash its orders need; the rest of the account is
    # idle cash. (Grouping the columns under one shared cash account costs a numba compilation.)
    col_cash = np.where(keep, shares * o + buy_cost + sell_cost, 0.0) + 1.0
    idle = equity - float(col_cash.sum())
    if idle < 0:
        raise ValueError(f"universe_ew: the orders need {col_cash.sum():.2f} of {equity:.2f} cash")
    pf = vbt.Portfolio.from_orders(
        px,
        size,
        size_type="amount",
        price=px,
        fixed_fees=fees,
        init_cash=col_cash,
        allow_partial=False,
        raise_reject=True,
        engine="rust",
    )
    vbt_value = np.asarray(pf.value(engine="rust")).sum(axis=1)[1:] + idle
    gross = shares * (exit_px - o)
    ours = equity + np.array(
        [
            float(
                np.sum(
                    np.where(
                        keep,
                        shares * (px[i + 1] - o) - buy_cost - (sell_cost if i == len(days) - 1 else 0),
                        0,
                    )
                )
            )
            for i in range(len(days))
        ]
    )
    sess = cal.session(last)
    trades = pl.DataFrame(
        {
            "event_id": [f"universe-{s}" for s in syms],
            "symbol": syms,
            "ts": opens.sort("symbol")["ts"],
            "side": np.ones(len(syms), np.int64),
            "event_type": "universe",
            "session": "RTH",
            "entry_ts": opens.sort("symbol")["ts"],
            "entry_price": o,
            "entry_source": "bar",
            "shares": shares,
            "exit_ts": [sess.market_close] * len(syms) if sess else None,
            "exit_price": exit_px,
            "exit_reason": "span_end",
            **{k: buy[k] + sell[k] for k in buy},
            "locate_fee": 0.0,
            "borrow_fee": 0.0,
            "entry_costs": buy_cost,
            "exit_costs": sell_cost,
            "costs": buy_cost + sell_cost,
            "gross_pnl": gross,
            "net_pnl": gross - (buy_cost + sell_cost),
            "notional": shares * o,
        }
    ).filter(pl.Series(keep))
    return trades, vbt_value, ours

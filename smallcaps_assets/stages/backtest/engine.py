"""Sizing, costs and the vectorbt accounting of one strategy's trades (docs/backtests.md#engine).

Our own code decides everything that market structure decides (``fills``) and prices every cost
(``costs``); vectorbt does the book-keeping: ``Portfolio.from_orders`` with explicit sizes, our fill
prices and each order's costs as its ``fixed_fees`` (vectorbt has no per-share fee), on its Rust
engine (``engine="rust"``: no multi-second numba compilation in a fresh process).

Layout. Each trade is a vectorbt column of two rows, its entry and its exit, with its own cash:
trades overlap (on one symbol too) and a column holds one position, while the account's cash is
ours (the sizing below). One call books every trade of a strategy over the span; its P&L per
trade must equal ours (a blocking gate). Every position is flat at the session's end, so the
daily returns are the day's net P&L over the day's starting equity, exactly.

Sizing, in fill order: ``position_value`` per trade, or less when the free cash (the day's starting
equity minus the open positions' entry value) is short, and never more than ``participation`` of
the fill minute's volume; below ``min_value`` the trade is refused (``size``). Cash from a position
comes back at its exit; the day's P&L is reinvested from the next day.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math

import numpy as np
import polars as pl
from pydantic import Field

from ..events.params import FrozenParams
from .costs import CostParams, order_costs, short_costs
from .fills import FillParams

COST_COLUMNS = ("commission", "taker_fee", "sec_fee", "taf", "locate_fee", "borrow_fee")


class EngineParams(FrozenParams):
    init_cash: float = Field(100_000.0, gt=0, description="starting equity")
    position_value: float = Field(10_000.0, gt=0, description="target value per trade")
    min_value: float = Field(1_000.0, ge=0, description="smaller trades are refused")


def size_day(fills: pl.DataFrame, equity: float, fp: FillParams, p: EngineParams) -> pl.DataFrame:
    """``shares`` of the day's filled signals (0 and ``refused = "size"`` when too small)."""
    ok = fills.filter(pl.col("refused").is_null()).sort("entry_ts", "event_id")
    # Python lists, not numpy arrays: the loop is sequential (each size depends on the cash the
    # earlier ones left), and Python floats are several times faster than numpy scalars here.
    entry_ns = ok["entry_ts"].dt.epoch("ns").to_list()
    exit_ns = ok["exit_ts"].dt.epoch("ns").to_list()
    price = ok["entry_price"].to_list()
    cap = (fp.participation * ok["fill_volume"]).to_list()
    shares = [0.0] * ok.height
    free, open_pos = equity, []
    target, min_value = p.position_value, p.min_value
    for i in range(ok.height):
        while open_pos and open_pos[0][0] <= entry_ns[i]:
            free += heapq.heappop(open_pos)[1]
        n = float(math.floor(min(min(target, free) / price[i], cap[i])))
        if n >= 1 and n * price[i] >= min_value:
            shares[i] = n
            free -= n * price[i]
            heapq.heappush(open_pos, (exit_ns[i], n * price[i]))
    shares = pl.Series(shares, dtype=pl.Float64)
    sized = ok.with_columns(
        shares=shares,
        refused=pl.when(shares > 0).then(None).otherwise(pl.lit("size")),
    )
    return pl.concat([sized, fills.filter(pl.col("refused").is_not_null())], how="diagonal_relaxed")


def price_trades(day: dt.date, sized: pl.DataFrame, cp: CostParams) -> pl.DataFrame:
    """Trades (sized, not refused) with every cost column, ``entry_costs``/``exit_costs``,
    ``costs``, ``gross_pnl`` and ``net_pnl`` (= gross - costs, by construction and gated)."""
    t = sized.filter(pl.col("refused").is_null())
    sh, side = t["shares"].to_numpy(), t["side"].to_numpy()
    ep, xp = t["entry_price"].to_numpy(), t["exit_price"].to_numpy()
    entry = order_costs(day, sh, ep, side < 0, cp)
    exit_ = order_costs(day, sh, xp, side > 0, cp)
    held = (t["exit_ts"].dt.epoch("ns").to_numpy() - t["entry_ts"].dt.epoch("ns").to_numpy()) / 1e9
    short = short_costs(sh, ep, held, cp)
    is_short = side < 0
    cols = {k: entry[k] + exit_[k] for k in entry}
    cols["locate_fee"] = np.where(is_short, short["locate_fee"], 0.0)
    cols["borrow_fee"] = np.where(is_short, short["borrow_fee"], 0.0)
    entry_costs = sum(entry.values()) + cols["locate_fee"]
    exit_costs = sum(exit_.values()) + cols["borrow_fee"]
    gross = side * sh * (xp - ep)
    return t.with_columns(
        **{k: pl.Series(v) for k, v in cols.items()},
        entry_costs=pl.Series(entry_costs),
        exit_costs=pl.Series(exit_costs),
        costs=pl.Series(entry_costs + exit_costs),
        gross_pnl=pl.Series(gross),
        net_pnl=pl.Series(gross - (entry_costs + exit_costs)),
        notional=pl.Series(sh * ep),
    )


def vectorbt_trade_pnl(trades: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each trade's net P&L as vectorbt books it, and the orders vectorbt filled for it (2: entry
    and exit). Raises if vectorbt rejects an order (our sizing never should)."""
    if trades.is_empty():
        return np.zeros(0), np.zeros(0, np.int64)
    import vectorbt as vbt  # heavy: only when a backtest runs

    side, sh = trades["side"].to_numpy(), trades["shares"].to_numpy()
    entry, exit_ = trades["entry_price"].to_numpy(), trades["exit_price"].to_numpy()
    entry_costs, exit_costs = trades["entry_costs"].to_numpy(), trades["exit_costs"].to_numpy()
    px = np.vstack([entry, exit_])
    # Each column's own cash covers its entry and every cost, so no order is ever short of cash.
    init = sh * entry + entry_costs + exit_costs + np.abs(sh * (exit_ - entry)) + 1.0
    pf = vbt.Portfolio.from_orders(
        px,
        np.vstack([side * sh, -side * sh]),
        size_type="amount",
        direction="both",
        price=px,
        fixed_fees=np.vstack([entry_costs, exit_costs]),
        init_cash=init,
        allow_partial=False,
        raise_reject=True,
        engine="rust",
    )
    return np.asarray(pf.final_value(engine="rust"), float) - init, np.asarray(pf.orders.count(), np.int64)

"""Sizing, costs and the vectorbt accounting of one strategy's trades (docs/backtests.md#engine).

Our own code decides everything that market structure decides (``fills``) and prices every cost
(``costs``); vectorbt does the book-keeping: ``Portfolio.from_orders`` with explicit sizes, our fill
prices and each order's costs as its ``fixed_fees`` (vectorbt has no per-share fee), on its Rust
engine (``engine="rust"``: no multi-second numba compilation in a fresh process).

Layout. Trades may overlap, on one symbol too, so each trade gets a *slot* (a vectorbt column)
whose trades never overlap; the rows are the day's orders in time order (an exit before an entry
at the same instant), and the slots share one cash account. A slot's price between its orders is
its last fill, so only the end-of-day value, when every position is flat, is marked to market:
the daily returns the metrics read are exact.

Sizing, in fill order: ``position_value`` per trade, or less when the free cash (the day's starting
equity minus the open positions' entry value) is short, and never more than ``participation`` of
the fill minute's volume; below ``min_value`` the trade is refused (``size``). Cash from a position
comes back at its exit; the day's P&L is reinvested from the next day.
"""

from __future__ import annotations

import datetime as dt
import heapq

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
    entry_ns = ok["entry_ts"].dt.epoch("ns").to_numpy()
    exit_ns = ok["exit_ts"].dt.epoch("ns").to_numpy()
    price = ok["entry_price"].to_numpy()
    cap = fp.participation * ok["fill_volume"].to_numpy()
    shares = np.zeros(ok.height)
    free, open_pos = equity, []
    for i in range(ok.height):
        while open_pos and open_pos[0][0] <= entry_ns[i]:
            free += heapq.heappop(open_pos)[1]
        n = np.floor(min(min(p.position_value, free) / price[i], cap[i]))
        if n >= 1 and n * price[i] >= p.min_value:
            shares[i] = n
            free -= n * price[i]
            heapq.heappush(open_pos, (exit_ns[i], n * price[i]))
    sized = ok.with_columns(
        shares=pl.Series(shares),
        refused=pl.when(pl.Series(shares) > 0).then(None).otherwise(pl.lit("size")),
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


def assign_slots(entry_ns: np.ndarray, exit_ns: np.ndarray) -> np.ndarray:
    """A column per trade such that trades of one column never overlap (greedy, fewest columns)."""
    order = np.lexsort((exit_ns, entry_ns))
    slots = np.zeros(len(entry_ns), np.int64)
    busy: list[tuple[int, int]] = []  # (exit, slot)
    free: list[int] = []
    n_slots = 0
    for i in order:
        while busy and busy[0][0] <= entry_ns[i]:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            s = heapq.heappop(free)
        else:
            s, n_slots = n_slots, n_slots + 1
        slots[i] = s
        heapq.heappush(busy, (int(exit_ns[i]), s))
    return slots


def vectorbt_day_value(trades: pl.DataFrame, equity: float) -> tuple[float, int]:
    """The end-of-day value vectorbt books for the day's trades from ``equity`` in cash, and its
    number of filled orders. Raises if vectorbt rejects an order (the sizing never should)."""
    if trades.is_empty():
        return equity, 0
    import vectorbt as vbt  # heavy: only when a backtest runs

    entry_ns = trades["entry_ts"].dt.epoch("ns").to_numpy()
    exit_ns = trades["exit_ts"].dt.epoch("ns").to_numpy()
    slot = assign_slots(entry_ns, exit_ns)
    n = trades.height
    side, sh = trades["side"].to_numpy(), trades["shares"].to_numpy()
    t = np.concatenate([entry_ns, exit_ns])
    kind = np.concatenate([np.ones(n), np.zeros(n)])  # exits first at equal instants
    order = np.lexsort((kind, t))
    col = np.concatenate([slot, slot])[order]
    size = np.concatenate([side * sh, -side * sh])[order]
    price = np.concatenate([trades["entry_price"].to_numpy(), trades["exit_price"].to_numpy()])[order]
    fees = np.concatenate([trades["entry_costs"].to_numpy(), trades["exit_costs"].to_numpy()])[order]
    rows, cols = 2 * n, int(slot.max()) + 1
    size_m = np.full((rows, cols), np.nan)
    fee_m = np.zeros((rows, cols))
    px = np.full((rows, cols), np.nan)
    r = np.arange(rows)
    size_m[r, col], fee_m[r, col], px[r, col] = size, fees, price
    px = _ffill_bfill(px)
    pf = vbt.Portfolio.from_orders(
        px,
        size_m,
        size_type="amount",
        direction="both",
        price=px,
        fixed_fees=fee_m,
        init_cash=equity,
        cash_sharing=True,
        group_by=True,
        raise_reject=True,
        engine="rust",
    )
    return float(np.asarray(pf.value())[-1]), int(pf.orders.count())


def _ffill_bfill(a: np.ndarray) -> np.ndarray:
    rows = np.arange(a.shape[0])[:, None]
    idx = np.where(np.isnan(a), 0, rows)
    np.maximum.accumulate(idx, axis=0, out=idx)
    out = a[idx, np.arange(a.shape[1])]
    first = np.nanmax(a, axis=0)  # a slot's value before its first order is irrelevant: any price
    return np.where(np.isnan(out), first[None, :], out)

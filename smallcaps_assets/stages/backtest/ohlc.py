"""A documented entry point for any OHLC frame: long entry/exit signals, next-open fills and a
relative or per-share commission, through the same vectorbt engine as the event backtests. Check
the engine on a textbook strategy before trusting it on events (docs/backtests.md#ohlc).

    from smallcaps_assets.stages.backtest.ohlc import backtest_ohlc
    fast, slow = close.rolling_mean(10), close.rolling_mean(30)
    result = backtest_ohlc(frame, entries=fast > slow, exits=fast < slow, per_share=0.005)

Rules: a signal on bar i (known at its close) fills at bar i + 1's open, never at bar i's close;
an entry while long and an exit while flat do nothing; a position still open at the end is valued
at the last close. The whole cash is invested at each entry (whole shares). The commission is
``relative`` x value, or ``per_share`` x shares with ``min_per_order``, per order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl


@dataclass(frozen=True)
class OhlcResult:
    equity: np.ndarray  # value at each bar's close
    trades: pl.DataFrame  # entry_bar, entry_price, exit_bar, exit_price, shares, fees, pnl
    returns: np.ndarray  # per bar, from the equity


def _orders(entries: np.ndarray, exits: np.ndarray) -> list[tuple[int, int]]:
    """(bar of the fill, +1 buy / -1 sell): signals at i fill at i + 1, alternating."""
    out, long = [], False
    for i in range(len(entries) - 1):
        if not long and entries[i]:
            out.append((i + 1, 1))
            long = True
        elif long and exits[i]:
            out.append((i + 1, -1))
            long = False
    return out


def backtest_ohlc(
    frame: pl.DataFrame,
    entries,
    exits,
    init_cash: float = 100_000.0,
    relative: float = 0.0,
    per_share: float = 0.0,
    min_per_order: float = 0.0,
) -> OhlcResult:
    """``frame``: open and close columns (any bar length); ``entries``/``exits``: booleans per bar."""
    import vectorbt as vbt  # heavy: only when called

    if not {"open", "close"} <= set(frame.columns):
        raise ValueError(f"backtest_ohlc needs open and close columns, got {frame.columns}")
    o, c = frame["open"].to_numpy().astype(float), frame["close"].to_numpy().astype(float)
    en = np.asarray(pl.Series(entries).fill_null(False).to_numpy(), bool)
    ex = np.asarray(pl.Series(exits).fill_null(False).to_numpy(), bool)
    if not (len(en) == len(ex) == len(o)):
        raise ValueError("entries, exits and the frame must have the same length")
    size = np.full(len(o), np.nan)
    fees = np.zeros(len(o))
    cash, shares, rows = init_cash, 0.0, []
    for bar, sign in _orders(en, ex):
        if sign > 0:
            # Whole shares that the cash buys after the commission of the order itself.
            n = np.floor(cash / (o[bar] * (1 + relative) + per_share))
            while n > 0 and n * o[bar] + _fee(n, o[bar], relative, per_share, min_per_order) > cash:
                n -= 1
            if n <= 0:
                continue
            shares = n
            size[bar] = n
        else:
            size[bar] = -shares
        fees[bar] = _fee(shares, o[bar], relative, per_share, min_per_order)
        cash += -sign * shares * o[bar] - fees[bar]
        rows.append((bar, sign, shares, o[bar], fees[bar]))
        if sign < 0:
            shares = 0.0
    pf = vbt.Portfolio.from_orders(
        c, size, size_type="amount", price=o, fixed_fees=fees, init_cash=init_cash, engine="rust"
    )
    equity = np.asarray(pf.value(engine="rust"), float)
    trades = []
    for k in range(0, len(rows) - 1, 2):
        (b0, _, n, p0, f0), (b1, _, _, p1, f1) = rows[k], rows[k + 1]
        trades.append((b0, p0, b1, p1, n, f0 + f1, n * (p1 - p0) - f0 - f1))
    schema = ["entry_bar", "entry_price", "exit_bar", "exit_price", "shares", "fees", "pnl"]
    return OhlcResult(
        equity,
        pl.DataFrame(trades, schema=schema, orient="row"),
        np.diff(np.r_[init_cash, equity]) / np.r_[init_cash, equity[:-1]],
    )


def _fee(n: float, price: float, relative: float, per_share: float, min_per_order: float) -> float:
    fee = relative * n * price + per_share * n
    return max(fee, min_per_order) if n > 0 and (relative or per_share) else fee

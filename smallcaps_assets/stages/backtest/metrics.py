"""Backtest metrics in one module (docs/backtests.md#metrics).

Portfolio metrics read **daily returns** (one per trading day of the span, 0 on a flat day), with
quantstats' conventions so the figures equal ``quantstats.stats`` on the same series (tested to
1e-9 relative): 252 periods a year, no risk-free rate.

- Sharpe: mean / std (ddof 1) x sqrt(252);
- Sortino: mean / sqrt(sum of squared negative returns / N over all days) x sqrt(252);
- CAGR: (prod(1 + r)) ^ (252 / N) - 1;
- max drawdown: the worst fall of the compounded equity from its running peak, the peak counting
  a starting value of 1 (a first-day loss is a drawdown);
- Calmar: CAGR / |max drawdown|;
- probabilistic Sharpe ratio (Bailey and Lopez de Prado, 2012): the probability that the true
  (per-day) Sharpe exceeds 0 given the sample's length, skewness and kurtosis.

Per-trade metrics read net P&L in dollars: win rate, profit factor (winners' sum / losers' |sum|),
expectancy (mean net P&L), turnover (traded value, entries and exits, over the mean equity),
cost share (costs over the sum of |gross P&L|), cost in basis points of traded value.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

PERIODS = 252
PRICE_TIERS = ((0.0, "<1"), (1.0, "1-5"), (5.0, "5-10"), (10.0, "10-20"), (20.0, ">=20"))


def sharpe(r: np.ndarray) -> float:
    r = np.asarray(r, float)
    sd = r.std(ddof=1) if r.size > 1 else np.nan
    return float(r.mean() / sd * math.sqrt(PERIODS)) if sd and np.isfinite(sd) else float("nan")


def sortino(r: np.ndarray) -> float:
    r = np.asarray(r, float)
    down = math.sqrt(float((r[r < 0] ** 2).sum()) / r.size) if r.size else 0.0
    return float(r.mean() / down * math.sqrt(PERIODS)) if down else float("nan")


def cagr(r: np.ndarray) -> float:
    r = np.asarray(r, float)
    wealth = float(np.prod(1.0 + r))
    return float(wealth ** (PERIODS / r.size) - 1.0) if r.size and wealth >= 0 else float("nan")


def drawdown(r: np.ndarray) -> np.ndarray:
    """The drawdown of each day's compounded equity from its running peak (the start counts as 1)."""
    eq = np.concatenate([[1.0], np.cumprod(1.0 + np.asarray(r, float))])
    return (eq / np.maximum.accumulate(eq) - 1.0)[1:]


def max_drawdown(r: np.ndarray) -> float:
    return float(min(0.0, drawdown(r).min())) if len(r) else 0.0


def calmar(r: np.ndarray) -> float:
    dd = max_drawdown(r)
    return cagr(r) / abs(dd) if dd else float("nan")


def probabilistic_sharpe(r: np.ndarray, benchmark: float = 0.0) -> float:
    """P(true per-day Sharpe > ``benchmark``): Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR +
    (g4 - 1) / 4 SR^2)), SR the per-day sample Sharpe, g3 skewness, g4 kurtosis (not excess)."""
    r = np.asarray(r, float)
    n = r.size
    sd = r.std(ddof=1) if n > 2 else 0.0
    if not sd:
        return float("nan")
    sr = r.mean() / sd
    z = (r - r.mean()) / r.std(ddof=0)
    g3, g4 = float((z**3).mean()), float((z**4).mean())
    denom = 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr**2
    if denom <= 0:
        return float("nan")
    x = (sr - benchmark) * math.sqrt(n - 1) / math.sqrt(denom)
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def portfolio_metrics(r: np.ndarray) -> dict[str, float]:
    r = np.asarray(r, float)
    return {
        "days": int(r.size),
        "total_return": float(np.prod(1.0 + r) - 1.0),
        "sharpe": sharpe(r),
        "sortino": sortino(r),
        "cagr": cagr(r),
        "max_drawdown": max_drawdown(r),
        "calmar": calmar(r),
        "psr": probabilistic_sharpe(r),
    }


def trade_metrics(trades: pl.DataFrame, mean_equity: float) -> dict[str, float]:
    """Per-trade figures of a frame with net_pnl, gross_pnl, costs, notional, shares, exit_price."""
    n = trades.height
    if not n:
        return {
            "trades": 0,
            "win_rate": float("nan"),
            "profit_factor": float("nan"),
            "expectancy": float("nan"),
            "turnover": 0.0,
            "cost_share": float("nan"),
            "cost_bps": float("nan"),
            "gross_pnl": 0.0,
            "costs": 0.0,
            "net_pnl": 0.0,
        }
    net = trades["net_pnl"].to_numpy()
    wins, losses = net[net > 0].sum(), -net[net < 0].sum()
    traded = float((trades["notional"] + trades["shares"] * trades["exit_price"]).sum())
    costs = float(trades["costs"].sum())
    abs_gross = float(trades["gross_pnl"].abs().sum())
    return {
        "trades": n,
        "win_rate": float((net > 0).mean()),
        "profit_factor": float(wins / losses) if losses else float("nan"),
        "expectancy": float(net.mean()),
        "turnover": traded / mean_equity,
        "cost_share": costs / abs_gross if abs_gross else float("nan"),
        "cost_bps": costs / traded * 1e4 if traded else float("nan"),
        "gross_pnl": float(trades["gross_pnl"].sum()),
        "costs": costs,
        "net_pnl": float(net.sum()),
    }


def price_tier() -> pl.Expr:
    """The entry price's tier label (``PRICE_TIERS``)."""
    expr = pl.lit(PRICE_TIERS[0][1])
    for low, name in PRICE_TIERS[1:]:
        expr = pl.when(pl.col("entry_price") >= low).then(pl.lit(name)).otherwise(expr)
    return expr


def breakdowns(trades: pl.DataFrame) -> pl.DataFrame:
    """by (event_type | session | price_tier | month), key: trades, win rate, net P&L,
    expectancy and costs."""
    if trades.is_empty():
        return pl.DataFrame(schema={"by": pl.String, "key": pl.String, "trades": pl.UInt32})
    t = trades.with_columns(
        price_tier=price_tier(),
        month=pl.col("entry_ts").dt.convert_time_zone("America/New_York").dt.strftime("%Y-%m"),
    )
    parts = [
        t.group_by(pl.col(by).cast(pl.String).alias("key"))
        .agg(
            trades=pl.len(),
            win_rate=(pl.col("net_pnl") > 0).mean(),
            net_pnl=pl.col("net_pnl").sum(),
            expectancy=pl.col("net_pnl").mean(),
            costs=pl.col("costs").sum(),
        )
        .with_columns(by=pl.lit(by))
        for by in ("event_type", "session", "price_tier", "month")
    ]
    return (
        pl.concat(parts)
        .select("by", "key", "trades", "win_rate", "net_pnl", "expectancy", "costs")
        .sort("by", "key")
    )

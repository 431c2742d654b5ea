"""The backtest report: equity and drawdown PNGs and a Markdown metrics table (docs/backtests.md).

Plots use matplotlib's Agg backend (no display) and are written atomically: a temporary file in the
same folder, then a rename, so a reader never sees half a PNG.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from . import metrics

# The columns of the metrics table, in order, with their number format.
TABLE = (
    ("trades", "{:.0f}"),
    ("win_rate", "{:.1%}"),
    ("net_pnl", "{:,.0f}"),
    ("total_return", "{:.2%}"),
    ("sharpe", "{:.2f}"),
    ("psr", "{:.2f}"),
    ("sortino", "{:.2f}"),
    ("max_drawdown", "{:.2%}"),
    ("calmar", "{:.2f}"),
    ("profit_factor", "{:.2f}"),
    ("expectancy", "{:,.2f}"),
    ("turnover", "{:.1f}"),
    ("cost_share", "{:.1%}"),
    ("cost_bps", "{:.1f}"),
)


def _fmt(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "n/a"
    return fmt.format(value)


def markdown_table(rows: dict[str, dict[str, float]]) -> str:
    """One row per strategy, the ``TABLE`` columns."""
    head = "| strategy | " + " | ".join(c for c, _ in TABLE) + " |"
    sep = "|---|" + "---|" * len(TABLE)
    body = [
        f"| {name} | " + " | ".join(_fmt(m.get(c), f) for c, f in TABLE) + " |" for name, m in rows.items()
    ]
    return "\n".join([head, sep, *body])


def _atomic_png(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".png", dir=path.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def plot_equity(daily: dict[str, pl.DataFrame], folder: Path, title: str) -> tuple[Path, Path]:
    """equity.png (each strategy's equity, start = 1) and drawdown.png, written into ``folder``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figs = {}
    for kind in ("equity", "drawdown"):
        fig, ax = plt.subplots(figsize=(8, 3.5))
        for name, d in daily.items():
            if not d.height:
                continue
            r = d["ret"].to_numpy()
            y = np.cumprod(1 + r) if kind == "equity" else metrics.drawdown(r)
            # The start (1, no drawdown) the day before the first, so day one's move shows.
            x = [d["date"][0] - dt.timedelta(days=1), *d["date"].to_list()]
            ax.plot(x, np.r_[1.0 if kind == "equity" else 0.0, y], label=name, marker="o", ms=3)
        ax.set_title(f"{title}: {kind}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.autofmt_xdate()
        figs[kind] = _atomic_png(fig, folder / f"{kind}.png")
        plt.close(fig)
    return figs["equity"], figs["drawdown"]

"""The daily screen: symbol-days whose daily bar passes a gate, and the calibration report."""

from __future__ import annotations

import datetime as dt

import polars as pl

from ..daily import OHLCV
from .params import DailyScreenParams

DAILY_GATES = ("triple_gate", "atr_breakout", "range_explosion", "daily_flush")


def _daily_measures(history: pl.DataFrame, params: DailyScreenParams) -> pl.DataFrame:
    """Every symbol-day of ``history`` with the measures of every gate; averages use prior rows only."""
    h = history
    if "split_ratio" in h.columns and h.height:
        from ..daily import adjust_as_of

        had_vwap = "vwap" in h.columns
        if not had_vwap:
            h = h.with_columns(vwap=pl.lit(None, pl.Float64))
        h = adjust_as_of(h, h["date"].max())
        if not had_vwap:
            h = h.drop("vwap")
    p = params
    rng = pl.col("high") - pl.col("low")
    pc = pl.col("prior_close")
    prior = {"min_samples": p.min_history}
    h = (
        h.sort("symbol", "date")
        .with_columns(
            prior_close=pl.col("close").shift(1).over("symbol"),
            history_sessions=pl.int_range(pl.len()).over("symbol").cast(pl.Int64),
            avg_volume=pl.col("volume").shift(1).rolling_mean(p.volume_lookback, **prior).over("symbol"),
            avg_range=rng.shift(1).rolling_mean(p.range_lookback, **prior).over("symbol"),
        )
        .with_columns(
            true_range=pl.max_horizontal("high", pc) - pl.min_horizontal("low", pc),
        )
        .with_columns(
            atr=pl.col("true_range").shift(1).rolling_mean(p.atr_lookback, **prior).over("symbol"),
        )
        .with_columns(
            gap_pct=pl.col("open") / pc - 1.0,
            change_pct=pl.col("close") / pc - 1.0,
            rvol=pl.col("volume") / pl.col("avg_volume"),
            dollar_volume=pl.col("close") * pl.col("volume"),
            atr_move=(pl.col("close") - pc) / pl.col("atr"),
            range_ratio=rng / pl.col("avg_range"),
            high_to_close=1.0 - pl.col("close") / pl.col("high"),
        )
    )
    gate_gap = (pl.col("gap_pct") >= p.gap_min).fill_null(False)
    gate_rvol = (pl.col("rvol") >= p.rvol_min).fill_null(False)
    gate_dv = (pl.col("dollar_volume") >= p.dollar_volume_min).fill_null(False)
    return h.with_columns(
        gate_gap=gate_gap,
        gate_rvol=gate_rvol,
        gate_dollar_volume=gate_dv,
        triple_gate=gate_gap & gate_rvol & gate_dv,
        atr_breakout=(pl.col("atr_move").abs() >= p.atr_move_min).fill_null(False),
        range_explosion=(pl.col("range_ratio") >= p.range_ratio_min).fill_null(False),
        daily_flush=(
            (-pl.col("change_pct") >= p.flush_drop_min) & (pl.col("high_to_close") >= p.flush_fade_min)
        ).fill_null(False),
        direction=pl.when(pl.col("close") >= pc).then(1).otherwise(-1).cast(pl.Int64),
    )


DAILY_COLUMNS = (
    "date",
    "symbol",
    *OHLCV,
    "prior_close",
    "history_sessions",
    "gap_pct",
    "change_pct",
    "avg_volume",
    "rvol",
    "dollar_volume",
    "true_range",
    "atr",
    "atr_move",
    "avg_range",
    "range_ratio",
    "high_to_close",
    "direction",
    "gate_gap",
    "gate_rvol",
    "gate_dollar_volume",
    *DAILY_GATES,
)


def daily_screen(
    history: pl.DataFrame, day: dt.date, params: DailyScreenParams | None = None, *, all_rows: bool = False
) -> pl.DataFrame:
    """The symbol-days of ``day`` on which at least one daily gate fired, with every measured value.

    ``history``: daily bars (date, symbol, open, high, low, close, volume; optionally split_ratio,
    then prices are split-adjusted as of the latest date first) covering the lookback and ``day``.
    Rows dated after ``day`` are ignored. Averages (volume, ATR, range) use the symbol's prior
    sessions only. ``all_rows=True`` keeps the symbols with no gate too (for inspection).
    """
    params = params or DailyScreenParams()
    hist = history.filter(pl.col("date") <= day)
    m = _daily_measures(hist, params).filter(pl.col("date") == day)
    if not all_rows:
        m = m.filter(pl.any_horizontal(*DAILY_GATES))
    return m.select(DAILY_COLUMNS).sort("symbol")


# Threshold grids of the calibration report; the configured default is always added.
CALIBRATION_GRIDS: dict[str, tuple[float, ...]] = {
    "gap_pct": (0.03, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50, 1.00),
    "rvol": (1.5, 2.0, 3.0, 5.0, 10.0, 20.0),
    "dollar_volume": (2.5e5, 5e5, 1e6, 2e6, 5e6, 1e7, 2.5e7),
    "atr_move": (1.0, 1.5, 2.0, 3.0, 4.0, 6.0),
    "range_ratio": (1.5, 2.0, 3.0, 4.0, 6.0),
    "flush_drop": (0.05, 0.10, 0.15, 0.20, 0.30),
}


def calibration(history: pl.DataFrame, params: DailyScreenParams | None = None) -> pl.DataFrame:
    """Event rate per symbol-day against a grid of thresholds, one gate measure at a time.

    Only symbol-days with a prior close and ``min_history`` prior sessions count (``symbol_days``).
    ``hits``/``rate``: days meeting that threshold alone. For the three triple-gate measures,
    ``combined_hits``/``combined_rate``: days passing the whole triple gate with that threshold in place
    of its default (the other two at their defaults); for the flush drop, the whole flush rule.
    """
    p = params or DailyScreenParams()
    m = _daily_measures(history, p).filter(
        pl.col("prior_close").is_not_null() & pl.col("avg_volume").is_not_null()
    )
    n = m.height
    defaults = {
        "gap_pct": p.gap_min,
        "rvol": p.rvol_min,
        "dollar_volume": p.dollar_volume_min,
        "atr_move": p.atr_move_min,
        "range_ratio": p.range_ratio_min,
        "flush_drop": p.flush_drop_min,
    }
    measure = {
        "gap_pct": pl.col("gap_pct"),
        "rvol": pl.col("rvol"),
        "dollar_volume": pl.col("dollar_volume"),
        "atr_move": pl.col("atr_move").abs(),
        "range_ratio": pl.col("range_ratio"),
        "flush_drop": -pl.col("change_pct"),
    }
    others = {
        "gap_pct": pl.col("gate_rvol") & pl.col("gate_dollar_volume"),
        "rvol": pl.col("gate_gap") & pl.col("gate_dollar_volume"),
        "dollar_volume": pl.col("gate_gap") & pl.col("gate_rvol"),
        "flush_drop": pl.col("high_to_close") >= p.flush_fade_min,
    }
    exprs = []
    rows: list[tuple[str, float, bool]] = []
    for gate, grid in CALIBRATION_GRIDS.items():
        for thr in sorted({*grid, defaults[gate]}):
            i = len(rows)
            rows.append((gate, float(thr), thr == defaults[gate]))
            hit = (measure[gate] >= thr).fill_null(False)
            exprs.append(hit.sum().alias(f"h{i}"))
            if gate in others:
                exprs.append((hit & others[gate].fill_null(False)).sum().alias(f"c{i}"))
    counts = m.select(exprs).row(0, named=True) if n else {}
    out = []
    for i, (gate, thr, is_default) in enumerate(rows):
        hits = int(counts.get(f"h{i}", 0) or 0)
        comb = counts.get(f"c{i}")
        out.append(
            {
                "gate": gate,
                "threshold": thr,
                "is_default": is_default,
                "symbol_days": n,
                "hits": hits,
                "rate": hits / n if n else None,
                "combined_hits": None if comb is None and gate not in others else int(comb or 0),
                "combined_rate": (int(comb or 0) / n if n else None) if gate in others else None,
            }
        )
    return pl.DataFrame(
        out,
        schema={
            "gate": pl.String,
            "threshold": pl.Float64,
            "is_default": pl.Boolean,
            "symbol_days": pl.Int64,
            "hits": pl.Int64,
            "rate": pl.Float64,
            "combined_hits": pl.Int64,
            "combined_rate": pl.Float64,
        },
    )

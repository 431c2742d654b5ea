"""The bad-print gate (``stages.bad_prints``) measured against the offline market's ground truth.

The same market (seed, symbols, sessions) is built twice, without faults and with
``faults.bad_tick_rate``; a minute bar is truly bad when any of its open, high, low or close differs
between the two (a bad print inside the range changes nothing, and nothing needs flagging).
Precision and recall of the ``bad_print`` flag follow, with the flag rate on the clean market and
how far the cleaned high and low land from the clean ones.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from .. import calendar as cal
from ..sim import SimConfig, SimMarket
from ..stages.bad_prints import FLAG, PRICES, BadPrintParams, clean_bars, quarantine


def _bars(market: SimMarket, day: dt.date, tickers: list[str]) -> pl.DataFrame:
    frames = [
        market.minute_bars(t, day).select(
            symbol=pl.lit(t), ts="t", open="o", high="h", low="l", close="c", vwap="vw", transactions="n"
        )
        for t in tickers
    ]
    return pl.concat([f for f in frames if f.height])


def measure(
    start: dt.date,
    end: dt.date,
    symbols_per_day: int = 25,
    bad_tick_rate: float = 0.05,
    seed: int = 7,
    params: BadPrintParams = BadPrintParams(),
) -> dict:
    clean = SimMarket(SimConfig(seed=seed))
    dirty = SimMarket(SimConfig(seed=seed, faults={"bad_tick_rate": bad_tick_rate}))
    days = cal.trading_days(start, end)
    tp = fp = fn = bars = truly_bad = clean_flags = 0
    errors = []
    for day in days:
        listed = [p.ticker for p in clean.tickers_on(day)]
        tickers = listed[:: max(1, len(listed) // symbols_per_day)][:symbols_per_day]
        truth = _bars(clean, day, tickers)
        flagged = quarantine(_bars(dirty, day, tickers), params)
        joined = flagged.join(truth, on=["symbol", "ts"], suffix="_true")
        bad = pl.any_horizontal(*((pl.col(c) - pl.col(f"{c}_true")).abs() > 1e-9 for c in PRICES))
        joined = joined.with_columns(truly_bad=bad)
        flag, is_bad = joined[FLAG], joined["truly_bad"]
        tp += int((flag & is_bad).sum())
        fp += int((flag & ~is_bad).sum())
        fn += int((~flag & is_bad).sum())
        bars += joined.height
        truly_bad += int(is_bad.sum())
        clean_flags += int(quarantine(truth, params)[FLAG].sum())
        errors.append(
            joined.filter("truly_bad").select(
                high=(pl.col("high_clean") / pl.col("high_true") - 1).abs(),
                low=(pl.col("low_clean") / pl.col("low_true") - 1).abs(),
            )
        )
    err = pl.concat(errors)
    return {
        "sessions": len(days),
        "symbols_per_day": symbols_per_day,
        "bad_tick_rate": bad_tick_rate,
        "bars": bars,
        "truly_bad_bars": truly_bad,
        "precision": tp / max(tp + fp, 1),
        "recall": tp / max(tp + fn, 1),
        "flag_rate_without_faults": clean_flags / max(bars, 1),
        "cleaned_high_median_error": float(err["high"].median() or 0.0),
        "cleaned_low_median_error": float(err["low"].median() or 0.0),
    }


def events_effect(start: dt.date, end: dt.date, bad_tick_rate: float = 0.05, seed: int = 7) -> dict:
    """Intraday events with and without the gate, on the fault-free market and on one with
    ``bad_tick_rate``: per session, the day's catalyst symbols (where in-play events happen) and
    every 20th listed symbol, with 3 sessions of time-of-day baselines (``bench.detect``). Counts
    the events of each market raw and cleaned, and how many events of the fault-free market the
    gate changed (found only with or only without it)."""
    from ..stages import events as ev
    from .detect import sim_context, sim_day

    clean = SimMarket(SimConfig(seed=seed))
    dirty = SimMarket(SimConfig(seed=seed, faults={"bad_tick_rate": bad_tick_rate}))
    key = ["symbol", "ts", "event_type"]
    out = {"healthy_raw": 0, "healthy_cleaned": 0, "faulty_raw": 0, "faulty_cleaned": 0}
    changed = flagged = bars = 0
    days = cal.trading_days(start, end)
    for day in days:
        listed = [p.ticker for p in clean.tickers_on(day) if clean.day_plan(p.ticker, day) is not None]
        tickers = sorted(set(clean.catalysts(day)["ticker"]) | set(listed[::20]))
        for name, market in (("healthy", clean), ("faulty", dirty)):
            raw = sim_day(market, day, tickers, cleaned=False)
            cleaned = clean_bars(raw)
            ctx = sim_context(market, day, tickers, 3)
            found_raw = ev.detect_intraday(raw, ctx).select(key)
            found_clean = ev.detect_intraday(cleaned, ctx).select(key)
            out[f"{name}_raw"] += found_raw.height
            out[f"{name}_cleaned"] += found_clean.height
            if name == "healthy":
                flagged += int(cleaned[FLAG].sum())
                bars += cleaned.height
                changed += found_raw.join(found_clean, on=key, how="anti").height
                changed += found_clean.join(found_raw, on=key, how="anti").height
    return {
        "sessions": len(days),
        **out,
        "healthy_events_changed": changed,
        "healthy_bars": bars,
        "healthy_flagged_bars": flagged,
        "faulty_cleaned_vs_healthy_raw": out["faulty_cleaned"] / max(out["healthy_raw"], 1) - 1,
    }


def format_report(report: dict) -> str:
    """One line per figure (the events' figures indented under ``events``)."""

    def lines(d: dict, indent: str = "") -> list[str]:
        out = []
        for k, v in d.items():
            if isinstance(v, dict):
                out += [f"{indent}{k}:", *lines(v, indent + "  ")]
            else:
                out.append(f"{indent}{k}: {round(v, 6) if isinstance(v, float) else v}")
        return out

    return "\n".join(lines(report))

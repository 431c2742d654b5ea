"""Detector calibration against the offline market's ground truth (``smallcaps events calibrate``).

The simulated market knows every catalyst day, its planted shape and its trigger minute. This
module runs the intraday detectors over a span of sessions on a universe built by the production
rules (``stages.universe.build_universe`` on the simulator's reference data and daily bars), with
20-session time-of-day baselines, exactly as the ``intraday_events`` asset does, and measures:

* per type: events per ordinary and per catalyst symbol-day, the share of its events on catalyst
  symbol-days (precision) and within ``NEAR_TRIGGER_MINUTES`` of a planted trigger;
* recall of each planted shape by the types that should catch it (``SHAPE_DETECTORS``), and of
  trading pauses by ``halt_resumption``;
* the score's coverage (events with a score, per type, from the 6th session on), the blocking
  checklist rules over each day's trailing window, as the asset would judge them, and the download
  manifest the day's events give (``stages.manifest.select`` with its default rules, the spread
  from the bars): its mix of types.

Everything runs in process on the simulator (no lake, no Dagster): a 61-session span of the
default market takes a few minutes. The targets the defaults were chosen against are ``TARGETS``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from . import calendar as cal
from .bench.detect import sim_day
from .stages import event_quality
from .stages import events as ev
from .stages import manifest as mf
from .stages.universe import UniverseRules, build_universe

NEAR_TRIGGER_MINUTES = 30
BASELINE_SESSIONS = 20  # as the intraday_events asset
SCORE_WINDOW = 60

# The planted shape -> the (event_type, direction) pairs that count as catching it.
SHAPE_DETECTORS: dict[str, list[tuple[str, int]]] = {
    "gap_and_go": [("gap_and_go", 1)],
    "opening_range_break": [("opening_range_break", 1)],
    "vwap_reclaim": [("vwap_break", 1)],
    "vwap_reject": [("vwap_break", -1)],
    "consolidation_break": [("consolidation_break", 1)],
    "parabolic_flush": [("parabolic_exhaustion", -1), ("flush", -1)],
    "hod_break": [("hod_break", 1)],
    "first_pullback": [("first_pullback", 1)],
}

# What the defaults must achieve (docs/events.md, "Calibration").
TARGETS = {
    "max_type_per_ordinary_day": 0.3,
    "max_all_per_ordinary_day": 1.0,
    "min_catalyst_ratio": 5.0,
    "min_precision": 0.5,
    "max_manifest_type_share": 0.5,
}


@dataclass
class Collected:
    """What a calibration run measured: events (labelled), universe symbol-days, catalysts."""

    events: pl.DataFrame  # EVENT_SCHEMA + score + date, catalyst, shape, near_trigger
    symbol_days: pl.DataFrame  # date, symbol, catalyst (bool), shape, halts
    days: list[dt.date] = field(default_factory=list)
    manifest: pl.DataFrame | None = None  # the manifests the events give, with a date column


def _history_bars(market, day: dt.date, cache: dict) -> pl.DataFrame:
    """Daily bars of the whole market on ``day`` (cached), as ``daily_bars`` rows."""
    if day not in cache:
        g = market.grouped_daily(day, adjusted=False)
        cache[day] = g.select(
            date=pl.lit(day), symbol="T", open="o", high="h", low="l", close="c", volume="v"
        )
    return cache[day]


def universe_like(market, day: dt.date, cache: dict, rules: UniverseRules | None = None) -> pl.DataFrame:
    """The universe the production rules keep on ``day`` (``stages.universe.build_universe`` on the
    simulator's reference data, shares as of the prior session, the vendor's latest float, and the
    20 prior sessions' daily bars)."""
    prior = cal.sessions_before(day, 20)
    history = pl.concat([_history_bars(market, d, cache) for d in prior])
    profiles = market.tickers_on(day)
    reference = pl.DataFrame(
        {
            "symbol": [p.ticker for p in profiles],
            "type": [p.type for p in profiles],
            "market": [p.market for p in profiles],
            "primary_exchange": [p.primary_exchange for p in profiles],
            "active": [True] * len(profiles),
        }
    )
    shares = [market.shares_outstanding(p, prior[-1]) for p in profiles]
    # As ticker_details: shares x the vendor's latest free-float percentage (it keeps no history).
    pct = [(f or {}).get("free_float_percent") for f in (market.free_float(p.ticker) for p in profiles)]
    details = pl.DataFrame(
        {
            "symbol": [p.ticker for p in profiles],
            "weighted_shares_outstanding": shares,
            "as_of": [prior[-1]] * len(profiles),
            "float_shares": [
                s * f / 100.0 if f is not None else None for s, f in zip(shares, pct, strict=True)
            ],
        },
        schema_overrides={"float_shares": pl.Float64},
    )
    eligible, _ = build_universe(day, reference, details, history, rules or UniverseRules())
    return eligible


def collect(
    market,
    days: list[dt.date],
    params: ev.IntradayParams | None = None,
    progress: Callable[[dt.date, int], None] | None = None,
) -> Collected:
    """Detect, score and label the events of ``days`` on ``market``'s universe."""
    daily_cache: dict = {}
    bar_cache: dict[tuple[str, dt.date], pl.DataFrame] = {}

    def bars_of(tickers: list[str], day: dt.date) -> pl.DataFrame:
        missing = [t for t in tickers if (t, day) not in bar_cache]
        if missing:
            got = sim_day(market, day, missing)
            for t in missing:
                bar_cache[(t, day)] = got.filter(pl.col("symbol") == t)
        frames = [bar_cache[(t, day)] for t in tickers if bar_cache[(t, day)].height]
        return pl.concat(frames) if frames else sim_day(market, day, [])

    all_events, symbol_days, manifests, history = [], [], [], None
    for day in days:
        universe = universe_like(market, day, daily_cache)
        tickers = universe["symbol"].to_list()
        prior = cal.sessions_before(day, BASELINE_SESSIONS)
        # Only the last 20 sessions' bars are ever read again.
        for key in [k for k in bar_cache if k[1] < prior[0]]:
            del bar_cache[key]
        bars = bars_of(tickers, day)
        prior_bars = [bars_of(tickers, d) for d in prior if d >= market.config.start]
        prior_bars = [b for b in prior_bars if b.height]
        pcs = [
            {"symbol": t, "prior_close": plan.prev_close}
            for t in tickers
            if (plan := market.day_plan(t, day)) is not None
        ]
        ctx = ev.make_context(
            pl.DataFrame(pcs, schema={"symbol": pl.String, "prior_close": pl.Float64}),
            ev.baselines(pl.concat(prior_bars)) if prior_bars else None,
        )
        found = ev.detect_intraday(bars, ctx, params)
        window = cal.sessions_before(day, SCORE_WINDOW)
        hist = history.filter(pl.col("date") >= window[0]) if history is not None else found.clear()
        scored = ev.score(found, hist).with_columns(date=pl.lit(day))
        history = scored if history is None else pl.concat([history, scored], how="diagonal_relaxed")
        all_events.append(scored)
        recent = [m for m in manifests[-(mf.ManifestRules().window_sessions - 1) :] if m.height]
        chosen, _ = mf.select(day, scored.drop("date"), bars, universe, pl.concat(recent) if recent else None)
        manifests.append(chosen.with_columns(date=pl.lit(day)))
        cats = market.catalysts(day).filter(pl.col("ticker").is_in(tickers))
        symbol_days.append(
            pl.DataFrame(
                {"symbol": tickers, "date": [day] * len(tickers)},
                schema={"symbol": pl.String, "date": pl.Date},
            )
            .join(
                cats.select(symbol="ticker", shape="shape", trigger_ns="trigger_ns", halts="halts"),
                on="symbol",
                how="left",
            )
            .with_columns(catalyst=pl.col("shape").is_not_null(), halts=pl.col("halts").fill_null(0))
        )
        if progress:
            progress(day, scored.height)
    sd = pl.concat(symbol_days)
    events = pl.concat(all_events) if all_events else ev.empty_events()
    return Collected(labelled(events, sd), sd, list(days), pl.concat(manifests) if manifests else None)


def labelled(events: pl.DataFrame, symbol_days: pl.DataFrame) -> pl.DataFrame:
    """Events with their symbol-day's ground truth: catalyst, shape and near_trigger (within
    ``NEAR_TRIGGER_MINUTES`` of the planted trigger, either side)."""
    near = NEAR_TRIGGER_MINUTES * 60 * 1_000_000_000
    return events.join(
        symbol_days.select("date", "symbol", "catalyst", "shape", "trigger_ns"),
        on=["date", "symbol"],
        how="left",
    ).with_columns(
        catalyst=pl.col("catalyst").fill_null(False),
        near_trigger=((pl.col("ts").dt.epoch("ns") - pl.col("trigger_ns")).abs() <= near).fill_null(False),
    )


def rates(c: Collected) -> pl.DataFrame:
    """Per type (and ``all``): events per ordinary and per catalyst symbol-day, their ratio, the
    share of events on catalyst symbol-days (precision) and near a planted trigger."""
    n_ord = int((~c.symbol_days["catalyst"]).sum())
    n_cat = int(c.symbol_days["catalyst"].sum())

    def row(name: str, frame: pl.DataFrame) -> dict:
        on_cat = int(frame["catalyst"].sum()) if frame.height else 0
        near = int(frame["near_trigger"].sum()) if frame.height else 0
        per_ord = (frame.height - on_cat) / max(1, n_ord)
        per_cat = on_cat / max(1, n_cat)
        return {
            "event_type": name,
            "events": frame.height,
            "per_ordinary_day": round(per_ord, 4),
            "per_catalyst_day": round(per_cat, 4),
            "catalyst_ratio": round(per_cat / per_ord, 1) if per_ord else None,
            "precision": round(on_cat / frame.height, 3) if frame.height else None,
            "near_trigger": round(near / frame.height, 3) if frame.height else None,
        }

    rows = [row(t, c.events.filter(pl.col("event_type") == t)) for t in ev.EVENT_TYPES]
    rows.append(row("all", c.events))
    return pl.DataFrame(rows)


def recall(c: Collected) -> pl.DataFrame:
    """Per planted shape (and ``halts``): catalyst symbol-days of the universe with that shape, and
    the share of them on which one of its detectors fired in the shape's direction."""
    found = c.events.group_by("date", "symbol").agg(found=pl.struct("event_type", "direction"))
    days = c.symbol_days.filter(pl.col("catalyst")).join(found, on=["date", "symbol"], how="left")
    rows = []

    def hit(pairs, wanted) -> bool:
        return any((f["event_type"], f["direction"]) in wanted for f in (pairs or []))

    for shape, wanted in SHAPE_DETECTORS.items():
        sub = days.filter(pl.col("shape") == shape)
        hits = sum(hit(f, set(wanted)) for f in sub["found"].to_list())
        rows.append(
            {
                "shape": shape,
                "days": sub.height,
                "recall": round(hits / sub.height, 3) if sub.height else None,
            }
        )
    halts = days.filter(pl.col("halts") > 0)
    wanted = {("halt_resumption", 1), ("halt_resumption", -1)}
    hits = sum(hit(f, wanted) for f in halts["found"].to_list())
    rows.append(
        {
            "shape": "halts",
            "days": halts.height,
            "recall": round(hits / halts.height, 3) if halts.height else None,
        }
    )
    return pl.DataFrame(rows, schema={"shape": pl.String, "days": pl.Int64, "recall": pl.Float64})


def score_coverage(c: Collected, from_session: int = 6) -> pl.DataFrame:
    """Per type: events from the ``from_session``-th session of the span on, and the share of them
    with a score (the issue's "non-null from its 5th session of history")."""
    later = c.events.filter(pl.col("date") >= c.days[min(from_session - 1, len(c.days) - 1)])
    return (
        later.group_by("event_type")
        .agg(events=pl.len(), scored=pl.col("score").is_not_null().mean().round(3))
        .sort("event_type")
    )


def checklist_failures(c: Collected, params: event_quality.Checklist | None = None) -> list[dict]:
    """Each day's checklist over its trailing window of the span, as the asset judges it: the rules
    that failed, blocking or not."""
    p = params or event_quality.DEFAULTS
    out = []
    frame = c.events.select("date", "symbol", "event_type", "session")
    for i, day in enumerate(c.days):
        window = frame.filter(pl.col("date").is_in(c.days[max(0, i - p.window_sessions + 1) : i + 1]))
        for g in event_quality.checklist(window, p):
            if not g.passed:
                out.append(
                    {"date": day.isoformat(), "rule": g.name, "blocking": g.severity == "error", **g.figures}
                )
    return out


def report(c: Collected) -> dict:
    """Everything measured, as plain data (the ``--json`` output)."""
    r = rates(c)
    ordinary = r.filter(pl.col("event_type") != "all")
    overall = r.filter(pl.col("event_type") == "all").row(0, named=True)
    failures = checklist_failures(c)
    return {
        "sessions": len(c.days),
        "start": c.days[0].isoformat() if c.days else None,
        "end": c.days[-1].isoformat() if c.days else None,
        "symbol_days": c.symbol_days.height,
        "catalyst_symbol_days": int(c.symbol_days["catalyst"].sum()),
        "by_type": r.to_dicts(),
        "recall": recall(c).to_dicts(),
        "score_coverage": score_coverage(c).to_dicts(),
        "checklist_failures": failures,
        "manifest": manifest_mix(c),
        "summary": {
            "events": overall["events"],
            "per_ordinary_day": overall["per_ordinary_day"],
            "max_type_per_ordinary_day": float(ordinary["per_ordinary_day"].max() or 0.0),
            "catalyst_ratio": overall["catalyst_ratio"],
            "precision": overall["precision"],
            "on_catalyst_day_or_near_trigger": _on_catalyst_or_near(c),
            "blocking_failures": sum(1 for f in failures if f["blocking"]),
            "manifest_max_type_share": manifest_mix(c)["max_type_share"],
        },
        "targets": TARGETS,
    }


def manifest_mix(c: Collected) -> dict:
    """The manifest's events by type, and the largest type's share."""
    m = c.manifest
    if m is None or m.is_empty():
        return {"events": 0, "by_type": {}, "max_type_share": None}
    by_type = dict(m.group_by("event_type").len().sort("len", descending=True).iter_rows())
    return {
        "events": m.height,
        "by_type": by_type,
        "max_type_share": round(max(by_type.values()) / m.height, 3),
    }


def _on_catalyst_or_near(c: Collected) -> float | None:
    if c.events.is_empty():
        return None
    return round(float((c.events["catalyst"] | c.events["near_trigger"]).mean()), 3)


def target_misses(rep: dict) -> list[str]:
    """The targets a report misses, one line each."""
    s, t, out = rep["summary"], rep["targets"], []
    if s["max_type_per_ordinary_day"] > t["max_type_per_ordinary_day"]:
        out.append(f"a type fires {s['max_type_per_ordinary_day']} times per ordinary symbol-day")
    if s["per_ordinary_day"] > t["max_all_per_ordinary_day"]:
        out.append(f"all types fire {s['per_ordinary_day']} times per ordinary symbol-day")
    if (s["catalyst_ratio"] or 0) < t["min_catalyst_ratio"]:
        out.append(f"catalyst symbol-days carry only {s['catalyst_ratio']}x the events of ordinary ones")
    if (s["on_catalyst_day_or_near_trigger"] or 0) < t["min_precision"]:
        out.append(
            f"only {s['on_catalyst_day_or_near_trigger']} of events on catalyst days or near a trigger"
        )
    if s["blocking_failures"]:
        out.append(f"{s['blocking_failures']} blocking checklist failures")
    share = s.get("manifest_max_type_share")
    if share is not None and share > t["max_manifest_type_share"]:
        out.append(f"one type holds {share:.0%} of the manifest")
    return out


def format_report(rep: dict) -> str:
    """The report as the terminal shows it: the per-type table, recall, coverage, the verdict."""
    lines = [
        f"calibration: {rep['sessions']} sessions {rep['start']}..{rep['end']}, "
        f"{rep['symbol_days']:,} universe symbol-days ({rep['catalyst_symbol_days']} catalyst)",
        "",
        f"  {'type':<22}{'events':>8}{'/ordinary':>11}{'/catalyst':>11}{'ratio':>8}{'precision':>11}{'near':>7}",
    ]
    for r in rep["by_type"]:
        lines.append(
            f"  {r['event_type']:<22}{r['events']:>8,}{r['per_ordinary_day']:>11.4f}{r['per_catalyst_day']:>11.4f}"
            f"{_fmt(r['catalyst_ratio']):>8}{_fmt(r['precision']):>11}{_fmt(r['near_trigger']):>7}"
        )
    lines += ["", f"  {'recall of':<22}{'days':>8}{'recall':>9}"]
    for r in rep["recall"]:
        lines.append(f"  {r['shape']:<22}{r['days']:>8}{_fmt(r['recall']):>9}")
    mix = rep["manifest"]
    lines += [
        "",
        f"  manifest: {mix['events']:,} events; " + ", ".join(f"{t} {n}" for t, n in mix["by_type"].items()),
    ]
    unscored = [r for r in rep["score_coverage"] if r["scored"] < 1.0]
    lines.append("")
    lines.append(
        "  score: every event from the 6th session on has one"
        if not unscored
        else "  score missing from the 6th session on: "
        + ", ".join(f"{r['event_type']} {1 - r['scored']:.1%}" for r in unscored)
    )
    misses = target_misses(rep)
    lines.append("  targets: all met" if not misses else "  targets missed: " + "; ".join(misses))
    return "\n".join(lines)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:g}"

"""Stylised facts of the simulated tape, each measured beside its target (``smallcaps sim facts``).

The facts are those a microstructure feature relies on: prints that scale with volume, print sizes
that stay put on catalyst days, trades inside the NBBO, quotes at least as frequent as trades,
spreads that narrow with liquidity, rare and flagged locked/crossed quotes, and a manifest spread
estimate that ranks names like their quoted spread. ``measure_facts`` is a pure function of the
market and the sessions; tests assert every fact on a smaller market with the same bounds.

What is measured, per session of the span:

* **every listed symbol-day** (its minute bars): prints ``n``, volume, dollar volume, regular-hours
  minutes without a print (minutes touched by a LULD pause are not counted: nothing may print);
* **catalyst days** (``SimMarket.catalysts``) against the name's previous 20 sessions: RVOL, prints
  against their median, mean print size against the ordinary (non-catalyst) days' mean;
* **a tick sample**: up to six catalyst symbol-days (09:30-10:00 ET, the fast market) and six common
  stocks spread across the day's planned dollar volume (10:00-10:30 ET): trades against the NBBO
  standing just before them, seconds with a trade against seconds with an NBBO update, the median
  quoted spread, locked and crossed quotes and their flags;
* **event windows** on the sampled symbol-days: intraday events (``stages.events``) that pass the
  manifest's liquidity rule, one per symbol-day (the strongest), with the manifest's spread
  estimate at the event against the median quoted spread of the event's download window.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

import numpy as np
import polars as pl

from .. import calendar as cal
from . import conditions as cond
from . import ticks
from .market import SimMarket
from .prices import NO_CATALYST

NS = 1_000_000_000
NS_PER_MIN = 60 * NS
LOOKBACK = 20  # sessions of history for RVOL, the prints median and the ordinary print size
SAMPLED_NAMES = 6  # common stocks per session in the tick sample (besides catalysts)
MAX_CATALYSTS = 6  # catalyst symbol-days per session in the tick sample


@dataclass(frozen=True)
class Fact:
    key: str
    description: str
    value: float | None
    target: str
    ok: bool | None  # None: informational, or not enough data
    unit: str = ""
    sample: str = ""


@dataclass
class _Sample:
    days: list[dict] = field(default_factory=list)  # one row per listed symbol-day
    catalysts: list[dict] = field(default_factory=list)
    ticks: list[dict] = field(default_factory=list)  # one row per sampled window
    windows: list[dict] = field(default_factory=list)  # one row per event window
    trades_in_nbbo: list[int] = field(default_factory=lambda: [0, 0])  # [inside, regular trades]
    seconds: list[int] = field(default_factory=lambda: [0, 0])  # [with a quote, with a trade]
    quotes: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # [all, locked, crossed, misflagged]
    prints: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # [all, odd, void, blocks]


# ---------------------------------------------------------------------------------------------
# Per symbol-day figures from minute bars
# ---------------------------------------------------------------------------------------------


def _paused_minutes(plan) -> set[int]:
    out: set[int] = set()
    for h in plan.halts:
        a = (h.start_ns - plan.t0_ns) // NS_PER_MIN
        b = (h.end_ns - 1 - plan.t0_ns) // NS_PER_MIN
        out.update(range(int(a), int(b) + 1))
    return out


def day_figures(market: SimMarket, ticker: str, day: dt.date) -> dict | None:
    """Prints, volume, dollar volume, close and empty regular-hours minutes of one symbol-day."""
    plan = market.day_plan(ticker, day)
    if plan is None:
        return None
    bars = ticks.minute_bar_arrays(market.config, market.profile(ticker), plan)
    if len(bars["t"]) == 0:
        return None
    minute = (bars["t"] * 1_000_000 - plan.t0_ns) // NS_PER_MIN
    rth = (minute >= plan.rth_start) & (minute < plan.rth_end)
    if not rth.any():
        return None
    paused = _paused_minutes(plan)
    tradeable = [m for m in range(plan.rth_start, plan.rth_end) if m not in paused]
    with_print = set(minute[rth].tolist())
    v = bars["v"]
    return {
        "ticker": ticker,
        "date": day,
        "n": int(bars["n"].sum()),
        "v": float(v.sum()),
        "dollars": float(bars["pv"].sum() / 10_000),
        "close": float(bars["c"][rth][-1]),
        "rth_minutes": len(tradeable),
        "rth_empty": sum(m not in with_print for m in tradeable),
    }


class _DayCache:
    def __init__(self, market: SimMarket):
        self.market = market
        self.rows: dict[tuple[str, dt.date], dict | None] = {}

    def get(self, ticker: str, day: dt.date) -> dict | None:
        key = (ticker, day)
        if key not in self.rows:
            self.rows[key] = day_figures(self.market, ticker, day)
        return self.rows[key]


# ---------------------------------------------------------------------------------------------
# The tick sample
# ---------------------------------------------------------------------------------------------


def _at(day: dt.date, hh: int, mm: int) -> int:
    return int(dt.datetime.combine(day, dt.time(hh, mm), tzinfo=cal.NY).timestamp()) * NS


def _sampled_names(market: SimMarket, day: dt.date, k: int) -> list[str]:
    """``k`` listed common stocks of the stocks market spread evenly over the planned dollar volume."""
    rows = []
    for p in market.tickers_on(day):
        if p.type != "CS" or p.market != "stocks":
            continue
        sk = market.skeleton(p)
        i = sk.pos.get(day)
        if i is None or sk.shape[i] != NO_CATALYST:
            continue
        rows.append((float(sk.econ_volume[i] * sk.econ_close[i]), p.ticker))
    rows.sort()
    if not rows:
        return []
    offset = day.toordinal() % max(1, len(rows) // k)
    picks = np.linspace(offset, len(rows) - 1, k).round().astype(int)
    return sorted({rows[i][1] for i in picks})


def _tick_window(market: SimMarket, s: _Sample, ticker: str, day: dt.date, lo: int, hi: int) -> dict | None:
    tr = market.trades(ticker, day, lo, hi - 1)
    q = market.quotes(ticker, day, lo, hi - 1)
    if q.is_empty():
        return None
    bid, ask = q["bid_price"].to_numpy(), q["ask_price"].to_numpy()
    qcond = q["conditions"].list.first().to_numpy()
    locked, crossed = bid == ask, bid > ask
    s.quotes[0] += len(q)
    s.quotes[1] += int(locked.sum())
    s.quotes[2] += int(crossed.sum())
    s.quotes[3] += int(
        (locked != (qcond == cond.Q_LOCKED)).sum() + (crossed != (qcond == cond.Q_CROSSED)).sum()
    )
    plan = market.day_plan(ticker, day)
    tick = plan.tick
    ok = ~locked & ~crossed & (bid > 0)
    spread_ticks = np.round((ask - bid)[ok] / tick)
    rel = ((ask - bid) / ((ask + bid) / 2))[ok]
    row = {
        "ticker": ticker,
        "date": day,
        "spread_ticks": float(np.median(spread_ticks)) if len(spread_ticks) else None,
        "spread_rel": float(np.median(rel)) if len(rel) else None,
        "trades": tr.height,
        "quotes": q.height,
    }
    if tr.is_empty():
        return row
    # NBBO standing just before each trade (strictly earlier quote).
    joined = tr.select(
        "sip_timestamp", "price", "conditions", "correction", key=pl.col("sip_timestamp") - 1
    ).join_asof(
        q.select(key="sip_timestamp", bid="bid_price", ask="ask_price"), on="key", strategy="backward"
    )
    irregular = pl.col("conditions").list.eval(pl.element().is_in(list(cond.OUT_OF_NBBO))).list.any()
    regular = joined.filter(
        (pl.col("correction") == 0) & ~irregular.fill_null(False) & pl.col("bid").is_not_null()
    )
    inside = regular.filter((pl.col("price") >= pl.col("bid")) & (pl.col("price") <= pl.col("ask")))
    s.trades_in_nbbo[0] += inside.height
    s.trades_in_nbbo[1] += regular.height
    sess = cal.session(day)
    in_rth = (pl.col("sip_timestamp") >= sess.ns("market_open")) & (
        pl.col("sip_timestamp") < sess.ns("market_close")
    )
    t_sec = set((tr.filter(in_rth)["sip_timestamp"] // NS).to_list())
    q_sec = set((q.filter(in_rth)["sip_timestamp"] // NS).to_list())
    s.seconds[0] += len(t_sec & q_sec)
    s.seconds[1] += len(t_sec)
    size = tr["size"].to_numpy()
    s.prints[0] += tr.height
    s.prints[1] += int((size < 100).sum())
    s.prints[2] += int((tr["correction"] != 0).sum())
    s.prints[3] += int((size >= 10_000).sum())
    return row


# ---------------------------------------------------------------------------------------------
# Event windows: the manifest's spread estimate against the quoted spread
# ---------------------------------------------------------------------------------------------


def _bars_frame(market: SimMarket, ticker: str, day: dt.date) -> pl.DataFrame | None:
    raw = market.minute_bars(ticker, day)
    if raw.is_empty():
        return None
    return raw.select(
        symbol=pl.lit(ticker),
        ts=(pl.col("t") * 1_000_000).cast(pl.Datetime("ns", "UTC")),
        open="o",
        high="h",
        low="l",
        close="c",
        volume="v",
        vwap="vw",
        transactions="n",
    )


def quotes_before(market: SimMarket, ticker: str, day: dt.date, ts_ns: int, last: int) -> pl.DataFrame:
    """The last ``last`` quotes strictly before ``ts_ns``, as the vendor answers ``timestamp.lt=ts,
    order=desc, limit=last`` (generated backwards in doubling chunks, as the REST API does)."""
    start = cal.session(day).ns("pre_open")
    span = 5 * NS_PER_MIN
    while True:
        lo = max(start, ts_ns - span)
        q = market.quotes(ticker, day, lo, ts_ns - 1)
        if q.height >= last or lo == start:
            return q.tail(last)
        span *= 2


def event_windows(
    market: SimMarket, day: dt.date, tickers: list[str], baseline_days: int = 5
) -> pl.DataFrame:
    """The day's intraday events on ``tickers`` that pass the manifest's liquidity rule, one per
    symbol (the strongest), with the manifest's two spread measures at the event (``quoted_before_pct``:
    the last quotes before it, ``est_spread_pct``: the bar estimate) and the quoted spread (median, %
    of mid) of the event's download window, ``quoted_pct``."""
    from ..stages import events, manifest
    from ..stages.minute import with_session

    schema = {
        "symbol": pl.String,
        "ts": pl.Datetime("ns", "UTC"),
        "event_type": pl.String,
        "est_spread_pct": pl.Float64,
        "quoted_before_pct": pl.Float64,
        "quoted_pct": pl.Float64,
    }
    frames = [f for t in tickers if (f := _bars_frame(market, t, day)) is not None]
    if not frames:
        return pl.DataFrame(schema=schema)
    bars = with_session(pl.concat(frames), day)
    prior = pl.DataFrame(
        [
            {"symbol": t, "prior_close": plan.prev_close}
            for t in tickers
            if (plan := market.day_plan(t, day)) is not None
        ],
        schema={"symbol": pl.String, "prior_close": pl.Float64},
    )
    hist, d = [], day
    for _ in range(baseline_days):
        d = cal.previous_trading_day(d)
        if d is None or d < market.config.start:
            break
        fr = [f for t in tickers if (f := _bars_frame(market, t, d)) is not None]
        if fr:
            hist.append(with_session(pl.concat(fr), d))
    ctx = events.make_context(prior, events.baselines(pl.concat(hist)) if hist else None)
    # Every rule's events, not only the in-play ones: the sample of windows measures the tape around
    # busy bars of any name, as the facts' targets are stated.
    ev = events.detect_intraday(bars, ctx, events.IntradayParams(in_play={"enabled": False}))
    if ev.is_empty():
        return pl.DataFrame(schema=schema)
    rules = manifest.ManifestRules()
    figures = manifest.event_bar_figures(bars, rules.spread_bars)
    ev = (
        ev.join(figures, on=["symbol", "ts"], how="left")
        .filter(
            (pl.col("bar_dollar_volume") >= rules.min_bar_dollar_volume)
            & (pl.col("bar_volume") >= rules.min_bar_shares)
            & pl.col("est_spread_pct").is_not_null()
        )
        .sort(["symbol", "strength", "ts"], descending=[False, True, False])
        .unique("symbol", keep="first", maintain_order=True)
    )
    ev = manifest.with_windows(ev, day, rules)
    rows = []
    for r in ev.iter_rows(named=True):
        lo = _ns(r["window_start"])
        hi = _ns(r["window_end"])
        q = market.quotes(r["symbol"], day, lo, hi - 1).filter(
            (pl.col("bid_price") > 0) & (pl.col("ask_price") >= pl.col("bid_price"))
        )
        if q.is_empty():
            continue
        mid = (q["ask_price"] + q["bid_price"]) / 2
        quoted = float((100 * (q["ask_price"] - q["bid_price"]) / mid).median())
        before = quotes_before(market, r["symbol"], day, _ns(r["ts"]), manifest.QUOTES_BEFORE)
        measured = manifest.quoted_spread_before(
            before.select("sip_timestamp", "bid_price", "ask_price").with_columns(
                symbol=pl.lit(r["symbol"]), ts=pl.lit(r["ts"]).cast(pl.Datetime("ns", "UTC"))
            )
        )
        rows.append(
            {
                "symbol": r["symbol"],
                "ts": r["ts"],
                "event_type": r["event_type"],
                "est_spread_pct": r["est_spread_pct"],
                "quoted_before_pct": measured["est_spread_pct"][0] if measured.height else None,
                "quoted_pct": quoted,
            }
        )
    return pl.DataFrame(rows, schema=schema)


def _ns(ts) -> int:
    return int(pl.Series([ts]).cast(pl.Datetime("ns", "UTC")).dt.epoch("ns")[0])


# ---------------------------------------------------------------------------------------------
# Putting it together
# ---------------------------------------------------------------------------------------------


def _collect(market: SimMarket, sessions: list[dt.date], windows: bool, tick_minutes: int) -> _Sample:
    s = _Sample()
    cache = _DayCache(market)
    for day in sessions:
        cats = set(market.catalysts(day)["ticker"].to_list())
        for p in market.tickers_on(day):
            row = cache.get(p.ticker, day)
            if row is not None:
                s.days.append({**row, "catalyst": p.ticker in cats})
        for ticker in sorted(cats):
            row = cache.get(ticker, day)
            if row is None:
                continue
            hist, d = [], day
            while len(hist) < LOOKBACK:
                d = cal.previous_trading_day(d)
                if d is None or d < market.config.start:
                    break
                prior = cache.get(ticker, d)
                if prior is not None:
                    sk = market.skeleton(market.profile(ticker))
                    i = sk.pos.get(d)
                    hist.append({**prior, "catalyst": i is not None and sk.shape[i] != NO_CATALYST})
            if len(hist) < LOOKBACK:
                continue
            ordinary = [h for h in hist if not h["catalyst"]]
            s.catalysts.append(
                {
                    "ticker": ticker,
                    "date": day,
                    "rvol": row["v"] / max(np.mean([h["v"] for h in hist]), 1.0),
                    "prints_x_median": row["n"] / max(float(np.median([h["n"] for h in hist])), 1.0),
                    "size_x_ordinary": (row["v"] / max(row["n"], 1))
                    / max(sum(h["v"] for h in ordinary) / max(sum(h["n"] for h in ordinary), 1), 1e-9)
                    if ordinary
                    else None,
                }
            )
        sampled = _sampled_names(market, day, SAMPLED_NAMES)
        cat_sample = sorted(cats)[:MAX_CATALYSTS]
        span = tick_minutes * NS_PER_MIN
        for ticker in cat_sample:
            if market.day_plan(ticker, day) is not None:
                row = _tick_window(market, s, ticker, day, _at(day, 9, 30), _at(day, 9, 30) + span)
                if row:
                    s.ticks.append({**row, **_dollars(cache, ticker, day), "catalyst": True})
        for ticker in sampled:
            if market.day_plan(ticker, day) is not None:
                row = _tick_window(market, s, ticker, day, _at(day, 10, 0), _at(day, 10, 0) + span)
                if row:
                    s.ticks.append({**row, **_dollars(cache, ticker, day), "catalyst": False})
        if windows:
            names = sorted(set(cat_sample) | set(sampled))
            s.windows.extend(event_windows(market, day, names).with_columns(date=pl.lit(day)).to_dicts())
    return s


def _dollars(cache: _DayCache, ticker: str, day: dt.date) -> dict:
    row = cache.get(ticker, day)
    return {"dollars": row["dollars"] if row else None, "close": row["close"] if row else None}


def _spearman(a, b) -> float | None:
    frame = pl.DataFrame({"a": a, "b": b}).drop_nulls()
    if frame.height < 5:
        return None
    return float(frame.select(pl.corr("a", "b", method="spearman")).item())


def _share(num: float, den: float) -> float | None:
    return num / den if den else None


def measure_facts(
    market: SimMarket, sessions: list[dt.date], windows: bool = True, tick_minutes: int = 30
) -> list[Fact]:
    """Every stylised fact over ``sessions`` of ``market`` (see the module docstring). ``windows``:
    also detect events and compare the manifest's spread measures; ``tick_minutes``: length of
    each sampled tick window (from 09:30 ET on catalyst days, from 10:00 ET otherwise)."""
    if not sessions:
        raise ValueError("no sessions to measure")
    s = _collect(market, sessions, windows, tick_minutes)
    days = pl.DataFrame(s.days) if s.days else pl.DataFrame()
    out: list[Fact] = []

    big = days.filter(pl.col("v") > 10e6) if days.height else days
    empty = _share(float(big["rth_empty"].sum()), float(big["rth_minutes"].sum())) if big.height else None
    out.append(
        Fact(
            "empty_minutes_10m",
            "symbol-days over 10 M shares: regular-hours minutes without a print",
            empty,
            "<= 1%",
            None if empty is None else empty <= 0.01,
            "share",
            f"{big.height} symbol-days",
        )
    )

    cats = [c for c in s.catalysts if c["rvol"] >= 5]
    prints_ok = _share(sum(c["prints_x_median"] >= 3 for c in cats), len(cats))
    sized = [c for c in cats if c["size_x_ordinary"] is not None]
    size_ok = _share(sum(0.5 <= c["size_x_ordinary"] <= 3 for c in sized), len(sized))
    out.append(
        Fact(
            "catalyst_prints",
            "catalyst days with RVOL >= 5: prints >= 3x the name's 20-session median",
            prints_ok,
            ">= 90% of them",
            None if prints_ok is None else prints_ok >= 0.9,
            "share",
            f"{len(cats)} catalyst days (of {len(s.catalysts)} with 20 sessions of history)",
        )
    )
    out.append(
        Fact(
            "catalyst_print_size",
            "catalyst days with RVOL >= 5: mean print size 0.5-3x the name's ordinary-day mean",
            size_ok,
            ">= 90% of them",
            None if size_ok is None else size_ok >= 0.9,
            "share",
            f"{len(sized)} catalyst days",
        )
    )

    rho = _spearman(days["n"], days["v"]) if days.height else None
    out.append(
        Fact(
            "prints_vs_volume",
            "rank correlation of daily prints with daily volume, all symbol-days",
            rho,
            ">= 0.85",
            None if rho is None else rho >= 0.85,
            "spearman",
            f"{days.height} symbol-days",
        )
    )
    if days.height:
        top = days.filter(pl.col("v") >= pl.col("v").quantile(0.9))
        rho_top = _spearman(top["n"], top["v"])
    else:
        rho_top = None
    out.append(
        Fact(
            "prints_vs_volume_top_decile",
            "no ceiling: the same rank correlation within the busiest 10% of symbol-days by volume",
            rho_top,
            ">= 0.5",
            None if rho_top is None else rho_top >= 0.5,
            "spearman",
            f"{top.height if days.height else 0} symbol-days",
        )
    )

    inside = _share(*s.trades_in_nbbo)
    out.append(
        Fact(
            "trades_in_nbbo",
            "regular-condition trades within the NBBO standing just before them (bid <= price <= ask)",
            inside,
            ">= 95%",
            None if inside is None else inside >= 0.95,
            "share",
            f"{s.trades_in_nbbo[1]} trades in {len(s.ticks)} windows",
        )
    )
    covered = _share(*s.seconds)
    out.append(
        Fact(
            "quote_per_trade_second",
            "regular-hours seconds with a trade that also have an NBBO update",
            covered,
            ">= 90%",
            None if covered is None else covered >= 0.9,
            "share",
            f"{s.seconds[1]} seconds",
        )
    )

    ticks = pl.DataFrame(s.ticks) if s.ticks else pl.DataFrame()
    liquid = (
        ticks.filter(
            (pl.col("close") >= 5) & (pl.col("dollars") >= 20e6) & pl.col("spread_ticks").is_not_null()
        )
        if ticks.height
        else ticks
    )
    med_ticks = float(liquid["spread_ticks"].median()) if liquid.height else None
    out.append(
        Fact(
            "liquid_spread_ticks",
            "median quoted spread of names >= $5 with >= $20 M daily dollar volume",
            med_ticks,
            "<= 3 ticks",
            None if med_ticks is None else med_ticks <= 3,
            "ticks",
            f"{liquid.height} symbol-day windows",
        )
    )
    rho_spread = _spearman(ticks["spread_rel"], ticks["dollars"]) if ticks.height else None
    out.append(
        Fact(
            "spread_vs_dollar_volume",
            "rank correlation of the quoted spread (% of mid) with daily dollar volume",
            rho_spread,
            "<= -0.6",
            None if rho_spread is None else rho_spread <= -0.6,
            "spearman",
            f"{ticks.height} symbol-day windows",
        )
    )
    lc = _share(s.quotes[1] + s.quotes[2], s.quotes[0])
    out.append(
        Fact(
            "locked_crossed",
            "locked + crossed quotes (each flagged: condition 85 locked, 84 crossed)",
            lc,
            "<= 0.1%, all flagged",
            None if lc is None else (lc <= 0.001 and s.quotes[3] == 0),
            "share",
            f"{s.quotes[0]} quotes, {s.quotes[1]} locked, {s.quotes[2]} crossed, {s.quotes[3]} misflagged",
        )
    )
    if windows:
        w = pl.DataFrame(s.windows) if s.windows else pl.DataFrame()
        rho_w = _spearman(w["quoted_before_pct"], w["quoted_pct"]) if w.height else None
        rho_bars = _spearman(w["est_spread_pct"], w["quoted_pct"]) if w.height else None
        out.append(
            Fact(
                "manifest_spread_rank",
                "the manifest's quoted spread at the event vs the quoted spread of its window",
                rho_w,
                ">= 0.7",
                None if rho_w is None else rho_w >= 0.7,
                "spearman",
                f"{w.height} event windows",
            )
        )
        out.append(
            Fact(
                "bar_spread_rank",
                "the manifest's fallback bar estimate (Abdi-Ranaldo) vs the same",
                rho_bars,
                "info",
                None,
                "spearman",
                f"{w.height} event windows",
            )
        )
    # Informational: the print-size mix and the prints the vendor keeps out of every bar.
    n_all = s.prints[0]
    for key, desc, i in (
        ("odd_lot_share", "prints under 100 shares (odd lots), sampled windows", 1),
        ("void_share", "cancelled/erroneous prints (correction != 0), sampled windows", 2),
        ("block_share", "prints of 10,000 shares or more, sampled windows", 3),
    ):
        out.append(Fact(key, desc, _share(s.prints[i], n_all), "info", None, "share", f"{n_all} prints"))
    return out


def facts_table(facts: list[Fact]) -> str:
    """A plain-text table: fact, measured, target, verdict."""

    def fmt(f: Fact) -> str:
        if f.value is None:
            return "n/a"
        if f.unit == "share":
            return f"{100 * f.value:.2f}%"
        if f.unit == "ticks":
            return f"{f.value:.1f} ticks"
        return f"{f.value:.3f}"

    rows = [
        (f.description, fmt(f), f.target, {True: "ok", False: "MISS", None: "-"}[f.ok], f.sample)
        for f in facts
    ]
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        lines.append(f"{r[0]:<{w[0]}}  {r[1]:>{w[1]}}  {r[2]:<{w[2]}}  {r[3]:<{w[3]}}  ({r[4]})")
    return "\n".join(lines)


def facts_json(facts: list[Fact]) -> list[dict]:
    return [asdict(f) for f in facts]

"""The measured figures of docs/simulated_market.md, computed from one market (pure numpy/polars).

The doc states what the generator draws (weights, rates, ranges) and, beside each, what one pinned
market actually contains. Those "measured" figures come from here, printed by
``smallcaps sim census --market-end D``, so each one names its command and does not drift with the
default market's moving ``end``. Every figure reads only what the market serves or plans:

- ``reference``, ``catalysts``, ``corporate_actions``: the daily skeletons (a few seconds for 600
  tickers);
- ``intraday``: day plans and minute bars of a fixed sample (the catalyst days of sessions 200-260,
  and ``normal_days`` ordinary common-stock symbol-days drawn with a fixed seed);
- ``edge``: the planted truth over ``edge_start..edge_end`` (daily paths only, no minute plan).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .. import calendar as cal
from . import edge, prices

if TYPE_CHECKING:
    from .market import SimMarket

EDGE_START, EDGE_END = dt.date(2023, 1, 3), dt.date(2024, 12, 31)
PAUSE_SESSIONS = (200, 260)  # the catalyst days whose pauses §4.8 describes: sessions[200:260]
NORMAL_DAYS = 365


def _r(x: float, nd: int = 4) -> float:
    return round(float(x), nd)


def reference(m: SimMarket) -> dict:
    """Ticker mix, OTC names, delistings, LULD tiers and the large-cap trap (§4.2-§4.4)."""
    ps = m.profiles()
    gone = [p for p in ps if (d := m.delisted_on(p)) is not None and d <= m.config.end]
    cs_caps = np.array([p.start_price * p.start_shares for p in ps if p.type == "CS"])
    # The trap: common stocks of the stocks market priced $0.50-$20 on every 15th session.
    days = m.sessions()[::15]
    total = large = 0
    for p in ps:
        if p.type != "CS" or p.market != "stocks":
            continue
        sk = m.skeleton(p)
        for d in days:
            i = sk.pos.get(d)
            if i is not None and 0.5 <= (close := sk.raw_close(i)) <= 20.0:
                total += 1
                large += sk.raw_shares(i) * close >= 2e9
    return {
        "tickers": len(ps),
        "types": dict(Counter(p.type for p in ps).most_common()),
        "otc": sum(p.market == "otc" for p in ps),
        "delisted": len(gone),
        # A deficiency delisting cuts the listing before its scheduled date (or where none was).
        "delisted_for_deficiency": sum(m.delisted_on(p) != p.delist_date for p in gone),
        "luld_tier_1": sum(p.luld_tier == 1 for p in ps),
        "large_cap_share_priced_0_50_to_20": _share(large, total),
        "large_cap_sample_symbol_days": total,
        "cs_cap_at_listing_percentiles_10_25_50_75_90": [
            _r(x, 0) for x in np.percentile(cs_caps, [10, 25, 50, 75, 90])
        ],
        "cs_cap_at_listing_share_2b_or_more": _r((cs_caps >= 2e9).mean()),
    }


def catalysts(m: SimMarket) -> dict:
    """Catalyst days, their shapes, gaps and RVOL, and the gap-day rate of common stocks (§4.5)."""
    n_sessions = len(m.sessions())
    shapes: Counter[str] = Counter()
    on_cs = days = gap_days = cs_days = 0
    up_gaps: list[float] = []
    rvols: list[float] = []
    for p in m.profiles():
        sk = m.skeleton(p)
        cat = np.flatnonzero(sk.shape != prices.NO_CATALYST)
        days += len(cat)
        on_cs += len(cat) if p.type == "CS" else 0
        shapes.update(prices.SHAPE_NAMES[int(s)] for s in sk.shape[cat])
        up_gaps += [float(g) for g in sk.gap[cat] if g > 0]
        vol = np.asarray(sk.econ_volume, dtype=np.float64)
        for i in cat[cat >= 20]:  # measured RVOL: the day's volume over the previous 20 sessions' mean
            rvols.append(float(vol[i] / vol[i - 20 : i].mean()))
        if p.type == "CS" and p.market == "stocks" and len(sk.dates) > 1:
            g = sk.econ_open[1:] / sk.econ_close[:-1] - 1.0
            cs_days += len(g)
            gap_days += int((np.abs(g) >= 0.10).sum())
    up = np.array(up_gaps)
    return {
        "days": days,
        "per_session": _r(days / n_sessions, 2),
        "share_on_common_stocks": _share(on_cs, days),
        "shapes": dict(shapes.most_common()),
        "up_gap_min_quartiles_max": (
            [_r(x) for x in (up.min(), *np.percentile(up, [25, 50, 75]), up.max())] if len(up) else None
        ),
        "up_gap_share_over_100pct": _share(int((up > 1.0).sum()), len(up)),
        "cs_gap_day_rate_10pct": _r(gap_days / cs_days, 5) if cs_days else None,
        "rvol_vs_previous_20_median_p5_p95": (
            [_r(x, 2) for x in np.percentile(rvols, [50, 5, 95])] if rvols else None
        ),
    }


def corporate_actions(m: SimMarket) -> dict:
    """Splits, offerings and dividend rows (§4.6)."""
    splits = m.all_splits
    ratio = Counter(f"{s.split_to:g}-for-{s.split_from:g}" for s in splits)
    kinds = Counter(m.profile(s.ticker).type for s in splits)
    return {
        "splits": len(splits),
        "reverse_splits": sum(s.split_to < s.split_from for s in splits),
        "split_ratios": dict(ratio.most_common()),
        "splits_by_type": dict(kinds.most_common()),
        "offerings": sum(len(m.skeleton(p).offerings) for p in m.profiles()),
        "dividend_rows": len(m.all_dividends),
    }


def _normal_sample(m: SimMarket, n: int) -> list[tuple[str, dt.date]]:
    """``n`` ordinary (no catalyst) symbol-days of listed stocks-market common stocks, seeded."""
    rng = np.random.default_rng(0)
    ps = [p for p in m.profiles() if p.type == "CS" and p.market == "stocks"]
    days = m.sessions()
    out: list[tuple[str, dt.date]] = []
    for _ in range(100 * n):
        if len(out) == n:
            break
        p, d = ps[rng.integers(len(ps))], days[rng.integers(len(days))]
        sk = m.skeleton(p)
        i = sk.pos.get(d)
        if i is not None and sk.shape[i] == prices.NO_CATALYST and m.is_listed(p, d):
            out.append((p.ticker, d))
    return out


def _share(part: float, whole: float) -> float | None:
    return _r(part / whole) if whole else None


def intraday(
    m: SimMarket, normal_days: int = NORMAL_DAYS, pause_sessions: tuple[int, int] = PAUSE_SESSIONS
) -> dict:
    """LULD pauses and the SSR trigger on the catalyst days of sessions ``pause_sessions`` (by
    index), and the volume profile of ``normal_days`` ordinary days (§4.7-§4.9)."""
    lo, hi = pause_sessions
    pauses: list[int] = []
    by_shape: dict[str, list[bool]] = {}
    ssr = 0
    for d in m.sessions()[lo:hi]:
        for row in m.catalysts(d).iter_rows(named=True):
            pauses.append(row["halts"])
            by_shape.setdefault(row["shape"], []).append(row["halts"] > 0)
            bar = m.daily_bar(row["ticker"], d)
            ssr += bar is not None and bar["l"] <= 0.9 * m.day_plan(row["ticker"], d).prev_close
    counts = Counter(pauses)
    first = mid = last = 0.0
    ext: list[float] = []
    paused_normal = 0
    sample = _normal_sample(m, normal_days)
    for ticker, d in sample:
        plan = m.day_plan(ticker, d)
        paused_normal += plan is not None and len(plan.halts) > 0
        bars = m.minute_bars(ticker, d)
        sess = cal.session(d)
        if bars.is_empty() or bars["v"].sum() == 0:
            continue
        o, c = sess.ns("market_open") // 10**6, sess.ns("market_close") // 10**6
        t, v = bars["t"].to_numpy(), bars["v"].to_numpy()
        ext.append(float(v[(t < o) | (t >= c)].sum() / v.sum()))
        if not sess.early_close:
            k = (t - o) // 60_000
            first += v[(k >= 0) & (k < 30)].sum()
            mid += v[(k >= 180) & (k < 210)].sum()
            last += v[(k >= 360) & (k < 390)].sum()
    return {
        "catalyst_sessions": [lo, hi],
        "catalyst_days": len(pauses),
        "paused_share": _share(sum(h > 0 for h in pauses), len(pauses)),
        "days_by_pauses": {str(k): counts[k] for k in sorted(counts)},
        "paused_share_by_shape": {s: _r(np.mean(v), 3) for s, v in sorted(by_shape.items())},
        "ssr_trigger_share": _share(ssr, len(pauses)),
        "normal_days": len(sample),
        "normal_days_paused": int(paused_normal),
        "first_30_vs_12_30": _r(first / mid, 2) if mid else None,
        "last_30_vs_12_30": _r(last / mid, 2) if mid else None,
        "extended_hours_share_median_p10_p90": [_r(x) for x in np.percentile(ext, [50, 10, 90])]
        if ext
        else None,
    }


def edge_figures(m: SimMarket, start: dt.date = EDGE_START, end: dt.date = EDGE_END) -> dict:
    """The planted edge over ``start..end`` (§5): setup days, Bayes AUCs, the shape's own AUC."""
    days = [d for d in m.sessions() if start <= d <= end]
    concerned = m.bayes_auc(days)
    every = m.bayes_auc(days, concerned_only=False)

    truth = pl.concat([m.planted_truth(d) for d in days])
    shape_alone = edge.auc(truth["concerned"].to_numpy().astype(float), truth["win"].to_numpy())
    return {
        "span": [str(start), str(end)],
        "mode": m.config.edge.mode,
        "concerned_days": concerned["events"],
        "concerned_continued": concerned["wins"],
        "expected_bayes_auc": _r(concerned["expected_bayes_auc"]),
        "bayes_auc_concerned": _r(concerned["bayes_auc"]),
        "catalyst_days": every["events"],
        "bayes_auc_all": _r(every["bayes_auc"]),
        "shape_alone_auc_all": _r(shape_alone),
    }


PARTS = {
    "reference": reference,
    "catalysts": catalysts,
    "corporate_actions": corporate_actions,
    "intraday": intraday,
    "edge": edge_figures,
}


def census(m: SimMarket, parts: tuple[str, ...] = tuple(PARTS)) -> dict:
    """The chosen parts' figures for market ``m``, headed by the market that produced them."""
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown census parts {unknown}; known: {list(PARTS)}")
    sessions = m.sessions()
    head = {
        "seed": m.config.seed,
        "n_symbols": m.config.n_symbols,
        "sessions": len(sessions),
        "first": str(sessions[0]),
        "last": str(sessions[-1]),
    }
    return {"market": head, **{part: PARTS[part](m) for part in parts}}

"""Price, volume and corporate-action paths of the simulated market.

Two levels, both pure functions of the config:

* ``skeleton(cfg, profile)``: one symbol's daily path over the span (~1,000 sessions, vectorised,
  cached). It fixes each session's open and close, the catalyst days and their shapes, splits,
  offerings and delisting. Later sessions depend on earlier closes, so this level is per symbol.
* ``day_plan(cfg, profile, date)``: one symbol-day at minute resolution: the mid-price path from
  04:00 to 20:00 ET (shorter on early closes), LULD pauses, and how many trades and quotes print in
  each minute. Ticks are drawn from it lazily in ``ticks.py``.

Prices here are "economic" (in listing-day shares); ``raw = economic * factor`` where the factor
jumps at each split, exactly as a stock's quoted price does.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .. import calendar as cal
from . import edge as planted_edge
from .config import SETUP_SHAPES, SimConfig
from .reference import TickerProfile
from .rng import generator

# ---------------------------------------------------------------------------------------------
# Catalyst shapes. Each is drawn in log-price units of the day's move scale M, relative to the open,
# against minutes after 09:30: the part before the trigger, the trigger minute, the direction the
# setup bets on, and the path after the trigger if it continues (win) or fails (loss).
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    name: str
    direction: int
    pre: tuple[tuple[float, float], ...]
    trigger: float
    win: tuple[tuple[float, float], ...]
    loss: tuple[tuple[float, float], ...]
    pm_high_offset: float = 0.04  # pre-market high above the open, in units of M
    quiet: tuple[float, float] | None = None  # a low-noise stretch (consolidation), minutes


_END = 390.0  # stands for the close; rescaled on early-close days
SHAPES: dict[str, Shape] = {
    s.name: s
    for s in (
        Shape(
            "gap_and_go",
            +1,
            ((0, 0), (4, -0.05), (9, 0.10)),
            9,
            ((45, 0.55), (150, 0.40), (_END, 0.45)),
            ((25, -0.25), (150, -0.45), (_END, -0.5)),
            pm_high_offset=0.08,
        ),
        Shape(
            "fade",
            -1,
            ((0, 0), (4, 0.10), (10, -0.02)),
            10,
            ((70, -0.45), (_END, -0.60)),
            ((70, 0.30), (_END, 0.25)),
        ),
        Shape(
            "opening_range_break",
            +1,
            ((0, 0), (4, 0.06), (9, -0.05), (14, 0.04), (17, 0.09)),
            17,
            ((70, 0.45), (_END, 0.35)),
            ((45, -0.18), (_END, -0.30)),
            quiet=(0, 15),
        ),
        Shape(
            "vwap_reclaim",
            +1,
            ((0, 0), (6, 0.12), (35, -0.22), (50, -0.04), (56, 0.05)),
            56,
            ((110, 0.40), (_END, 0.32)),
            ((100, -0.32), (_END, -0.38)),
        ),
        Shape(
            "vwap_reject",
            -1,
            ((0, 0), (12, -0.28), (42, -0.04), (48, -0.12)),
            48,
            ((110, -0.42), (_END, -0.48)),
            ((110, 0.15), (_END, 0.10)),
        ),
        Shape(
            "first_pullback",
            +1,
            ((0, 0), (10, 0.38), (19, 0.22), (25, 0.40)),
            25,
            ((60, 0.75), (_END, 0.55)),
            ((50, 0.05), (_END, -0.05)),
        ),
        Shape(
            "parabolic_flush",
            -1,
            ((0, 0), (10, 0.15), (20, 0.38), (27, 0.75), (31, 0.92)),
            31,
            ((40, 0.30), (90, 0.12), (_END, 0.08)),
            ((60, 1.05), (_END, 0.85)),
        ),
        Shape(
            "consolidation_break",
            +1,
            ((0, 0), (10, 0.22), (20, 0.16), (80, 0.18), (86, 0.26)),
            86,
            ((135, 0.55), (_END, 0.45)),
            ((125, 0.04), (_END, -0.02)),
            quiet=(20, 80),
        ),
        Shape(
            "hod_break",
            +1,
            ((0, 0), (15, 0.32), (60, 0.10), (150, 0.28), (160, 0.36)),
            160,
            ((220, 0.58), (_END, 0.52)),
            ((220, 0.10), (_END, 0.05)),
        ),
        Shape(
            "gap_down",
            -1,
            ((0, 0), (6, 0.05)),
            6,
            ((60, -0.30), (_END, -0.36)),
            ((60, 0.20), (_END, 0.15)),
            pm_high_offset=0.02,
        ),
    )
}
assert tuple(SHAPES) == SETUP_SHAPES
SHAPE_NAMES = tuple(SHAPES)
# How often each shape is the day's catalyst (gap_down also comes from offerings).
SHAPE_WEIGHTS = np.array([0.16, 0.14, 0.11, 0.09, 0.06, 0.10, 0.09, 0.09, 0.08, 0.08])
NO_CATALYST = -1
REVERSION = 0.995
# Martingale paths (``EdgeConfig.paths``): a catalyst day's Brownian motion, per-minute sd in units
# of the day's move scale M over sqrt(390): the regular session's (a day's sd of half the move,
# as wide as the shapes travel) and the pre-market's after the news.
MARTINGALE_RTH_VOL = 0.5
MARTINGALE_PM_VOL = 0.3


@dataclass(frozen=True)
class Split:
    ticker: str
    execution_date: dt.date
    split_from: float
    split_to: float


@dataclass(frozen=True)
class Skeleton:
    """A symbol's daily path. Arrays are indexed by position in ``dates`` (sessions while listed)."""

    dates: tuple[dt.date, ...]
    econ_open: np.ndarray
    econ_close: np.ndarray
    factor: np.ndarray  # raw price = econ * factor; raw shares = econ shares / factor
    econ_shares: np.ndarray
    econ_volume: np.ndarray  # target session volume in economic shares
    shape: np.ndarray  # index into SHAPE_NAMES, or NO_CATALYST
    gap: np.ndarray  # catalyst gap as a fraction (0.25 = +25%)
    move: np.ndarray  # catalyst move scale M (log units)
    win: np.ndarray  # catalyst outcome in this market's edge mode: True if the setup continued
    planted_win: np.ndarray  # the outcome the daily path was drawn with (shapes: the planted one)
    news_jump: np.ndarray  # martingale paths: the log jump at the news (0.0 on other days)
    leg: np.ndarray  # martingale paths: the planted leg after the trigger, in units of M (signed)
    flow_z: np.ndarray  # the catalyst day's latent order-flow signal (0.0 on other days)
    win_prob: np.ndarray  # P(continue | flow_z, shape) in this mode (0.0 on other days)
    path_close: np.ndarray  # the close of that path; econ_close differs only where win does
    rvol: np.ndarray
    news_frac: np.ndarray  # where in the pre-market a catalyst's news lands (0..1)
    splits: tuple[Split, ...]
    offerings: tuple[dt.date, ...]
    delisted_on: dt.date | None  # first date the ticker no longer trades
    pos: dict[dt.date, int] = field(repr=False)

    def raw_close(self, i: int) -> float:
        return float(self.econ_close[i] * self.factor[i])

    def raw_shares(self, i: int) -> float:
        return float(self.econ_shares[i] / self.factor[i])


def _waypoint_level(points: tuple[tuple[float, float], ...]) -> float:
    return points[-1][1]


def _rolling_all(mask: np.ndarray, n: int) -> np.ndarray:
    """True at i when mask[i-n+1..i] are all True."""
    c = np.concatenate([[0], np.cumsum(mask.astype(np.int64))])
    out = np.zeros(mask.shape, dtype=bool)
    if len(mask) >= n:
        out[n - 1 :] = (c[n:] - c[:-n]) == n
    return out


_STREAMS = 15


def _yearly_draws(seed: int, index: int, sessions: list[dt.date]) -> np.ndarray:
    """Per-session random draws keyed by (seed, ticker, year, session-of-year).

    Keying by year rather than by the span means extending the span never changes the randomness
    of sessions already simulated.
    """
    out = np.empty((_STREAMS, len(sessions)))
    by_year: dict[int, list[int]] = {}
    for j, d in enumerate(sessions):
        by_year.setdefault(d.year, []).append(j)
    for year, cols in by_year.items():
        year_days = cal.trading_days(dt.date(year, 1, 1), dt.date(year, 12, 31))
        first = {d: i for i, d in enumerate(year_days)}
        rng = generator(seed, "skeleton", index, year)
        block = np.vstack(
            [
                rng.standard_t(3, 262) / np.sqrt(3.0),
                rng.normal(0.0, 1.0, 262),
                *(rng.random(262) for _ in range(7)),
                rng.normal(0.0, 1.0, 262),
                rng.random(262),  # appended last so earlier streams keep their values
                rng.random(262),  # the edge's latent z (appended: earlier streams unchanged)
                rng.random(262),  # the null mode's outcome
                rng.normal(0.0, 1.0, 262),  # martingale paths: the pre-market's move after the news
                rng.normal(0.0, 1.0, 262),  # martingale paths: the regular session's move
            ]
        )
        pos = [first[sessions[j]] for j in cols]
        out[:, cols] = block[:, pos]
    return out


def _reverting_path(shocks: np.ndarray, frozen: np.ndarray) -> np.ndarray:
    # A plain loop: the AR coefficient varies by day, which a linear filter cannot express, and
    # 1,000 steps per symbol cost well under a millisecond.
    out = np.empty(len(shocks))
    x = 0.0
    for i, (e, f) in enumerate(zip(shocks.tolist(), frozen.tolist(), strict=True)):
        x = (x if f else REVERSION * x) + e
        out[i] = x
    return out


@lru_cache(maxsize=50_000)
def skeleton(cfg: SimConfig, p: TickerProfile) -> Skeleton:
    sessions = cal.trading_days(max(cfg.start, p.list_date), cfg.end)
    if p.delist_date is not None:
        sessions = [d for d in sessions if d < p.delist_date]
    k = len(sessions)
    draws = _yearly_draws(cfg.seed, p.index, sessions)
    t3, overnight_z, u_cat, u_shape, u_gap, u_win, u_rvol, u_offer, u_mult, vol_z, u_news, u_z, u_null = (
        draws[:13]
    )
    pm_z, rth_z = draws[13:]
    overnight = overnight_z * 0.35 * p.daily_vol
    intraday = t3 * p.daily_vol * 0.85 + p.drift
    cum_w = np.cumsum(SHAPE_WEIGHTS / SHAPE_WEIGHTS.sum())
    shape = np.minimum(np.searchsorted(cum_w, u_shape), len(SHAPE_NAMES) - 1)
    rvol = np.exp(np.log(5.0) + u_rvol * (np.log(50.0) - np.log(5.0)))
    offer_mult = 1.15 + 0.45 * u_mult
    vol_noise = np.exp(0.35 * vol_z)

    is_cat = u_cat < cfg.catalyst_rate * p.catalyst_propensity
    small_cs = p.is_small_cap_candidate and p.start_shares * p.start_price < 2e9
    offering = (u_offer < cfg.offering_rate / 252.0) & small_cs
    gap_down_idx = SHAPE_NAMES.index("gap_down")
    shape = np.where(offering, gap_down_idx, shape)
    is_cat = is_cat | offering
    shape = np.where(is_cat, shape, NO_CATALYST)

    # Up-gaps are 11%-300%, quartiles about 13% / 23% / 60% with a long tail past +100%;
    # gap-downs are 11%-51%.
    gap = np.where(shape == gap_down_idx, -(0.11 + 0.40 * u_gap), 0.11 * 27.0 ** (u_gap**2.2))
    gap = np.where(is_cat, gap, 0.0)
    move = 0.35 * np.log1p(np.abs(gap)) + 0.08
    # The planted outcome fixes the daily path in both edge modes; z is drawn given it (sim/edge.py).
    shape_at = np.clip(shape, 0, None)
    base_prob = np.array([cfg.edge.base_prob(n) for n in SHAPE_NAMES])[shape_at]
    strength = np.array([cfg.edge.strength_for(n) for n in SHAPE_NAMES])[shape_at]
    win = is_cat & (u_win < base_prob)
    flow_z = np.where(is_cat, planted_edge.draw_z(u_z, win, base_prob, strength), 0.0)
    if cfg.edge.mode == "planted":
        realised = win
        win_prob = np.where(is_cat, planted_edge.true_prob(flow_z, base_prob, strength), 0.0)
    else:
        realised, win_prob = is_cat & (u_null < 0.5), np.where(is_cat, 0.5, 0.0)
    end_level = np.zeros(k)
    real_level = np.zeros(k)
    for si, name in enumerate(SHAPE_NAMES):
        s = SHAPES[name]
        sel = is_cat & (shape == si)
        end_level[sel] = np.where(win[sel], _waypoint_level(s.win), _waypoint_level(s.loss))
        real_level[sel] = np.where(realised[sel], _waypoint_level(s.win), _waypoint_level(s.loss))
    news_jump = np.where(is_cat, np.log1p(gap), 0.0)
    leg = np.zeros(k)
    if cfg.edge.paths == "martingale":
        # The day moves as a Brownian motion after the news: the open is the jump plus the
        # pre-market's walk, the close the open plus the session's walk and, in planted mode, the
        # concerned setup's leg. Nothing else has a direction, so the null market has no edge.
        if cfg.edge.mode == "planted":
            for si, name in enumerate(SHAPE_NAMES):
                if name in cfg.edge.setups:
                    sel = is_cat & (shape == si)
                    leg[sel] = np.where(
                        win[sel], first_leg(SHAPES[name], True)[1], first_leg(SHAPES[name], False)[1]
                    )
        rth_frac = np.array(
            [_rth_minutes(d) / 390.0 if c else 1.0 for d, c in zip(sessions, is_cat, strict=True)]
        )
        pm_minutes = _PRE_MARKET_MINUTES - 1 - np.array([news_minute(f, _PRE_MARKET_MINUTES) for f in u_news])
        pm_sd = MARTINGALE_PM_VOL * move * np.sqrt(pm_minutes / 390.0)
        rth_sd = MARTINGALE_RTH_VOL * move * np.sqrt(rth_frac)
        overnight = np.where(is_cat, news_jump + pm_sd * pm_z, overnight)
        intraday = np.where(is_cat, leg * move + rth_sd * rth_z, intraday)
        realised_path = realised  # the day is drawn with its own outcome: nothing to splice
    else:
        overnight = np.where(is_cat, news_jump, overnight)
        intraday = np.where(is_cat, end_level * move, intraday)
        realised_path = win

    # Log price is an AR(1) around the listing level (half-life ~140 sessions): catalyst gains and
    # losses fade over months instead of compounding, as small-cap runners do. The pull acts
    # overnight and skips catalyst days, so planted gaps and intraday moves are exact.
    x = _reverting_path(overnight + intraday, is_cat)
    log_close = np.log(p.start_price) + x
    log_open = log_close - intraday
    realised_gap = np.expm1(log_open - np.concatenate([[np.log(p.start_price)], log_close[:-1]]))
    gap = np.where(is_cat, realised_gap, 0.0)
    econ_open, econ_close = np.exp(log_open), np.exp(log_close)
    # Where the null mode's coin differs from the planted outcome the day closes elsewhere; the next
    # session still opens on the daily path, so later sessions are the same in both modes.
    flipped = realised != realised_path
    real_close = np.where(flipped, np.exp(log_open + np.where(is_cat, real_level * move, 0.0)), econ_close)
    econ_shares = p.start_shares * np.cumprod(np.where(offering, offer_mult, 1.0))

    # Splits follow the raw price: a name stuck under $1 reverse-splits (exchange listing rules);
    # an expensive one sometimes splits forward. Loop over events, not days.
    factor = np.ones(k)
    splits: list[Split] = []
    i = 0
    attempt = 0
    while i < k:
        raw = econ_close * factor
        below = _rolling_all(raw < 1.0, 30)
        above = _rolling_all(raw > 150.0, 20)
        cand = np.flatnonzero((below | above) & (np.arange(k) >= i))
        if len(cand) == 0:
            break
        j = int(cand[0])
        ev = generator(cfg.seed, "split", p.index, attempt)
        attempt += 1
        exec_i = j + int(ev.integers(1, 6))
        if exec_i >= k:
            break
        if below[j]:
            if ev.random() < cfg.reverse_split_rate:
                target = ev.uniform(3.0, 9.0) / raw[j]
                ratio = float(min((5, 10, 15, 20, 25, 30, 40, 50, 100), key=lambda r: abs(r - target)))
                factor[exec_i:] *= ratio
                splits.append(Split(p.ticker, sessions[exec_i], split_from=ratio, split_to=1.0))
        elif ev.random() < cfg.forward_split_rate:
            ratio = float(ev.choice([2, 3, 4]))
            factor[exec_i:] /= ratio
            splits.append(Split(p.ticker, sessions[exec_i], split_from=1.0, split_to=ratio))
        i = exec_i + 60

    # Deficiency delisting: a raw price under $0.10 for 10 sessions ends the listing.
    delisted_on = p.delist_date
    dead = np.flatnonzero(_rolling_all(econ_close * factor < 0.10, 10))
    if len(dead):
        cut = int(dead[0]) + 1
        if cut < k:
            delisted_on = sessions[cut]
            k = cut
    base_volume = econ_shares * (p.float_pct or 0.7) * p.turnover
    econ_volume = base_volume * vol_noise * (1.0 + 0.8 * np.abs(intraday) / p.daily_vol)
    econ_volume = np.where(is_cat, base_volume * rvol, econ_volume)
    sl = slice(0, k)
    dates = tuple(sessions[:k])
    return Skeleton(
        dates=dates,
        econ_open=econ_open[sl],
        econ_close=real_close[sl],
        factor=factor[sl],
        econ_shares=econ_shares[sl],
        econ_volume=econ_volume[sl],
        shape=shape[sl],
        gap=gap[sl],
        move=move[sl],
        win=realised[sl],
        planted_win=realised_path[sl],
        news_jump=news_jump[sl],
        leg=leg[sl],
        flow_z=flow_z[sl],
        win_prob=win_prob[sl],
        path_close=econ_close[sl],
        rvol=rvol[sl],
        news_frac=u_news[sl],
        splits=tuple(s for s in splits if s.execution_date < (delisted_on or dt.date.max)),
        offerings=tuple(d for d, o in zip(dates, offering[sl], strict=True) if o),
        delisted_on=delisted_on,
        pos={d: i for i, d in enumerate(dates)},
    )


# ---------------------------------------------------------------------------------------------
# One symbol-day at minute resolution
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Halt:
    start_ns: int
    end_ns: int
    reference_price: float
    band_pct: float
    direction: int  # +1 limit up, -1 limit down


@dataclass(frozen=True)
class DayPlan:
    """A symbol-day at minute resolution; minute m spans [t0 + 60m, t0 + 60(m+1)) seconds."""

    ticker: str
    date: dt.date
    session: cal.Session
    t0_ns: int  # 04:00 ET
    n_minutes: int
    rth_start: int  # minute index of 09:30
    rth_end: int  # minute index of the close (exclusive end of RTH)
    log_mid: np.ndarray  # n_minutes + 1 boundary values
    minute_sd: np.ndarray  # within-minute noise (log units)
    spread: np.ndarray  # relative quoted spread per minute (wider pre/post market, at the open, after pauses)
    n_trades: np.ndarray  # regular prints per minute, at or inside the NBBO (0 during pauses)
    n_avg: np.ndarray  # average-price prints (condition 2): volume, no OHLC, priced off the NBBO
    n_void: np.ndarray  # cancelled/erroneous prints (correction != 0): in the tape, in no bar
    n_official: np.ndarray  # the listing market's official open (16) / close (15) print: in no bar
    n_prints: np.ndarray  # every print of the minute (the four above)
    n_segments: np.ndarray  # NBBO price states per minute (each opens with a quote)
    n_extra_quotes: np.ndarray  # size-only NBBO updates between trades
    n_quotes: np.ndarray  # n_segments + n_trades (one update after each print) + n_extra_quotes
    lot: np.ndarray  # round-lot unit of the minute's prints; grows only where the print cap binds
    trade_seq0: np.ndarray  # first trade sequence number in each minute
    quote_seq0: np.ndarray
    mean_size: float  # the name's mean print size today (shares) where the cap does not bind
    odd_share: float  # share of regular prints that are odd lots (< 100 shares)
    halts: tuple[Halt, ...]
    prev_close: float  # raw, in today's share units
    shape: str | None
    trigger_ns: int | None
    direction: int
    win: bool | None
    gap: float
    tick: float
    buy_tilt: np.ndarray  # per minute: shift of the ask share (the planted flow; zero on ordinary days)
    flow_z: float | None  # the catalyst day's latent order-flow signal
    win_prob: float | None  # P(continue | flow_z, shape) in this edge mode


def _bridge(rng: np.random.Generator, a: float, b: float, n: int, sd: float) -> np.ndarray:
    """n+1 points from a to b: a straight line plus Brownian-bridge noise pinned at both ends."""
    if n <= 0:
        return np.array([b])
    w = np.concatenate([[0.0], np.cumsum(rng.normal(0.0, sd, n))])
    t = np.arange(n + 1) / n
    return a + (b - a) * t + (w - t * w[-1])


def _knotted(rng, knots: list[tuple[int, float, float]], n: int) -> np.ndarray:
    """A path through (minute, level, noise sd) knots; returns n+1 boundary values."""
    out = np.empty(n + 1)
    for (m0, v0, sd), (m1, v1, _) in itertools.pairwise(knots):
        if m1 <= m0:
            continue
        out[m0 : m1 + 1] = _bridge(rng, v0, v1, m1 - m0, sd)
    return out


def _spikes(
    rng: np.random.Generator, s: Shape, win: bool, trig_m: int, rth_len: int
) -> list[tuple[int, int]]:
    """Minutes where a catalyst day lurches hard enough to trip a LULD pause, with the sign.

    Parabolic runs always squeeze into a pause before the trigger and flush into one after it when
    the setup works; other setups lurch in their winning direction about half the time.
    """
    out: list[tuple[int, int]] = []
    if s.name == "parabolic_flush":
        out.append((int(rng.integers(max(3, trig_m - 12), max(4, trig_m - 1))), +1))
        if win:
            out.append((min(trig_m + int(rng.integers(2, 8)), rth_len - 2), -1))
        return out
    if rng.random() < (0.5 if win else 0.12):
        sign = s.direction if win else -s.direction
        for _ in range(int(rng.integers(1, 3))):
            out.append((min(trig_m + int(rng.integers(1, 40)), rth_len - 2), sign))
    return sorted(out)


def trigger_time_ns(sess: cal.Session, shape: str) -> int:
    """When a catalyst shape's setup triggers (its trigger minute, rescaled on early-close days)."""
    rth_len = (sess.ns("market_close") - sess.ns("market_open")) // 60_000_000_000
    return sess.ns("market_open") + round(SHAPES[shape].trigger * (rth_len / 390.0)) * 60_000_000_000


_PRE_MARKET_MINUTES = 330  # 04:00 to 09:30 ET on every session, early closes included


@lru_cache(maxsize=8192)
def _rth_minutes(date: dt.date) -> int:
    sess = cal.session(date)
    return (sess.ns("market_close") - sess.ns("market_open")) // 60_000_000_000


def first_leg(s: Shape, win: bool) -> tuple[float, float]:
    """The shape's first leg after its trigger: (minutes, level change in units of M), to the first
    knot of the continuation (``win``) or of the failure."""
    t, level = (s.win if win else s.loss)[0]
    return t - s.trigger, level - s.pre[-1][1]


def news_minute(news_frac: float, rth_start: int) -> int:
    """Minute index (from 04:00 ET) at which a catalyst's news hits: 30-85% into the pre-market."""
    return int(rth_start * (0.30 + 0.55 * news_frac))


def news_time_ns(sk: Skeleton, i: int) -> int:
    """When the news of catalyst session ``i`` is published (the pre-market jump follows it)."""
    sess = cal.session(sk.dates[i])
    rth_start = (sess.ns("market_open") - sess.ns("pre_open")) // 60_000_000_000
    return sess.ns("pre_open") + news_minute(float(sk.news_frac[i]), rth_start) * 60_000_000_000


def luld_band(ref_price: float, prev_close: float, tier: int, minute_after_open: int, rth_len: int) -> float:
    """LULD band as a fraction of the reference price (the LULD Plan; docs/market_rules.md).

    The percentage tier is chosen by the previous close; the $0.15 cap of the lowest tier is in
    dollars, so it is converted with the reference price. Bands double 09:30-09:45, and in the
    last 25 minutes for Tier 1 and for Tier 2 names at or under $3.
    """
    if prev_close > 3.0:
        pct = 0.05 if tier == 1 else 0.10
    elif prev_close >= 0.75:
        pct = 0.20
    else:
        pct = min(0.15 / ref_price, 0.75)
    doubled = minute_after_open < 15 or (
        minute_after_open >= rth_len - 25 and (tier == 1 or prev_close <= 3.0)
    )
    return pct * (2.0 if doubled else 1.0)


def _volume_weights(n_min: int, rth_start: int, rth_end: int) -> np.ndarray:
    """U-shaped regular-session volume, thin pre-market and after-hours."""
    w = np.empty(n_min)
    m = np.arange(n_min)
    rth_len = rth_end - rth_start
    t = m - rth_start
    rth = (m >= rth_start) & (m < rth_end)
    w[rth] = 1.0 + 3.0 * np.exp(-t[rth] / 18.0) + 2.0 * np.exp(-(rth_len - 1 - t[rth]) / 14.0)
    pm = m < rth_start
    # pre-market builds toward the open
    w[pm] = 0.015 + 0.10 * np.exp(-(rth_start - m[pm]) / 40.0)
    ah = m >= rth_end
    w[ah] = 0.03 + 0.25 * np.exp(-(m[ah] - rth_end) / 20.0)
    return w


# ---------------------------------------------------------------------------------------------
# Print sizes. A round print is the minute's lot x a multiplier k, an odd lot is 1-99 shares. Both
# come from fixed tables read at a random offset per run of prints, so the volume of any run is a
# difference of two prefix sums: minute bars are exact sums over runs without drawing each print.
# ---------------------------------------------------------------------------------------------

SIZE_TABLE_LEN = 1 << 16
MAX_RUN = 20_000  # longest run read from a table (>= the largest per-minute print cap)
AVG_PRICE_RATE = 0.012  # average-price prints per regular print (regular session)
VOID_RATE = 0.0025  # cancelled / erroneous prints per regular print
MAX_SEGMENTS = 24  # NBBO price states per minute at most


@dataclass(frozen=True)
class SizeTables:
    k: np.ndarray  # round-lot multipliers (>= 1), periodic: k[i + SIZE_TABLE_LEN] == k[i]
    k_cum: np.ndarray  # k_cum[i] = sum(k[:i])
    odd: np.ndarray  # odd-lot sizes 1-99, periodic
    odd_cum: np.ndarray


@lru_cache(maxsize=1)
def size_tables() -> SizeTables:
    """The shape of the print-size distribution: model constants, the same in every market.

    Round prints: mostly one lot, a heavy tail of multi-lot prints and, 0.4% of the time, a block
    of 50-1,000 lots (Pareto tail). Odd lots: small sizes and round-looking ones (10, 25, 50 ...).
    """
    rng = generator("print-size-tables", 1)
    n = SIZE_TABLE_LEN
    u = rng.random(n)
    small = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    small_p = np.array([0.60, 0.16, 0.07, 0.04, 0.05, 0.01, 0.01, 0.005, 0.005, 0.025])
    k = small[np.minimum(np.searchsorted(np.cumsum(small_p / small_p.sum()), rng.random(n)), 9)]
    mid = np.round(np.exp(rng.uniform(np.log(11), np.log(49), n)))
    block = np.minimum(np.floor(50.0 * (1.0 - rng.random(n)) ** (-1 / 1.5)), 1000)
    k = np.where(u < 0.004, block, np.where(u < 0.019, mid, k)).astype(np.int64)
    v = rng.random(n)
    roundish = np.array([10, 20, 25, 30, 40, 50, 60, 75, 80, 90])
    odd = np.where(
        v < 0.45,
        rng.integers(1, 10, n),
        np.where(v < 0.75, roundish[rng.integers(0, len(roundish), n)], rng.integers(10, 100, n)),
    ).astype(np.int64)
    reps = 1 + MAX_RUN // n + 1
    k_ext, odd_ext = np.tile(k, reps), np.tile(odd, reps)
    return SizeTables(
        k=k_ext,
        k_cum=np.concatenate([[0], np.cumsum(k_ext)]),
        odd=odd_ext,
        odd_cum=np.concatenate([[0], np.cumsum(odd_ext)]),
    )


def size_table_means() -> tuple[float, float]:
    t = size_tables()
    return float(t.k_cum[SIZE_TABLE_LEN] / SIZE_TABLE_LEN), float(t.odd_cum[SIZE_TABLE_LEN] / SIZE_TABLE_LEN)


def print_size_model(p: TickerProfile, price: float) -> tuple[int, float, float]:
    """(lot, odd-lot share, mean print size in shares) of a name trading at ``price``.

    Cheap stocks print more shares per trade and expensive ones print more odd lots, as on the real
    tape; the name's own ``avg_trade_size`` sets the level. Stable from day to day for a name: it
    moves only with the price (a reverse split shrinks prints in shares).
    """
    price = max(price, 0.01)
    target = p.avg_trade_size * (5.0 / price) ** (0.5 if price < 5.0 else 0.3)
    target = float(np.clip(target, 60.0, 1200.0))
    odd_share = float(np.clip(0.04 + 0.11 * np.log(price / 1.5), 0.02, 0.55))
    k_mean, o_mean = size_table_means()
    lots = max(1, round((target - odd_share * o_mean) / ((1.0 - odd_share) * 100.0 * k_mean)))
    lot = 100 * lots
    return lot, odd_share, (1.0 - odd_share) * lot * k_mean + odd_share * o_mean


@lru_cache(maxsize=4096)
def day_plan(cfg: SimConfig, p: TickerProfile, date: dt.date) -> DayPlan | None:
    sk = skeleton(cfg, p)
    i = sk.pos.get(date)
    sess = cal.session(date)
    if i is None or sess is None:
        return None
    if sk.shape[i] != NO_CATALYST and sk.win[i] != sk.planted_win[i]:
        # The null mode's coin flipped the planted outcome: up to the trigger the day is the planted
        # one (same prices, same flow), after it the flipped path.
        before = _day_plan(cfg, p, sk, i, sess, bool(sk.planted_win[i]), sk.path_close[i])
        after = _day_plan(cfg, p, sk, i, sess, bool(sk.win[i]), sk.econ_close[i])
        return _splice_at_trigger(before, after)
    return _day_plan(cfg, p, sk, i, sess, bool(sk.win[i]), sk.econ_close[i])


_PER_MINUTE = (
    "minute_sd",
    "spread",
    "n_trades",
    "n_avg",
    "n_void",
    "n_official",
    "n_prints",
    "n_segments",
    "n_extra_quotes",
    "n_quotes",
    "lot",
    "buy_tilt",
)


def _splice_at_trigger(before: DayPlan, after: DayPlan) -> DayPlan:
    """Minutes before the trigger minute from ``before``, the rest from ``after``."""
    assert before.trigger_ns is not None and before.trigger_ns == after.trigger_ns
    t = (before.trigger_ns - before.t0_ns) // 60_000_000_000
    cut = {f: np.concatenate([getattr(before, f)[:t], getattr(after, f)[t:]]) for f in _PER_MINUTE}
    n_prints, n_quotes = cut["n_prints"], cut["n_quotes"]
    return dataclasses.replace(
        after,
        **cut,
        log_mid=np.concatenate([before.log_mid[: t + 1], after.log_mid[t + 1 :]]),
        trade_seq0=1000 + np.concatenate([[0], np.cumsum(n_prints)[:-1]]) * 3,
        quote_seq0=1000 + np.concatenate([[0], np.cumsum(n_quotes)[:-1]]) * 2,
        halts=tuple(h for h in before.halts if h.start_ns < before.trigger_ns)
        + tuple(h for h in after.halts if h.start_ns >= before.trigger_ns),
        tick=before.tick,
    )


def _day_plan(
    cfg: SimConfig, p: TickerProfile, sk: Skeleton, i: int, sess: cal.Session, won: bool, econ_close: float
) -> DayPlan:
    """The day with a given catalyst outcome and close (both ignored on ordinary days)."""
    date = sk.dates[i]
    rng = generator(cfg.seed, "day", p.index, date.toordinal())
    t0_ns = sess.ns("pre_open")
    n_min = (sess.ns("post_close") - t0_ns) // 60_000_000_000
    rth_start = (sess.ns("market_open") - t0_ns) // 60_000_000_000
    rth_end = (sess.ns("market_close") - t0_ns) // 60_000_000_000
    rth_len = rth_end - rth_start

    f = sk.factor[i]
    prev_close = float(sk.econ_close[i - 1] * f) if i > 0 else float(sk.econ_open[i] * f)
    o, c = float(sk.econ_open[i] * f), float(econ_close * f)
    lo, lc, lp = np.log(o), np.log(c), np.log(prev_close)
    per_min = p.daily_vol / np.sqrt(390.0)
    shape_i = int(sk.shape[i])
    weights = _volume_weights(n_min, rth_start, rth_end)

    shape_name: str | None = None
    trigger_ns: int | None = None
    buy_tilt = np.zeros(n_min)  # the planted order flow leans the ask share before a trigger
    direction = 0
    win: bool | None = None
    if shape_i == NO_CATALYST:
        pm = _bridge(rng, lp, lo, rth_start, 0.25 * per_min)
        rth = _bridge(rng, lo, lc, rth_len, per_min)
        ah = lc + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.3 * per_min, n_min - rth_end))])
        quiet_mult = np.ones(n_min)
    else:
        s = SHAPES[SHAPE_NAMES[shape_i]]
        shape_name, direction, win = s.name, s.direction, won
        move_scale = float(sk.move[i])
        scale = rth_len / 390.0
        noise = 0.035 * move_scale / np.sqrt(10.0)
        trig_m = min(round(s.trigger * scale), rth_len - 2)
        news = news_minute(float(sk.news_frac[i]), rth_start)
        martingale = cfg.edge.paths == "martingale"
        if martingale:
            # A Brownian motion from the open, plus the planted leg (zero in null mode and for the
            # other shapes): a bridge to a close drawn with the walk's own variance is the walk.
            drift = np.zeros(rth_len + 1)
            leg = float(sk.leg[i]) * move_scale
            if leg != 0.0:
                leg_m = max(1, min(round(first_leg(s, bool(win))[0] * scale), rth_len - trig_m))
                drift[trig_m : trig_m + leg_m + 1] = np.linspace(0.0, leg, leg_m + 1)
                drift[trig_m + leg_m :] = leg
            rth_sd = MARTINGALE_RTH_VOL * move_scale / np.sqrt(390.0)
            rth = lo + drift + _bridge(rng, 0.0, lc - lo - leg, rth_len, rth_sd)
            rth[-1] = lc
            # Pre-market: quiet until the news, the jump, then the walk to the open.
            jump_to = lp + float(sk.news_jump[i])
            pm_sd = MARTINGALE_PM_VOL * move_scale / np.sqrt(390.0)
            pm = np.concatenate(
                [
                    _bridge(rng, lp, lp, news, 0.2 * per_min),
                    jump_to + _bridge(rng, 0.0, lo - jump_to, rth_start - news - 1, pm_sd),
                ]
            )
        else:
            pts = [*s.pre, *(s.win if win else s.loss)]
            knots: list[tuple[int, float, float]] = []
            for t, lvl in pts:
                m = min(round(t * scale), rth_len)
                if knots and m <= knots[-1][0]:
                    continue
                quiet = s.quiet is not None and s.quiet[0] <= t < s.quiet[1]
                knots.append((m, lo + lvl * move_scale, noise * (0.15 if quiet else 1.0)))
            if knots[-1][0] != rth_len:
                knots.append((rth_len, lc, noise))
            rth = _knotted(rng, knots, rth_len)
            rth[-1] = lc
            for at, sign in _spikes(rng, s, win, trig_m, rth_len):
                # A step big enough to breach the LULD band, decaying linearly to zero at the close
                # so the session still closes where the daily path says.
                band = luld_band(float(np.exp(rth[at])), prev_close, p.luld_tier, at, rth_len)
                z = sign * np.log1p(band * rng.uniform(1.3, 1.8))
                rth[at:] += z * (1.0 - (np.arange(at, rth_len + 1) - at) / (rth_len - at))
            # Pre-market: quiet until the news, a jump toward the gap, a run to the pre-market
            # high, then a drift down to the open.
            pm_high = lo + s.pm_high_offset * move_scale
            jump_to = lp + 0.7 * (lo - lp)
            peak = min(rth_start - 5, news + int((rth_start - news) * rng.uniform(0.4, 0.8)))
            pm = _knotted(
                rng,
                [
                    (0, lp, 0.2 * per_min),
                    (news, lp, 0.3 * noise),
                    (news + 1, jump_to, 0.6 * noise),
                    (peak, pm_high, 0.3 * noise),
                    (rth_start, lo, 0.3 * noise),
                ],
                rth_start,
            )
        trigger_ns = trigger_time_ns(sess, s.name)
        flow_noise = generator(cfg.seed, "flow", p.index, date.toordinal()).normal(0.0, 1.0, 60)
        trigger_m = (trigger_ns - t0_ns) // 60_000_000_000
        buy_tilt = planted_edge.flow_tilt(
            cfg.edge, float(sk.flow_z[i]), flow_noise, rth_start, trigger_m, n_min, s.direction
        )
        ah = lc + np.concatenate([[0.0], np.cumsum(rng.normal(0.0, 0.25 * noise, n_min - rth_end))])
        # Volume follows the move: heavy at the news, the open and wherever price travels.
        full = np.concatenate([pm[:-1], rth[:-1], ah])
        travel = np.abs(np.diff(full)) / (move_scale / 20.0)
        weights = weights * (1.0 + 2.5 * travel)
        weights[news : news + 3] *= 25.0
        weights[news:rth_start] *= 4.0
        quiet_mult = np.ones(n_min)
        # A mid-session consolidation is also a volume lull; an opening range is not (and a
        # martingale day has no consolidation).
        if not martingale and s.quiet is not None and s.quiet[0] > 0:
            a, b = rth_start + int(s.quiet[0] * scale), rth_start + int(s.quiet[1] * scale)
            weights[a:b] *= 0.35
            quiet_mult[a:b] = 0.2

    log_mid = np.concatenate([pm[:-1], rth[:-1], ah])
    assert len(log_mid) == n_min + 1

    # LULD: compare each regular-session minute with the 5-minute mean reference price. A breach
    # pauses trading for 5 minutes (10 with a 15% chance); the path keeps moving, so the reopening
    # prints where price discovery has gone.
    halts: list[Halt] = []
    halted = np.zeros(n_min, dtype=bool)
    cut_from = np.full(n_min, 60.0)  # trades in minute m only at seconds < cut_from[m] ...
    cut_to = np.zeros(n_min)  # ... and >= cut_to[m]
    mids = np.exp(log_mid)
    # Reference = mean of the previous (up to) 5 minutes; vectorised to find candidate breaches,
    # then walked breach by breach because each pause resets the reference.
    csum = np.concatenate([[0.0], np.cumsum(mids)])
    mm = np.arange(rth_start + 1, rth_end)
    lo_m = np.maximum(rth_start, mm - 5)
    ref = (csum[mm] - csum[lo_m]) / (mm - lo_m)
    band = (
        np.array(
            [
                luld_band(r, prev_close, p.luld_tier, int(t), rth_len)
                for r, t in zip(ref, mm - rth_start, strict=True)
            ]
        )
        if p.luld_covered and np.any(np.abs(mids[mm] / ref - 1.0) > 0.05)
        else np.full(len(mm), np.inf)
    )
    breach = np.abs(mids[mm] / ref - 1.0) > band
    cursor = rth_start + 1
    while True:
        cand = np.flatnonzero(breach & (mm >= cursor))
        if len(cand) == 0:
            break
        j = int(cand[0])
        m = int(mm[j])
        hr = generator(cfg.seed, "halt", p.index, date.toordinal(), m)
        start_s = float(hr.uniform(1.0, 45.0))
        dur = 300.0 if hr.random() > 0.15 else 600.0
        start_ns = t0_ns + int((m * 60 + start_s) * 1e9)
        end_ns = start_ns + int(dur * 1e9)
        halts.append(
            Halt(start_ns, end_ns, round(float(ref[j]), 4), float(band[j]), 1 if mids[m] > ref[j] else -1)
        )
        end_m = m + int((start_s + dur) // 60)
        cut_from[m] = start_s
        halted[m + 1 : min(end_m, n_min)] = True
        if end_m < n_min:
            cut_to[end_m] = (start_s + dur) % 60
        cursor = end_m + 5

    # Prints per minute: each minute's volume over the name's mean print size, so intensity scales with
    # volume and peaks where volume peaks. The cap is per minute: where it binds, only that minute's
    # round lots grow (by a whole factor), never the rest of the day.
    raw_volume = float(sk.econ_volume[i] / f)
    base_lot, odd_share, mean_size = print_size_model(p, prev_close)
    allowed = np.clip((cut_from - cut_to) / 60.0, 0.0, 1.0) * ~halted
    vol_target = raw_volume * weights / weights.sum() * allowed
    cap = cfg.max_trades_per_minute
    mult = np.maximum(1.0, np.ceil(vol_target / mean_size / (0.9 * cap)))
    lot = (base_lot * mult).astype(np.int64)
    k_mean, o_mean = size_table_means()
    minute_mean = (1.0 - odd_share) * lot * k_mean + odd_share * o_mean
    lam = vol_target / minute_mean
    n_trades = np.minimum(rng.poisson(lam), cap).astype(np.int64)
    n_trades[halted] = 0
    active = n_trades > 0
    m_idx = np.arange(n_min)
    in_rth = (m_idx >= rth_start) & (m_idx < rth_end)
    n_avg = np.where(active & in_rth, np.floor(n_trades * AVG_PRICE_RATE + rng.random(n_min)), 0).astype(
        np.int64
    )
    n_void = np.where(active, np.floor(n_trades * VOID_RATE + rng.random(n_min)), 0).astype(np.int64)
    n_official = np.zeros(n_min, dtype=np.int64)
    if p.market == "stocks":
        n_official[rth_start] = int(n_trades[rth_start] > 0)
        if rth_end < n_min:
            n_official[rth_end] = int(n_trades[rth_end - 1] > 0)
    n_segments = np.where(active, np.minimum(np.minimum(n_trades, MAX_SEGMENTS), 1 + np.sqrt(n_trades)), 1)
    n_segments = n_segments.astype(np.int64)
    n_extra = rng.poisson(1.0 + 0.25 * n_trades)
    n_extra[halted] = np.minimum(n_extra[halted], 1)
    n_quotes = n_segments + n_trades + n_extra
    n_prints = n_trades + n_avg + n_void + n_official

    # Quoted spread: relative, narrowing with dollar volume (1-3 ticks for liquid names); wider for
    # sub-dollar names, in the extended session, in the first minutes after the open and after a pause.
    millions = max(raw_volume * c, 1e4) / 1e6  # the day's dollar volume, $M
    pricey = min(1.0, np.sqrt(10.0 / max(prev_close, 0.01)))  # above $10 the spread grows slower than price
    rel = min(0.00005 + (0.006 / np.sqrt(millions) + 0.01 / millions) * pricey, 0.15)
    if prev_close < 1.0:
        rel *= 1.5
    tick = 0.01 if min(o, c, prev_close) >= 1.0 else 0.0001
    spread = np.full(n_min, rel)
    spread[:rth_start] *= 3.0
    spread[rth_end:] *= 2.5
    after_open = m_idx - rth_start
    spread[in_rth] *= 1.0 + 1.5 * np.exp(-after_open[in_rth] / 4.0)
    for h in halts:
        reopen = (h.end_ns - t0_ns) // 60_000_000_000
        later = m_idx >= reopen
        spread[later] *= 1.0 + 2.0 * np.exp(-(m_idx[later] - reopen) / 4.0)
    minute_sd = np.abs(np.diff(log_mid)) * 0.3 + per_min * 0.4 * quiet_mult
    return DayPlan(
        ticker=p.ticker,
        date=date,
        session=sess,
        t0_ns=t0_ns,
        n_minutes=n_min,
        rth_start=rth_start,
        rth_end=rth_end,
        log_mid=log_mid,
        minute_sd=minute_sd,
        spread=spread,
        n_trades=n_trades,
        n_avg=n_avg,
        n_void=n_void,
        n_official=n_official,
        n_prints=n_prints,
        n_segments=n_segments,
        n_extra_quotes=n_extra,
        n_quotes=n_quotes,
        lot=lot,
        trade_seq0=1000 + np.concatenate([[0], np.cumsum(n_prints)[:-1]]) * 3,
        quote_seq0=1000 + np.concatenate([[0], np.cumsum(n_quotes)[:-1]]) * 2,
        mean_size=float(mean_size),
        odd_share=float(odd_share),
        halts=tuple(halts),
        prev_close=prev_close,
        shape=shape_name,
        trigger_ns=trigger_ns,
        direction=direction,
        win=win,
        gap=float(sk.gap[i]),
        tick=tick,
        buy_tilt=buy_tilt,
        flow_z=None if shape_name is None else float(sk.flow_z[i]),
        win_prob=None if shape_name is None else float(sk.win_prob[i]),
    )

"""Static reference data of the simulated market: who is listed, where, as what, and how big.

Each ticker's profile is a pure function of (seed, ticker index). Building all profiles is O(n_symbols)
(600 by default) and does not touch prices, so it is not "precomputing the market".
"""

from __future__ import annotations

import datetime as dt
import json
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from .config import SimConfig
from .rng import generator, stable_key

# Vendor type codes and how often each appears among simulated listings. Common stock dominates,
# as in the real reference list; the rest exist so that type filters have something to remove.
TYPE_WEIGHTS: dict[str, float] = {
    "CS": 0.70,
    "ETF": 0.07,
    "ADRC": 0.05,
    "WARRANT": 0.05,
    "PFD": 0.04,
    "UNIT": 0.02,
    "RIGHT": 0.02,
    "ETN": 0.02,
    "FUND": 0.02,
    "SP": 0.01,
}

# Primary-exchange MICs for listed names; OTC names have market "otc" and no primary exchange.
LISTED_MICS = ("XNAS", "XNAS", "XNAS", "XNYS", "XASE", "ARCX", "BATS")
OTC_SHARE_OF_CS = 0.08
TAPE_BY_MIC = {"XNYS": 1, "XASE": 2, "ARCX": 2, "BATS": 2, "XNAS": 3}

SIC_CODES: tuple[tuple[str, str], ...] = (
    ("2834", "PHARMACEUTICAL PREPARATIONS"),
    ("2836", "BIOLOGICAL PRODUCTS, (NO DIAGNOSTIC SUBSTANCES)"),
    ("3674", "SEMICONDUCTORS & RELATED DEVICES"),
    ("7372", "SERVICES-PREPACKAGED SOFTWARE"),
    ("6022", "STATE COMMERCIAL BANKS"),
    ("1311", "CRUDE PETROLEUM & NATURAL GAS"),
    ("3841", "SURGICAL & MEDICAL INSTRUMENTS & APPARATUS"),
    ("6770", "BLANK CHECKS"),
    ("1040", "GOLD AND SILVER ORES"),
    ("4911", "ELECTRIC SERVICES"),
    ("5961", "RETAIL-CATALOG & MAIL-ORDER HOUSES"),
    ("7370", "SERVICES-COMPUTER PROGRAMMING, DATA PROCESSING, ETC."),
    ("3711", "MOTOR VEHICLES & PASSENGER CAR BODIES"),
    ("6199", "FINANCE SERVICES"),
)

_NAME_WORDS = (
    "Apex",
    "Nova",
    "Quantum",
    "Helix",
    "Vertex",
    "Solaris",
    "Cobalt",
    "Orion",
    "Zenith",
    "Pioneer",
    "Atlas",
    "Lumen",
    "Cipher",
    "Aurora",
    "Titan",
    "Nimbus",
    "Vector",
    "Kinetic",
    "Summit",
    "Harbor",
)
_NAME_SUFFIX = (
    "Therapeutics",
    "Holdings",
    "Technologies",
    "Energy",
    "Biosciences",
    "Systems",
    "Corp",
    "Inc.",
)


@dataclass(frozen=True, slots=True)
class TickerProfile:
    """Everything static about one simulated listing. Prices live in ``prices.py``."""

    index: int
    ticker: str
    name: str
    type: str
    market: str  # "stocks" or "otc"
    primary_exchange: str | None
    list_date: dt.date
    delist_date: dt.date | None  # scheduled delisting (the path may delist earlier)
    cik: str | None
    composite_figi: str
    share_class_figi: str
    sic_code: str | None
    sic_description: str | None
    # economics at listing (or at the span start for older listings)
    start_price: float
    start_shares: float
    float_pct: float | None  # None: float unknown to the vendor
    daily_vol: float  # daily log-return sd on a normal day
    drift: float  # daily log drift
    turnover: float  # daily volume / float on a normal day
    avg_trade_size: float
    catalyst_propensity: float  # multiplier on SimConfig.catalyst_rate
    luld_tier: int
    dividend_yield: float
    short_interest_pct: float

    @property
    def tape(self) -> int:
        return TAPE_BY_MIC.get(self.primary_exchange or "", 3)

    @property
    def luld_covered(self) -> bool:
        """LULD covers NMS stocks except rights and warrants; OTC names are not NMS stocks."""
        return self.market == "stocks" and self.type not in ("WARRANT", "RIGHT")

    @property
    def is_small_cap_candidate(self) -> bool:
        return self.type == "CS" and self.market == "stocks"


def _symbols(seed: int, n: int) -> list[str]:
    """Unique 2-4 letter roots; suffixes for warrants etc. are added by type."""
    rng = generator(seed, "symbols")
    letters = np.array(list(string.ascii_uppercase))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        length = int(rng.choice([2, 3, 3, 4, 4, 4]))
        sym = "".join(rng.choice(letters, size=length))
        if sym not in seen:
            seen.add(sym)
            out.append(sym)
    return out


def _figi(seed: int, ticker: str, kind: str) -> str:
    alphabet = "BCDFGHJKLMNPQRSTVWXYZ0123456789"
    k = stable_key(seed, "figi", kind, ticker)
    chars = []
    for _ in range(9):
        chars.append(alphabet[k % len(alphabet)])
        k //= len(alphabet)
    return "BBG" + "".join(chars)


def _profile(cfg: SimConfig, index: int, root: str) -> TickerProfile:
    rng = generator(cfg.seed, "profile", index)
    types = list(TYPE_WEIGHTS)
    weights = np.array(list(TYPE_WEIGHTS.values()))
    kind = str(rng.choice(types, p=weights / weights.sum()))

    ticker = {"WARRANT": root + "w", "PFD": root + "pA", "UNIT": root + "U", "RIGHT": root + "r"}.get(
        kind, root
    )

    market = "stocks"
    mic: str | None = str(rng.choice(LISTED_MICS))
    if kind in ("ETF", "ETN", "FUND"):
        mic = str(rng.choice(["ARCX", "BATS", "XNAS"]))
    if kind == "CS" and rng.random() < OTC_SHARE_OF_CS:
        market, mic = "otc", None

    # Listing events are drawn over a fixed 4-year horizon, not the configured span, so that
    # extending ``end`` never rewrites history (a ticker listed after ``end`` is simply not yet listed).
    horizon = 8 * 365
    if rng.random() < cfg.ipo_rate:
        list_date = cfg.start + dt.timedelta(days=int(rng.integers(5, horizon)))
    else:
        list_date = dt.date(1985, 1, 1) + dt.timedelta(
            days=int(rng.integers(0, (cfg.start - dt.date(1985, 1, 1)).days))
        )
    delist_date = None
    if rng.random() < cfg.delist_rate:
        first = max(list_date, cfg.start) + dt.timedelta(days=90)
        delist_date = first + dt.timedelta(days=int(rng.integers(0, horizon)))
    # Market cap: a small-cap body plus a Pareto tail from $2B. Price is drawn separately, so a
    # large cap can trade under $20 (shares = cap / price): the trap that broke the old universe.
    is_large = rng.random() < cfg.large_cap_share
    if kind in ("CS", "ADRC"):
        if is_large:
            cap = 2.0e9 * (1.0 + rng.pareto(1.1))
            price = float(np.exp(rng.normal(np.log(24.0), 1.0)))
        else:
            cap = float(np.exp(rng.normal(np.log(1.5e8), 1.0)))
            price = float(np.exp(rng.uniform(np.log(0.35), np.log(28.0))))
    elif kind in ("ETF", "ETN", "FUND"):
        price = float(np.exp(rng.uniform(np.log(8.0), np.log(120.0))))
        cap = float(np.exp(rng.normal(np.log(5e8), 1.5)))
    elif kind == "PFD":
        price = float(rng.uniform(15.0, 27.0))
        cap = float(np.exp(rng.normal(np.log(2e8), 0.8)))
    else:  # warrants, rights, units, structured products: cheap paper
        price = float(np.exp(rng.uniform(np.log(0.05), np.log(3.0))))
        cap = float(np.exp(rng.normal(np.log(3e7), 0.8)))
    price = float(np.clip(price, 0.2, 900.0))
    shares = max(cap / price, 2.0e5)

    cheap = price < 5.0
    small = cap < 2.0e9
    daily_vol = float(
        rng.uniform(0.045, 0.085)
        if cheap
        else rng.uniform(0.02, 0.04)
        if small
        else rng.uniform(0.012, 0.022)
    )
    if kind in ("ETF", "ETN", "FUND", "PFD"):
        daily_vol = float(rng.uniform(0.006, 0.014))
    drift = -0.0012 if (cheap and small and kind == "CS") else 0.0
    float_pct = float(rng.uniform(0.35, 0.95)) if small else float(rng.uniform(0.8, 0.99))
    if kind == "CS" and rng.random() < 0.10:
        float_pct = None
    sic = SIC_CODES[int(rng.integers(0, len(SIC_CODES)))] if kind in ("CS", "ADRC") else None
    word = _NAME_WORDS[int(rng.integers(0, len(_NAME_WORDS)))]
    name = f"{word} {_NAME_SUFFIX[int(rng.integers(0, len(_NAME_SUFFIX)))]}"
    if kind in ("ETF", "ETN", "FUND"):
        name = f"{name.split()[0]} {rng.choice(['Momentum', 'Dividend', 'Growth', 'Value'])} {kind}"
    return TickerProfile(
        index=index,
        ticker=ticker,
        name=name,
        type=kind,
        market=market,
        primary_exchange=mic,
        list_date=list_date,
        delist_date=delist_date,
        cik=f"{int(rng.integers(1_000_000, 2_000_000)):010d}" if kind in ("CS", "ADRC", "PFD") else None,
        composite_figi=_figi(cfg.seed, ticker, "composite"),
        share_class_figi=_figi(cfg.seed, ticker, "share_class"),
        sic_code=sic[0] if sic else None,
        sic_description=sic[1] if sic else None,
        start_price=price,
        start_shares=shares,
        float_pct=float_pct,
        daily_vol=daily_vol,
        drift=drift,
        turnover=float(np.exp(rng.normal(np.log(0.012 if small else 0.006), 0.6))),
        avg_trade_size=float(rng.uniform(120, 320) if small else rng.uniform(200, 450)),
        catalyst_propensity=(1.0 if (small and kind == "CS") else 0.15) * float(rng.uniform(0.3, 1.7)),
        luld_tier=1 if (kind in ("ETF",) or cap > 1.0e10) else 2,
        dividend_yield=float(rng.uniform(0.01, 0.05)) if (not cheap and rng.random() < 0.35) else 0.0,
        short_interest_pct=float(rng.uniform(0.01, 0.30) if small else rng.uniform(0.005, 0.05)),
    )


@cache
def profiles(cfg: SimConfig) -> tuple[TickerProfile, ...]:
    roots = _symbols(cfg.seed, cfg.n_symbols)
    return tuple(_profile(cfg, i, root) for i, root in enumerate(roots))


@cache
def profile_index(cfg: SimConfig) -> dict[str, TickerProfile]:
    return {p.ticker: p for p in profiles(cfg)}


@cache
def exchanges() -> list[dict]:
    return json.loads(resources.files(__package__).joinpath("data/exchanges.json").read_text())


@cache
def ticker_types() -> list[dict]:
    return json.loads(resources.files(__package__).joinpath("data/ticker_types.json").read_text())

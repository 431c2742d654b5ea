"""Trading costs as dated schedules, in one place (docs/backtests.md#costs).

Every rate that changes over time is a tuple of ``(effective date, value)`` steps, sorted; the
rate of a trade is the last step on or before its date. Costs are per order and never negative:

- commission: ``per_share`` x shares, at least ``min_per_order``, at most ``max_pct_of_value`` of
  the order's value (a broker's fixed per-share plan);
- exchange taker fee: the Reg NMS Rule 610 access-fee cap, per share at $1 and above, a share of
  the value below $1 (we always take liquidity);
- SEC Section 31 fee on sales (long exits and short entries), dollars per million of value, by
  the fiscal-year rate in force on the trade date;
- FINRA Trading Activity Fee on sales, per share sold, capped per trade;
- shorts: a locate fee per share at the entry and a hard-to-borrow rate (annual, on the entry
  value, for the time held, 360-day year).

The two regulatory fees are rounded up to the cent per order, as brokers pass them through.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

import numpy as np
from pydantic import Field

from ..events.params import FrozenParams

Steps = tuple[tuple[dt.date, float], ...]

# SEC Section 31 fee, $ per $1M of covered sales, by the effective date of each fee-rate order. An
# annual rate takes effect 60 days after the fiscal year's regular appropriation is enacted (the
# date each step below falls on); docs/backtests.md#costs gives the orders.
SEC_FEE_PER_MILLION: Steps = (
    (dt.date(2021, 2, 25), 5.10),  # FY2021 (appropriation enacted 2020-12-27)
    (dt.date(2022, 5, 14), 22.90),  # FY2022 (enacted 2022-03-15)
    (dt.date(2023, 2, 27), 8.00),  # FY2023, Release 34-96724 (enacted 2022-12-29)
    (dt.date(2024, 5, 22), 27.80),  # FY2024, Release 34-99973 (enacted 2024-03-23)
    (dt.date(2025, 5, 14), 0.00),  # FY2025 mid-year adjustment, Release 34-102779
)
# FINRA TAF on covered sales of equities: ($ per share, $ cap per trade), by effective date.
FINRA_TAF: tuple[tuple[dt.date, tuple[float, float]], ...] = (
    (dt.date(2022, 1, 1), (0.000130, 6.49)),
    (dt.date(2023, 1, 1), (0.000145, 7.27)),
    (dt.date(2024, 1, 1), (0.000166, 8.30)),
)
# Reg NMS Rule 610 access-fee cap: ($ per share at >= $1, share of value below $1), by date. The
# 2024 amendment lowering it was stayed, so the historical cap stays the conservative value.
TAKER_FEE: tuple[tuple[dt.date, tuple[float, float]], ...] = ((dt.date(2005, 8, 29), (0.003, 0.003)),)


def rate_on(steps, day: dt.date):
    """The value of a dated schedule on ``day``; a day before its first step is refused."""
    i = bisect_right([d for d, _ in steps], day) - 1
    if i < 0:
        raise ValueError(f"no fee rate before {steps[0][0]} (asked for {day})")
    return steps[i][1]


class CostParams(FrozenParams):
    """The broker's side of the costs (the regulatory schedules are the module's tables)."""

    per_share: float = Field(0.005, ge=0, description="commission per share")
    min_per_order: float = Field(1.0, ge=0, description="commission minimum per order")
    max_pct_of_value: float = Field(0.01, ge=0, description="commission maximum, share of value")
    taker_fee: bool = Field(True, description="pay the access-fee cap on every order")
    locate_per_share: float = Field(0.01, ge=0, description="short locate fee per share")
    borrow_rate: float = Field(0.30, ge=0, description="hard-to-borrow rate, annual, 360-day year")


def _cents_up(x: np.ndarray) -> np.ndarray:
    # 1e-9 keeps an exact cent (0.05 as 5.000000001 cents) from rounding up a whole cent.
    return np.ceil(np.round(x * 100.0, 9)) / 100.0


def commission(shares: np.ndarray, price: np.ndarray, p: CostParams = CostParams()) -> np.ndarray:
    value = shares * price
    return np.minimum(np.maximum(p.per_share * shares, p.min_per_order), p.max_pct_of_value * value)


def taker_fee(
    day: dt.date, shares: np.ndarray, price: np.ndarray, p: CostParams = CostParams()
) -> np.ndarray:
    if not p.taker_fee:
        return np.zeros_like(shares, dtype=float)
    per_share, share_of_value = rate_on(TAKER_FEE, day)
    return np.where(price >= 1.0, per_share * shares, share_of_value * shares * price)


def sec_fee(day: dt.date, shares: np.ndarray, price: np.ndarray) -> np.ndarray:
    return _cents_up(rate_on(SEC_FEE_PER_MILLION, day) * shares * price / 1e6)


def finra_taf(day: dt.date, shares: np.ndarray) -> np.ndarray:
    per_share, cap = rate_on(FINRA_TAF, day)
    return _cents_up(np.minimum(per_share * shares, cap))


def order_costs(
    day: dt.date, shares: np.ndarray, price: np.ndarray, sale: np.ndarray, p: CostParams = CostParams()
) -> dict[str, np.ndarray]:
    """commission, taker_fee, sec_fee, taf of orders on ``day``; ``sale`` marks sells (a long's
    exit or a short's entry), which alone pay the two regulatory fees."""
    shares, price = np.asarray(shares, float), np.asarray(price, float)
    sale = np.asarray(sale, bool)
    return {
        "commission": commission(shares, price, p),
        "taker_fee": taker_fee(day, shares, price, p),
        "sec_fee": np.where(sale, sec_fee(day, shares, price), 0.0),
        "taf": np.where(sale, finra_taf(day, shares), 0.0),
    }


def short_costs(
    shares: np.ndarray, entry_price: np.ndarray, held_seconds: np.ndarray, p: CostParams = CostParams()
) -> dict[str, np.ndarray]:
    """locate_fee and borrow_fee of short positions (zero-size arrays for longs are the caller's)."""
    value = np.asarray(shares, float) * np.asarray(entry_price, float)
    return {
        "locate_fee": p.locate_per_share * np.asarray(shares, float),
        "borrow_fee": value * p.borrow_rate * np.asarray(held_seconds, float) / (360 * 86_400),
    }

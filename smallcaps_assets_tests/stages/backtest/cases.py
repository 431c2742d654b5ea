"""Hand-built minute bars, quotes and signals for the backtest tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages.events.schema import UTC_NS

DAY = dt.date(2024, 3, 5)


def at(hh: int, mm: int, ss: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hh, mm, ss), tzinfo=cal.NY).astimezone(dt.UTC)


def bars(rows: list[tuple], symbol: str = "AAA", volume: float = 100_000.0) -> pl.DataFrame:
    """rows: (hh, mm, open, high, low, close) in ET on DAY."""
    return pl.DataFrame(
        {
            "symbol": symbol,
            "ts": [at(h, m) for h, m, *_ in rows],
            "open": [r[2] for r in rows],
            "high": [r[3] for r in rows],
            "low": [r[4] for r in rows],
            "close": [r[5] for r in rows],
            "volume": volume,
            "session": "RTH",
        }
    ).with_columns(pl.col("ts").cast(UTC_NS))


def flat_bars(
    start: tuple[int, int], minutes: int, price: float = 10.0, symbol: str = "AAA", **kw
) -> pl.DataFrame:
    h, m = start
    rows = []
    for i in range(minutes):
        t = h * 60 + m + i
        rows.append((t // 60, t % 60, price, price * 1.001, price * 0.999, price))
    return bars(rows, symbol, **kw)


def signals(rows: list[tuple]) -> pl.DataFrame:
    """rows: (event_id, symbol, ts, side, horizon_vol)."""
    return pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "symbol": [r[1] for r in rows],
            "ts": [r[2] for r in rows],
            "side": [r[3] for r in rows],
            "horizon_vol": [r[4] for r in rows],
            "event_type": "test",
            "session": "RTH",
        },
        schema_overrides={"ts": UTC_NS, "side": pl.Int64, "horizon_vol": pl.Float64},
    )


def quotes(event_id: str, rows: list[tuple], symbol: str = "AAA") -> pl.DataFrame:
    """rows: (datetime, bid, ask)."""
    return pl.DataFrame(
        {
            "event_id": event_id,
            "symbol": symbol,
            "sip_timestamp": [r[0] for r in rows],
            "bid_price": [r[1] for r in rows],
            "ask_price": [r[2] for r in rows],
        },
        schema_overrides={"sip_timestamp": UTC_NS},
    )


def ssr(symbol: str = "AAA", active: bool = True) -> pl.DataFrame:
    start = at(9, 45) if active else None
    return pl.DataFrame(
        {"symbol": [symbol], "active_from": [start], "active_until": [at(20, 0) if active else None]},
        schema_overrides={"active_from": UTC_NS, "active_until": UTC_NS},
    )

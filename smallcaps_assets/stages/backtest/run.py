"""One backtest partition: every registered strategy over a span of trading days (pure).

Per strategy and day: signals (``strategies``) -> the pre-event volatility of each signal
(``labels.pre_event_vol``, from bars closed by ``ts``) -> fills and exits (``fills``) -> sizes from
the day's starting equity (``engine.size_day``) -> costs (``engine.price_trades``) -> vectorbt's
books (``engine.vectorbt_day_value``). The day's net P&L moves the equity; the daily returns feed
the metrics. The equal-weight universe is one vectorbt run over the span (``baselines``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from pydantic import Field

from ..events.params import FrozenParams
from ..events.schema import UTC_NS
from ..labels import LabelParams, pre_event_vol
from . import baselines, metrics
from .costs import CostParams
from .engine import COST_COLUMNS, EngineParams, price_trades, size_day, vectorbt_trade_pnl
from .fills import DayMarket, FillParams, QuoteBook, day_fills
from .strategies import SIGNAL_SCHEMA, STRATEGIES, DayInputs, Strategy, manifest_signals, model_signals

TRADE_SCHEMA: dict[str, pl.DataType] = {
    "strategy": pl.String(),
    "date": pl.Date(),
    "event_id": pl.String(),
    "symbol": pl.String(),
    "event_type": pl.String(),
    "session": pl.String(),
    "side": pl.Int64(),
    "ts": UTC_NS,
    "prob": pl.Float64(),
    "horizon_vol": pl.Float64(),
    "ssr_active": pl.Boolean(),
    "entry_ts": UTC_NS,
    "entry_price": pl.Float64(),
    "entry_source": pl.String(),
    "fill_volume": pl.Float64(),
    "shares": pl.Float64(),
    "notional": pl.Float64(),
    "exit_ts": UTC_NS,
    "exit_price": pl.Float64(),
    "exit_reason": pl.String(),
    **{c: pl.Float64() for c in COST_COLUMNS},
    "entry_costs": pl.Float64(),
    "exit_costs": pl.Float64(),
    "costs": pl.Float64(),
    "gross_pnl": pl.Float64(),
    "net_pnl": pl.Float64(),
}


class BacktestParams(FrozenParams):
    fills: FillParams = Field(default_factory=FillParams)
    costs: CostParams = Field(default_factory=CostParams)
    engine: EngineParams = Field(default_factory=EngineParams)


@dataclass
class StrategyResult:
    strategy: str
    trades: pl.DataFrame
    daily: pl.DataFrame  # date, equity (ours), vbt_equity, ret, orders, trades
    signals: int = 0
    refusals: dict[str, int] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        r = self.daily["ret"].to_numpy()
        mean_equity = float(self.daily["equity"].mean()) if self.daily.height else float("nan")
        return {
            **metrics.portfolio_metrics(r),
            **metrics.trade_metrics(self.trades, mean_equity),
            "signals": self.signals,
            **{f"refused_{k}": v for k, v in sorted(self.refusals.items())},
        }


def _trades(frame: pl.DataFrame, strategy: str, day: dt.date) -> pl.DataFrame:
    frame = frame.with_columns(strategy=pl.lit(strategy), date=pl.lit(day))
    return frame.select(
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in TRADE_SCHEMA.items()
    )


def _with_vol(
    sig: pl.DataFrame, bars: pl.DataFrame, fp: FillParams, known: pl.DataFrame | None
) -> pl.DataFrame:
    """Each signal's pre-event volatility: from ``known`` (event_id, horizon_vol; the day's events,
    computed once for every strategy) where it has the signal, else from the bars."""
    lp = LabelParams(vertical_minutes=fp.vertical_minutes, pause_minutes=fp.pause_minutes)
    if known is not None and sig["event_id"].is_in(known["event_id"].implode()).all():
        return sig.join(known, on="event_id", how="left")
    return sig.join(
        pre_event_vol(sig.select("event_id", "symbol", "ts"), bars, lp), on="event_id", how="left"
    )


@dataclass
class _Day:
    """What every strategy shares on a day: the prepared market, the quotes per event, the
    events' (and the given signals') volatility and the given signals' fills."""

    market: DayMarket
    quotes: QuoteBook
    vol: pl.DataFrame | None
    fills: pl.DataFrame | None = None  # one row per event_id of the signals given to ``_prepare``


FILL_KEY = ("event_id", "symbol", "ts", "side")  # what a signal's fill depends on (with the day)


def _prepare(d: DayInputs, fp: FillParams, signals: tuple[pl.DataFrame, ...] = ()) -> _Day:
    """The day's shared work. ``signals``: every strategy's signals of the day; a signal's fill
    and exit depend only on its ``FILL_KEY`` and the market, not on the strategy or on the other
    signals, so they are computed once for all (an event the model and the rule both take costs
    one fill, and the day pays the fixed cost of its joins once, not once per strategy)."""
    lp = LabelParams(vertical_minutes=fp.vertical_minutes, pause_minutes=fp.pause_minutes)
    market = DayMarket.build(d.day, d.bars, fp)
    quotes = QuoteBook.build(d.quotes, market.pauses)
    wanted = [f.select(FILL_KEY) for f in signals if f.height]
    union = pl.concat(wanted).unique(maintain_order=True) if wanted else None
    rows = [f.select("event_id", "symbol", "ts") for f in (d.events, union) if f is not None and f.height]
    vol = None
    if rows and d.bars.height:
        vol = pre_event_vol(pl.concat(rows).unique("event_id", maintain_order=True), d.bars, lp)
    fills = None
    # One event_id with two different keys (a strategy trading against the detector's direction)
    # would mix two fills under one id: those days fill per strategy instead.
    if union is not None and d.bars.height and not union["event_id"].is_duplicated().any():
        fills = day_fills(d.day, union.join(vol, on="event_id", how="left"), market, quotes, d.ssr_status, fp)
    return _Day(market, quotes, vol, fills)


def _day_signals(strategy: Strategy, d: DayInputs, matched: dict | None) -> pl.DataFrame:
    if strategy.entries == "model":
        return model_signals(d, strategy.threshold)
    if strategy.entries == "manifest":
        return manifest_signals(d)
    if strategy.entries == "random":
        # Matched to the model's signals of the day (none when no model strategy runs).
        picks = (matched or {}).get(d.day, pl.DataFrame(schema=SIGNAL_SCHEMA))
        return baselines.random_signals(picks, d.bars, d.day, strategy.seed)
    raise ValueError(f"strategy {strategy.name}: {strategy.entries!r} is not an event strategy")


def _fills(sig: pl.DataFrame, d: DayInputs, shared: _Day, fp: FillParams) -> pl.DataFrame:
    """The strategy's signals with their fills: from the day's shared fills when they hold every
    signal (the signal's own columns joined back), else computed for these signals alone."""
    if shared.fills is not None and sig["event_id"].is_in(shared.fills["event_id"].implode()).all():
        own = [c for c in sig.columns if c not in FILL_KEY]
        return (
            shared.fills.drop(own, strict=False)
            .join(sig.select("event_id", *own), on="event_id", how="inner")
            .sort("event_id")
        )
    with_vol = _with_vol(sig, d.bars, fp, shared.vol)
    return day_fills(d.day, with_vol, shared.market, shared.quotes, d.ssr_status, fp)


def run_events(
    strategy: Strategy,
    inputs: list[DayInputs],
    params: BacktestParams = BacktestParams(),
    matched: dict | None = None,
    prepared: dict | None = None,
    signals: dict | None = None,
) -> StrategyResult:
    """An event strategy over ``inputs`` (trading days, in order). ``matched``: the model's
    signals per day, which the random baseline matches; ``prepared``: each day's shared ``_Day``;
    ``signals``: the strategy's signals by (name, day), when already drawn."""
    p = params
    equity = p.engine.init_cash
    rows, daily, refusals, n_signals = [], [], Counter(), 0
    for d in inputs:
        sig = (signals or {}).get((strategy.name, d.day))
        if sig is None:
            sig = _day_signals(strategy, d, matched)
        start, n_trades = equity, 0
        if sig.height and d.bars.height:
            n_signals += sig.height
            shared = (prepared or {}).get(d.day) or _prepare(d, p.fills)
            fills = _fills(sig, d, shared, p.fills)
            sized = size_day(fills, equity, p.fills, p.engine)
            refusals.update(sized["refused"].drop_nulls().to_list())
            traded = price_trades(d.day, sized, p.costs)
            equity = equity + float(traded["net_pnl"].sum())
            n_trades = traded.height
            rows.append(_trades(traded, strategy.name, d.day))
        daily.append({"date": d.day, "equity": equity, "ret": equity / start - 1.0, "trades": n_trades})
    trades = pl.concat(rows) if rows else pl.DataFrame(schema=TRADE_SCHEMA)
    return StrategyResult(
        strategy.name, trades, _booked(pl.DataFrame(daily), trades, p), n_signals, dict(refusals)
    )


def _booked(daily: pl.DataFrame, trades: pl.DataFrame, p: BacktestParams) -> pl.DataFrame:
    """``daily`` with vectorbt's side of the books: ``vbt_equity`` (the starting equity plus
    vectorbt's P&L of every trade through the day) and ``orders`` (the orders it filled that day)."""
    pnl, orders = vectorbt_trade_pnl(trades)
    by_day = (
        trades.select(
            "date", vbt_pnl=pl.Series(pnl, dtype=pl.Float64), orders=pl.Series(orders, dtype=pl.Int64)
        )
        .group_by("date")
        .agg(pl.col("vbt_pnl").sum(), pl.col("orders").sum())
    )
    return (
        daily.join(by_day, on="date", how="left")
        .with_columns(pl.col("vbt_pnl").fill_null(0.0), pl.col("orders").fill_null(0))
        .sort("date")
        .with_columns(vbt_equity=p.engine.init_cash + pl.col("vbt_pnl").cum_sum())
        .drop("vbt_pnl")
    )


def run_universe(
    strategy: Strategy, inputs: list[DayInputs], params: BacktestParams = BacktestParams()
) -> StrategyResult:
    days = [d.day for d in inputs]
    by_day = {d.day: d.bars for d in inputs}
    opens, closes = baselines.universe_closes(days, by_day.__getitem__)
    trades, vbt_value, ours = baselines.universe_equal_weight(
        days, opens, closes, params.engine.init_cash, params.costs
    )
    prev = np.r_[params.engine.init_cash, ours[:-1]]
    daily = pl.DataFrame(
        {
            "date": days,
            "equity": ours,
            "vbt_equity": vbt_value,
            "ret": ours / prev - 1.0,
            "orders": [0] * (len(days) - 1) + [2 * trades.height],
            "trades": [0] * (len(days) - 1) + [trades.height],
        }
    )
    out = _trades(trades, strategy.name, days[-1]) if trades.height else pl.DataFrame(schema=TRADE_SCHEMA)
    return StrategyResult(strategy.name, out, daily, trades.height, {})


def run_backtest(
    inputs: list[DayInputs],
    strategies: tuple[Strategy, ...] = STRATEGIES,
    params: BacktestParams = BacktestParams(),
) -> list[StrategyResult]:
    """Every strategy of the registry over the same days; the random baseline matches the first
    model strategy's signals."""
    model = next((s for s in strategies if s.entries == "model"), None)
    matched = {d.day: model_signals(d, model.threshold) for d in inputs} if model else {}
    events = [s for s in strategies if s.entries != "universe"]
    signals = {(s.name, d.day): _day_signals(s, d, matched) for s in events for d in inputs}
    prepared = {
        d.day: _prepare(d, params.fills, tuple(signals[s.name, d.day] for s in events))
        for d in inputs
        if d.bars.height
    }
    out = []
    for s in strategies:
        if s.entries == "universe":
            out.append(run_universe(s, inputs, params))
        else:
            out.append(run_events(s, inputs, params, matched, prepared, signals))
    return out


def all_trades(results: list[StrategyResult]) -> pl.DataFrame:
    frames = [r.trades for r in results if r.trades.height]
    return pl.concat(frames) if frames else pl.DataFrame(schema=TRADE_SCHEMA)

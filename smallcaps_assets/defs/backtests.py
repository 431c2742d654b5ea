"""backtest (monthly): every registered strategy, the model's and the baselines, over a month's
trading days with fills, costs and market structure from stages/backtest; the job that runs a
month. docs/backtests.md."""

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl

from .. import calendar as cal
from .. import checks, lake, schemas
from ..asset_names import (
    BACKTEST,
    EVENT_MANIFEST,
    EVENT_PREDICTIONS,
    EVENT_QUOTES,
    INTRADAY_EVENTS,
    MINUTE_BARS,
    SSR_STATUS,
)
from ..assetkit import LAKE_KINDS
from ..assetkit.metadata import contract_metadata, partition_metadata
from ..partitions import trading_months
from ..stages.backtest import metrics, report
from ..stages.backtest.costs import CostParams
from ..stages.backtest.engine import EngineParams
from ..stages.backtest.fills import FillParams
from ..stages.backtest.quality import BACKTEST_GATES, backtest_gates
from ..stages.backtest.run import BacktestParams, all_trades, run_backtest
from ..stages.backtest.strategies import STRATEGIES, DayInputs
from ..stages.models.splits import add_months

GROUP = "models"
# Numeric metadata per strategy (``<strategy>_<metric>``), so the UI plots them across months.
PLOTTED = ("trades", "sharpe", "psr", "total_return", "max_drawdown", "net_pnl", "cost_share", "win_rate")
BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume", "session")


class BacktestConfig(dg.Config):
    """The model strategy's threshold and the main fill/size knobs (defaults: stages/backtest)."""

    threshold: float = STRATEGIES[0].threshold
    latency_seconds: float = FillParams().latency_seconds
    half_spread: float = FillParams().half_spread
    participation: float = FillParams().participation
    init_cash: float = EngineParams().init_cash
    position_value: float = EngineParams().position_value


def month_sessions(month: dt.date) -> list[dt.date]:
    return cal.trading_days(month, add_months(month, 1) - dt.timedelta(days=1))


def _inputs(days: list[dt.date]) -> list[DayInputs]:
    out = []
    for day in days:
        bars = lake.read_partition(MINUTE_BARS, day)
        out.append(
            DayInputs(
                day=day,
                bars=bars.select(BAR_COLUMNS),
                events=lake.read_partition(INTRADAY_EVENTS, day),
                manifest=lake.read_partition(EVENT_MANIFEST, day),
                predictions=lake.read_partition(EVENT_PREDICTIONS, day),
                quotes=lake.read_partition(EVENT_QUOTES, day),
                ssr_status=lake.read_partition(SSR_STATUS, day),
            )
        )
    return out


def _folder(month: dt.date) -> Path | None:
    """The partition's local folder (the PNGs go beside the Parquet file); None on a remote lake."""
    d = lake.partition_dir(BACKTEST, month)
    return Path(d.path) if d.protocol in ("", "file", "local") else None


@dg.asset(
    name=BACKTEST,
    partitions_def=trading_months,
    group_name=GROUP,
    kinds=LAKE_KINDS | {"vectorbt"},
    # A month reads every trading day of it (the default month -> days mapping).
    deps=[EVENT_PREDICTIONS, INTRADAY_EVENTS, EVENT_MANIFEST, EVENT_QUOTES, MINUTE_BARS, SSR_STATUS],
    metadata=contract_metadata(schemas.backtest_contract()),
    check_specs=checks.specs(BACKTEST, BACKTEST_GATES, trading_months),
)
def backtest(context: dg.AssetExecutionContext, config: BacktestConfig) -> Iterator[checks.CheckedEvent]:
    """Every strategy of the registry (stages/backtest/strategies.py) over the month's trading
    days that have both minute bars and predictions: the model's events above the threshold, every
    manifest event by its rule, random entries matched to the model's, and the equal-weight
    universe. Fills from quotes or the next bar's open with a half-spread, SSR and trading pauses
    respected, dated per-share and regulatory costs, vectorbt's books (docs/backtests.md). The
    partition holds one row per trade; beside it equity.png and drawdown.png. Metadata: each
    strategy's trades, Sharpe, probabilistic Sharpe, return, drawdown, net P&L, cost share and
    win rate as numbers, the metrics table, the model strategy's breakdowns and the plots."""
    month = dt.date.fromisoformat(context.partition_key)
    sessions = month_sessions(month)
    days = [
        d
        for d in sessions
        if lake.partition_exists(MINUTE_BARS, d) and lake.partition_exists(EVENT_PREDICTIONS, d)
    ]
    if not days:
        raise dg.Failure(
            f"backtest {month:%Y-%m}: no trading day of the month has both minute_bars and event_predictions"
        )
    skipped = [d for d in sessions if d not in days and lake.partition_exists(MINUTE_BARS, d)]
    params = BacktestParams(
        fills=FillParams(
            latency_seconds=config.latency_seconds,
            half_spread=config.half_spread,
            participation=config.participation,
        ),
        costs=CostParams(),
        engine=EngineParams(init_cash=config.init_cash, position_value=config.position_value),
    )
    strategies = tuple(
        s.model_copy(update={"threshold": config.threshold}) if s.entries == "model" else s
        for s in STRATEGIES
    )
    results = run_backtest(_inputs(days), strategies, params)
    trades = schemas.enforce(schemas.backtest_contract(), all_trades(results))
    written = lake.write_partition(BACKTEST, month, trades, sort_by=["strategy", "entry_ts", "event_id"])
    daily = pl.concat(
        [r.daily.with_columns(strategy=pl.lit(r.strategy)) for r in results], how="diagonal_relaxed"
    )
    gates = backtest_gates(trades, daily, params.fills.latency_seconds)
    table = {r.strategy: r.metrics() for r in results}
    model = results[0]
    plots: dict[str, object] = {}
    folder = _folder(month)
    if folder is not None:
        eq, dd = report.plot_equity({r.strategy: r.daily for r in results}, folder, f"backtest {month:%Y-%m}")
        plots = {
            "equity_png": dg.MetadataValue.path(str(eq)),
            "drawdown_png": dg.MetadataValue.path(str(dd)),
            "plots": dg.MetadataValue.md(f"![equity]({eq})\n\n![drawdown]({dd})"),
        }
    metadata = {
        **partition_metadata(written),
        "days": len(days),
        "first_day": str(days[0]),
        "last_day": str(days[-1]),
        "days_without_predictions": ", ".join(map(str, skipped)) or "none",
        **{f"{name}_{k}": _num(m.get(k)) for name, m in table.items() for k in PLOTTED},
        "metrics": dg.MetadataValue.md(report.markdown_table(table)),
        "model_breakdowns": dg.MetadataValue.md(
            checks.markdown_table(metrics.breakdowns(model.trades), ".4g")
        )
        if model.trades.height
        else dg.MetadataValue.md("(no trades)"),
        "refusals": dg.MetadataValue.json({r.strategy: r.refusals for r in results}),
        "params": dg.MetadataValue.json(params.model_dump()),
        "data_versions": dg.MetadataValue.json(
            {a: lake.partitions_sha256(a, days) for a in (EVENT_PREDICTIONS, MINUTE_BARS, EVENT_QUOTES)}
        ),
        **plots,
    }
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(metadata=metadata, check_results=checks.results(BACKTEST, gates))
    )


def _num(value) -> float:
    return float(value) if value is not None else float("nan")


backtest_monthly_job = dg.define_asset_job(
    "backtest_monthly",
    selection=dg.AssetSelection.assets(BACKTEST),
    partitions_def=trading_months,
    description="Backtest one month's strategies (the model's and the baselines) once its predictions exist.",
)

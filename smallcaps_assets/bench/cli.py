"""``smallcaps bench sim|detect|ingest|windows|ui-run|features|bad-prints|validity|backtest``: one Typer group, added once
by the root CLI.

Every command prints a readable report, or with ``--json`` one JSON object (the figures the docs
quote). The benchmark modules are imported when their command runs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

import typer

from ..sim.cli import ConfigOpt, MarketEndOpt, SeedOpt, SymbolsOpt, load_sim_config

bench_app = typer.Typer(help="Benchmarks that print their figures as JSON.", no_args_is_help=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a readable report.")]
LatencyOpt = Annotated[float, typer.Option("--latency-ms", min=0, help="Server latency per request.")]
BenchSeedOpt = Annotated[int, typer.Option("--seed")]


def _emit(report: dict, as_json: bool, format_report: Callable[[dict], str]) -> None:
    typer.echo(json.dumps(report) if as_json else format_report(report))


@bench_app.command("sim")
def sim(
    as_json: JsonOpt = False,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Calls per figure (median).")] = 5,
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
    market_end: MarketEndOpt = None,
) -> None:
    """Time the simulated market: minute bars, tick windows, grouped daily, and serving them over ASGI."""
    from ..sim.market import SimMarket
    from . import sim as bench

    end = market_end and market_end.date()
    report = bench.bench_sim(SimMarket(load_sim_config(config, seed, symbols, end=end)), repeats=repeats)
    _emit(report, as_json, bench.format_report)


@bench_app.command("detect")
def detect(
    as_json: JsonOpt = False,
    rows: Annotated[
        int, typer.Option("--rows", min=1_000, help="Minute-bar rows to detect on.")
    ] = 20_000_000,
    per_detector: Annotated[
        bool, typer.Option("--per-detector/--no-per-detector", help="Also time each detector alone.")
    ] = True,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Full runs (best is reported).")] = 1,
    sim_symbols: Annotated[
        int, typer.Option("--sim-symbols", min=10, help="Tickers of the source simulated market.")
    ] = 200,
    baseline_days: Annotated[
        int, typer.Option("--baseline-days", min=1, help="Prior sessions in the baselines.")
    ] = 5,
) -> None:
    """Run every intraday detector over a large simulated day and report rows per second."""
    from . import detect as bench

    report = bench.bench_detect(
        rows=rows,
        per_detector=per_detector,
        repeats=repeats,
        sim_symbols=sim_symbols,
        baseline_days=baseline_days,
    )
    _emit(report, as_json, bench.format_report)


@bench_app.command("ingest")
def ingest(
    as_json: JsonOpt = False,
    symbols: Annotated[
        int, typer.Option("--symbols", min=10, help="Tickers in the served market (server cost is linear).")
    ] = 200,
    days: Annotated[
        int, typer.Option("--days", min=1, help="Sessions of daily history (252 = a year).")
    ] = 252,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="Server worker processes (default: CPUs, max 4).")
    ] = None,
    latency_ms: LatencyOpt = 50.0,
    concurrency: Annotated[
        int | None,
        typer.Option("--concurrency", min=1, help="Client in-flight requests (default 2 per worker)."),
    ] = None,
    minute_symbols: Annotated[int, typer.Option("--minute-symbols", min=1)] = 50,
    minute_days: Annotated[int, typer.Option("--minute-days", min=1)] = 5,
    seed: BenchSeedOpt = 7,
) -> None:
    """Ingest a year of whole-market daily bars (and a sample of minute bars) with the vendor
    client from `smallcaps sim serve` run as a child process; see smallcaps_assets/bench/ingest.py."""
    from . import ingest as bench

    if minute_days > days:
        raise typer.BadParameter("--minute-days must be <= --days")
    report = bench.bench_ingest(
        symbols=symbols,
        days=days,
        workers=workers,
        latency_ms=latency_ms,
        concurrency=concurrency,
        minute_symbols=minute_symbols,
        minute_days=minute_days,
        seed=seed,
    )
    _emit(report, as_json, bench.format_report)


@bench_app.command("windows")
def windows(
    as_json: JsonOpt = False,
    events: Annotated[int, typer.Option("--events", min=1, help="Event windows to download.")] = 3000,
    days: Annotated[int, typer.Option("--days", min=1, help="Sessions the events spread over.")] = 60,
    symbols: Annotated[int, typer.Option("--symbols", min=10, help="Tickers in the served market.")] = 600,
    rate_limit: Annotated[
        float, typer.Option("--rate-limit", min=1, help="Account limit (req/s): server and client.")
    ] = 100.0,
    latency_ms: LatencyOpt = 50.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Client in-flight requests.")] = 16,
    seed: BenchSeedOpt = 7,
) -> None:
    """Download event windows (trades + quotes) from `smallcaps sim serve --latency-ms 50
    --rate-limit 100` with the event_trades/event_quotes downloader; see smallcaps_assets/bench/windows.py."""
    from . import windows as bench

    report = bench.bench_windows(
        events=events,
        days=days,
        symbols=symbols,
        rate_limit=rate_limit,
        latency_ms=latency_ms,
        concurrency=concurrency,
        seed=seed,
    )
    _emit(report, as_json, bench.format_report)


@bench_app.command("ui-run")
def ui_run(
    as_json: JsonOpt = False,
    executor: Annotated[
        str | None,
        typer.Option("--executor", help="in_process, forkserver or spawn (default: the code location's)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option("--baseline", help="Also run the partition through this executor first (e.g. spawn)."),
    ] = None,
    symbols: Annotated[int, typer.Option("--symbols", min=10, help="Tickers in the offline market.")] = 60,
    seed: BenchSeedOpt = 7,
) -> None:
    """Time one partition of the daily_graph job (every asset) through the executor the UI and the
    schedule use, on a temporary instance and lake; see smallcaps_assets/bench/ui_run.py."""
    from ..assetkit.executors import EXECUTORS
    from . import ui_run as bench

    for name in (executor, baseline):
        if name is not None and name not in EXECUTORS:
            raise typer.BadParameter(f"unknown executor {name!r}; one of {', '.join(EXECUTORS)}")
    report = bench.bench_ui_run(executor=executor, symbols=symbols, seed=seed, baseline=baseline)
    _emit(report, as_json, bench.format_report)


@bench_app.command("features")
def features(
    as_json: JsonOpt = False,
    events: Annotated[
        int, typer.Option("--events", min=1_000, help="Events for the bar, reference and regime families.")
    ] = 100_000,
    windows: Annotated[
        int, typer.Option("--windows", min=100, help="Event windows for the tape family.")
    ] = 2_000,
    seed: BenchSeedOpt = 7,
) -> None:
    """Time event_features' families: bar/context, reference and regime features over --events
    events (events/s), and tape/quote features over --windows windows (windows/s); see
    smallcaps_assets/bench/features_bars.py and features_tape.py."""
    from .features_bars import bench_bar_features
    from .features_tape import bench_tape_features

    bars = bench_bar_features(events=events, seed=seed)
    tape = bench_tape_features(windows=windows, seed=seed)
    report = {**bars, **{k: v for k, v in tape.items() if k not in bars}, "tape_seconds": tape.get("seconds")}
    _emit(report, as_json, _format_features)


@bench_app.command("validity")
def validity(
    as_json: JsonOpt = False,
    months: Annotated[
        int,
        typer.Option(
            "--months", min=2, help="Calendar months; every one after the history months is predicted."
        ),
    ] = 3,
    history_months: Annotated[
        int,
        typer.Option(
            "--history-months",
            min=1,
            help="The first months, which only train (every scored model has them).",
        ),
    ] = 1,
    target: Annotated[
        str, typer.Option("--target", help="The models' target: barrier_pt (the graph's default) or take.")
    ] = "barrier_pt",
    symbols: Annotated[int, typer.Option("--symbols", min=10, help="Tickers of each offline market.")] = 200,
    catalyst_rate: Annotated[
        float, typer.Option("--catalyst-rate", min=0.0, max=0.2, help="Share of catalyst symbol-days.")
    ] = 0.1,
    end: Annotated[str, typer.Option("--end", help="Last session (YYYY-MM-DD).")] = "2024-06-28",
    seed: BenchSeedOpt = 7,
    catalyst_only: Annotated[
        bool,
        typer.Option(
            "--catalyst-only/--universe",
            help="Each day's symbols: its catalyst symbol-days (default) or the production universe.",
        ),
    ] = True,
) -> None:
    """Walk-forward models on a NULL and a PLANTED offline market, from bars to out-of-sample
    predictions: null_auc (must stay near 0.5), planted_auc, bayes_auc and recovered_lift; see
    smallcaps_assets/bench/validity.py and docs/models.md (the full-scale command and its figures)."""
    import datetime as dt

    from ..stages.models.train import TARGETS, TrainParams
    from . import validity as bench

    if target not in TARGETS:
        raise typer.BadParameter(
            f"unknown target {target!r}; choose one of {sorted(TARGETS)}", param_hint="--target"
        )
    if history_months >= months:
        raise typer.BadParameter(
            f"--history-months ({history_months}) must be below --months ({months})",
            param_hint="--history-months",
        )
    report = bench.bench_validity(
        months=months,
        history_months=history_months,
        train=TrainParams(target=target),
        symbols=symbols,
        seed=seed,
        end=dt.date.fromisoformat(end),
        catalyst_rate=catalyst_rate,
        catalyst_only=catalyst_only,
        progress=None if as_json else lambda day, n: typer.echo(f"{day}: {n} events", err=True),
    )
    _emit(report, as_json, bench.format_report)


def _format_features(r: dict) -> str:
    return (
        f"bar/context features: {r['events']:,} events in {r['seconds']:.2f} s = {r['events_per_s']:,.0f} events/s\n"
        f"tape/quote features:  {r['windows']:,} windows in {r['tape_seconds']:.2f} s = "
        f"{r['windows_per_s']:,.0f} windows/s"
    )


@bench_app.command("bad-prints")
def bad_prints(
    as_json: JsonOpt = False,
    start: Annotated[str, typer.Option("--start", help="First session (YYYY-MM-DD).")] = "2024-03-04",
    end: Annotated[str, typer.Option("--end", help="Last session (YYYY-MM-DD).")] = "2024-04-01",
    symbols_per_day: Annotated[int, typer.Option("--symbols-per-day", min=1)] = 25,
    bad_tick_rate: Annotated[float, typer.Option("--bad-tick-rate", min=0.0, max=0.05)] = 0.05,
    events: Annotated[bool, typer.Option("--events", help="Also count intraday events.")] = False,
    seed: BenchSeedOpt = 7,
) -> None:
    """The bad-print gate against the offline market's fault ground truth (precision, recall,
    flags without faults) and, with --events, its effect on the intraday events; see
    smallcaps_assets/bench/bad_prints.py."""
    import datetime as dt

    from . import bad_prints as bench

    try:
        first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    report = bench.measure(first, last, symbols_per_day, bad_tick_rate, seed)
    if events:
        report["events"] = bench.events_effect(first, last, bad_tick_rate, seed)
    _emit(report, as_json, bench.format_report)


@bench_app.command("backtest")
def backtest(
    as_json: JsonOpt = False,
    events: Annotated[int, typer.Option("--events", min=1_000, help="Intraday events in all.")] = 105_000,
    days: Annotated[int, typer.Option("--days", min=1, max=60, help="Sessions they spread over.")] = 21,
    symbols: Annotated[int, typer.Option("--symbols", min=10, help="Symbols of the synthetic market.")] = 200,
    seed: BenchSeedOpt = 13,
) -> None:
    """Backtest every registered strategy over a synthetic month, the process's first run included
    (vectorbt's import and first call); see smallcaps_assets/bench/backtest.py."""
    from . import backtest as bench

    report = bench.bench_backtest(events=events, days=days, symbols=symbols, seed=seed)
    _emit(report, as_json, bench.format_report)

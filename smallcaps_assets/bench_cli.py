"""``smallcaps bench ...`` commands. ``register(bench_app)`` adds them to the ``bench`` Typer group."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .sim.cli import ConfigOpt, SeedOpt, SymbolsOpt, load_sim_config


def format_sim_report(report: dict) -> str:
    """A readable table of ``bench_sim``'s result."""
    m, mk, cases = report["machine"], report["market"], report["cases"]
    cat = cases["catalyst"]
    lines = [
        f"machine: {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}, polars {m['polars']}",
        f"market: seed {mk['seed']}, {mk['n_symbols']} tickers, {mk['start']}..{mk['end']} "
        f"({mk['sessions']} sessions); repeats {report['repeats']}",
        f"normal: {cases['normal']['ticker']} {cases['normal']['date']}; "
        f"catalyst: {cat['ticker']} {cat['date']} ({cat['shape']}); "
        f"tick window {cases['window_et']} ET",
        "",
    ]
    width = max(len(k) for k in report["timings"])
    lines.append(f"{'operation':<{width}}  {'rows':>8}  {'cold ms':>10}  {'median ms':>10}")
    lines.append("-" * (width + 34))
    for name, t in report["timings"].items():
        lines.append(
            f"{name:<{width}}  {t['rows']:>8}  {t['cold_s'] * 1e3:>10.1f}  {t['median_s'] * 1e3:>10.1f}"
        )
    lines.append("")
    lines.append(f"total {report['total_s']:.1f} s")
    return "\n".join(lines)


def register(bench_app: typer.Typer) -> None:
    """Add ``sim`` and ``ingest`` to the ``bench`` group: ``smallcaps bench sim [--json]``,
    ``smallcaps bench ingest [--json]``."""

    @bench_app.command("sim")
    def sim(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a table.")
        ] = False,
        repeats: Annotated[int, typer.Option("--repeats", min=1, help="Calls per figure (median).")] = 5,
        seed: SeedOpt = None,
        symbols: SymbolsOpt = None,
        config: ConfigOpt = None,
    ) -> None:
        """Time the simulated market: minute bars, tick windows, grouped daily, and serving them over ASGI."""
        from .sim.bench import bench_sim
        from .sim.market import SimMarket

        market = SimMarket(load_sim_config(config, seed, symbols))
        report = bench_sim(market, repeats=repeats)
        typer.echo(json.dumps(report) if as_json else format_sim_report(report))

    @bench_app.command("ingest")
    def ingest(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
        ] = False,
        symbols: Annotated[
            int,
            typer.Option("--symbols", min=10, help="Tickers in the served market (server cost is linear)."),
        ] = 200,
        days: Annotated[
            int, typer.Option("--days", min=1, help="Sessions of daily history (252 = a year).")
        ] = 252,
        workers: Annotated[
            int | None,
            typer.Option("--workers", min=1, help="Server worker processes (default: CPUs, max 4)."),
        ] = None,
        latency_ms: Annotated[
            float, typer.Option("--latency-ms", min=0, help="Server latency per request.")
        ] = 50.0,
        concurrency: Annotated[
            int | None,
            typer.Option("--concurrency", min=1, help="Client in-flight requests (default 2 per worker)."),
        ] = None,
        minute_symbols: Annotated[int, typer.Option("--minute-symbols", min=1)] = 50,
        minute_days: Annotated[int, typer.Option("--minute-days", min=1)] = 5,
        seed: Annotated[int, typer.Option("--seed")] = 7,
    ) -> None:
        """Ingest a year of whole-market daily bars (and a sample of minute bars) with the vendor
        client from `smallcaps sim serve` run as a child process; see smallcaps_assets/bench_ingest.py."""
        from .bench_ingest import bench_ingest, format_report

        if minute_days > days:
            raise typer.BadParameter("--minute-days must be <= --days")
        report = bench_ingest(
            symbols=symbols,
            days=days,
            workers=workers,
            latency_ms=latency_ms,
            concurrency=concurrency,
            minute_symbols=minute_symbols,
            minute_days=minute_days,
            seed=seed,
        )
        typer.echo(json.dumps(report) if as_json else format_report(report))

    @bench_app.command("windows")
    def windows(
        as_json: Annotated[
            bool, typer.Option("--json", help="Print one JSON object instead of a summary.")
        ] = False,
        events: Annotated[int, typer.Option("--events", min=1, help="Event windows to download.")] = 3000,
        days: Annotated[int, typer.Option("--days", min=1, help="Sessions the events spread over.")] = 60,
        symbols: Annotated[
            int, typer.Option("--symbols", min=10, help="Tickers in the served market.")
        ] = 600,
        rate_limit: Annotated[
            float, typer.Option("--rate-limit", min=1, help="Account limit (req/s): server and client.")
        ] = 100.0,
        latency_ms: Annotated[
            float, typer.Option("--latency-ms", min=0, help="Server latency per request.")
        ] = 50.0,
        concurrency: Annotated[
            int, typer.Option("--concurrency", min=1, help="Client in-flight requests.")
        ] = 16,
        seed: Annotated[int, typer.Option("--seed")] = 7,
    ) -> None:
        """Download event windows (trades + quotes) from `smallcaps sim serve --latency-ms 50
        --rate-limit 100` with the event_trades/event_quotes downloader; see smallcaps_assets/bench_windows.py."""
        from .bench_windows import bench_windows

        report = bench_windows(
            events=events,
            days=days,
            symbols=symbols,
            rate_limit=rate_limit,
            latency_ms=latency_ms,
            concurrency=concurrency,
            seed=seed,
        )
        if as_json:
            typer.echo(json.dumps(report))
            return
        for key, value in report.items():
            if key != "machine":
                typer.echo(f"{key:<22} {value}")
        m = report["machine"]
        typer.echo(f"{'machine':<22} {m['platform']}, {m['cpu_count']} CPUs, Python {m['python']}")

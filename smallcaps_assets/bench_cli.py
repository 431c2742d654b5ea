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
    """Add ``sim`` to the ``bench`` group: ``smallcaps bench sim [--json] [--repeats N]``."""

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

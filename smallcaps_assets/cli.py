"""The ``smallcaps`` console script."""

from __future__ import annotations

import typer

from .bench_cli import register as register_bench
from .sim.cli import sim_app

app = typer.Typer(
    help="smallcaps_assets: small-cap momentum research on a Dagster asset graph.", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")
bench_app = typer.Typer(help="Benchmarks that print their figures as JSON.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
register_bench(bench_app)


def main() -> None:  # pragma: no cover - console entry point
    app()

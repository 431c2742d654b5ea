"""``smallcaps sim ...``: serve the simulated vendor API, write its flat files, describe it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

sim_app = typer.Typer(help="The offline, Polygon-compatible simulated market.", no_args_is_help=True)

SeedOpt = Annotated[int | None, typer.Option("--seed", help="Master seed (default: the config's, 7).")]
SymbolsOpt = Annotated[int | None, typer.Option("--symbols", help="Tickers in the market (default 600).")]
ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="JSON file with a SimConfig (seed, n_symbols, edge, faults ...)."),
]
# The default market ends on the last completed session, so anything chosen "in the middle" or "the
# busiest" moves with the calendar: a figure quoted in the docs pins it.
MarketEndOpt = Annotated[
    dt.datetime | None,
    typer.Option(
        "--market-end",
        formats=["%Y-%m-%d"],
        help="The market's last session (default: the config's, else the last completed session).",
    ),
]


# The command-line option behind each ApiFaults field, so a refusal names what the user typed.
FAULT_OPTIONS = {
    "latency_ms": "--latency-ms",
    "rate_limit": "--rate-limit",
    "rate_burst": "--rate-burst",
    "error_rate": "--fault-rate",
}


def fail(message: str) -> typer.Exit:
    """Print one ``error:`` line (no traceback, no usage box) and return the exit-2 to raise."""
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(2)


def validation_line(exc, names: dict[str, str] | None = None) -> str:
    """A pydantic ValidationError on one line: ``<field or option> <value>: <reason>`` per error."""
    parts = []
    for err in exc.errors():
        field = ".".join(str(x) for x in err["loc"]) or "config"
        where = (names or {}).get(field, field)
        parts.append(f"{where} {err.get('input')!r}: {err['msg'].lower()}")
    return "; ".join(parts)


def load_sim_config(config: Path | None = None, seed: int | None = None, symbols: int | None = None, **extra):
    """A validated SimConfig from an optional JSON file plus command-line overrides."""
    from pydantic import ValidationError

    from .config import SimConfig

    data: dict = {}
    if config is not None:
        try:
            data = json.loads(config.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise fail(f"cannot read sim config {config}: {exc}") from exc
    if seed is not None:
        data["seed"] = seed
    if symbols is not None:
        data["n_symbols"] = symbols
    data.update({k: v for k, v in extra.items() if v is not None})
    try:
        return SimConfig.model_validate(data)
    except ValidationError as exc:
        raise fail(f"invalid sim config: {validation_line(exc)}") from exc


@sim_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
    latency_ms: Annotated[float, typer.Option("--latency-ms", help="Mean added latency per request.")] = 0.0,
    rate_limit: Annotated[
        float | None, typer.Option("--rate-limit", help="Requests/s per key; excess gets 429 + Retry-After.")
    ] = None,
    rate_burst: Annotated[
        int, typer.Option("--rate-burst", min=1, help="Token-bucket burst of the rate limit (requests).")
    ] = 1,
    fault_rate: Annotated[
        float, typer.Option("--fault-rate", help="Share of requests answered with a 5xx.")
    ] = 0.0,
    api_keys: Annotated[
        str | None,
        typer.Option("--api-keys", help="Comma-separated keys to accept (default: any non-empty key)."),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="uvicorn worker processes (the simulator is CPU-bound; state such as the rate limit is per worker).",
        ),
    ] = 1,
) -> None:
    """Serve the vendor REST API over HTTP (uvicorn)."""
    from pydantic import ValidationError

    from .config import ApiFaults
    from .server import run

    try:
        faults = ApiFaults(
            latency_ms=latency_ms, rate_limit=rate_limit, rate_burst=rate_burst, error_rate=fault_rate
        )
    except ValidationError as exc:
        raise fail(validation_line(exc, FAULT_OPTIONS)) from exc
    keys = {k.strip() for k in api_keys.split(",") if k.strip()} if api_keys else None
    run(
        load_sim_config(config, seed, symbols),
        host=host,
        port=port,
        faults=faults,
        api_keys=keys,
        workers=workers,
    )


@sim_app.command("flatfiles")
def flatfiles(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the bucket layout into.")],
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First session.")],
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last session.")],
    datasets: Annotated[
        str, typer.Option(help="Comma-separated: day_aggs_v1,minute_aggs_v1,trades_v1,quotes_v1.")
    ] = "day_aggs_v1,minute_aggs_v1,trades_v1,quotes_v1",
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the vendor's flat files (gzip CSV, us_stocks_sip/<dataset>/YYYY/MM/YYYY-MM-DD.csv.gz)."""
    from .flatfiles import DATASETS, write_flatfiles
    from .market import SimMarket

    wanted = tuple(d.strip() for d in datasets.split(",") if d.strip())
    unknown = sorted(set(wanted) - set(DATASETS))
    if unknown:
        raise typer.BadParameter(f"unknown datasets {unknown}; known: {list(DATASETS)}")
    market = SimMarket(load_sim_config(config, seed, symbols))
    written = write_flatfiles(market, out, start.date(), end.date(), datasets=wanted)
    typer.echo(f"wrote {len(written)} files under {out}")


@sim_app.command("info")
def info(
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
    market_end: MarketEndOpt = None,
) -> None:
    """Print the effective configuration and a census of the reference data."""
    from collections import Counter

    from .market import SimMarket

    market = SimMarket(load_sim_config(config, seed, symbols, end=market_end and market_end.date()))
    types = Counter(p.type for p in market.profiles())
    otc = sum(p.market == "otc" for p in market.profiles())
    typer.echo(
        json.dumps(
            {"config": json.loads(market.config.model_dump_json()), "types": types, "otc": otc}, indent=2
        )
    )


@sim_app.command("census")
def census(
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
    market_end: MarketEndOpt = None,
    parts: Annotated[
        str,
        typer.Option(
            "--parts",
            help="Comma-separated: reference, catalysts, corporate_actions, intraday, edge (default: all).",
        ),
    ] = "reference,catalysts,corporate_actions,intraday,edge",
) -> None:
    """Print, as JSON, the measured figures that docs/simulated_market.md quotes for one market: the
    ticker mix, delistings, catalyst days and shapes, splits, offerings, dividends, pauses, the
    volume profile and the planted edge. Pin the market with --market-end for figures that last."""
    from .census import PARTS
    from .census import census as measure
    from .market import SimMarket

    chosen = tuple(x.strip() for x in parts.split(",") if x.strip())
    unknown = sorted(set(chosen) - set(PARTS))
    if unknown or not chosen:
        raise fail(f"--parts {parts!r}: unknown part(s) {unknown}; known: {', '.join(PARTS)}")
    market = SimMarket(load_sim_config(config, seed, symbols, end=market_end and market_end.date()))
    typer.echo(json.dumps(measure(market, chosen), indent=2))


FACTS_START = dt.date(2024, 1, 2)
FACTS_END = dt.date(2024, 3, 28)  # 61 sessions, the demo's fortnight included


@sim_app.command("facts")
def facts(
    seed: SeedOpt = None,
    symbols: SymbolsOpt = None,
    config: ConfigOpt = None,
    start: Annotated[
        dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First session measured.")
    ] = dt.datetime.combine(FACTS_START, dt.time()),
    end: Annotated[
        dt.datetime,
        typer.Option("--end", formats=["%Y-%m-%d"], help="Last session measured; also the market's end."),
    ] = dt.datetime.combine(FACTS_END, dt.time()),
    tick_minutes: Annotated[
        int, typer.Option("--tick-minutes", min=1, max=390, help="Length of each sampled tick window.")
    ] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Measure the tape's stylised facts on the simulated market and print each beside its target."""
    from .facts import facts_json, facts_table, measure_facts
    from .market import SimMarket

    s, e = start.date(), end.date()
    if e < s:
        raise typer.BadParameter(f"--end {e} is before --start {s}")
    market = SimMarket(load_sim_config(config, seed, symbols, end=e))
    sessions = [d for d in market.sessions() if s <= d <= e]
    if not sessions:
        raise typer.BadParameter(
            f"no simulated session in {s}..{e} (the market starts {market.config.start})"
        )
    found = measure_facts(market, sessions, tick_minutes=tick_minutes)
    head = {"seed": market.config.seed, "n_symbols": market.config.n_symbols, "start": s, "end": e}
    if as_json:
        body = {**{k: str(v) for k, v in head.items()}, "sessions": len(sessions), "facts": facts_json(found)}
        typer.echo(json.dumps(body, indent=2))
        return
    typer.echo(
        f"smallcaps sim facts: seed {head['seed']}, {head['n_symbols']} symbols, "
        f"{len(sessions)} sessions {s}..{e} (market end {e})"
    )
    typer.echo(facts_table(found))
    missed = [f.key for f in found if f.ok is False]
    if missed:
        typer.echo(f"missed: {', '.join(missed)}")

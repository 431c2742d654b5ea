"""The ``smallcaps`` console script."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer

from . import asset_names as names
from . import calendar as cal
from .bench.cli import bench_app
from .sim.cli import sim_app

# Beta/preview notices from Dagster about parameters we chose deliberately are noise on a terminal.
warnings.filterwarnings("ignore", message=r".*(is currently in beta|is currently in preview|is superseded).*")
# A strategy with one trade day in a month has no spread of returns; its metrics say NaN already.
warnings.filterwarnings("ignore", message=r".*Degrees of freedom <= 0.*", category=RuntimeWarning)

app = typer.Typer(
    help="smallcaps_assets: small-cap momentum research on a Dagster asset graph.", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")
app.add_typer(bench_app, name="bench")
events_app = typer.Typer(help="The event detectors, measured on the offline market.", no_args_is_help=True)
app.add_typer(events_app, name="events")

DateOpt = Annotated[dt.datetime, typer.Option(formats=["%Y-%m-%d"])]

DEMO_START = dt.date(2024, 1, 16)
DEMO_END = dt.date(2024, 3, 15)


# The demo's two processes (materialize_pipelined), cut into about even halves by the steps'
# measured times (fresh demo, seconds a day: minute bars 2.1, ticker details 2.0, short interest
# 2.0, daily bars 1.0, intraday events 1.2, the other research steps 0.3-0.7 each; since then the
# in-process market no longer paces requests at 50/s and caches short interest and news per
# market, so minute bars, ticker details and short interest cost less; the cut is unchanged): in the
# lookback the daily history, details and news run a day ahead of the universe, minute bars and
# events; then each day's ingest (short interest aside) runs a day ahead of the rest.
PIPELINE_STAGES = (*names.INGEST, names.NEWS, names.SHORT_VOLUME)
LOOKBACK_STAGES = (*names.DAILY_HISTORY, names.TICKER_DETAILS, *names.ALTERNATIVE)


def _progress_run(
    selection: str,
    start: dt.date,
    end: dt.date,
    run_config: dict | None,
    label: str,
    upstream: bool = True,
    first_stage: tuple[str, ...] = (),
):
    """``materialize_range`` with a progress bar; with ``first_stage`` (and no run config),
    ``materialize_pipelined``: those assets in a second process, a day ahead."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from . import calendar as cal
    from .materialize import materialize_range

    days = cal.trading_days(start, end)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=len(days), status="")
        upstream_task = None

        def on_plan(plan) -> None:
            nonlocal upstream_task
            if not plan:
                return
            counts: dict[str, int] = {}
            for keys in plan.values():
                for key in keys:
                    counts[key.to_user_string()] = counts.get(key.to_user_string(), 0) + 1
            what = ", ".join(f"{name} x{n}" for name, n in sorted(counts.items()))
            bar.console.print(
                f"lookback: {len(plan)} earlier trading days are missing upstream partitions "
                f"({min(plan)}..{max(plan)}: {what}); materialising them first"
            )
            upstream_task = bar.add_task("upstream", total=len(plan), status="")

        def on_day(outcome):
            status = "ok" if outcome.success else f"FAILED {outcome.failed_checks or outcome.error}"
            in_plan = upstream_task is not None and not bar.tasks[upstream_task].finished
            bar.update(upstream_task if in_plan else task, advance=1, status=f"{outcome.day} {status}"[:120])

        if first_stage:
            from .materialize import materialize_pipelined

            return materialize_pipelined(
                selection, first_stage, start, end, on_day=on_day, upstream=upstream, on_plan=on_plan,
                plan_first_stage=LOOKBACK_STAGES,
            )  # fmt: skip
        return materialize_range(
            selection, start, end, run_config=run_config, on_day=on_day, upstream=upstream, on_plan=on_plan,
            notice=bar.console.print,
        )  # fmt: skip


def _failure_lines(outcome) -> list[str]:
    """One line per failed day: the day, what failed and why, and the run holding the full log."""
    lines = []
    for d in [*outcome.upstream_days, *outcome.days]:
        if d.success:
            continue
        what = "; ".join(
            x
            for x in [
                ", ".join(d.failed_checks) and f"blocking gates failed: {', '.join(d.failed_checks)}",
                d.error or "",
            ]
            if x
        )
        # Only a DAGSTER_HOME instance keeps the run's log (and its stack trace) after we exit.
        kept = d.run_id and os.environ.get("DAGSTER_HOME")
        where = f" (run {d.run_id[:8]}: full log in the Dagster UI)" if kept else ""
        lines.append(f"{d.day} {what}{where}")
    return lines


@app.command()
def materialize(
    select: Annotated[
        str, typer.Option("--select", help="Dagster asset selection, e.g. 'key:daily_bars+' or '*'.")
    ],
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First trading day.")],
    end: Annotated[
        dt.datetime | None,
        typer.Option("--end", formats=["%Y-%m-%d"], help="Last trading day (default: start)."),
    ] = None,
    config_json: Annotated[
        str | None, typer.Option("--config-json", help="Run config as JSON, e.g. a by-symbol backfill.")
    ] = None,
    symbols: Annotated[
        str | None,
        typer.Option(
            "--symbols", help="Backfill by symbol: comma-separated symbols for every selected asset."
        ),
    ] = None,
    upstream: Annotated[
        bool,
        typer.Option(
            "--upstream/--no-upstream",
            help="First materialise the earlier partitions the selection's lookbacks need and the lake lacks.",
        ),
    ] = True,
) -> None:
    """Materialise an asset selection for every trading day from --start to --end, in process.

    Honours DAGSTER_HOME (runs appear in the UI) and SMALLCAPS_DATA_DIR.

    Exits 1 if any step or blocking gate fails, and 2 on bad input (nothing is written then).
    """
    from .materialize import trading_days_in
    from .stages.reference import validate_symbols

    s, e = start.date(), (end or start).date()
    try:
        trading_days_in(s, e)
        run_config = _parse_config_json(config_json)
        if symbols is not None:
            wanted = validate_symbols([x.strip() for x in symbols.split(",") if x.strip()])
            if not wanted:  # an empty list would mean "no filter": the whole partition rewritten
                raise ValueError(f"--symbols {symbols!r} names no symbol; give tickers such as ABCD,EFGH")
            run_config = _symbols_config(select, wanted, run_config)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    try:
        outcome = _progress_run(select, s, e, run_config, "materialize", upstream=upstream and not symbols)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    # A range runs D before D+1: its labels are completed once the range is in (not for a by-symbol
    # repair, which rewrites only the symbols asked for).
    completed = _complete_labels(outcome, fetch_next=False) if outcome.success and not symbols else []
    failed = [line for o in [outcome, *completed] for line in _failure_lines(o)]
    for line in failed:
        typer.secho(line, fg="red", err=True)
    raise typer.Exit(1 if failed else 0)


def _parse_config_json(text: str | None) -> dict | None:
    """The ``--config-json`` object, or None when not given; anything but a JSON object is refused."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--config-json is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(
            f"--config-json must be a JSON object such as '{{\"ops\": {{...}}}}', not {type(value).__name__}"
        )
    return value


def _symbols_config(select: str, symbols: list[str], base: dict | None) -> dict:
    """Run config giving ``symbols`` to every selected asset that accepts a symbol list."""
    import dagster as dg

    from .definitions import defs

    keys = dg.AssetSelection.from_string(select).resolve(defs.resolve_asset_graph())
    accepting = symbol_backfill_assets(defs)
    ops = (base or {}).get("ops", {})
    if not isinstance(ops, dict):
        raise ValueError(f"--config-json: 'ops' must be an object keyed by asset, not {type(ops).__name__}")
    ops = dict(ops)
    for key in keys:
        name = key.to_user_string()
        if name not in accepting:
            raise ValueError(
                f"asset {name} has no by-symbol backfill; select only {', '.join(sorted(accepting))}"
            )
        op = ops.setdefault(name, {})
        if not isinstance(op, dict) or not isinstance(op.setdefault("config", {}), dict):
            raise ValueError(f"--config-json: the config of {name} must be an object")
        ops[name] = {**op, "config": {**op["config"], "symbols": symbols}}
    return {**(base or {}), "ops": ops}


def symbol_backfill_assets(defs) -> set[str]:
    """The assets whose run config takes a ``symbols`` list, read from the definitions."""
    out: set[str] = set()
    for assets_def in defs.assets or []:
        field = assets_def.op.config_field
        if field is not None and "symbols" in getattr(field.config_type, "fields", {}):
            out.update(key.to_user_string() for key in assets_def.keys)
    return out


@app.command()
def demo(
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"])] = dt.datetime.combine(
        DEMO_START, dt.time()
    ),
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"])] = dt.datetime.combine(
        DEMO_END, dt.time()
    ),
) -> None:
    """The main job on the offline market: materialise the whole graph for the demo range, after
    the earlier days its lookbacks need, and print a summary."""
    from .materialize import trading_days_in

    s, e = start.date(), end.date()
    try:
        days = trading_days_in(s, e)
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    # The lookbacks (25 sessions of daily bars, 20 of minute bars for the time-of-day baselines,
    # and the universe those minute bars need) are filled first, so every reported day is warm.
    # Both run on both cores: one process a day ahead of the other (PIPELINE_STAGES).
    outcomes = [
        _progress_run("*", days[0], days[-1], None, "pipeline", upstream=True, first_stage=PIPELINE_STAGES)
    ]
    # The last day's next session is after the range: fetch it, then complete that day's labels.
    completed = _complete_labels(outcomes[0], fetch_next=True) if outcomes[0].success else []
    _print_summary(outcomes)
    labelled = [o for o in completed if o.days and names.EVENT_LABELS in o.days[0].metadata]
    if labelled:
        typer.echo(
            f"  labels completed        {sum(len(o.days) for o in labelled)} day(s) with the next "
            "session's open and close"
        )
    # The first month of data trains the next one's model (docs/models.md): every later month of
    # the span gets its model and its days' out-of-sample predictions.
    model_runs = []
    if all(o.success for o in [*outcomes, *completed]):
        from .materialize import month_starts

        model_runs = _model_runs(month_starts(s, e)[1:])
    if not all(o.success for o in [*outcomes, *completed, *model_runs]):
        raise typer.Exit(1)


def _model_runs(months: list) -> list:
    """The walk-forward models of ``months``, their days' out-of-sample predictions and the
    backtests of the months whose model trained, one line per month (docs/models.md)."""
    from .materialize import materialize_months

    outcome = materialize_months(f"key:{names.EVENT_MODEL} or key:{names.EVENT_PREDICTIONS}", months)
    by_month: dict = {}
    for o in outcome.days:
        by_month.setdefault(o.day.replace(day=1), []).append(o)
    for month, runs in by_month.items():
        model, days = runs[0], runs[1:]
        if not model.success:
            typer.secho(f"  model {month:%Y-%m}  FAILED: {model.error or model.failed_checks}", fg="red")
            continue
        meta = model.metadata.get(names.EVENT_MODEL, {})
        predicted = sum(int(d.metadata.get(names.EVENT_PREDICTIONS, {}).get("events", 0)) for d in days)
        failed = [str(d.day) for d in days if not d.success]
        typer.echo(
            f"  model {month:%Y-%m}  trained on {int(meta.get('n_fit', 0)):,} events "
            f"(+{int(meta.get('n_valid', 0)):,} early-stopping); out of sample: AUC "
            f"{float(meta.get('test_auc', float('nan'))):.3f} on {int(meta.get('n_test_labelled', 0)):,} "
            f"labelled events; predictions {predicted:,} events over {len(days) - len(failed)} days"
            + (f"; FAILED days {', '.join(failed)}" if failed else "")
        )
    trained = [m for m, runs in by_month.items() if runs[0].success]
    return outcome.days + (_backtest_runs(trained) if trained else [])


def _backtest_runs(months: list) -> list:
    """The backtest of ``months`` (every registered strategy: the model's and the baselines), one
    line per strategy and month (docs/backtests.md)."""
    from .materialize import materialize_months
    from .stages.backtest.strategies import STRATEGIES

    outcome = materialize_months(f"key:{names.BACKTEST}", months)
    for run in outcome.days:
        if not run.success:
            typer.secho(f"  backtest {run.day:%Y-%m}  FAILED: {run.error or run.failed_checks}", fg="red")
            continue
        meta = run.metadata.get(names.BACKTEST, {})
        for strategy in STRATEGIES:
            n = strategy.name
            typer.echo(
                f"  backtest {run.day:%Y-%m}  {n:<16}{int(meta.get(f'{n}_trades', 0)):>6,} trades  Sharpe "
                f"{float(meta.get(f'{n}_sharpe', float('nan'))):6.2f}  cost share "
                f"{float(meta.get(f'{n}_cost_share', float('nan'))):6.1%}"
            )
    return outcome.days


@app.command()
def models(
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m"], help="First month (YYYY-MM).")],
    end: Annotated[
        dt.datetime | None, typer.Option("--end", formats=["%Y-%m"], help="Last month (default: --start).")
    ] = None,
) -> None:
    """Train the walk-forward event model of every month from --start to --end (one run per month,
    in order; docs/models.md), predict each of its days that has event_features, out of sample, and
    backtest the month (docs/backtests.md). The first month of data has no model (nothing ends
    before it)."""
    from .materialize import month_starts

    try:
        months = month_starts(start.date(), (end or start).date())
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    runs = _model_runs(months)
    if not all(o.success for o in runs):
        raise typer.Exit(1)


def _complete_labels(outcome, fetch_next: bool) -> list:
    """event_labels of D read D+1's daily bars, and a range runs D before D+1: run the labels again
    for each day whose labels said ``next_session: pending`` and whose next session's daily bars
    the lake now holds, so a range finishes with its labels complete (the pipeline_automation
    sensor does the same as each session lands). ``fetch_next`` (the demo) first fetches the
    session after the range, so every reported day completes; otherwise the range's last day
    stays pending until its next session is run, which is the truth and passes its check.

    Returns the runs made: the next session's daily bars (with ``fetch_next``), then the labels."""
    from . import calendar as cal
    from . import lake

    pending = [
        d.day for d in outcome.days if d.metadata.get(names.EVENT_LABELS, {}).get("next_session") == "pending"
    ]
    if not pending:
        return []
    runs = []
    if fetch_next:
        nxt = cal.next_trading_day(max(pending))
        if nxt is not None and not lake.partition_exists(names.DAILY_BARS, nxt):
            runs.append(
                _progress_run(f"key:{names.DAILY_BARS}", nxt, nxt, None, "next session", upstream=True)
            )
            if not runs[-1].success:
                return runs
    ready = [
        d
        for d in pending
        if (n := cal.next_trading_day(d)) is not None and lake.partition_exists(names.DAILY_BARS, n)
    ]
    # Consecutive sessions in one run each (the demo's pending days are its first and last).
    spans: list[list] = []
    for d in sorted(ready):
        if spans and cal.next_trading_day(spans[-1][-1]) == d:
            spans[-1].append(d)
        else:
            spans.append([d])
    for span in spans:
        runs.append(
            _progress_run(f"key:{names.EVENT_LABELS}", span[0], span[-1], None, "labels", upstream=False)
        )
    return runs


def _print_summary(outcomes) -> None:
    rows: dict[str, int] = {}
    calls = retries = 0
    universe_sizes, large_caps = [], 0
    windows_fetched = windows_reused = window_requests = 0
    files: set[str] = set()
    days: set = set()
    for o in outcomes:
        for d in [*o.upstream_days, *o.days]:
            for asset, meta in d.metadata.items():
                rows[asset] = rows.get(asset, 0) + int(meta.get("rows", 0))
                calls += int(meta.get("api_calls", 0))
                retries += int(meta.get("api_retries", 0))
                if "path" in meta:
                    files.add(str(meta["path"]))
                if asset == names.UNIVERSE:
                    universe_sizes.append(int(meta["universe_size"]))
                    large_caps += int(meta["large_caps_excluded"])
                if asset == names.INTRADAY_EVENTS:
                    days.add(d.day)
                if asset == names.EVENT_TRADES:
                    windows_fetched += int(meta.get("windows_fetched", 0))
                    windows_reused += int(meta.get("windows_already_done", 0))
                    window_requests += int(meta.get("api_requests", 0))
    typer.echo("")
    typer.secho("smallcaps demo: summary", bold=True)
    lookback_days = sorted({d.day for o in outcomes for d in o.upstream_days})
    reported = sorted({d.day for o in outcomes for d in o.days})
    if reported:
        typer.echo(f"  reported days           {len(reported)} ({reported[0]}..{reported[-1]})")
    if lookback_days:
        typer.echo(
            f"  lookback filled first   {len(lookback_days)} earlier days ({lookback_days[0]}..{lookback_days[-1]})"
        )
    if universe_sizes:
        typer.echo(
            f"  universe size per day   {min(universe_sizes)}-{max(universe_sizes)} "
            f"(mean {sum(universe_sizes) / len(universe_sizes):.0f})"
        )
        typer.echo(f"  large caps kept out     {large_caps} symbol-days (market cap >= $2B, price $0.50-$20)")
    for asset, n in sorted(rows.items()):
        typer.echo(f"  rows {asset:<20} {n:,}")
    _print_events(sorted(days))
    coverage = feature_coverage([d.metadata.get(names.EVENT_FEATURES, {}) for o in outcomes for d in o.days])
    if coverage:
        typer.echo(f"  event features          {coverage}")
    balance = barrier_balance([d.metadata.get(names.EVENT_LABELS, {}) for o in outcomes for d in o.days])
    if balance:
        typer.echo(f"  barrier labels          {balance}")
    if names.EVENT_TRADES in rows:
        per_event = window_requests / windows_fetched if windows_fetched else 0.0
        typer.echo(
            f"  events downloaded       {windows_fetched:,} windows ({windows_reused:,} already in the ledger), "
            f"{window_requests:,} requests ({per_event:.2f} per event)"
        )
    typer.echo(f"  API calls               {calls:,} ({retries} retries)")
    typer.echo(f"  files written           {len(files)}")
    failed = [d for o in outcomes for d in [*o.upstream_days, *o.days] if not d.success]
    typer.echo(f"  failed days             {len(failed)}")


def feature_coverage(feature_metadata: list[dict]) -> str | None:
    """Over days of ``event_features`` metadata: events, feature columns and the share of events
    with tape features (a downloaded window with rows before ts), e.g. ``372 events x 97 features,
    tape features for 9.4%``."""
    days = [m for m in feature_metadata if m.get("events")]
    total = sum(int(m["events"]) for m in days)
    if not total:
        return None
    tape = sum(float(m.get("coverage/tape", 0.0)) * int(m["events"]) for m in days) / total
    width = max(int(m.get("features", 0)) for m in days)
    return f"{total:,} events x {width} features, tape features for {tape:.1%} (events with a window)"


def barrier_balance(label_metadata: list[dict]) -> str | None:
    """The barrier label's class balance over days of ``event_labels`` metadata (each day's
    ``labelled`` count and ``share_*`` of each outcome), e.g. ``94 labelled: stop 11.7%, ...``."""
    days = [m for m in label_metadata if m.get("labelled")]
    total = sum(int(m["labelled"]) for m in days)
    if not total:
        return None
    shares = {
        name: sum(float(m[f"share_{key}"]) * int(m["labelled"]) for m in days) / total
        for key, name in (("sl", "stop"), ("vertical", "vertical"), ("pt", "profit"))
    }
    return f"{total:,} labelled: " + ", ".join(f"{name} {share:.1%}" for name, share in shares.items())


def _print_events(days: list) -> None:
    """Intraday events of the run's days by type and by session, queried from the lake's catalogue."""
    import polars as pl

    from . import lake_sql

    if not days:
        return
    with lake_sql.catalogue() as con:
        if names.INTRADAY_EVENTS not in _views(con):
            return
        counts = con.sql(
            f"SELECT session, event_type, count(*) AS n FROM {names.INTRADAY_EVENTS} "
            "WHERE date IN (SELECT unnest(?::DATE[])) GROUP BY ALL",
            params=[[d.isoformat() for d in days]],
        ).pl()
    if counts.is_empty():
        return
    by_session = dict(counts.group_by("session").agg(pl.col("n").sum()).iter_rows())
    typer.echo(
        f"  intraday events         {int(counts['n'].sum()):,}: "
        + ", ".join(f"{s} {by_session.get(s, 0):,}" for s in ("PM", "RTH", "AH"))
    )
    by_type = (
        counts.group_by("event_type")
        .agg(pl.col("n").sum())
        .sort(["n", "event_type"], descending=[True, False])
    )
    for event_type, n in by_type.iter_rows():
        typer.echo(f"    {event_type:<22}{n:,}")


def _views(con) -> list[str]:
    return [
        r[0]
        for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()
    ]


@app.command()
def sql(
    query: Annotated[str | None, typer.Argument(help="SQL to run; omit to list the views.")] = None,
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Open the catalogue file $SMALLCAPS_DATA_DIR/smallcaps.duckdb read-write: its views, "
            "and any table you create, persist; COPY and ATTACH are allowed.",
        ),
    ] = False,
) -> None:
    """Run SQL on the lake through DuckDB (views: ticker_reference, daily_bars, universe, minute_bars, ...).

    Read-only by default: the views live in an in-memory database, statements that write files
    (COPY, EXPORT, ATTACH, INSTALL, LOAD) are refused, and the lake is never changed, so it works on a
    read-only lake. --write opens the catalogue file instead, which any DuckDB client can open too.
    """
    import polars as pl

    from . import lake, lake_sql

    opened = lake_sql.catalogue() if write else lake_sql.reader()
    try:
        with opened as con:
            if not query:
                where = (
                    lake_sql.database_path() if write else f"in-memory, read-only views of {lake.lake_root()}"
                )
                typer.echo(f"database: {where}")
                for name in _views(con):
                    typer.echo(f"  {name}")
                return
            if not write and lake_sql.CHANGES_TABLES.intersection(lake_sql.refuse_writes(con, query)):
                typer.echo("note: in memory only, nothing is written (--write persists tables)", err=True)
            relation = con.sql(query)  # None for a statement without a result (CREATE, SET, ...)
            frame = relation.pl() if relation is not None else None
    except Exception as exc:  # duckdb raises several error classes; the message names the problem
        typer.secho(f"error: {_one_line(exc)}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if frame is None:
        typer.echo("ok")
        return
    with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=40):
        typer.echo(str(frame))


def _one_line(exc: BaseException) -> str:
    """The first line of an error's message (DuckDB appends a caret diagram and hints below it)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@app.command()
def storage(
    project: Annotated[
        bool, typer.Option("--project", help="Project the measured footprint over --start..--end.")
    ] = False,
    start: Annotated[
        dt.datetime | None, typer.Option("--start", formats=["%Y-%m-%d"], help="First day of the projection.")
    ] = None,
    end: Annotated[
        dt.datetime | None, typer.Option("--end", formats=["%Y-%m-%d"], help="Last day of the projection.")
    ] = None,
    tickers: Annotated[
        int | None,
        typer.Option(
            "--tickers",
            help="Listed tickers of the projected market; bytes scale by it over the measured "
            "market's (ticker_reference rows). Default: the measured market.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: per asset and totals.")
    ] = False,
) -> None:
    """Bytes and files per asset per partition of the lake in SMALLCAPS_DATA_DIR, as measured;
    with --project, their linear projection over a span of sessions (and --tickers, a market size)."""
    import polars as pl

    from . import storage as st

    try:
        if project and (start is None or end is None):
            raise ValueError("--project needs --start and --end")
        if not project and (start or end or tickers):
            raise ValueError("--start, --end and --tickers belong to --project")
        if tickers is not None and tickers <= 0:
            raise ValueError(f"--tickers must be positive, not {tickers}")
        measured = st.measure()
        if project:
            scale = 1.0
            if tickers is not None:
                scale = tickers / st.measured_tickers(measured=measured)
            table = st.project(measured, start.date(), end.date(), scale)
        else:
            table = st.per_partition(measured)
    except (ValueError, OSError) as exc:
        typer.secho(f"error: {_one_line(exc)}", fg="red", err=True)
        raise typer.Exit(2) from exc
    total_bytes, total_files = int(table["bytes"].sum()), int(table["files"].sum())
    if as_json:
        out = {"assets": table.to_dicts(), "bytes": total_bytes, "files": total_files}
        if project:
            out.update(start=start.date().isoformat(), end=end.date().isoformat(), scale=scale)
        typer.echo(json.dumps(out, default=str))
        return
    shown = ["asset", "partitions" if not project else "measured_partitions", "coverage"]
    shown += ["files_per_partition", "bytes_per_partition"] + (["partitions"] if project else [])
    shown += ["files", "bytes"]
    with pl.Config(
        tbl_rows=50, tbl_cols=20, tbl_width_chars=160, float_precision=2,
        tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True,
    ):  # fmt: skip
        typer.echo(str(table.select(shown)))
    what = f"projected {start.date()}..{end.date()}" if project else "measured"
    typer.echo(f"{what}: {st.human_bytes(total_bytes)} ({total_bytes} bytes) in {total_files} files")


@app.command()
def checks(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per check.")] = False,
    failing: Annotated[bool, typer.Option("--failing", help="List only checks with a failed day.")] = False,
) -> None:
    """Per asset check of the instance in DAGSTER_HOME: trading days passed and failed (the latest
    result of each day, as the UI shows it) and the failed days."""
    import dagster as dg

    from .check_history import format_tally, tally
    from .definitions import defs

    if not os.environ.get("DAGSTER_HOME"):
        typer.secho("error: DAGSTER_HOME is not set: no instance keeps check results", fg="red", err=True)
        raise typer.Exit(2)
    with dg.DagsterInstance.get() as instance:
        rows = tally(instance, defs)
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in rows if r.failed or not failing]))
    else:
        typer.echo(format_tally(rows, only_failing=failing))


@events_app.command("calibrate")
def events_calibrate(
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="First session.")],
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Last session.")],
    seed: Annotated[
        int, typer.Option("--seed", help="The offline market's seed (the default market: 7).")
    ] = 7,
    edge: Annotated[str, typer.Option("--edge", help="The market's edge mode: planted or null.")] = "planted",
    rules_only: Annotated[
        bool, typer.Option("--rules-only", help="Switch the in-play filter off: every rule's events.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    events_out: Annotated[
        Path | None,
        typer.Option("--events-out", help="Also write the labelled events and symbol-days (Parquet) here."),
    ] = None,
) -> None:
    """Run the intraday detectors over sessions of the offline market and measure them against its
    planted catalysts: events per ordinary and catalyst symbol-day by type, precision, recall of
    every planted shape, score coverage and the checklist's blocking rules."""
    from . import calibrate
    from .sim import SimConfig, SimMarket
    from .stages import events as ev

    try:
        days = cal.trading_days(start.date(), end.date())
        if not days or end.date() < start.date():
            raise ValueError(f"no trading day in {start.date()}..{end.date()}")
        if edge not in ("planted", "null"):
            raise ValueError(f"--edge must be planted or null, not {edge!r}")
        config = SimConfig(seed=seed, edge={"mode": edge})
        if days[0] < config.start or days[-1] > config.end:
            raise ValueError(f"the offline market spans {config.start}..{config.end}")
    except ValueError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    params = ev.IntradayParams(in_play={"enabled": not rules_only})

    def progress(day, n):  # on standard error, so that --json output stays clean
        typer.echo(f"  {day}: {n} events", err=True)

    collected = calibrate.collect(SimMarket(config), days, params, progress)
    if events_out is not None:
        events_out.mkdir(parents=True, exist_ok=True)
        collected.events.write_parquet(events_out / "events.parquet")
        collected.symbol_days.write_parquet(events_out / "symbol_days.parquet")
    rep = calibrate.report(collected)
    rep["seed"], rep["edge"], rep["in_play"] = seed, edge, not rules_only
    typer.echo(json.dumps(rep, indent=2, default=str) if as_json else calibrate.format_report(rep))


windows_app = typer.Typer(
    help="The event-window ledger (working state beside the lake): where it is, what it holds, repairs.",
    no_args_is_help=True,
)
app.add_typer(windows_app, name="windows")


def _ledger():
    from . import lake
    from .stages.windows import LEDGER_FILE, WindowLedger

    try:
        path = lake.state_dir() / LEDGER_FILE
    except ValueError as exc:  # a remote lake without SMALLCAPS_STATE_DIR
        typer.secho(f"error: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    return path, WindowLedger


@windows_app.command("path")
def windows_path() -> None:
    """Print the ledger's file: $SMALLCAPS_STATE_DIR/event_windows.sqlite, else <lake>/_state/."""
    typer.echo(str(_ledger()[0]))


@windows_app.command("versions")
def windows_versions(
    day: Annotated[dt.datetime, typer.Option("--day", formats=["%Y-%m-%d"], help="The trading day.")],
) -> None:
    """One line per manifest version the day's windows were fetched under: hash, events, first and
    last finish time (UTC)."""
    path, ledger_class = _ledger()
    with ledger_class(path) as ledger:
        rows = ledger.versions(day.date())
    typer.echo(f"{day.date()}: {sum(r[1] for r in rows)} event(s) in {path}")
    for sha, n, first, last in rows:
        typer.echo(f"  {sha[:16]}  {n:>5} event(s)  {first} .. {last}")


@windows_app.command("forget")
def windows_forget(
    day: Annotated[
        dt.datetime,
        typer.Option("--day", formats=["%Y-%m-%d"], help="The trading day whose windows to refetch."),
    ],
    event_id: Annotated[str | None, typer.Option("--event-id", help="Only this event.")] = None,
) -> None:
    """Delete the day's ledger rows (or one event's) so the next materialisation of the day fetches
    them again. Not while a run of that day is downloading."""
    path, ledger_class = _ledger()
    with ledger_class(path) as ledger:
        n = ledger.forget(day.date(), event_id)
    typer.echo(f"forgot {n} event window(s) of {day.date()} in {path}; rematerialise the day to refetch")


def main() -> None:  # pragma: no cover - console entry point
    app(prog_name="smallcaps")
    sys.exit(0)

"""Materialise an asset selection for every trading day of a range, in process.

Used by ``smallcaps materialize``, the demo and CI. One run per trading day (in date order, so
lookbacks find their upstream days), each recorded in the Dagster instance of ``DAGSTER_HOME``
when it is set, so the runs show up in the UI.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import dagster as dg

from . import calendar as cal
from . import lake
from . import runs_recovery as recovery
from .asset_names import EVENT_FEATURES, MODELS
from .assetkit.metadata import HISTORY_AS_FOUND_METADATA, WARM_UP_METADATA


@dataclass
class DayOutcome:
    day: dt.date
    success: bool
    failed_checks: list[str] = field(default_factory=list)
    error: str | None = None
    metadata: dict[str, dict] = field(default_factory=dict)  # asset -> materialisation metadata
    run_id: str | None = None  # the Dagster run, whose event log holds any full stack trace


@dataclass
class RangeOutcome:
    days: list[DayOutcome]
    # Days run first to fill the lookbacks of the selection (``upstream=True``), in date order.
    upstream_days: list[DayOutcome] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(d.success for d in [*self.upstream_days, *self.days])


def missing_upstream(
    graph, keys: set[dg.AssetKey], days: list[dt.date], root: str | None = None
) -> dict[dt.date, set[dg.AssetKey]]:
    """The upstream partitions that ``keys`` over ``days`` read and the lake does not hold yet,
    grouped by day: the closure over every partition mapping in the graph (a lookback such as
    ``sessions_window(-20, -1)`` names each of its 20 days), so a fresh lake gets exactly the
    history a long-running one would have. Partitions the run itself makes are not listed.

    An asset's dependency on its own earlier partitions (the score's history, the manifest's
    per-symbol limits) is left out: that history accrues as days are run, and pulling it in would
    recurse to the first partition. So is a later partition (a forward mapping), and an earlier
    one of an asset that reads its history as found (``HISTORY_AS_FOUND_METADATA``: a report over
    a window). An asset that declares warm-up sessions (``WARM_UP_METADATA``) gets that many of
    its own sessions before the first day instead, with their own upstream."""
    selected = {(k, d) for k in keys for d in days}
    seen: set[tuple[dg.AssetKey, dt.date]] = set()
    needed: dict[dt.date, set[dg.AssetKey]] = {}
    stack = sorted(selected, key=lambda kd: (kd[1], kd[0].to_user_string()))
    first = min(days)
    for key in sorted(keys, key=lambda k: k.to_user_string()):
        warm_up = int(graph.get(key).metadata.get(WARM_UP_METADATA, 0))
        for day in cal.sessions_before(first, warm_up) if warm_up else []:
            node = (key, day)
            if node in selected or lake.partition_exists(key.to_user_string(), day, root):
                continue
            seen.add(node)
            needed.setdefault(day, set()).add(key)
            stack.append(node)
    while stack:
        key, day = stack.pop()
        as_found = bool(graph.get(key).metadata.get(HISTORY_AS_FOUND_METADATA, False))
        for parent in sorted(graph.get(key).parent_keys, key=lambda k: k.to_user_string()):
            if parent == key or graph.get(parent).partitions_def is None:
                continue
            mapped = graph.get_parent_partition_keys_for_child(day.isoformat(), parent, key)
            for pk in mapped.partitions_subset.get_partition_keys():
                node = (parent, dt.date.fromisoformat(pk))
                # A forward dependency (event_labels of D read D+1's daily bars) completes when
                # that later session is run; it is never pulled in ahead of time.
                if node[1] > day or (as_found and node[1] < day) or node in selected or node in seen:
                    continue
                seen.add(node)
                if lake.partition_exists(parent.to_user_string(), node[1], root):
                    continue
                needed.setdefault(node[1], set()).add(parent)
                stack.append(node)
    return dict(sorted(needed.items()))


def _error_text(failure_event) -> str:
    """The innermost useful message of a step failure (Dagster wraps user errors)."""
    info = failure_event.event_specific_data.error
    parts = []
    while info is not None:
        parts.append(info.message.strip().splitlines()[0] if info.message.strip() else "")
        info = info.cause
    # A cause whose first line says nothing (pandera's JSON report opens with "{") is never the reason.
    meaningful = [
        p for p in parts if p and "Error occurred while executing" not in p and not _opens_a_dump(p)
    ]
    text = meaningful[-1] if meaningful else parts[0]
    # A raised dg.Failure is the asset's own one-line reason: drop Dagster's class path. Other
    # exceptions keep their short class name, which says what kind of error it was.
    head, sep, rest = text.partition(": ")
    if sep and "." in head and " " not in head:
        text = rest if head.endswith(".Failure") else f"{head.rsplit('.', 1)[-1]}: {rest}"
    return text[:400]


def _opens_a_dump(line: str) -> bool:
    body = line.partition(": ")[2] if ": " in line else line
    return body.strip() in ("{", "[")


def _instance() -> dg.DagsterInstance:
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def trading_days_in(start: dt.date, end: dt.date) -> list[dt.date]:
    for d, name in ((start, "start"), (end, "end")):
        if not cal.is_trading_day(d):
            raise ValueError(f"--{name} {d} is not an NYSE trading day")
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return cal.trading_days(start, end)


def materialize_range(
    selection: str,
    start: dt.date,
    end: dt.date | None = None,
    run_config: dict | None = None,
    defs: dg.Definitions | None = None,
    resources: dict | None = None,
    on_day: Callable[[DayOutcome], None] | None = None,
    log_level: str = "CRITICAL",
    upstream: bool = False,
    on_plan: Callable[[dict[dt.date, set[dg.AssetKey]]], None] | None = None,
    notice: Callable[[str], None] | None = None,
) -> RangeOutcome:
    """Run ``selection`` (Dagster selection syntax, e.g. ``key:daily_bars+``) day by day.

    With ``upstream``, first materialise every upstream partition the selection's lookbacks read
    and the lake lacks (``missing_upstream``), day by day in date order; ``on_plan`` sees that
    plan before it runs. A failed upstream day stops the run before the selection starts.

    The console logger is quiet by default (``log_level``): a step's stack trace stays in the
    run's event log, and each failed day carries a one-line cause in ``DayOutcome.error``.

    Before each day's run, runs of this host left unfinished by a dead process are marked failed
    and their concurrency slots freed; a run that waits for a slot says so and stops on SIGINT or
    SIGTERM (``runs_recovery``). ``notice`` receives those one-line messages (default: stderr)."""
    from .definitions import build_defs

    defs = build_defs() if defs is None else defs
    days = trading_days_in(start, end or start)
    graph = defs.resolve_asset_graph()
    try:
        asset_selection = dg.AssetSelection.from_string(selection)
        keys = asset_selection.resolve(graph)
    except Exception as exc:  # selection syntax errors come from several layers
        raise ValueError(f"invalid asset selection {selection!r}: {exc}") from exc
    if not keys:
        raise ValueError(f"asset selection {selection!r} matches no asset")
    # Day runs cover the daily graph; the models run by month once a month is complete
    # (asset_names.MODELS, defs/models.py), so a wide selection such as '*' leaves them out.
    keys = {k for k in keys if k.to_user_string() not in MODELS}
    if not keys:
        raise ValueError(f"asset selection {selection!r} matches only the models, which run by month")
    asset_selection = dg.AssetSelection.assets(*keys)
    run_config = {**(run_config or {})}
    run_config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    assets = list(defs.assets or [])
    checks = list(defs.asset_checks or [])
    merged_resources = {**(defs.resources or {}), **(resources or {})}
    validate_run_config(assets, checks, merged_resources, asset_selection, run_config)
    instance = _instance()
    notice = notice or _to_stderr
    recovery.stop_busy_wait()
    upstream_outcomes: list[DayOutcome] = []
    if upstream:
        plan = missing_upstream(graph, set(keys), days)
        if on_plan:
            on_plan(plan)
        for day, plan_keys in plan.items():
            outcome = _run_day(
                day, [*assets, *checks], dg.AssetSelection.assets(*plan_keys), instance,
                merged_resources, _config_for(run_config, assets, plan_keys), notice,
            )  # fmt: skip
            upstream_outcomes.append(outcome)
            if on_day:
                on_day(outcome)
            if not outcome.success:
                return RangeOutcome([], upstream_outcomes)
    outcomes: list[DayOutcome] = []
    for day in days:
        outcome = _run_day(
            day, [*assets, *checks], asset_selection, instance, merged_resources, run_config, notice
        )
        outcomes.append(outcome)
        if on_day:
            on_day(outcome)
    return RangeOutcome(outcomes, upstream_outcomes)


def validate_run_config(assets: list, checks: list, resources: dict, selection, run_config: dict) -> None:
    """Refuse a run config the selection's job would refuse, before any day runs (bad input, so
    nothing is written): an unknown op, a value of the wrong type, a misspelt field."""
    job = dg.define_asset_job("smallcaps_materialize_config", selection=selection)
    definitions = dg.Definitions(assets=assets, asset_checks=checks, resources=resources, jobs=[job])
    job_def = definitions.resolve_job_def(job.name)
    try:
        dg.validate_run_config(job_def, run_config)
    except dg.DagsterInvalidConfigError as exc:
        reasons = [_short_config_error(e.message) for e in exc.errors] or [str(exc).splitlines()[0]]
        raise ValueError(f"invalid run config: {'; '.join(reasons)}") from exc
    _validate_stage_params(assets, run_config)


# A Config's method that builds its stage's validated parameters. Dagster checks the config's
# types; the ranges (a score in [0, 1], ...) live in those pydantic models, so without building
# them here an out-of-range value would pass validation and fail inside the step (exit 1, not 2).
PARAM_BUILDERS = ("rules", "params")


def _validate_stage_params(assets: list, run_config: dict) -> None:
    import typing

    ops = run_config.get("ops") or {}
    for assets_def in assets:
        name = getattr(assets_def, "node_def", None) and assets_def.node_def.name
        given = ops.get(name, {}).get("config") if isinstance(ops.get(name), dict) else None
        fn = getattr(getattr(assets_def, "op", None), "compute_fn", None)
        fn = getattr(fn, "decorated_fn", None)
        if given is None or fn is None:
            continue
        config_class = typing.get_type_hints(fn).get("config")
        if config_class is None:
            continue
        try:
            config = config_class(**given)
            for builder in PARAM_BUILDERS:
                if callable(getattr(config, builder, None)):
                    getattr(config, builder)()
        except (ValueError, dg.Failure) as exc:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"invalid config of {name}: {_config_error(exc)}") from exc


def _config_error(exc: BaseException) -> str:
    """``field: reason`` from the pydantic error behind ``exc`` (a Config may wrap it), else its text."""
    import pydantic

    cause: BaseException | None = exc
    while cause is not None and not isinstance(cause, pydantic.ValidationError):
        cause = cause.__cause__
    if cause is None:
        return " ".join(str(getattr(exc, "description", None) or exc).split())
    return "; ".join(
        f"{'.'.join(str(x) for x in e['loc'])} {e.get('input')!r}: {e['msg']}" for e in cause.errors()
    )


def _short_config_error(message: str) -> str:
    """Dagster's config error without the schema it appends (the whole job's config type, on one line)."""
    head, _, expected = message.partition(" Expected: ")
    return head if len(expected) > 80 else message


def _config_for(run_config: dict, assets: list, keys: set[dg.AssetKey]) -> dict:
    """The run config restricted to the ops that make ``keys``: a user's asset config applies to
    that asset wherever it runs, and Dagster refuses config for ops outside the run."""
    ops = run_config.get("ops")
    if not ops:
        return run_config
    names = {a.node_def.name for a in assets if isinstance(a, dg.AssetsDefinition) and set(a.keys) & keys}
    return {**run_config, "ops": {name: cfg for name, cfg in ops.items() if name in names}}


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _run_day(day, definitions, asset_selection, instance, resources, run_config, notice) -> DayOutcome:
    """One run for one trading day; never raises: a failure becomes the outcome's one-line error."""
    outcome = DayOutcome(day=day, success=False)
    tags = {"smallcaps/launched_by": "smallcaps materialize", recovery.OWNER_TAG: recovery.owner_tag()}
    try:
        if not instance.is_ephemeral:
            line = recovery.recover(instance).line()
            if line:
                notice(line)
        with recovery.SlotWatch(instance, str(day), notice) if not instance.is_ephemeral else nullcontext():
            result = dg.materialize(
                definitions,
                selection=asset_selection,
                partition_key=day.isoformat(),
                instance=instance,
                resources=resources,
                run_config=run_config,
                raise_on_error=False,
                tags=tags,
            )
        outcome.success = result.success
        outcome.run_id = result.run_id
        for ev in result.get_asset_check_evaluations():
            if not ev.passed and ev.severity == dg.AssetCheckSeverity.ERROR:
                outcome.failed_checks.append(f"{ev.asset_key.to_user_string()}:{ev.check_name}")
        for mat in result.get_asset_materialization_events():
            m = mat.materialization
            outcome.metadata[m.asset_key.to_user_string()] = {k: v.value for k, v in m.metadata.items()}
        if not result.success:
            failures = result.get_step_failure_events()
            outcome.error = "; ".join(f"{f.step_key}: {_error_text(f)}" for f in failures) or "run failed"
    except Exception as exc:  # a definition-level error: report it as this day's failure
        outcome.error = f"{type(exc).__name__}: {exc}"
    return outcome


def month_starts(start: dt.date, end: dt.date) -> list[dt.date]:
    """The first day of every calendar month from ``start``'s through ``end``'s (the monthly
    partitions' keys, ``partitions.trading_months``)."""
    if end < start:
        raise ValueError(f"--end {end:%Y-%m} is before --start {start:%Y-%m}")
    out, month = [], start.replace(day=1)
    while month <= end:
        out.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return out


def materialize_months(
    selection: str,
    months: list[dt.date],
    run_config: dict | None = None,
    defs: dg.Definitions | None = None,
    resources: dict | None = None,
    on_partition: Callable[[DayOutcome], None] | None = None,
    log_level: str = "CRITICAL",
) -> RangeOutcome:
    """Run the month-partitioned assets of ``selection`` (the walk-forward models, docs/models.md)
    one run per month in order, then its trading-day assets that read them (``event_predictions``)
    for each day of that month the lake holds features for. A month whose run fails gets no day
    runs (its model failed or is missing, so its days could not be predicted), and the months after
    it still run: each month's model stands on its own.

    ``DayOutcome.day`` is the month's first day for a month run, the trading day for a day run."""
    from .definitions import build_defs

    defs = build_defs() if defs is None else defs
    graph = defs.resolve_asset_graph()
    try:
        keys = dg.AssetSelection.from_string(selection).resolve(graph)
    except Exception as exc:
        raise ValueError(f"invalid asset selection {selection!r}: {exc}") from exc
    monthly = {k for k in keys if isinstance(graph.get(k).partitions_def, dg.MonthlyPartitionsDefinition)}
    daily = {k for k in keys if k.to_user_string() in MODELS and k not in monthly}
    if not monthly:
        raise ValueError(f"asset selection {selection!r} matches no month-partitioned asset")
    run_config = {**(run_config or {})}
    run_config.setdefault("loggers", {"console": {"config": {"log_level": log_level}}})
    assets, checks = list(defs.assets or []), list(defs.asset_checks or [])
    merged_resources = {**(defs.resources or {}), **(resources or {})}
    for group in (monthly, daily):  # a job holds one partitions definition
        if group:
            validate_run_config(
                assets, checks, merged_resources, dg.AssetSelection.assets(*group), run_config
            )
    instance = _instance()
    recovery.stop_busy_wait()
    outcomes: list[DayOutcome] = []

    def run(key_day: dt.date, selected: set[dg.AssetKey]) -> DayOutcome:
        outcome = _run_day(
            key_day, [*assets, *checks], dg.AssetSelection.assets(*selected), instance, merged_resources,
            _config_for(run_config, assets, selected), _to_stderr,
        )  # fmt: skip
        outcomes.append(outcome)
        if on_partition:
            on_partition(outcome)
        return outcome

    for month in months:
        if not run(month, monthly).success or not daily:
            continue
        end = (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        for day in cal.trading_days(month, end):
            if lake.partition_exists(EVENT_FEATURES, day):
                run(day, daily)
    return RangeOutcome(outcomes)


def materialize_pipelined(
    selection: str,
    first_stage: tuple[str, ...],
    start: dt.date,
    end: dt.date,
    on_day: Callable[[DayOutcome], None] | None = None,
    upstream: bool = False,
    on_plan: Callable[[dict[dt.date, set[dg.AssetKey]]], None] | None = None,
    plan_first_stage: tuple[str, ...] | None = None,
    poll_seconds: float = 0.2,
) -> RangeOutcome:
    """``materialize_range`` over two cores: a child process runs the ``first_stage`` assets day by
    day while this process runs the rest, day D once the child has finished D and the next day
    (``event_labels`` of D read D+1's daily bars). The day runs are the ones ``materialize_range``
    makes, each split in two, so the lake is the same; each half is its own Dagster run, recorded in
    the instance of ``DAGSTER_HOME``. With ``upstream``, the lookback plan (``missing_upstream``)
    runs first the same way, split by ``plan_first_stage`` (default ``first_stage``): a lookback is
    mostly ingest, so it balances the two processes on another cut; its oldest days, which have
    first-stage assets only, are shared: the later half runs here while the child runs the rest
    (``_parent_share``). A failed day of either stage stops this process at that day; the child
    finishes its stage."""
    from .definitions import build_defs

    defs = build_defs()
    graph = defs.resolve_asset_graph()
    keys = {
        k for k in dg.AssetSelection.from_string(selection).resolve(graph) if k.to_user_string() not in MODELS
    }
    days = trading_days_in(start, end)
    plan = missing_upstream(graph, keys, days) if upstream else {}
    if on_plan:
        on_plan(plan)
    head = (
        _pipeline(defs, plan, plan_first_stage or first_stage, on_day, poll_seconds)
        if plan
        else RangeOutcome([])
    )
    if not head.success:
        return RangeOutcome([], head.days)
    body = _pipeline(defs, {d: keys for d in days}, first_stage, on_day, poll_seconds)
    return RangeOutcome(body.days, head.days)


def _pipeline(
    defs: dg.Definitions,
    work: dict[dt.date, set[dg.AssetKey]],
    first_stage: tuple[str, ...],
    on_day: Callable[[DayOutcome], None] | None,
    poll_seconds: float,
) -> RangeOutcome:
    """Each day's keys of ``work`` in two runs: the ``first_stage`` ones in a child process, the
    rest here a day behind it."""
    import json
    import subprocess
    import tempfile
    import time

    days = sorted(work)
    firsts = {
        d: sorted(k.to_user_string() for k in work[d] if k.to_user_string() in first_stage) for d in days
    }
    rests = {d: {k for k in work[d] if k.to_user_string() not in first_stage} for d in days}
    graph = defs.resolve_asset_graph()
    own = _parent_share(days, firsts, rests, lambda d: _reads_only_its_day(graph, work[d], d))
    assets = [*(defs.assets or []), *(defs.asset_checks or [])]
    config = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    instance = _instance()
    with tempfile.TemporaryDirectory(prefix="smallcaps-stage-") as tmp:
        progress = os.path.join(tmp, "progress.jsonl")
        spec = {str(d): firsts[d] for d in days if d not in own}
        child = subprocess.Popen(
            [sys.executable, "-m", "smallcaps_assets.materialize", json.dumps(spec), progress],
            stdout=subprocess.DEVNULL,
        )
        done: dict[dt.date, DayOutcome] = {}
        outcomes: list[DayOutcome] = []
        try:
            # The leading days the child would run alone while this process waits: run them here
            # meanwhile (they are recorded as the child's days are, reported in date order below).
            for day in own:
                done[day] = _run_day(
                    day, assets, dg.AssetSelection.assets(*work[day]), instance, defs.resources or {},
                    config, _to_stderr,
                )  # fmt: skip
                if not done[day].success:
                    break
            for i, day in enumerate(days):
                needed = days[: i + 2]
                while not set(needed) <= set(done) and child.poll() is None:
                    time.sleep(poll_seconds)
                    done |= _read_progress(progress)
                done |= _read_progress(progress)
                failed = next((d for d in needed if not (d in done and done[d].success)), None)
                if failed is not None:
                    outcome = done.get(failed) or DayOutcome(
                        failed, False, error=f"the first stage stopped (exit {child.poll()}) before {failed}"
                    )
                    if on_day:
                        on_day(outcome)
                    return RangeOutcome([*outcomes, outcome])
                if rests[day]:
                    outcome = _run_day(
                        day, assets, dg.AssetSelection.assets(*rests[day]), instance, defs.resources or {},
                        config, _to_stderr,
                    )  # fmt: skip
                    _merge_metadata(outcome, done[day])
                else:
                    outcome = done[day]
                outcomes.append(outcome)
                if on_day:
                    on_day(outcome)
                if not outcome.success:
                    break
        finally:
            if child.poll() is None and (not outcomes or not outcomes[-1].success):
                child.terminate()
            child.wait()
    return RangeOutcome(outcomes)


def _parent_share(
    days: list[dt.date],
    firsts: dict[dt.date, list[str]],
    rests: dict[dt.date, set],
    order_free: Callable[[dt.date], bool],
) -> list[dt.date]:
    """The days ``_pipeline``'s own process runs whole instead of the child: the later half of the
    leading days that have first-stage keys only. A lookback opens with such days (the 20 sessions
    of daily history before the universe's first day read them), which the child would otherwise
    run alone while this process waits. Only days whose assets read nothing but their own day's
    partitions (``order_free``) qualify, so running them out of date order writes the same lake."""
    lead = 0
    while lead < len(days) and firsts[days[lead]] and not rests[days[lead]] and order_free(days[lead]):
        lead += 1
    return days[lead // 2 : lead] if lead >= 2 else []


def _reads_only_its_day(graph, keys: set[dg.AssetKey], day: dt.date) -> bool:
    """Whether every asset of ``keys`` on ``day`` reads only ``day``'s partitions of its parents
    (no lookback, no own history), by the graph's partition mappings."""
    for key in keys:
        for parent in graph.get(key).parent_keys:
            if graph.get(parent).partitions_def is None:
                continue
            if parent == key:
                return False
            mapped = graph.get_parent_partition_keys_for_child(day.isoformat(), parent, key)
            if set(mapped.partitions_subset.get_partition_keys()) != {day.isoformat()}:
                return False
    return True


def _merge_metadata(outcome: DayOutcome, first_stage: DayOutcome) -> None:
    """One outcome per day: the first stage's assets, run id and failures folded into the second's."""
    outcome.metadata = {**first_stage.metadata, **outcome.metadata}
    outcome.failed_checks = [*first_stage.failed_checks, *outcome.failed_checks]


def _read_progress(path: str) -> dict[dt.date, DayOutcome]:
    import json

    if not os.path.exists(path):
        return {}
    out = {}
    with open(path) as fh:
        for line in fh:
            if line.endswith("\n"):  # a line being written is read on the next poll
                row = json.loads(line)
                day = dt.date.fromisoformat(row["day"])
                out[day] = DayOutcome(
                    day, row["success"], row["failed_checks"], row["error"], row["metadata"], row["run_id"]
                )
    return out


def _stage_child(spec_json: str, progress: str) -> int:
    """The first stage of ``materialize_pipelined``: each day's keys (``{day: [asset, ...]}``) in one
    run, one line of JSON per day in the progress file (a day without keys is reported done)."""
    import json
    import warnings

    # Dagster's beta/preview notices, once per definition, would bury the parent's progress bar;
    # this process reports through the progress file, and its run's event log keeps any trace.
    warnings.filterwarnings("ignore")
    from .definitions import build_defs

    defs = build_defs()

    def report(outcome: DayOutcome) -> None:
        row = {
            "day": str(outcome.day), "success": outcome.success, "failed_checks": outcome.failed_checks,
            "error": outcome.error, "run_id": outcome.run_id,
            "metadata": {a: {k: v for k, v in m.items() if isinstance(v, int | float | str | bool)}
                         for a, m in outcome.metadata.items()},
        }  # fmt: skip
        with open(progress, "a") as fh:
            fh.write(json.dumps(row) + "\n")

    # Consecutive sessions with the same keys make one range (one validation, then a run a day).
    spans: list[tuple[list[str], list[dt.date]]] = []
    for day_text, keys in json.loads(spec_json).items():
        day = dt.date.fromisoformat(day_text)
        if spans and spans[-1][0] == keys and cal.next_trading_day(spans[-1][1][-1]) == day:
            spans[-1][1].append(day)
        else:
            spans.append((keys, [day]))
    ok = True
    for keys, days in spans:
        if not keys:
            for day in days:
                report(DayOutcome(day, True))
            continue
        out = materialize_range(
            " or ".join(f"key:{k}" for k in keys), days[0], days[-1], defs=defs, on_day=report
        )
        ok = ok and out.success
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(_stage_child(sys.argv[1], sys.argv[2]))

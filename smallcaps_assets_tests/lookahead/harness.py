"""The look-ahead harness: for one asset partition D, change what the asset must not see and
prove its output does not move; change what it may see and prove the output does move.

A run goes through Dagster as a user's does: ``dg.materialize`` of the project's definitions
(``smallcaps_assets.definitions.defs``) and resources, on a private copy of a small lake, with the
offline market in process and ``DAGSTER_HOME`` pointing at a temporary folder. A case declares:

- ``forbidden``: inputs of day D the asset must not use (day D's daily bar and ticker_details for
  assets built from "prior" data, minute bars from a cutoff on for intraday outputs, ticks
  outside an event's window). Every forbidden run also gets, without asking, the two rewrites that
  hold for all assets: every lake partition dated after D is scrambled, and the vendor is the
  same market ending on D (the vendor's future does not exist). All are applied together; the
  output must be identical, row for row and digit for digit.
- ``allowed``: inputs the asset is meant to read. Each, rewritten alone, must change the output:
  this shows the comparison can fail, and that a neighbouring forbidden input (D's bar next to
  D-1's, minute bars after the cutoff next to those before it) was a real temptation.
- ``cutoff``: for intraday outputs, only rows stamped before the cutoff are compared, and the
  rewrites may use the cutoff (``from_cutoff`` / ``before_cutoff``).

Nothing here knows an asset by name: the cases (``cases.py``) hold that knowledge.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import dagster as dg
import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.asset_names import MODELS
from smallcaps_assets.definitions import defs
from smallcaps_assets.partitions import trading_days
from smallcaps_assets.polygon import PolygonClient


class HarnessError(AssertionError):
    """A case that cannot be run as written (a missing partition, a failed step, no rows)."""


@dataclass(frozen=True)
class Part:
    """What a rewrite knows about the partition it changes."""

    day: dt.date  # the partition's own date
    cutoff: dt.datetime | None  # the case's cutoff instant on D (UTC), if it has one


# A rewrite of one partition's frame.
Transform = Callable[[pl.DataFrame, Part], pl.DataFrame]
DaySelector = Callable[[dt.date], list[dt.date]]


# ----------------------------------------------------------------------------------- days
def day_d(day: dt.date) -> list[dt.date]:
    """The case's own partition D."""
    return [day]


def prior_session(day: dt.date) -> list[dt.date]:
    """The session before D."""
    prev = cal.previous_trading_day(day)
    return [prev] if prev else []


def week_anchor(day: dt.date) -> list[dt.date]:
    """The first session of D's week (mid-week ticker_details carry their shares from there)."""
    monday = day - dt.timedelta(days=day.weekday())
    return cal.trading_days(monday, day)[:1]


# ----------------------------------------------------------------------------------- transforms
def scale(factor: float, *columns: str) -> Transform:
    """Multiply the named numeric columns (types kept)."""

    def change(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        return frame.with_columns((pl.col(c) * factor).cast(frame.schema[c]) for c in columns)

    return change


def scramble(keep: Sequence[str] = (), drop_rows: bool = True) -> Transform:
    """Every number x -> 3x + 1, every flag flipped and (``drop_rows``) every third row gone;
    columns in ``keep`` and text, date and time columns stay. Any read of the result shows."""

    def change(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        exprs = []
        for name, dtype in frame.schema.items():
            if name in keep:
                continue
            if dtype.is_float() or dtype.is_integer():
                exprs.append((pl.col(name) * 3 + 1).cast(dtype))
            elif dtype == pl.Boolean:
                exprs.append(~pl.col(name))
        out = frame.with_columns(exprs)
        return out.filter(pl.int_range(pl.len()) % 3 != 0) if drop_rows else out

    return change


def compose(*changes: Transform) -> Transform:
    def change(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        for c in changes:
            frame = c(frame, part)
        return frame

    return change


def every_other_row(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
    return frame.filter(pl.int_range(pl.len()) % 2 == 0)


def set_column(name: str, value: object) -> Transform:
    def change(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        return frame.with_columns(pl.lit(value, dtype=frame.schema[name]).alias(name))

    return change


def shift_time(delta: dt.timedelta, *columns: str) -> Transform:
    def change(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        return frame.with_columns(pl.col(c) + delta for c in columns)

    return change


def _split_at_cutoff(change: Transform, late: bool, ts: str) -> Transform:
    def split(frame: pl.DataFrame, part: Part) -> pl.DataFrame:
        if part.cutoff is None:
            raise HarnessError("a cutoff rewrite in a case without a cutoff")
        is_late = pl.col(ts) >= part.cutoff
        touched, kept = (is_late, ~is_late) if late else (~is_late, is_late)
        out = pl.concat([frame.filter(kept), change(frame.filter(touched), part)])
        return out.sort([c for c in ("symbol", ts) if c in out.columns])

    return split


def from_cutoff(change: Transform, ts: str = "ts") -> Transform:
    """Apply ``change`` only to rows stamped at or after the case's cutoff."""
    return _split_at_cutoff(change, late=True, ts=ts)


def before_cutoff(change: Transform, ts: str = "ts") -> Transform:
    """Apply ``change`` only to rows stamped before the case's cutoff."""
    return _split_at_cutoff(change, late=False, ts=ts)


# ----------------------------------------------------------------------------------- cutoffs
def et_instant(day: dt.date, when: dt.time) -> dt.datetime:
    """``when`` (New York time) on ``day``, as a UTC instant."""
    return dt.datetime.combine(day, when, tzinfo=cal.NY).astimezone(dt.UTC)


@dataclass(frozen=True)
class At:
    """A fixed time of D (New York)."""

    time: dt.time

    @property
    def label(self) -> str:
        return f"{self.time:%H:%M}"

    def instant(self, day: dt.date, base: pl.DataFrame) -> dt.datetime:
        return et_instant(day, self.time)


@dataclass(frozen=True)
class AfterEvent:
    """``lag`` after the ``quantile``-th of D's base events of ``event_type`` (by ts): the cutoff
    falls right after an event, so a leak of even one minute reaches that event."""

    event_type: str
    quantile: float = 0.5
    lag: dt.timedelta = dt.timedelta(minutes=1)

    @property
    def label(self) -> str:
        return f"{self.event_type}[{self.quantile:.0%}]+{int(self.lag.total_seconds() // 60)}min"

    def instant(self, day: dt.date, base: pl.DataFrame) -> dt.datetime:
        ts = base.filter(pl.col("event_type") == self.event_type)["ts"].sort()
        if ts.is_empty():
            raise HarnessError(f"no {self.event_type} event on {day} to place a cutoff after")
        return ts[round(self.quantile * (len(ts) - 1))] + self.lag


Cutoff = At | AfterEvent


# ----------------------------------------------------------------------------------- rewrites
@dataclass(frozen=True)
class Context:
    """Where a run happens: the case's partition D, its cutoff instant and its lake copy."""

    day: dt.date
    root: Path
    cutoff: dt.datetime | None = None


@dataclass(frozen=True)
class LakeRewrite:
    """Rewrite ``asset``'s partitions on ``days`` (relative to D) with ``change``."""

    label: str
    asset: str
    days: DaySelector
    change: Transform

    def apply(self, ctx: Context, stack: contextlib.ExitStack) -> None:
        days = self.days(ctx.day)
        if not days:
            raise HarnessError(f"{self.label}: selects no day for D={ctx.day}")
        for d in days:
            frame = lake.read_partition(self.asset, d, ctx.root)
            if frame is None:
                raise HarnessError(f"{self.label}: the base lake has no {self.asset} partition for {d}")
            lake.write_partition(self.asset, d, self.change(frame, Part(d, ctx.cutoff)), root=ctx.root)


@dataclass(frozen=True)
class VendorRewrite:
    """Change what one ``PolygonClient`` method returns during the run: ``wrap(original, ctx)``
    gives the replacement coroutine function."""

    label: str
    method: str
    wrap: Callable[[Callable, Context], Callable]

    def apply(self, ctx: Context, stack: contextlib.ExitStack) -> None:
        original = getattr(PolygonClient, self.method)
        setattr(PolygonClient, self.method, self.wrap(original, ctx))
        stack.callback(setattr, PolygonClient, self.method, original)


@dataclass(frozen=True)
class LaterPartitions:
    """Scramble every partition of every asset dated after D (part of every forbidden run)."""

    label: str = "every partition after D, of every asset"

    def apply(self, ctx: Context, stack: contextlib.ExitStack) -> None:
        for asset_dir in sorted(ctx.root.iterdir()):
            if asset_dir.name.startswith(("_", ".")) or not asset_dir.is_dir():
                continue
            for path in sorted(asset_dir.glob("date=*")):
                day = dt.date.fromisoformat(path.name.removeprefix("date="))
                frame = lake.read_partition(asset_dir.name, day, ctx.root) if day > ctx.day else None
                if frame is not None:
                    changed = scramble()(frame, Part(day, None))
                    lake.write_partition(asset_dir.name, day, changed, root=ctx.root)


Rewrite = LakeRewrite | VendorRewrite | LaterPartitions


def vendor_results(label: str, method: str, change: Callable[[list], list]) -> VendorRewrite:
    """A vendor rewrite that post-processes what a list-returning client method returns."""

    def wrap(original: Callable, ctx: Context) -> Callable:
        async def replaced(self, *args, **kwargs):
            return change(await original(self, *args, **kwargs))

        return replaced

    return VendorRewrite(label, method, wrap)


# ----------------------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """How to test one asset (or one multi-asset step) for look-ahead at the harness's D."""

    assets: tuple[str, ...]
    allowed: tuple[Rewrite, ...]
    forbidden: tuple[Rewrite, ...] = ()
    cutoff: Cutoff | None = None  # compare only rows whose ``ts`` is before it
    note: str = ""
    # What of the output is known at the cutoff, for outputs without a ``ts`` per row (a status
    # whose fields fill in during the day); default: the rows stamped before it.
    known_at: Callable[[pl.DataFrame, dt.datetime], pl.DataFrame] | None = None
    # The part of the output both directions compare, where part of it reads a later session by
    # design (event_labels' next-session returns read D+1's daily bars): default, all of it.
    view: Callable[[pl.DataFrame], pl.DataFrame] | None = None

    def at_cutoff(self, frame: pl.DataFrame, cutoff: dt.datetime) -> pl.DataFrame:
        return self.known_at(frame, cutoff) if self.known_at else frame.filter(pl.col("ts") < cutoff)

    @property
    def name(self) -> str:
        base = "+".join(self.assets)
        return f"{base}@{self.cutoff.label}" if self.cutoff else base


# ----------------------------------------------------------------------------------- running
def _env(**values: str):
    """The environment with ``values`` set, restored on exit."""
    return mock.patch.dict(os.environ, values)


def every_asset() -> list[str]:
    """Every daily asset of the definitions that can be materialised: the models (a monthly
    model and the predictions that need it) have no day-level case (docs/testing.md)."""
    graph = defs.resolve_asset_graph()
    return sorted(
        k.to_user_string()
        for k in graph.materializable_asset_keys
        if graph.get(k).partitions_def == trading_days and k.to_user_string() not in MODELS
    )


def _ops_of(assets: Sequence[str]) -> set[str]:
    wanted = set(assets)
    return {
        a.op.name
        for a in defs.assets or []
        if isinstance(a, dg.AssetsDefinition)
        and a.is_executable
        and {k.to_user_string() for k in a.keys} & wanted
    }


@dataclass
class Harness:
    """A base lake (built once per session) and how to run cases on copies of it."""

    base: Path  # the lake every case starts from
    day: dt.date  # D: the partition every case materialises
    polygon: dg.ConfigurableResource  # the offline market
    truncated: dg.ConfigurableResource  # the same market, ending on D
    dagster_home: Path
    op_config: Mapping[str, dict] = field(default_factory=dict)  # per op, used whenever it runs
    _instance: dg.DagsterInstance | None = None

    # -------------------------------------------------------------- plumbing
    def instance(self) -> dg.DagsterInstance:
        """One in-memory instance for the session. DAGSTER_HOME still points at a temporary
        folder during runs, so nothing can reach a real one; a SQLite instance there cost about
        3 s more per run and records nothing a case compares."""
        if self._instance is None:
            self.dagster_home.mkdir(parents=True, exist_ok=True)
            self._instance = dg.DagsterInstance.ephemeral()
        return self._instance

    def materialize(self, assets: Sequence[str], day: dt.date, root: Path, polygon=None) -> None:
        """One Dagster run of ``assets`` for partition ``day`` on the lake at ``root``."""
        ops = _ops_of(assets)
        run_config = {
            "ops": {op: cfg for op, cfg in self.op_config.items() if op in ops},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        }
        with _env(SMALLCAPS_DATA_DIR=str(root), DAGSTER_HOME=str(self.dagster_home)):
            result = dg.materialize(
                list(defs.assets),
                selection=dg.AssetSelection.assets(*assets),
                partition_key=day.isoformat(),
                instance=self.instance(),
                resources={**(defs.resources or {}), "polygon": polygon or self.polygon},
                run_config=run_config,
                raise_on_error=False,
                tags={"smallcaps/launched_by": "lookahead harness"},
            )
        produced = {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}
        if not set(assets) <= produced:
            errors = "; ".join(
                f"{f.step_key}: {f.event_specific_data.error.message.strip()[:300]}"
                for f in result.get_step_failure_events()
            )
            raise HarnessError(f"{'+'.join(assets)} for {day} did not materialise: {errors or 'no output'}")

    def _read(self, case: Case, root: Path) -> dict[str, pl.DataFrame]:
        out = {}
        for asset in case.assets:
            frame = lake.read_partition(asset, self.day, root)
            if frame is None:
                raise HarnessError(f"no {asset} partition for {self.day} under {root}")
            out[asset] = frame
        return out

    def run(
        self, case: Case, dest: Path, rewrites: Sequence[Rewrite], polygon=None
    ) -> tuple[dict[str, pl.DataFrame], dict[str, pl.DataFrame]]:
        """(base output, output after ``rewrites``) of ``case``, cut at its cutoff.

        The copy leaves out working state beside the lake: the download ledger caches the
        vendor's answers, and a cache would hide a vendor rewrite."""
        base = self._read(case, self.base)
        cutoff = case.cutoff.instant(self.day, base[case.assets[0]]) if case.cutoff else None
        ctx = Context(self.day, dest / "lake", cutoff)
        shutil.copytree(self.base, ctx.root, ignore=shutil.ignore_patterns("_state"))
        with contextlib.ExitStack() as stack:
            for r in rewrites:
                r.apply(ctx, stack)
            self.materialize(case.assets, self.day, ctx.root, polygon)
        after = self._read(case, ctx.root)
        if cutoff is not None:
            base = {a: case.at_cutoff(f, cutoff) for a, f in base.items()}
            after = {a: case.at_cutoff(f, cutoff) for a, f in after.items()}
        if case.view is not None:
            base = {a: case.view(f) for a, f in base.items()}
            after = {a: case.view(f) for a, f in after.items()}
        empty = [a for a, f in base.items() if f.is_empty()]
        if empty:
            raise HarnessError(f"{case.name}: the base output of {empty} is empty: nothing to compare")
        return base, after

    # -------------------------------------------------------------- the two directions
    def assert_unchanged(self, case: Case, dest: Path) -> None:
        """Forbidden inputs rewritten together (with every later partition and the vendor's
        future): the output is identical."""
        rewrites = [*case.forbidden, LaterPartitions()]
        base, after = self.run(case, dest, rewrites, polygon=self.truncated)
        labels = [r.label for r in rewrites] + [f"the vendor's market ends on {self.day}"]
        for asset in case.assets:
            if not after[asset].equals(base[asset]):
                raise AssertionError(
                    f"{case.name}: {asset} changed when only inputs it must not see were rewritten "
                    f"({'; '.join(labels)}): {difference(base[asset], after[asset])}"
                )

    def assert_changed(self, case: Case, rewrite: Rewrite, dest: Path) -> None:
        """One allowed input rewritten: at least one of the case's outputs differs."""
        base, after = self.run(case, dest, [rewrite])
        if all(after[a].equals(base[a]) for a in case.assets):
            raise AssertionError(
                f"{case.name}: output unchanged after rewriting an input it is meant to read "
                f"({rewrite.label}); the case cannot tell a used input from an ignored one"
            )


def difference(before: pl.DataFrame, after: pl.DataFrame) -> str:
    """A one-line account of how two frames differ."""
    if before.columns != after.columns:
        return f"columns {before.columns} -> {after.columns}"
    if before.height != after.height:
        return f"{before.height} rows -> {after.height} rows"
    cols = [c for c in before.columns if not before[c].equals(after[c])]
    if not cols:
        return f"same values, different types: {before.schema} -> {after.schema}"
    first = next(i for i in range(before.height) if before.select(cols).row(i) != after.select(cols).row(i))
    return f"columns {cols} differ, first at row {first}: {before.row(first)} -> {after.row(first)}"

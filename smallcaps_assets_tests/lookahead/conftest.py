"""The harness's base lake: the pipeline's small market, every asset for three sessions, built
once per test session; each case runs on its own copy."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.resources import SimulatedPolygonResource

from ..defs.conftest import DAY, PIPE_CONFIG
from .harness import Harness, every_asset

FIRST = DAY  # every asset from here on; D's scores rank against this day's events
D = cal.next_trading_day(FIRST)  # the partition every case materialises
LATER = cal.next_trading_day(D)  # a session after D, present in the lake for every asset
# intraday_events uses a symbol's time-of-day baselines once it has 5 prior sessions of minute
# bars (FIRST too, so that its events carry rvol_so_far and D's pooled score has history), and the
# universe needs 5 prior sessions of daily bars for its dollar volume.
HISTORY = 5
MINUTE_DAYS = cal.sessions_before(D, HISTORY + 1)
ROOT_DAYS = cal.trading_days(cal.sessions_before(MINUTE_DAYS[0], HISTORY)[0], LATER)
ROOTS = ("ticker_reference", "corporate_actions", "daily_bars")

# The small market's minute bars rarely reach the default $100K / 10K-share event-bar minimums;
# lower ones give D's manifest about a dozen events to download. Used for every run of the op.
# The in-play filter stays on, loosened so that it keeps some events of this quiet market and drops
# others: the harness then also proves the filter reads nothing after an event.
OP_CONFIG = {
    "event_manifest": {"config": {"min_bar_dollar_volume": 10_000.0, "min_bar_shares": 1_000.0}},
    "intraday_events": {"config": {"min_dollar_volume": 10_000.0, "min_rvol": 1.5, "min_change": 0.03}},
}


def build_plan() -> list[tuple[dt.date, tuple[str, ...]]]:
    """(day, assets) in date order: roots for the universe's history, shares from the session
    before the first universe, universe and minute bars for the baselines, then every asset from
    FIRST on, so D is materialised before any later partition exists."""
    every = tuple(every_asset())
    plan = []
    for day in ROOT_DAYS:
        if day >= FIRST:
            plan.append((day, every))
            continue
        assets = ROOTS
        if day >= cal.previous_trading_day(MINUTE_DAYS[0]):
            assets += ("ticker_details",)
        if day in MINUTE_DAYS:
            assets += ("universe", "minute_bars")
        plan.append((day, assets))
    return plan


@pytest.fixture(scope="session")
def lookahead(warm_lake, polygon, tmp_path_factory) -> Harness:
    """The base lake, built from the session's warm lake: only its roots and shares are reused
    (other tests write derived partitions there), and only partitions it lacks are added."""
    tmp = tmp_path_factory.mktemp("lookahead")
    base = tmp / "base"
    for asset in (*ROOTS, "ticker_details"):
        if (warm_lake / asset).is_dir():
            shutil.copytree(warm_lake / asset, base / asset)
    ending_on_d = tmp / "sim_ending_on_d.json"
    ending_on_d.write_text(PIPE_CONFIG.model_copy(update={"end": D}).model_dump_json())
    harness = Harness(
        base=base,
        day=D,
        polygon=polygon,
        truncated=SimulatedPolygonResource(sim_config_path=str(ending_on_d)),
        dagster_home=tmp / "dagster_home",
        op_config=OP_CONFIG,
    )
    for day, assets in build_plan():
        todo = [a for a in assets if day >= FIRST or not lake.partition_exists(a, day, base)]
        if todo:
            harness.materialize(todo, day, base)
    return harness

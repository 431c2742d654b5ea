"""ssr_status wired into the graph: two sessions of the test market, on a copy of the warm lake."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest

from smallcaps_assets import asset_names, lake
from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.stages import ssr

from .conftest import DAY

NEXT = cal.next_trading_day(DAY)


@pytest.fixture(scope="module")
def ssr_lake(warm_lake, polygon, tmp_path_factory):
    root = tmp_path_factory.mktemp("ssr_lake") / "lake"
    shutil.copytree(warm_lake, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    out = materialize_range(f"+key:{asset_names.SSR_STATUS}", DAY, NEXT, resources={"polygon": polygon})
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    yield root, {d.day: d.metadata[asset_names.SSR_STATUS] for d in out.days}
    mp.undo()


def _expected_triggers(root, day) -> dict[str, object]:
    """The rule recomputed from the lake: the close of the first regular-hours bar whose low is
    at or under 90% of D-1's close times D's split ratio."""
    prev = cal.previous_trading_day(day)
    prior = lake.read_partition("daily_bars", prev, root).select("symbol", "close")
    ratio = lake.read_partition("daily_bars", day, root).select("symbol", "split_ratio")
    level = prior.join(ratio, on="symbol").select(
        "symbol", line=0.9 * pl.col("close") * pl.col("split_ratio")
    )
    bars = lake.read_partition("minute_bars", day, root).filter(pl.col("session") == "RTH")
    hits = (
        bars.join(level, on="symbol")
        .filter(pl.col("low") <= pl.col("line") * (1 + 1e-9))
        .group_by("symbol")
        .agg(pl.col("ts").min())
    )
    return {symbol: first + dt.timedelta(minutes=1) for symbol, first in hits.iter_rows()}


def test_one_row_per_universe_symbol_and_the_rule_on_the_market(ssr_lake):
    root, meta = ssr_lake
    for day in (DAY, NEXT):
        status = lake.read_partition(asset_names.SSR_STATUS, day, root)
        universe = lake.read_partition("universe", day, root)
        assert sorted(status["symbol"]) == sorted(universe["symbol"])
        expected = _expected_triggers(root, day)
        found = dict(
            status.filter(pl.col("triggered_at").is_not_null()).select("symbol", "triggered_at").iter_rows()
        )
        assert found == {s: t for s, t in expected.items() if s in set(universe["symbol"])}
        assert meta[day]["triggered"] == len(found) and meta[day]["symbols"] == status.height


def test_the_next_session_carries_over_the_previous_triggers(ssr_lake):
    root, meta = ssr_lake
    first = lake.read_partition(asset_names.SSR_STATUS, DAY, root)
    second = lake.read_partition(asset_names.SSR_STATUS, NEXT, root)
    # DAY has no previous status: its carry-over comes from the daily bars alone.
    assert meta[DAY]["previous_partition"] is False
    before = [cal.previous_trading_day(cal.previous_trading_day(DAY)), cal.previous_trading_day(DAY)]
    from_daily = ssr.daily_triggers(*(lake.read_partition("daily_bars", d, root) for d in before))
    assert set(first.filter("carried_over")["symbol"]) == set(from_daily) & set(first["symbol"])
    assert meta[DAY]["carried_over_from_daily_bars"] == first["carried_over"].sum()
    triggered = set(first.filter(pl.col("triggered_at").is_not_null())["symbol"])
    assert triggered, "the test market should trigger SSR somewhere on DAY"
    unknown = set(second["symbol"]) - set(first["symbol"])
    assert set(second.filter("carried_over")["symbol"]) - unknown == triggered & set(second["symbol"])
    carried = second.filter("carried_over")
    assert (carried["active_from"] == cal.session(NEXT).pre_open).all()
    assert first.filter(pl.col("triggered_at").is_not_null())["active_until"].unique().to_list() == [
        cal.session(NEXT).post_close
    ]

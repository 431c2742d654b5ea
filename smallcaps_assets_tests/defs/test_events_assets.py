"""daily_events and intraday_events wired into the graph, on a copy of the warm lake."""

from __future__ import annotations

import shutil

import pytest

from smallcaps_assets import asset_names, lake
from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range

from .conftest import DAY, RULES_ONLY_RUN


@pytest.fixture(scope="module")
def event_lake(warm_lake, polygon, tmp_path_factory):
    root = tmp_path_factory.mktemp("events_lake") / "lake"
    shutil.copytree(warm_lake, root)
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    nxt = cal.next_trading_day(DAY)
    out = materialize_range("*", DAY, nxt, run_config=RULES_ONLY_RUN, resources={"polygon": polygon})
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    yield root, out
    mp.undo()


def test_events_land_for_each_day_inside_the_universe_and_session(event_lake):
    root, out = event_lake
    for day in (DAY, cal.next_trading_day(DAY)):
        events = lake.read_partition("intraday_events", day, root)
        universe = lake.read_partition("universe", day, root)
        assert events.height > 0
        assert set(events["symbol"]) <= set(universe["symbol"])
        sess = cal.session(day)
        assert events["ts"].min() > sess.pre_open and events["ts"].max() <= sess.post_close
        assert events.select("symbol", "ts", "event_type").is_unique().all()
        meta = next(d for d in out.days if d.day == day).metadata["intraday_events"]
        assert meta["events"] == events.height
    daily = lake.read_partition("daily_events", DAY, root)
    assert (
        daily is not None
        and (
            daily["triple_gate"] | daily["atr_breakout"] | daily["range_explosion"] | daily["daily_flush"]
        ).all()
    )


def test_rerun_replaces_the_partition_with_identical_content(event_lake, polygon):
    root, out = event_lake
    before = lake.read_partition("intraday_events", DAY, root)
    again = materialize_range(
        "key:intraday_events", DAY, DAY, run_config=RULES_ONLY_RUN, resources={"polygon": polygon}
    )
    assert again.success
    after = lake.read_partition("intraday_events", DAY, root)
    assert after.equals(before)
    assert (
        again.days[0].metadata["intraday_events"]["content_sha256"]
        == next(d for d in out.days if d.day == DAY).metadata["intraday_events"]["content_sha256"]
    )


def test_score_of_a_day_never_uses_that_day_or_later(event_lake):
    from smallcaps_assets.stages import events as ev

    root, _ = event_lake
    first = lake.read_partition("intraday_events", DAY, root)
    # The warm lake has no events before DAY, so nothing on DAY can be scored yet.
    assert first["score"].is_null().all()
    # The next day ranks against DAY's events only: its scores are exactly the score of its events
    # against DAY's, and they exist (DAY had enough events for the pooled rank).
    second = lake.read_partition("intraday_events", cal.next_trading_day(DAY), root)
    again = ev.score(second.drop("score", "date", strict=False), first)
    assert again["score"].to_list() == second["score"].to_list()
    assert second["score"].is_not_null().any()


def test_every_materialisation_carries_its_row_count(event_lake):
    """``dagster/row_count`` on every asset's materialisation (the whole graph ran here), equal to
    the rows of the partition it wrote."""
    root, out = event_lake
    for outcome in out.days:
        assert set(outcome.metadata) == set(asset_names.DAILY), outcome.day
        for asset, meta in outcome.metadata.items():
            partition = lake.read_partition(asset, outcome.day, root)
            assert meta["dagster/row_count"] == partition.height == meta["rows"], (outcome.day, asset)


def test_the_demo_summary_counts_events_by_session_and_type_from_the_catalogue(event_lake, capsys):
    from smallcaps_assets.cli import _print_events

    root, _ = event_lake
    days = [DAY, cal.next_trading_day(DAY)]
    events = lake.read_partitions(asset_names.INTRADAY_EVENTS, days, root)
    _print_events(days)
    lines = capsys.readouterr().out.splitlines()
    by_session = dict(events.group_by("session").len().iter_rows())
    assert lines[0] == (
        f"  intraday events         {events.height:,}: "
        + ", ".join(f"{s} {by_session.get(s, 0):,}" for s in ("PM", "RTH", "AH"))
    )
    by_type = dict(events.group_by("event_type").len().iter_rows())
    assert {line.split()[0]: int(line.split()[1].replace(",", "")) for line in lines[1:]} == by_type

"""The code location: it loads, its graph is the one documented, its calendar and schedule are right."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from smallcaps_assets.checks import expected_latest_session
from smallcaps_assets.definitions import defs
from smallcaps_assets.partitions import build_trading_days, trading_days

EXPECTED_ASSETS = {
    "ticker_reference",
    "corporate_actions",
    "ticker_details",
    "daily_bars",
    "universe",
    "minute_bars",
    "daily_events",
    "intraday_events",
    "event_manifest",
    "event_trades",
    "event_quotes",
}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    assert parents["universe"] == {"ticker_reference", "ticker_details", "daily_bars"}
    assert parents["minute_bars"] == {"universe", "daily_bars"}
    assert parents["daily_bars"] == {"corporate_actions", "ticker_reference"}
    assert parents["intraday_events"] == {"minute_bars", "universe", "daily_bars", "intraday_events"}
    assert parents["daily_events"] == {"daily_bars"}
    assert parents["event_manifest"] == {"intraday_events", "minute_bars", "universe", "event_manifest"}
    assert parents["event_trades"] == parents["event_quotes"] == {"event_manifest"}


def test_every_daily_asset_is_partitioned_fresh_and_gated():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.partitions_def == trading_days, key
        assert node.freshness_policy is not None, key
        assert node.check_keys, f"{key} has no checks"
    check_names = {c.name for c in graph.asset_check_keys}
    assert {"no_large_caps", "universe_price_band", "universe_types", "universe_no_otc"} <= check_names
    assert "latest_partition_present" in check_names


def test_vendor_assets_share_the_polygon_pool():
    for a in defs.assets:
        for key in a.keys:
            name = key.to_user_string()
            pool = a.get_pool_for_key(key) if hasattr(a, "get_pool_for_key") else next(iter(a.op.pools), None)
            if name in ("universe", "daily_events", "intraday_events", "event_manifest"):
                assert not pool
            else:
                assert pool == "polygon_api", name


def test_trading_days_partitions_skip_weekends_and_holidays():
    days = build_trading_days(dt.date(2024, 1, 2)).get_partition_keys(
        current_time=dt.datetime(2024, 12, 31, 12)
    )
    assert "2024-01-15" not in days  # Martin Luther King Jr. Day
    assert "2024-07-04" not in days
    assert "2024-11-28" not in days  # Thanksgiving
    assert "2024-11-29" in days  # early close, still a session
    assert "2024-01-13" not in days  # Saturday
    assert days[0] == "2024-01-02"


def test_partition_count_for_2024_matches_nyse():
    days = build_trading_days(dt.date(2024, 1, 2)).get_partition_keys(
        current_time=dt.datetime(2025, 1, 3, 12)
    )
    assert len([d for d in days if d.startswith("2024")]) == 252


def test_schedule_requests_the_session_and_skips_holidays():
    schedule = defs.get_schedule_def("daily_close")
    with dg.instance_for_test() as instance:
        tick = schedule.evaluate_tick(
            # 20:35 ET on Wednesday 2024-03-06 is 01:35 UTC on the 7th
            dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=dt.datetime(2024, 3, 7, 1, 35, tzinfo=dt.UTC),
                repository_def=defs.get_repository_def(),
            )
        )
        assert [r.partition_key for r in tick.run_requests] == ["2024-03-06"]
        holiday = schedule.evaluate_tick(
            # 20:35 ET on Independence Day
            dg.build_schedule_context(
                instance=instance,
                scheduled_execution_time=dt.datetime(2024, 7, 5, 0, 35, tzinfo=dt.UTC),
                repository_def=defs.get_repository_def(),
            )
        )
        assert not holiday.run_requests


def test_expected_latest_session_waits_for_the_close_data():
    ny_evening = dt.datetime(2024, 3, 6, 21, 0, tzinfo=dt.UTC)  # 16:00 ET: data not complete yet
    assert expected_latest_session(ny_evening) == dt.date(2024, 3, 5)
    after = dt.datetime(2024, 3, 7, 2, 0, tzinfo=dt.UTC)  # 21:00 ET
    assert expected_latest_session(after) == dt.date(2024, 3, 6)
    saturday = dt.datetime(2024, 3, 9, 15, 0, tzinfo=dt.UTC)
    assert expected_latest_session(saturday) == dt.date(2024, 3, 8)

"""The code location: it loads, its graph is the one documented, its calendar and schedule are right."""

from __future__ import annotations

import datetime as dt
import importlib
import pkgutil

import dagster as dg

from smallcaps_assets import asset_names
from smallcaps_assets import defs as defs_package
from smallcaps_assets.checks import expected_latest_session
from smallcaps_assets.definitions import defs
from smallcaps_assets.partitions import build_trading_days, trading_days, trading_months

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
    "ssr_status",
    "news",
    "short_interest",
    "short_volume",
    "event_features",
    "event_labels",
    "signal_report",
    "event_model",
    "event_predictions",
    "backtest",
}
# Every gate, by asset, with its blocking flag (blocking gates fail with ERROR, the others WARN).
# The UI, the demo and the docs refer to these names: renaming one is a visible change.
EXPECTED_CHECKS = {
    "ticker_reference": {"reference_not_empty": True, "reference_includes_delisted": False},
    "corporate_actions": {"split_ratios_plausible": False},
    "ticker_details": {"shares_mostly_known": False},
    "daily_bars": {"daily_ohlc_consistent": True, "daily_positive_prices": True, "daily_coverage": True},
    "universe": {
        "no_large_caps": True,
        "universe_price_band": True,
        "universe_types": True,
        "universe_no_otc": True,
        "universe_unknown_cap_share": True,
    },
    "minute_bars": {
        "minute_ohlc_consistent": True,
        "minute_positive": True,
        "minute_in_session": True,
        "minute_sorted_unique": True,
        "minute_coverage": True,
        "minute_bad_prints": False,
        "minute_daily_range_explained": False,
    },
    "daily_events": {"daily_event_rate": False},
    "intraday_events": {
        "events_type_balance": True,
        "events_session_mix": False,
        "events_symbol_concentration": False,
        "events_per_symbol": False,
        "events_day_share": True,
        "events_in_universe": True,
        "events_in_session": True,
    },
    "event_manifest": {
        "manifest_key_unique": True,
        "manifest_score_rule": True,
        "manifest_no_large_caps": True,
        "manifest_liquidity_rule": True,
        "manifest_spread_rule": True,
        "manifest_window_bounds": True,
        "manifest_in_universe": True,
        "manifest_symbol_limits": True,
        "manifest_session_mix": False,
        "manifest_type_balance": False,
    },
    "event_trades": {"windows_coverage": True, "trades_in_window": True, "trades_unique_sequence": True},
    "event_quotes": {
        "quotes_in_window": True,
        "quotes_one_per_second": True,
        "quotes_bid_le_ask": True,
        "quotes_crossed_share": False,
    },
    "ssr_status": {
        "ssr_one_row_per_symbol": True,
        "ssr_trigger_in_session": True,
        "ssr_active_interval": True,
    },
    "news": {"news_in_window": True, "news_not_flooded": False},
    "event_features": {
        "features_one_row_per_event": True,
        "features_inputs_before_ts": True,
        "features_finite": True,
        "features_tape_coverage": False,
    },
    "short_interest": {"short_interest_published_before_day": True, "short_interest_values_in_range": False},
    "short_volume": {"short_volume_session_rows": True, "short_volume_not_empty": False},
    "signal_report": {"signal_report_ic_in_range": True, "signal_report_enough_events": False},
    "event_model": {
        "model_fold_no_overlap": True,
        "model_min_oos_events": True,
        "model_not_constant": True,
        "model_overfit": False,
    },
    "event_predictions": {"predictions_one_per_event": True},
    "backtest": {
        "backtest_fill_after_signal": True,
        "backtest_costs_reconcile": True,
        "backtest_one_row_per_trade": True,
        "backtest_engine_reconciles": True,
    },
    "event_labels": {
        "labels_t1_after_ts": True,
        "labels_one_per_event": True,
        "labels_missing_shares": True,
        "labels_class_balance": False,
        "next_session_complete": False,
    },
}


def test_definitions_load():
    dg.Definitions.validate_loadable(defs)


def test_asset_graph_snapshot():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS
    assert set(asset_names.ALL) == keys and len(asset_names.ALL) == len(keys)
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
    assert parents["ssr_status"] == {"universe", "minute_bars", "daily_bars", "ssr_status"}
    # The vendor's news and FINRA short data are roots: one whole-market request per day each.
    assert parents["news"] == parents["short_interest"] == parents["short_volume"] == set()
    assert parents["event_labels"] == {
        "intraday_events",
        "minute_bars",
        "event_trades",
        "event_manifest",
        "ssr_status",
        "daily_bars",
    }
    assert parents["event_model"] == {"event_features", "event_labels"}
    assert parents["event_predictions"] == {"event_features", "event_model"}
    assert parents["backtest"] == {
        "event_predictions",
        "intraday_events",
        "event_manifest",
        "event_quotes",
        "minute_bars",
        "ssr_status",
    }


def test_every_daily_asset_is_partitioned_and_gated_with_no_wall_clock_freshness():
    """No freshness policy and no separately executable check: Dagster would judge a historical
    lake late by the wall clock, and the UI adds every separately executable check to a run."""
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        monthly = key.to_user_string() in asset_names.MONTHLY
        assert node.partitions_def == (trading_months if monthly else trading_days), key
        assert node.freshness_policy is None, key
        assert node.check_keys, f"{key} has no checks"
    check_names = {c.name for c in graph.asset_check_keys}
    assert {"no_large_caps", "universe_price_band", "universe_types", "universe_no_otc"} <= check_names
    assert not defs.asset_checks, "a separately executable check adds a step to every UI run"


def test_check_names_and_blocking_flags_snapshot():
    specs = [spec for a in [*defs.assets, *defs.asset_checks] for spec in a.check_specs]
    found: dict[str, dict[str, bool]] = {}
    for spec in specs:
        found.setdefault(spec.asset_key.to_user_string(), {})[spec.name] = spec.blocking
    assert found == EXPECTED_CHECKS


def _job_assets_and_checks(name: str) -> tuple[set[str], set[str]]:
    job = defs.resolve_job_def(name)
    graph = job.asset_layer.asset_graph
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    return {k.to_user_string() for k in job.asset_layer.selected_asset_keys}, checks


def test_jobs_select_what_the_docs_say():
    """daily_ingest = reference..minute_bars plus news and short data, event_pipeline =
    daily_events..event windows, research_daily = features and labels, and daily_graph (the
    schedule's) = all three; each with its assets' gates and nothing else."""
    ingest, ingest_checks = _job_assets_and_checks("daily_ingest")
    events, event_checks = _job_assets_and_checks("event_pipeline")
    research, research_checks = _job_assets_and_checks("research_daily")
    graph, graph_checks = _job_assets_and_checks("daily_graph")
    assert ingest == set(asset_names.INGEST + asset_names.ALTERNATIVE)
    assert events == set(asset_names.EVENTS)
    assert research == set(asset_names.RESEARCH) - set(asset_names.MODELS)
    assert graph == EXPECTED_ASSETS - set(asset_names.MODELS) == ingest | events | research
    jobs = (
        (ingest, ingest_checks),
        (events, event_checks),
        (research, research_checks),
        (graph, graph_checks),
    )
    for assets, checks in jobs:
        assert checks == {f"{a}:{name}" for a in assets for name in EXPECTED_CHECKS[a]}
    assert defs.get_schedule_def("daily_close").job_name == "daily_graph"
    assert {j.name for j in defs.jobs} == {
        "daily_ingest",
        "event_pipeline",
        "research_daily",
        "daily_graph",
        "event_model_monthly",
        "backtest_monthly",
    }
    models, model_checks = _job_assets_and_checks("event_model_monthly")
    assert models == {"event_model"}
    assert model_checks == {f"event_model:{name}" for name in EXPECTED_CHECKS["event_model"]}
    backtests, backtest_checks = _job_assets_and_checks("backtest_monthly")
    assert backtests == {"backtest"}
    assert backtest_checks == {f"backtest:{name}" for name in EXPECTED_CHECKS["backtest"]}
    assert {s.name for s in defs.schedules} == {"daily_close", "monthly_retrain"}
    assert defs.get_schedule_def("monthly_retrain").job_name == "event_model_monthly"
    assert {s.name for s in defs.sensors} == {"pipeline_automation", "pipeline_freshness"}


def test_every_module_in_defs_defines_something():
    """The code location loads every module of defs/ as definitions; a helper that defines nothing
    belongs outside it (assetkit/)."""
    for info in pkgutil.iter_modules(defs_package.__path__):
        module = importlib.import_module(f"{defs_package.__name__}.{info.name}")
        found = [v for v in vars(module).values() if isinstance(v, dg.Definitions)]
        found.append(dg.load_definitions_from_module(module))
        assert any(
            d.assets or d.asset_checks or d.jobs or d.schedules or d.sensors or d.resources for d in found
        ), f"defs/{info.name}.py defines no Dagster object"


def test_vendor_assets_share_the_polygon_pool():
    for a in defs.assets:
        for key in a.keys:
            name = key.to_user_string()
            pool = a.get_pool_for_key(key) if hasattr(a, "get_pool_for_key") else next(iter(a.op.pools), None)
            if name in ("universe", "daily_events", "intraday_events", "ssr_status", *asset_names.RESEARCH):
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


def test_monthly_retrain_trains_the_month_just_ended_on_its_first_session():
    schedule = defs.get_schedule_def("monthly_retrain")
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED

    def tick(utc: dt.datetime):
        with dg.instance_for_test() as instance:
            return schedule.evaluate_tick(
                dg.build_schedule_context(
                    instance=instance, scheduled_execution_time=utc, repository_def=defs.get_repository_def()
                )
            )

    # 22:00 ET on Monday 2024-04-01 (first session of April) is 02:00 UTC on the 2nd
    assert [r.partition_key for r in tick(dt.datetime(2024, 4, 2, 2, 0, tzinfo=dt.UTC)).run_requests] == [
        "2024-03-01"
    ]
    assert not tick(dt.datetime(2024, 4, 3, 2, 0, tzinfo=dt.UTC)).run_requests  # the second session
    # 2024-07-01 is a Monday session; 2024-09-02 is Labor Day, so September starts on the 3rd
    assert not tick(dt.datetime(2024, 9, 3, 2, 0, tzinfo=dt.UTC)).run_requests
    assert [r.partition_key for r in tick(dt.datetime(2024, 9, 4, 2, 0, tzinfo=dt.UTC)).run_requests] == [
        "2024-08-01"
    ]


def test_a_day_maps_to_its_months_model_and_a_month_to_every_day_through_it():
    graph = defs.resolve_asset_graph()
    now = dt.datetime(2024, 6, 15, tzinfo=dt.UTC)
    model, preds = dg.AssetKey("event_model"), dg.AssetKey("event_predictions")
    mapping = graph.get(preds).partition_mappings[model]
    got = mapping.get_upstream_mapped_partitions_result_for_partitions(
        trading_days.subset_with_partition_keys(["2024-03-15"]),
        trading_days,
        trading_months,
        current_time=now,
    ).partitions_subset.get_partition_keys()
    assert list(got) == ["2024-03-01"]
    mapping = graph.get(model).partition_mappings[dg.AssetKey("event_features")]
    days = mapping.get_upstream_mapped_partitions_result_for_partitions(
        trading_months.subset_with_partition_keys(["2024-03-01"]),
        trading_months,
        trading_days,
        current_time=now,
    ).partitions_subset.get_partition_keys()
    assert days[0] == trading_days.get_first_partition_key() and days[-1] == "2024-03-28"

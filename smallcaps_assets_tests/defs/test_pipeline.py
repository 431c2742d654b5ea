"""The first half of the graph on a small offline market: universe gate, lineage of failures,
backfills, REST vs flat files, faults and secrets."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.definitions import defs
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.polygon import sim_market
from smallcaps_assets.resources import SimulatedPolygonResource

from .conftest import DAY, PIPE_CONFIG, ROOTS, WARM_SESSIONS, warm_days

ALL = "*"


def _expected_universe(day: dt.date) -> tuple[set[str], set[str]]:
    """Eligible symbols and in-band large caps, straight from the simulator's ground truth
    (the lake holds the WARM_SESSIONS sessions before ``day``, so the ADV uses those)."""
    m = sim_market(PIPE_CONFIG)
    prior = cal.previous_trading_day(day)
    lookback = warm_days(day, WARM_SESSIONS)
    eligible, large = set(), set()
    for p in m.profiles():
        if p.type != "CS" or p.market != "stocks" or not m.is_listed(p, day):
            continue
        bars = [(d, m.daily_bar(p.ticker, d)) for d in lookback if m.is_listed(p, d)]
        bars = [(d, b) for d, b in bars if b is not None]
        if not bars:
            continue
        close = max(bars)[1]["c"]
        if not 0.5 <= close <= 20:
            continue
        cap = m.shares_outstanding(p, prior) * close
        if cap >= 2e9:
            large.add(p.ticker)
            continue
        float_shares = (
            None
            if p.float_pct is None
            else m.free_float(p.ticker)["free_float_percent"] / 100 * m.shares_outstanding(p, prior)
        )
        if float_shares is not None and float_shares >= 100e6:
            continue
        adv = sum(b["c"] * b["v"] for _, b in bars) / len(bars)
        if len(bars) >= 5 and adv >= 1e6:
            eligible.add(p.ticker)
    return eligible, large


def test_universe_keeps_out_every_large_cap_and_admits_every_eligible(warm_lake, polygon):
    out = materialize_range("key:ticker_reference or key:universe", DAY, DAY, resources={"polygon": polygon})
    assert out.success, out.days[0].error
    uni = lake.read_partition("universe", DAY)
    eligible, large = _expected_universe(DAY)
    in_band = eligible | large
    assert 0.15 <= len(large) / len(in_band) <= 0.45  # the trap is present in this market
    assert large, "the test market must contain large caps priced under $20"
    assert not (set(uni["symbol"]) & large)
    assert set(uni["symbol"]) == eligible
    meta = out.days[0].metadata["universe"]
    assert meta["large_caps_excluded"] == len(large)
    assert (uni["market_cap"] < 2e9).all()
    assert (uni["shares_as_of"] < DAY).all() and (uni["prior_date"] < DAY).all()


def test_broken_universe_fails_its_gate_and_stops_downstream(warm_lake, polygon):
    broken = {"ops": {"universe": {"config": {"max_market_cap": None}}}}
    out = materialize_range(
        "key:ticker_reference or key:universe or key:minute_bars",
        DAY,
        DAY,
        run_config=broken,
        resources={"polygon": polygon},
    )
    day = out.days[0]
    assert not day.success
    assert "universe:no_large_caps" in day.failed_checks
    assert "minute_bars" not in day.metadata  # blocked in the same run


def test_automation_does_not_run_downstream_of_a_failed_gate(warm_lake, polygon):
    with dg.instance_for_test() as instance:
        res = {"polygon": polygon}
        broken = {"ops": {"universe": {"config": {"max_market_cap": None}}}}
        assets = list(defs.assets)
        sel = dg.AssetSelection.assets("universe")
        result = dg.materialize(assets, selection=sel, partition_key=DAY.isoformat(), instance=instance,
                                resources=res, run_config=broken, raise_on_error=False)  # fmt: skip
        assert not result.success
        evaluation = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        requested = evaluation.get_requested_partitions(dg.AssetKey("minute_bars"))
        assert DAY.isoformat() not in requested
        # Once the gate passes, the same automation requests the downstream partition.
        ok = dg.materialize(assets, selection=sel, partition_key=DAY.isoformat(), instance=instance,
                            resources=res, raise_on_error=False)  # fmt: skip
        assert ok.success


def test_daily_bars_equal_the_grouped_daily_endpoint(warm_lake):
    day = cal.previous_trading_day(DAY)
    stored = lake.read_partition("daily_bars", day)
    expected = sim_market(PIPE_CONFIG).grouped_daily(day, adjusted=False)
    joined = stored.join(expected, left_on="symbol", right_on="T", how="full", coalesce=True)
    assert joined.height == stored.height == expected.height
    for ours, theirs in (
        ("open", "o"),
        ("high", "h"),
        ("low", "l"),
        ("close", "c"),
        ("volume", "v"),
        ("vwap", "vw"),
    ):
        assert (joined[ours] == joined[theirs]).all(), ours
    assert (joined["transactions"] == joined["n"]).all()


def test_by_symbol_backfill_rewrites_only_those_rows(warm_lake, polygon):
    day = cal.previous_trading_day(DAY)
    before = lake.read_partition("daily_bars", day)
    victim = before["symbol"][3]
    tampered = before.with_columns(
        close=pl.when(pl.col("symbol") == victim).then(-1.0).otherwise(pl.col("close")),
        volume=pl.when(pl.col("symbol") == before["symbol"][5]).then(123.0).otherwise(pl.col("volume")),
    )
    lake.write_partition("daily_bars", day, tampered, ["symbol"])
    cfg = {"ops": {"daily_bars": {"config": {"symbols": [victim]}}}}
    out = materialize_range("key:daily_bars", day, day, run_config=cfg, resources={"polygon": polygon})
    assert out.success, out.days[0].error
    after = lake.read_partition("daily_bars", day)
    assert after.filter(pl.col("symbol") == victim).equals(before.filter(pl.col("symbol") == victim))
    # The other tampered row is untouched: only the named symbol was rewritten.
    assert after.filter(pl.col("symbol") == before["symbol"][5])["volume"][0] == 123.0
    # The run says what it rewrote; the partition's own figures still describe all of it.
    meta = out.days[0].metadata["daily_bars"]
    assert meta["rewritten_symbols"] == victim and meta["rewritten_rows"] == 1
    assert meta["symbols"] == before.height
    lake.write_partition("daily_bars", day, before, ["symbol"])


@pytest.mark.parametrize(
    ("symbols", "message"),
    [(["../etc"], "invalid symbol"), (["abc;rm"], "invalid symbol"), (["ZZZZZZ"], "ZZZZZZ")],
)
def test_bad_repair_config_is_refused_and_writes_nothing(warm_lake, polygon, symbols, message):
    day = cal.previous_trading_day(DAY)
    before = lake.read_partition("daily_bars", day)
    cfg = {"ops": {"daily_bars": {"config": {"symbols": symbols}}}}
    out = materialize_range("key:daily_bars", day, day, run_config=cfg, resources={"polygon": polygon})
    assert not out.success
    assert message in (out.days[0].error or "")
    assert lake.read_partition("daily_bars", day).equals(before)


def test_a_date_outside_the_calendar_is_refused():
    with pytest.raises(ValueError, match="not an NYSE trading day"):
        materialize_range(ROOTS, dt.date(2024, 1, 15), dt.date(2024, 1, 16))  # MLK day
    with pytest.raises(ValueError, match=r"invalid asset selection|matches no asset"):
        materialize_range("key:nope", DAY, DAY)


def test_faults_leave_partitions_byte_identical_and_retries_are_counted(
    warm_lake, sim_config_file, tmp_path, monkeypatch
):
    day = dt.date(2024, 3, 4)  # a week anchor: every tracked ticker's details are requested
    assets = ("ticker_reference", "corporate_actions", "daily_bars", "ticker_details")
    clean = {a: lake.read_partition(a, day) for a in assets}
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    faulty = SimulatedPolygonResource(
        sim_config_path=sim_config_file, fault_error_rate=0.05, fault_429_rate=0.02, fault_timeout_rate=0.01,
        fault_truncate_rate=0.01, fault_timeout_seconds=0.2, fault_seed=3, max_retries=12,
    )  # fmt: skip
    out = materialize_range(ROOTS + " or key:ticker_details", day, day, resources={"polygon": faulty})
    assert out.success, out.days[0].error
    for asset, frame in clean.items():
        assert lake.read_partition(asset, day, tmp_path).equals(frame), asset
        assert out.days[0].metadata[asset]["api_calls"] > 0
    meta = out.days[0].metadata
    assert sum(int(meta[a]["api_retries"]) for a in assets) > 0
    assert sum(int(meta[a]["api_5xx"]) for a in assets) > 0


def test_shares_are_the_same_whatever_the_backfill_order(warm_lake, polygon, tmp_path, monkeypatch):
    """Mid-week details carried from the weekly anchor equal those asked directly, so a backfill
    that skips the anchor (or runs backwards) writes the same partition."""
    day = dt.date(2024, 3, 5)  # Tuesday; the anchor is Monday 2024-03-04
    in_order = lake.read_partition("ticker_details", day)
    monkeypatch.setenv("SMALLCAPS_DATA_DIR", str(tmp_path))
    out = materialize_range(
        "key:ticker_reference or key:ticker_details", day, day, resources={"polygon": polygon}
    )
    assert out.success, out.days[0].error
    assert lake.read_partition("ticker_details", day).equals(in_order)
    assert set(in_order["as_of"].unique()) <= {dt.date(2024, 3, 4), day}
    assert out.days[0].metadata["ticker_details"]["refreshed"] >= in_order.height

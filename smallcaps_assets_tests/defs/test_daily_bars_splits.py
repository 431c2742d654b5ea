"""Splits from the offline market, through the assets: a reverse and a forward split must give
``daily_bars.split_ratio`` as the jump of raw prices, and prices adjusted as of the split day
must join the two sides as the vendor's own adjusted bars do."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.polygon import sim_market
from smallcaps_assets.resources import SimulatedPolygonResource
from smallcaps_assets.sim import SimConfig
from smallcaps_assets.stages.daily import adjust_as_of

# A small market where >$100 names split forward every year, so both kinds occur in four months.
SPLIT_CONFIG = SimConfig(
    seed=5, n_symbols=40, start=dt.date(2024, 1, 2), end=dt.date(2024, 4, 30), forward_split_rate=1.0
)


def _first_split(reverse: bool):
    market = sim_market(SPLIT_CONFIG)
    for s in market.all_splits:
        p = market.profile(s.ticker)
        prev = cal.previous_trading_day(s.execution_date)
        traded = prev and market.daily_bar(s.ticker, prev) and market.daily_bar(s.ticker, s.execution_date)
        if p.type == "CS" and (s.split_from > s.split_to) == reverse and traded:
            return s
    pytest.fail(f"the test market has no {'reverse' if reverse else 'forward'} split of a traded stock")


@pytest.fixture(scope="module")
def split_lake(tmp_path_factory):
    """corporate_actions and daily_bars for the session before and the day of each split."""
    root = tmp_path_factory.mktemp("split_lake")
    cfg = root / "sim.json"
    cfg.write_text(SPLIT_CONFIG.model_dump_json())
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root / "lake"))
    mp.delenv("DAGSTER_HOME", raising=False)
    splits = {"reverse": _first_split(True), "forward": _first_split(False)}
    res = {"polygon": SimulatedPolygonResource(sim_config_path=str(cfg))}
    for s in splits.values():
        prev = cal.previous_trading_day(s.execution_date)
        out = materialize_range(
            "key:corporate_actions or key:daily_bars", prev, s.execution_date, resources=res
        )
        assert out.success, [(d.day, d.error) for d in out.days]
    yield root / "lake", splits
    mp.undo()


@pytest.mark.parametrize("kind", ["reverse", "forward"])
def test_split_ratio_is_the_raw_price_jump(split_lake, kind):
    root, splits = split_lake
    s = splits[kind]
    bars = lake.read_partition("daily_bars", s.execution_date, root)
    ratio = bars.filter(pl.col("symbol") == s.ticker)["split_ratio"].item()
    # Vendor terms: split_from shares become split_to shares, so raw prices scale by from / to
    # (5 for a 1-for-5 reverse split, 1/3 for a 3-for-1).
    assert ratio == pytest.approx(s.split_from / s.split_to)
    assert (ratio > 1) == (kind == "reverse")
    # Every other symbol of the day is unsplit.
    assert (bars.filter(pl.col("symbol") != s.ticker)["split_ratio"] == 1.0).all()
    prev = lake.read_partition("daily_bars", cal.previous_trading_day(s.execution_date), root)
    assert prev.filter(pl.col("symbol") == s.ticker)["split_ratio"].item() == 1.0


@pytest.mark.parametrize("kind", ["reverse", "forward"])
def test_prices_adjusted_as_of_the_split_day_match_the_vendors_adjustment(split_lake, kind):
    root, splits = split_lake
    s = splits[kind]
    prev_day = cal.previous_trading_day(s.execution_date)
    history = lake.read_partitions("daily_bars", [prev_day, s.execution_date], root)
    ours = adjust_as_of(history.filter(pl.col("symbol") == s.ticker), s.execution_date).sort("date")
    before, on = ours.row(0, named=True), ours.row(1, named=True)
    market = sim_market(SPLIT_CONFIG)
    v_before = market.daily_bar(s.ticker, prev_day, adjusted=True)
    v_on = market.daily_bar(s.ticker, s.execution_date, adjusted=True)
    # The vendor adjusts to its own today; ratios across the split day do not depend on that.
    assert before["close"] / on["close"] == pytest.approx(v_before["c"] / v_on["c"], rel=1e-9)
    assert before["open"] / on["open"] == pytest.approx(v_before["o"] / v_on["o"], rel=1e-9)
    assert before["volume"] / on["volume"] == pytest.approx(v_before["v"] / v_on["v"], rel=1e-9)
    # The split day itself is already in its own units.
    raw_on = history.filter((pl.col("symbol") == s.ticker) & (pl.col("date") == s.execution_date))
    assert on["close"] == raw_on["close"].item()
    # Adjusted, the overnight move is an ordinary one; raw, it is the split.
    assert abs(on["open"] / before["close"] - 1) < 0.5
    raw_before = history.filter((pl.col("symbol") == s.ticker) & (pl.col("date") == prev_day))
    raw_jump = raw_on["open"].item() / raw_before["close"].item()
    assert raw_jump == pytest.approx(s.split_from / s.split_to, rel=0.5)

"""news, short_interest and short_volume materialised through Dagster on the pipeline's market:
one whole-market request per asset and day, rows as the market planted them, publication rules."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from smallcaps_assets import asset_names, lake
from smallcaps_assets import calendar as cal
from smallcaps_assets.materialize import materialize_range
from smallcaps_assets.sim import SimMarket, prices
from smallcaps_assets.stages import news as news_stage

from .conftest import DAY, PIPE_CONFIG

# DAY (Wed 6 Mar 2024) through Wed 13 Mar: 11 Mar has no catalyst; 12 Mar publishes the
# 29 Feb settlement (8 sessions later), visible from 13 Mar.
LAST = dt.date(2024, 3, 13)
ASSETS = asset_names.ALTERNATIVE


@pytest.fixture(scope="module")
def market() -> SimMarket:
    return SimMarket(PIPE_CONFIG)


@pytest.fixture(scope="module")
def short_lake(polygon, tmp_path_factory):
    root = tmp_path_factory.mktemp("alt_lake")
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root))
    mp.delenv("DAGSTER_HOME", raising=False)
    out = materialize_range(
        " or ".join(f"key:{a}" for a in ASSETS), DAY, LAST, resources={"polygon": polygon}
    )
    assert out.success, [(d.day, d.error, d.failed_checks) for d in out.days]
    yield root, {d.day: d for d in out.days}
    mp.undo()


def test_one_whole_market_request_per_asset_and_day_and_every_gate_passes(short_lake):
    _, days = short_lake
    assert sorted(days) == cal.trading_days(DAY, LAST)
    for day, outcome in days.items():
        assert outcome.failed_checks == [], day
        for asset in ASSETS:
            meta = outcome.metadata[asset]
            assert meta["api_requests"] == 1, (day, asset)
            assert meta["dagster/row_count"] == meta["rows"]


def test_news_holds_each_catalyst_of_the_window(short_lake, market):
    root, days = short_lake
    planted: dict[dt.date, set[str]] = {}
    for p in market.profiles():
        sk = market.skeleton(p)
        for i in np.nonzero(np.asarray(sk.shape) != prices.NO_CATALYST)[0]:
            planted.setdefault(sk.dates[int(i)], set()).add(p.ticker)
    for day in days:
        frame = lake.read_partition(asset_names.NEWS, day, root)
        start, end = news_stage.news_window(day)
        assert set(frame["symbol"]) == planted.get(day, set()), day
        assert frame.height == frame["id"].n_unique()  # one ticker per simulated article
        assert ((frame["published_utc"] >= start) & (frame["published_utc"] < end)).all()
    assert lake.read_partition(asset_names.NEWS, dt.date(2024, 3, 11), root).is_empty()
    assert sum(lake.read_partition(asset_names.NEWS, d, root).height for d in days) >= 10


def test_short_interest_switches_to_a_settlement_the_session_after_its_publication(short_lake, market):
    root, _ = short_lake
    cases = {
        DAY: dt.date(2024, 2, 15),
        dt.date(2024, 3, 12): dt.date(2024, 2, 15),
        LAST: dt.date(2024, 2, 29),
    }
    for day, settled in cases.items():
        frame = lake.read_partition(asset_names.SHORT_INTEREST, day, root)
        assert frame["settlement_date"].max() == settled, day
        assert (frame["published_on"] < day).all()
        latest = {}
        for p in market.profiles():
            for r in market.short_interest(p.ticker):
                if dt.date.fromisoformat(r["settlement_date"]) <= settled:
                    latest[p.ticker] = r  # rows come in settlement order
        # Every symbol's latest published settlement (a delisted one keeps its last, older row).
        got = {
            s: (d.isoformat(), v)
            for s, d, v in frame.select("symbol", "settlement_date", "short_interest").iter_rows()
        }
        want = {
            t: (r["settlement_date"], r["short_interest"])
            for t, r in latest.items()
            if dt.date.fromisoformat(r["settlement_date"]) >= day - dt.timedelta(days=45)
        }
        assert got == want and len(got) > 50
        assert frame.filter(pl.col("settlement_date") == settled).height > 0.9 * frame.height


def test_short_volume_is_the_sessions_rows_available_after_its_close(short_lake, market):
    root, days = short_lake
    for day in days:
        frame = lake.read_partition(asset_names.SHORT_VOLUME, day, root)
        want = {
            p.ticker: r["short_volume"]
            for p in market.profiles()
            if (r := market.short_volume(p.ticker, day))
        }
        assert dict(frame.select("symbol", "short_volume").iter_rows()) == pytest.approx(want)
        assert frame["available_at"].unique().to_list() == [cal.session(day).post_close]
        assert frame.filter(pl.col("date") != day).is_empty()

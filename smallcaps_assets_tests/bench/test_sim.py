"""The simulated-market benchmark: shape of its report and the ``smallcaps bench sim`` command."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from smallcaps_assets.bench.cli import bench_app
from smallcaps_assets.bench.sim import bench_sim, format_report

# What the library generates, per case; each is also timed served over ASGI (``serve_`` + name).
LIBRARY_TIMINGS = (
    *(
        f"{what}_{case}"
        for what in ("minute_bars", "ticks_10min")
        for case in ("normal", "catalyst", "busiest")
    ),
    "grouped_daily",
)
TIMINGS = {*LIBRARY_TIMINGS, *(f"serve_{name}" for name in LIBRARY_TIMINGS)}


@pytest.fixture(scope="module")
def report(small_market) -> dict:
    return bench_sim(small_market, repeats=1)


def test_report_keys_and_positive_timings(report, small_market):
    assert set(report) >= {"machine", "market", "repeats", "cases", "timings", "total_s"}
    assert set(report["machine"]) >= {"platform", "cpu_count", "python"}
    assert report["market"]["n_symbols"] == small_market.config.n_symbols
    assert set(report["timings"]) == TIMINGS
    for name, t in report["timings"].items():
        for key in ("cold_s", "median_s"):
            assert isinstance(t[key], float) and math.isfinite(t[key]) and t[key] > 0, (name, key)
        assert isinstance(t["rows"], int) and t["rows"] > 0, name
    assert report["total_s"] > 0
    json.dumps(report)  # JSON-serialisable as is


def test_serving_returns_what_the_library_generates(report):
    t = report["timings"]
    for name in LIBRARY_TIMINGS:
        assert t[f"serve_{name}"]["rows"] == t[name]["rows"], name


def test_cases_are_sensible(report, small_market):
    import datetime as dt

    normal, cat = report["cases"]["normal"], report["cases"]["catalyst"]
    p = small_market.profile(normal["ticker"])
    assert p.type == "CS" and p.market == "stocks"
    cats = small_market.catalysts(dt.date.fromisoformat(cat["date"]))
    assert cat["ticker"] in set(cats["ticker"])
    assert normal["ticker"] not in set(
        small_market.catalysts(dt.date.fromisoformat(normal["date"]))["ticker"]
    )
    # the busiest catalyst symbol-day: no catalyst day of the span plans more shares
    busy = report["cases"]["busiest"]
    busy_day = dt.date.fromisoformat(busy["date"])
    assert busy["ticker"] in set(small_market.catalysts(busy_day)["ticker"])

    def planned_shares(ticker: str, day: dt.date) -> float:
        sk = small_market.skeleton(small_market.profile(ticker))
        i = sk.pos[day]
        return float(sk.econ_volume[i] / sk.factor[i])

    most = max(
        planned_shares(t, d)
        for d in small_market.sessions()
        for t in small_market.catalysts(d)["ticker"]
        if small_market.profile(t).market == "stocks"
    )
    assert planned_shares(busy["ticker"], busy_day) == most
    assert report["timings"]["ticks_10min_busiest"]["rows"] > report["timings"]["ticks_10min_normal"]["rows"]


def test_repeats_validated(small_market):
    with pytest.raises(ValueError):
        bench_sim(small_market, repeats=0)


def test_cli_table_and_json(report, monkeypatch):
    import smallcaps_assets.bench.sim as bench

    monkeypatch.setattr(bench, "bench_sim", lambda market, repeats: report)
    runner = CliRunner()
    out = runner.invoke(bench_app, ["sim", "--json", "--repeats", "1", "--symbols", "60", "--seed", "11"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == report
    out = runner.invoke(bench_app, ["sim", "--repeats", "1", "--symbols", "60", "--seed", "11"])
    assert out.exit_code == 0, out.output
    assert out.output.strip() == format_report(report).strip()
    assert "serve_grouped_daily" in out.output

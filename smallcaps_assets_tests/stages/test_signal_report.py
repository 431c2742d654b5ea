import numpy as np
import polars as pl

from smallcaps_assets.stages import signal_report as sr

from .feature_registry_cases import at


def _frames(n=60):
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    types = ["flush" if i % 2 else "hod_break" for i in range(n)]
    feats = pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "symbol": ["AAA"] * n,
            "ts": [at(10, 0)] * n,
            "event_type": types,
            "session": ["RTH"] * n,
            "direction": [1] * n,
            "signal": x,
            "noise": rng.normal(size=n),
            "flag": x > 0,
            "price_tier": ["1-2"] * n,
            "bars_input_ts": [at(10, 0)] * n,
        }
    )
    labels = pl.DataFrame({"event_id": [f"e{i}" for i in range(n)], "fwd": np.exp(x)})  # monotone in x
    return feats, labels


def test_rank_ic_is_one_for_a_monotone_signal_and_pooled_plus_per_type():
    feats, labels = _frames()
    t = sr.signal_table(feats, labels, ["fwd"], min_events=10)
    assert set(t["feature"]) == {"signal", "noise", "flag"}  # text features left out
    row = t.filter((pl.col("feature") == "signal") & (pl.col("event_type") == "ALL")).row(0, named=True)
    assert row["n"] == 60 and row["rank_ic"] == 1.0 and 0.5 < row["ic"] < 1.0
    per_type = t.filter((pl.col("feature") == "signal") & (pl.col("event_type") != "ALL"))
    assert sorted(per_type["n"].to_list()) == [30, 30]
    assert per_type["rank_ic"].to_list() == [1.0, 1.0]
    noise = t.filter((pl.col("feature") == "noise") & (pl.col("event_type") == "ALL"))["rank_ic"][0]
    assert abs(noise) < 0.35


def test_too_few_events_give_null_and_the_markdown_ranks_by_rank_ic():
    feats, labels = _frames()
    t = sr.signal_table(feats, labels, ["fwd"], min_events=31)
    assert (
        t.filter(pl.col("event_type") != "ALL")["rank_ic"].null_count()
        == t.filter(pl.col("event_type") != "ALL").height
    )
    md = sr.markdown(sr.signal_table(feats, labels, ["fwd"], min_events=10), "fwd")
    lines = md.splitlines()
    assert lines[0].startswith("| feature | n | IC | rank IC")
    assert lines[2].startswith("| `signal` | 60 |")
    assert "No feature" in sr.markdown(t.head(0), "fwd")


def test_nan_in_a_feature_is_left_out_not_propagated():
    feats, labels = _frames()
    feats = feats.with_columns(
        signal=pl.when(pl.col("event_id") == "e0").then(float("nan")).otherwise(pl.col("signal"))
    )
    t = sr.signal_table(feats, labels, ["fwd"], min_events=10)
    row = t.filter((pl.col("feature") == "signal") & (pl.col("event_type") == "ALL")).row(0, named=True)
    assert row["n"] == 59 and row["rank_ic"] == 1.0


def test_too_few_events_warn_only_once_the_window_is_full():
    feats, labels = _frames()
    table = sr.signal_table(feats, labels, ["fwd"], min_events=10)
    by_name = {r.name: r for r in sr.report_gates(table, labelled=60)}
    assert by_name["signal_report_ic_in_range"].passed
    assert not by_name["signal_report_enough_events"].passed
    assert by_name["signal_report_enough_events"].severity == "warn"
    filling = {r.name: r for r in sr.report_gates(table, labelled=60, window_full=False)}
    assert filling["signal_report_enough_events"].passed
    assert filling["signal_report_enough_events"].figures["judged"] == "false"
    assert {r.name: r for r in sr.report_gates(table, labelled=200)}["signal_report_enough_events"].passed


def test_an_ic_out_of_range_fails_the_blocking_gate():
    bad = pl.DataFrame(
        {"feature": ["x"], "target": ["fwd"], "event_type": ["ALL"], "n": [50], "ic": [1.5], "rank_ic": [0.2]}
    )
    res = sr.report_gates(bad, labelled=500)[0]
    assert not res.passed and res.severity == "error"

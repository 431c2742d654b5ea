"""The in-play filter and ``rvol_so_far`` on hand-built bars: the values recomputed in plain Python,
each threshold's boundary, exempt types, and no look-ahead (with a leaky variant that the same test
catches)."""

from __future__ import annotations

import polars as pl
import pytest

from smallcaps_assets.stages import events
from smallcaps_assets.stages.events import inplay

from . import event_cases as cases
from .test_events import assert_no_lookahead

BASE = 2000.0  # flat time-of-day baseline, shares a minute


def hod_case(extra: dict[str, float] | None = None) -> cases.Case:
    """``hod_break`` at 10:05 on a quiet name (1,000 shares a minute), with a 2,000-share baseline;
    ``extra`` sets the volume of later bars ("HH:MM" -> shares)."""
    case = cases.hod_break("10:05")
    bars = case.bars
    for hm, volume in (extra or {}).items():
        bars = bars.with_columns(
            volume=pl.when(pl.col("ts") == cases.at(hm)).then(volume).otherwise(pl.col("volume"))
        )
    return cases.Case(
        bars, cases.context(10.0, cases.flat_baselines(vol=BASE)), case.params, "10:05", "hod_break"
    )


def so_far(case: cases.Case) -> dict[str, float]:
    """The running context at the 10:05 bar, recomputed from the bars in plain Python."""
    upto = [r for r in case.bars.sort("ts").iter_rows(named=True) if r["ts"] <= cases.at("10:05")]
    volume = sum(r["volume"] for r in upto)
    dollars = sum((r["high"] + r["low"] + r["close"]) * (1.0 / 3.0) * r["volume"] for r in upto)
    minutes = (10 * 60 + 5) - 4 * 60 + 1  # minutes from 04:00 through the 10:05 bar
    close = upto[-1]["close"]
    return {"rvol": volume / (BASE * minutes), "dollars": dollars, "change": abs(close / 10.0 - 1.0)}


def hod_events(case: cases.Case, **in_play) -> pl.DataFrame:
    p = events.IntradayParams(in_play=in_play)
    return events.detect_intraday(case.bars, case.context, p).filter(pl.col("event_type") == "hod_break")


def test_rvol_so_far_is_volume_so_far_over_the_baseline_so_far():
    case = hod_case()
    ev = hod_events(case, enabled=False)
    assert ev.height == 1
    assert ev["rvol_so_far"][0] == pytest.approx(so_far(case)["rvol"], rel=1e-12)
    no_baseline = events.detect_intraday(case.bars, cases.context(10.0), cases.P())
    assert no_baseline.height >= 1 and no_baseline["rvol_so_far"].null_count() == no_baseline.height


def test_the_baseline_so_far_has_a_floor():
    case = hod_case()
    thin = cases.context(10.0, cases.flat_baselines(vol=1.0))  # 1 share a minute: floored at 100
    ev = events.detect_intraday(case.bars, thin, cases.P()).filter(pl.col("event_type") == "hod_break")
    assert ev["rvol_so_far"][0] == pytest.approx(so_far(case)["rvol"] * BASE / 100.0, rel=1e-12)


def test_a_quiet_names_events_are_dropped_by_default():
    case = hod_case()
    assert events.detect_intraday(case.bars, case.context).is_empty()
    assert hod_events(case, enabled=False).height == 1


def test_dollar_volume_boundary():
    case = hod_case()
    dollars = so_far(case)["dollars"]
    assert hod_events(case, min_dollar_volume=dollars * (1 - 1e-9), min_rvol=1e-6).height == 1
    assert hod_events(case, min_dollar_volume=dollars * (1 + 1e-9), min_rvol=1e-6).height == 0


def test_rvol_or_change_puts_a_name_in_play():
    case = hod_case()
    fig = so_far(case)
    loose = {"min_dollar_volume": 0.0}
    assert hod_events(case, **loose, min_rvol=fig["rvol"] * (1 - 1e-9), min_change=1.0).height == 1
    assert hod_events(case, **loose, min_rvol=fig["rvol"] * (1 + 1e-9), min_change=1.0).height == 0
    # the price path alone: close 10.45 against a prior close of 10.00
    assert hod_events(case, **loose, min_rvol=1e9, min_change=fig["change"] * (1 - 1e-9)).height == 1
    assert hod_events(case, **loose, min_rvol=1e9, min_change=fig["change"] * (1 + 1e-9)).height == 0


def test_exempt_types_are_kept_whatever_the_volume():
    case = cases.gap_and_go(11.01, 11.51)  # a gap of 10.1% on a few thousand dollars
    kept = events.detect_intraday(case.bars, case.context)
    assert kept.filter(pl.col("event_type") == "gap_and_go").height == 1
    assert set(kept["event_type"]) == {"gap_and_go"}, "the other types on this quiet name are dropped"
    strict = events.detect_intraday(case.bars, case.context, events.IntradayParams(in_play={"exempt": ()}))
    assert strict.is_empty()


def test_a_later_burst_never_puts_an_earlier_event_in_play():
    """A 5 M-share bar at 10:20 makes the day's volume enormous; the 10:05 event still sees only
    the volume up to 10:05 and is dropped, and truncating the day at any bar changes nothing."""
    case = hod_case({"10:20": 5_000_000.0})
    p = events.IntradayParams(in_play={"min_dollar_volume": 0.0, "min_rvol": 100.0})
    ev = events.detect_intraday(case.bars, case.context, p)
    assert cases.at("10:06") not in ev["ts"].to_list()
    cuts = case.bars["ts"].unique().sort().to_list()
    assert_no_lookahead(case.bars, case.context, p, cuts)


def test_the_truncation_test_catches_a_leaky_filter(monkeypatch):
    """The leaky variant measures volume over the whole day: the 10:05 event is kept on the full
    day and dropped when the day is cut before the burst, which ``assert_no_lookahead`` reports."""
    case = hod_case({"10:20": 5_000_000.0})
    p = events.IntradayParams(in_play={"min_dollar_volume": 0.0, "min_rvol": 100.0})
    honest = inplay.running_context

    def whole_day(frames, rows, baseline_floor):
        out = honest(frames, rows, baseline_floor)
        day_volume = frames.full.select(pl.col("v").sum().over("sid"))["v"].to_numpy()[0]
        return out.with_columns(rvol_so_far=pl.lit(day_volume / 1_000.0))

    monkeypatch.setattr(inplay, "running_context", whole_day)
    ev = events.detect_intraday(case.bars, case.context, p)
    assert cases.at("10:06") in ev["ts"].to_list()
    with pytest.raises(AssertionError):
        assert_no_lookahead(case.bars, case.context, p, case.bars["ts"].unique().sort().to_list())

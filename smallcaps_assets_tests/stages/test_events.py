"""Intraday detectors on hand-built bars (boundaries, no look-ahead, evidence), event ids, the score,
the daily screen and the detection benchmark's smoke test."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from smallcaps_assets.stages import events

from . import event_cases as cases

MIN = dt.timedelta(minutes=1)


def detect(case: cases.Case, bars: pl.DataFrame | None = None) -> pl.DataFrame:
    return events.detect_intraday(case.bars if bars is None else bars, case.context, case.params)


def fired(case: cases.Case) -> pl.DataFrame:
    return detect(case).filter(pl.col("event_type") == case.event_type)


def assert_fires(case: cases.Case) -> dict:
    ev = fired(case)
    assert ev.height == 1, f"expected one {case.event_type}, got {ev.height}"
    row = ev.row(0, named=True)
    assert row["ts"] == cases.at(case.fire) + MIN, "ts is the close of the confirming bar"
    if case.direction is not None:
        assert row["direction"] == case.direction
    return row


def assert_silent(case: cases.Case) -> None:
    assert fired(case).is_empty(), f"{case.event_type} fired on the wrong side of its threshold"


# ----------------------------------------------------------------------------- boundaries per type


def test_volume_spike_ratio_boundary():
    row = assert_fires(cases.volume_spike(10_000))  # exactly 5 x the 2,000-share baseline
    assert row["ev_volume"] == 10_000 and row["ev_baseline"] == 2_000 and row["strength"] == 5.0
    assert row["session"] == "PM"
    assert_silent(cases.volume_spike(9_999))


def test_volume_spike_minimum_volume_boundary():
    assert_fires(cases.volume_spike(5_000, baseline=100))  # ratio 50, volume exactly the 5,000 floor
    assert_silent(cases.volume_spike(4_999, baseline=100))


def test_volume_spike_cooldown_and_direction():
    case = cases.volume_spike(10_000)
    both = events.detect_intraday(cases.volume_spike_pair("08:25"), case.context, case.params)
    assert both.height == 2, "a spike 15 minutes after the previous raw spike re-arms"
    one = events.detect_intraday(cases.volume_spike_pair("08:24"), case.context, case.params)
    assert one.height == 1, "a spike 14 minutes after the previous one is suppressed"
    assert one["direction"].to_list() == [1]  # close >= open


def test_volume_spike_needs_a_baseline():
    case = cases.volume_spike(50_000)
    assert events.detect_intraday(case.bars, cases.context(10.0), case.params).is_empty()
    short = cases.context(10.0, cases.flat_baselines(days=4))  # fewer than min_baseline_days
    assert events.detect_intraday(case.bars, short, case.params).is_empty()


def test_tape_speed_boundary():
    row = assert_fires(cases.tape_speed(20))  # 20+20+20 = 60 = 4 x (3 x 5)
    assert row["ev_transactions"] == 60 and row["ev_txn_baseline"] == 15 and row["ev_window_minutes"] == 3
    assert_silent(cases.tape_speed(19))


def test_price_momentum_min_move_boundary():
    row = assert_fires(cases.price_momentum((10.08, 10.15, 10.22)))  # +2.1% in 3 minutes
    assert row["ev_ref_price"] == 10.01 and row["ev_vol_unit"] == pytest.approx(0.01)
    assert row["strength"] == pytest.approx((10.22 - 10.01) / 3 / 0.01)
    assert_silent(cases.price_momentum((10.08, 10.15, 10.20)))  # +1.9%


def test_price_momentum_z_boundary():
    assert_fires(cases.price_momentum((10.03, 10.06, 10.11), price_momentum={"min_move": 0.005}))  # z = 3.33
    assert_silent(cases.price_momentum((10.03, 10.06, 10.09), price_momentum={"min_move": 0.005}))  # z = 2.67


def test_price_momentum_needs_a_consistent_run():
    assert_silent(cases.price_momentum((10.20, 10.15, 10.22)))  # a down bar inside the window


def test_vwap_reclaim_hold_boundary():
    row = assert_fires(cases.vwap_break(9.85, "09:45"))  # 15 minutes since the last close above VWAP
    assert row["strength"] == 15.0 and row["ev_level_ts"] == cases.at("09:30")
    assert_silent(cases.vwap_break(9.85, "09:44"))


def test_vwap_reclaim_depth_boundary():
    row = assert_fires(cases.vwap_break(9.89, "09:46"))  # 1.1% under VWAP during the hold
    assert row["ev_depth"] < -0.01
    assert_silent(cases.vwap_break(9.91, "09:46"))  # only 0.9% under


def test_vwap_reject_is_the_mirror():
    row = assert_fires(cases.vwap_break(9.85, "09:46", direction=-1))
    assert row["ev_close"] < row["ev_vwap"]


def test_opening_range_break_boundary():
    row = assert_fires(cases.opening_range(10.11))
    assert (row["ev_or_high"], row["ev_or_low"], row["ev_or_minutes"]) == (10.10, 9.90, 5)
    assert_silent(cases.opening_range(10.10))  # a close at the range high is not a break


def test_opening_range_longest_range_reported_and_first_cross_only():
    # First close above both the 5- and 15-minute highs at 09:45: one event, the 15-minute range.
    row = assert_fires(cases.opening_range(10.12, break_at="09:45"))
    assert row["ev_or_minutes"] == 15
    ev = fired(cases.opening_range(10.12, break_at="09:45"))
    assert ev.height == 1


def test_opening_range_needs_bars():
    b = cases.Bars().add("09:30", 10.0, h=10.1, l=9.9)  # one bar in the first 5 minutes
    for hm in cases.minute_range("09:36", 5):
        b.add(hm, 10.2, h=10.25, l=10.15)
    ev = events.detect_intraday(b.frame(), cases.context(10.0), cases.P()).filter(
        pl.col("event_type") == "opening_range_break"
    )
    assert ev.is_empty()


def test_hod_break_age_boundary():
    row = assert_fires(cases.hod_break("10:05"))  # the 10.50 high of 09:35 is 30 minutes old
    assert row["ev_level"] == 10.50 and row["ev_level_ts"] == cases.at("09:35") and row["strength"] == 30.0
    assert_silent(cases.hod_break("10:04"))


def test_consolidation_break_volume_boundary():
    row = assert_fires(cases.consolidation(1500))  # 1.5 x the 1,000-share mean of the last 5 bars
    assert (row["ev_range_high"], row["ev_range_low"]) == (10.21, 10.20)
    assert row["ev_baseline"] == 1000.0 and row["ev_window_minutes"] == 20
    assert_silent(cases.consolidation(1400))


def test_consolidation_break_tightness_boundary():
    # Window range 0.01; session vol unit ~0.205: the threshold is tightness x unit x sqrt(20).
    looser, tighter = {"tightness": 0.012}, {"tightness": 0.01}
    assert_fires(cases.consolidation(1500, consolidation_break=looser))  # threshold 0.011 >= 0.01
    assert_silent(cases.consolidation(1500, consolidation_break=tighter))  # threshold 0.0092 < 0.01


def test_flush_drop_boundary():
    row = assert_fires(cases.flush(9.49))  # 5.2% under the 5-minute high of 10.01
    assert row["ev_level"] == 10.01 and row["strength"] == pytest.approx((1 - 9.49 / 10.01) * 100)
    assert_silent(cases.flush(9.52))  # 4.9%


def test_halt_resumption_move_boundary():
    row = assert_fires(cases.halt(11.0))  # +10% vs the 5-minute reference = 1.0 x the 10% band
    assert row["ev_halt_start"] == cases.at("10:06") and row["ev_halt_minutes"] == 5
    assert row["ev_ref_price"] == 10.0 and row["ev_band_pct"] == pytest.approx(0.10)
    assert row["ev_move_before_halt"] == pytest.approx(0.10)
    assert_silent(cases.halt(10.79))  # 7.9% < 0.8 x 10%


def test_halt_resumption_gap_boundary():
    assert_silent(cases.halt(11.0, resume_at="10:10"))  # a 4-minute gap is no pause


def test_halt_resumption_band_doubles_at_the_open():
    # The same 10% move at 09:44 sits inside the doubled (20%) opening band.
    assert_silent(cases.halt(11.0, resume_at="09:49", start="09:28"))


def test_gap_and_go_boundaries():
    row = assert_fires(cases.gap_and_go(11.01, 11.51))
    assert row["ev_pm_high"] == 11.50 and row["ev_gap_pct"] == pytest.approx(0.101)
    assert_silent(cases.gap_and_go(10.99, 11.51))  # 9.9% gap
    assert_silent(cases.gap_and_go(11.01, 11.50))  # equals, does not break, the pre-market high
    assert_fires(cases.gap_and_go(11.01, 11.51, break_at="10:59"))  # 89 minutes after the open
    assert_silent(cases.gap_and_go(11.01, 11.51, break_at="11:00"))  # 90 minutes


def test_first_pullback_boundaries():
    row = assert_fires(cases.first_pullback())  # leg 6%, retrace 50%
    assert row["ev_level"] == 10.60 and row["ev_pullback_low"] == 10.30
    assert_silent(cases.first_pullback(pullback_low=10.48))  # retrace 20% < 25%
    assert_silent(cases.first_pullback(hod=10.40, pullback_low=10.20))  # leg 4% < 5%


def test_parabolic_exhaustion_boundaries():
    row = assert_fires(cases.parabolic())  # run 16.6% from the 9.95 low
    assert row["ev_level"] == 11.60 and row["ev_ref_price"] == 9.95
    assert_silent(cases.parabolic(hod=11.30))  # run 13.6%
    assert_silent(cases.parabolic(red_at="09:46"))  # breakdown 6 minutes after the high


# ----------------------------------------------------------------------- properties on all cases

ALL_CASES = {
    "volume_spike": lambda: cases.volume_spike(10_000),
    "tape_speed": lambda: cases.tape_speed(20),
    "price_momentum": lambda: cases.price_momentum((10.08, 10.15, 10.22)),
    "vwap_break": lambda: cases.vwap_break(9.85, "09:46"),
    "opening_range_break": lambda: cases.opening_range(10.11),
    "hod_break": lambda: cases.hod_break("10:05"),
    "consolidation_break": lambda: cases.consolidation(1500),
    "flush": lambda: cases.flush(9.49),
    "halt_resumption": lambda: cases.halt(11.0),
    "gap_and_go": lambda: cases.gap_and_go(11.01, 11.51),
    "first_pullback": lambda: cases.first_pullback(),
    "parabolic_exhaustion": lambda: cases.parabolic(),
}


def test_every_type_has_a_case():
    assert set(ALL_CASES) == set(events.EVENT_TYPES)


def assert_no_lookahead(bars: pl.DataFrame, ctx: pl.DataFrame, params: events.IntradayParams, cuts) -> int:
    """detect(bars[ts <= t]) == detect(bars).filter(ts <= t + 1 min) for every cut t."""
    full = events.detect_intraday(bars, ctx, params)
    checked = 0
    for t in cuts:
        part = bars.filter(pl.col("ts") <= t)
        got = events.detect_intraday(part, ctx, params) if part.height else events.empty_events()
        want = full.filter(pl.col("ts") <= t + MIN)
        assert_frame_equal(got, want, check_exact=True)
        checked += want.height
    return checked


@pytest.mark.parametrize("etype", events.EVENT_TYPES)
def test_no_lookahead_on_hand_cases(etype):
    case = ALL_CASES[etype]()
    cuts = case.bars["ts"].unique().sort().to_list()
    assert assert_no_lookahead(case.bars, case.context, case.params, cuts) > 0


@pytest.mark.parametrize("etype", events.EVENT_TYPES)
def test_evidence_recomputes_from_the_bars(etype):
    case = ALL_CASES[etype]()
    ev = fired(case)
    assert ev.height >= 1
    prior_close = case.context["prior_close"][0]
    for row in ev.iter_rows(named=True):
        ref = cases.recompute(row, case.bars, prior_close, case.params)
        for col, value in ref.items():
            got = row[col]
            if isinstance(value, float):
                assert got == pytest.approx(value, rel=1e-12, abs=1e-12), col
            else:
                assert got == value, col


def test_evidence_columns_are_null_where_a_type_does_not_use_them():
    ev = fired(cases.hod_break("10:05"))
    row = ev.row(0, named=True)
    assert row["ev_halt_start"] is None and row["ev_or_high"] is None and row["ev_vwap"] is None


def test_output_schema_and_order():
    case = cases.gap_and_go(11.01, 11.51)
    ev = detect(case)
    assert ev.schema == pl.Schema(events.EVENT_SCHEMA)
    assert ev.equals(ev.sort("symbol", "ts", "event_type"))
    assert events.detect_intraday(case.bars.head(0), case.context).schema == pl.Schema(events.EVENT_SCHEMA)


def test_many_symbols_at_once_match_one_at_a_time():
    """Vectorised over symbols: each symbol's events do not depend on the others in the frame."""
    built = [ALL_CASES[t]() for t in events.EVENT_TYPES]
    frames, ctxs, singles = [], [], []
    for i, case in enumerate(built):
        sym = f"S{i:02d}"
        frames.append(case.bars.with_columns(symbol=pl.lit(sym)))
        ctxs.append(case.context.with_columns(symbol=pl.lit(sym)))
        singles.append(events.detect_intraday(frames[-1], ctxs[-1], cases.P()))
    together = events.detect_intraday(
        pl.concat(frames).sample(fraction=1.0, shuffle=True, seed=3), pl.concat(ctxs), cases.P()
    )
    assert_frame_equal(together, pl.concat(singles).sort("symbol", "ts", "event_type"))
    small_chunks = events.detect_intraday(pl.concat(frames), pl.concat(ctxs), cases.P(chunk_rows=1000))
    assert_frame_equal(small_chunks, together)


def test_duplicate_bars_are_refused():
    bars = cases.hod_break("10:05").bars
    with pytest.raises(ValueError, match="duplicate"):
        events.detect_intraday(pl.concat([bars, bars.head(1)]), cases.context(10.0))


def test_bars_of_two_days_are_refused():
    bars = cases.hod_break("10:05").bars
    later = bars.with_columns((pl.col("ts") + pl.duration(days=1)).cast(pl.Datetime("ns", "UTC")))
    with pytest.raises(ValueError, match="one extended session"):
        events.detect_intraday(pl.concat([bars, later]), cases.context(10.0))


# ------------------------------------------------------------------------------------- event ids


def _all_events() -> pl.DataFrame:
    out = []
    for i, t in enumerate(events.EVENT_TYPES):
        case = ALL_CASES[t]()
        sym = f"S{i:02d}"
        out.append(
            events.detect_intraday(
                case.bars.with_columns(symbol=pl.lit(sym)),
                case.context.with_columns(symbol=pl.lit(sym)),
                case.params,
            )
        )
    return pl.concat(out)


def test_event_id_is_stable_and_distinct():
    ev = _all_events()
    again = _all_events()
    assert ev["event_id"].to_list() == again["event_id"].to_list()
    for row in ev.iter_rows(named=True):
        ts_ns = int(row["ts"].timestamp()) * 1_000_000_000
        assert row["event_id"] == events.event_id(row["symbol"], ts_ns, row["event_type"])
    # Different (symbol, ts, type) -> different ids.
    assert ev.select(pl.struct("symbol", "ts", "event_type").n_unique()).item() == ev.height
    assert ev["event_id"].n_unique() == ev.height


# Known answers (published ids must never drift): one key, and the same key with one field changed.
KNOWN_IDS = [
    (("ABCD", 1_709_650_860_000_000_000, "hod_break"), "589a8e65e59af948"),
    (("ABCE", 1_709_650_860_000_000_000, "hod_break"), "72d5cea65c235243"),  # symbol
    (("ABCD", 1_709_650_920_000_000_000, "hod_break"), "68972946b0166d94"),  # ts + 1 minute
    (("ABCD", 1_709_650_860_000_000_000, "flush"), "e7471869916f56ff"),  # type
    (("ABCD", 0, "hod_break"), "b02e9fd47b8a6529"),
]


@pytest.mark.parametrize(("key", "expected"), KNOWN_IDS)
def test_event_id_known_answers(key, expected):
    assert events.event_id(*key) == expected


def test_event_ids_differ_when_symbol_ts_or_type_differ():
    ids = [events.event_id(*key) for key, _ in KNOWN_IDS]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 16 and set(i) <= set("0123456789abcdef") for i in ids)


def test_event_id_pinned_value():
    """The id is a published function of (symbol, ts, type): it must never change."""
    import hashlib

    def h(s: str) -> int:
        return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")

    def mix(x: int) -> int:
        m = (1 << 64) - 1
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & m
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & m
        return x ^ (x >> 31)

    ts = 1_709_650_860_000_000_000
    assert events.event_id("ABCD", ts, "hod_break") == f"{mix(h('ABCD') ^ mix(ts ^ h('hod_break'))):016x}"


def test_no_duplicate_keys_by_construction():
    frames = [
        ALL_CASES[t]().bars.with_columns(symbol=pl.lit(f"S{i}")) for i, t in enumerate(events.EVENT_TYPES)
    ]
    ctx = pl.concat(
        [cases.context(10.0, cases.flat_baselines(symbol=f"S{i}"), symbol=f"S{i}") for i in range(12)]
    )
    ev = events.detect_intraday(pl.concat(frames), ctx, cases.P())
    assert ev.height > 0 and ev.height == ev.unique(["symbol", "ts", "event_type"]).height


# ----------------------------------------------------------------------------------------- score


def _events(
    day: dt.date, strengths: list[float], etype: str = "hod_break", hhmm: str = "10:00"
) -> pl.DataFrame:
    ts = cases.at(hhmm, day)
    return pl.DataFrame(
        {
            "symbol": [f"S{i}" for i in range(len(strengths))],
            "ts": [ts + i * MIN for i in range(len(strengths))],
            "event_type": [etype] * len(strengths),
            "strength": strengths,
        },
        schema_overrides={"ts": pl.Datetime("ns", "UTC")},
    )


HIST_DAYS = [dt.date(2024, 2, 26), dt.date(2024, 2, 27), dt.date(2024, 2, 28), dt.date(2024, 2, 29)]
TODAY = dt.date(2024, 3, 1)


def _history() -> pl.DataFrame:
    return pl.concat([_events(d, [float(x) for x in range(10)]) for d in HIST_DAYS])  # 0..9, 40 events


def test_score_is_the_percentile_against_prior_days():
    today = _events(TODAY, [4.5, 0.0, 100.0, -1.0])
    s = events.score(today, _history())["score"].to_list()
    assert s[0] == pytest.approx(0.5)  # 20 of 40 below
    assert s[1] == pytest.approx(2 / 40)  # mid-rank of 4 ties at the bottom
    assert s[2] == 1.0 and s[3] == 0.0
    assert all(0.0 <= x <= 1.0 for x in s)


def test_score_ignores_todays_other_events_and_the_future():
    today = _events(TODAY, [4.5])
    base = events.score(today, _history())["score"][0]
    busier_today = pl.concat([today, _events(TODAY, [99.0] * 50, hhmm="11:00")])
    assert events.score(busier_today, _history())["score"][0] == base
    with_future = pl.concat(
        [_history(), _events(dt.date(2024, 3, 4), [1000.0] * 50), _events(TODAY, [1000.0] * 5)]
    )
    assert events.score(today, with_future)["score"][0] == base


def test_score_uses_a_trailing_window_not_the_whole_history():
    today = _events(TODAY, [4.5])
    old = _events(dt.date(2023, 6, 1), [1000.0] * 100)  # far outside a 60-session window
    assert events.score(today, pl.concat([old, _history()]))["score"][0] == pytest.approx(0.5)
    assert events.score(today, _history(), window_days=2)["score"][0] == pytest.approx(0.5)


def test_score_is_null_without_enough_history():
    today = _events(TODAY, [4.5])
    assert events.score(today, _history().head(19))["score"][0] is None
    assert events.score(today, _history().head(0))["score"][0] is None
    other_type = _events(TODAY, [4.5], etype="flush")
    assert events.score(other_type, _history())["score"][0] is None


def _with_rvol(frame: pl.DataFrame, rvols: list[float | None]) -> pl.DataFrame:
    return frame.with_columns(rvol_so_far=pl.Series(rvols, dtype=pl.Float64))


def _history_with_rvol() -> pl.DataFrame:
    return _with_rvol(_history(), [float(x) for x in range(40)])  # hod_break, rvol 0..39


def test_a_rare_type_borrows_the_pooled_rank():
    """No prior flush: the score is the pooled rank of rvol_so_far among all prior events."""
    flush = _with_rvol(_events(TODAY, [1.0, 1.0], etype="flush"), [29.5, None])
    s = events.score(flush, _history_with_rvol())["score"].to_list()
    assert s[0] == pytest.approx(30 / 40)  # 30 of 40 prior rvols below
    assert s[1] is None, "no rvol_so_far and no own history: not enough to rank"
    few = _with_rvol(
        _events(HIST_DAYS[0], [0.0, 2.0, 4.0, 6.0, 8.0], etype="flush", hhmm="11:00"), [None] * 5
    )
    history = pl.concat([_history_with_rvol(), few])
    # own: strength 5.0 beats 3 of 5 prior flushes (0.6); n = 5 against the prior weight of 20
    got = events.score(_with_rvol(_events(TODAY, [5.0], etype="flush"), [29.5]), history)["score"][0]
    assert got == pytest.approx((5 * 0.6 + 20 * 0.75) / 25)


def test_a_common_type_is_ranked_mostly_by_its_own_strength():
    today = _with_rvol(_events(TODAY, [4.5]), [29.5])
    got = events.score(today, _history_with_rvol())["score"][0]
    assert got == pytest.approx((40 * 0.5 + 20 * 0.75) / 60)
    assert events.score(today, _history_with_rvol(), prior_weight=0)["score"][0] == pytest.approx(0.5)


def test_the_pooled_rank_needs_enough_history():
    today = _with_rvol(_events(TODAY, [4.5], etype="flush"), [29.5])
    assert events.score(today, _history_with_rvol().head(19))["score"][0] is None
    assert events.score(today, _history_with_rvol().head(20))["score"][0] == pytest.approx(1.0)


def test_score_refuses_several_days():
    with pytest.raises(ValueError, match="one day"):
        events.score(pl.concat([_events(TODAY, [1.0]), _events(dt.date(2024, 3, 4), [1.0])]), _history())


# ---------------------------------------------------------------------------------- daily screen

D0 = dt.date(2024, 1, 2)


def _daily_history(today: dict, n_prior: int = 25, volume: float = 100_000.0) -> tuple[pl.DataFrame, dt.date]:
    from smallcaps_assets import calendar as cal

    days = cal.trading_days(D0, D0 + dt.timedelta(days=60))[: n_prior + 1]
    rows = [
        {"date": d, "symbol": "ABCD", "open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0, "volume": volume}
        for d in days[:-1]
    ]
    rows.append({"date": days[-1], "symbol": "ABCD", **today})
    return pl.DataFrame(rows), days[-1]


def _screen(**today) -> dict:
    base = {"open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0, "volume": 100_000.0}
    hist, day = _daily_history({**base, **today})
    out = events.daily_screen(hist, day, all_rows=True)
    assert out.height == 1
    return out.row(0, named=True)


def test_daily_gap_boundary():
    assert _screen(open=11.01, high=11.1)["gate_gap"]
    assert not _screen(open=10.99, high=11.1)["gate_gap"]


def test_daily_rvol_boundary_and_prior_days_only():
    r = _screen(volume=300_000.0)
    assert r["avg_volume"] == 100_000.0 and r["rvol"] == 3.0 and r["gate_rvol"]
    assert not _screen(volume=299_999.0)["gate_rvol"]
    assert _screen(volume=5_000_000.0)["avg_volume"] == 100_000.0  # today's volume is not in its average


def test_daily_dollar_volume_boundary():
    assert _screen(volume=200_000.0)["gate_dollar_volume"]  # 10 x 200,000 = $2M
    assert not _screen(volume=199_999.0)["gate_dollar_volume"]


def test_daily_triple_gate_needs_all_three():
    assert _screen(open=11.01, high=11.5, close=11.0, volume=300_000.0)["triple_gate"]
    assert not _screen(open=11.01, high=11.5, close=11.0, volume=150_000.0)["triple_gate"]


def test_daily_atr_breakout_boundary():
    r = _screen(high=12.0, close=12.0)  # ATR14 = 1.0 (high - low of every prior day)
    assert r["atr"] == 1.0 and r["atr_move"] == 2.0 and r["atr_breakout"]
    assert not _screen(high=12.0, close=11.99)["atr_breakout"]


def test_daily_range_explosion_boundary():
    assert _screen(high=11.5, low=8.5)["range_explosion"]  # 3.0 x the 1.0 average range
    assert not _screen(high=11.49, low=8.5)["range_explosion"]


def test_daily_flush_boundary():
    r = _screen(open=10.5, high=10.6, low=8.9, close=8.99)  # -10.1% and 15.2% off the high
    assert r["daily_flush"] and r["direction"] == -1
    assert not _screen(open=10.5, high=10.6, low=8.9, close=9.01)["daily_flush"]  # -9.9%
    assert not _screen(open=9.5, high=10.55, low=8.9, close=8.99)["daily_flush"]  # 14.8% off the high


def test_daily_screen_keeps_only_gated_rows_and_needs_history():
    hist, day = _daily_history({"open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0, "volume": 100_000.0})
    assert events.daily_screen(hist, day).is_empty()
    short, day2 = _daily_history(
        {"open": 12.0, "high": 12.5, "low": 11.5, "close": 12.0, "volume": 900_000.0}, n_prior=3
    )
    row = events.daily_screen(short, day2, all_rows=True).row(0, named=True)
    assert row["avg_volume"] is None and not row["gate_rvol"]  # fewer than min_history prior sessions


def test_daily_screen_ignores_later_rows():
    hist, day = _daily_history({"open": 11.01, "high": 11.5, "low": 10.9, "close": 11.0, "volume": 300_000.0})
    later = hist.tail(1).with_columns(date=pl.lit(day + dt.timedelta(days=1)), volume=pl.lit(9e9))
    assert_frame_equal(events.daily_screen(pl.concat([hist, later]), day), events.daily_screen(hist, day))


def test_calibration_report():
    hist, _ = _daily_history({"open": 11.01, "high": 11.5, "low": 10.9, "close": 11.0, "volume": 300_000.0})
    cal_ = events.calibration(hist)
    assert set(cal_["gate"]) == set(events.CALIBRATION_GRIDS)
    assert cal_.filter(pl.col("is_default")).height == len(events.CALIBRATION_GRIDS)
    for gate, g in cal_.group_by("gate"):
        hits = g.sort("threshold")["hits"].to_list()
        assert hits == sorted(hits, reverse=True), f"{gate}: hits must fall as the threshold rises"
        assert all(0.0 <= r <= 1.0 for r in g["rate"])
    gap = cal_.filter((pl.col("gate") == "gap_pct") & pl.col("is_default")).row(0, named=True)
    assert gap["hits"] == 1 and gap["combined_hits"] == 1 and gap["symbol_days"] == 21


# ------------------------------------------------------------------------------------- baselines


def test_baselines_average_time_of_day_across_dst_and_pack_into_context():
    rows = []
    # 10:00 ET on a winter (EST) and a spring (EDT) day: the same minute of the day.
    for day, vol, n in ((dt.date(2024, 3, 8), 100.0, 2), (dt.date(2024, 3, 11), 300.0, 6)):
        ts = dt.datetime.combine(day, dt.time(10, 0), tzinfo=cases.cal.NY).astimezone(dt.UTC)
        rows.append({"symbol": "ABCD", "ts": ts, "volume": vol, "transactions": n})
    prior = pl.DataFrame(rows, schema_overrides={"ts": pl.Datetime("ns", "UTC")})
    base = events.baselines(prior, smooth_minutes=1)
    assert base.height == 960 and base["baseline_days"].unique().to_list() == [2]
    at10 = base.filter(pl.col("minute_of_day") == 600).row(0, named=True)
    assert (at10["vol_baseline"], at10["txn_baseline"]) == (200.0, 4.0)
    assert base.filter(pl.col("minute_of_day") != 600)["vol_baseline"].max() == 0.0
    smooth = events.baselines(prior)  # centred 5-minute mean inside the session
    assert smooth.filter(pl.col("minute_of_day") == 600)["vol_baseline"][0] == pytest.approx(40.0)
    ctx = events.make_context(pl.DataFrame({"symbol": ["ABCD"], "prior_close": [10.0]}), base)
    assert ctx["vol_baseline"][0][600 - 240] == 200.0 and ctx["baseline_days"][0] == 2

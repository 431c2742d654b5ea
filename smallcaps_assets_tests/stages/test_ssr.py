"""SEC Rule 201 on hand-built days: when it triggers, how long it lasts, and its gates."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from smallcaps_assets.stages import ssr, ssr_quality

NY = ZoneInfo("America/New_York")
MON, TUE, WED = dt.date(2024, 3, 4), dt.date(2024, 3, 5), dt.date(2024, 3, 6)


def et(day: dt.date, hhmm: str) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), NY).astimezone(dt.UTC)


def bars(day: dt.date, rows: list[tuple[str, str, float]]) -> pl.DataFrame:
    """Minute bars (symbol, bar start in ET, low); the session label follows the clock."""

    def label(hhmm: str) -> str:
        return "PM" if hhmm < "09:30" else "RTH" if hhmm < "16:00" else "AH"

    return pl.DataFrame(
        {
            "symbol": [s for s, _, _ in rows],
            "ts": [et(day, t) for _, t, _ in rows],
            "low": [low for _, _, low in rows],
            "session": [label(t) for _, t, _ in rows],
        },
        schema={"symbol": pl.String, "ts": pl.Datetime("ns", "UTC"), "low": pl.Float64, "session": pl.String},
    )


def closes(**prior: float | None) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": list(prior), "prior_close": list(prior.values())},
        schema={"symbol": pl.String, "prior_close": pl.Float64},
    )


def row(frame: pl.DataFrame, symbol: str) -> dict:
    return frame.filter(pl.col("symbol") == symbol).row(0, named=True)


def test_a_morning_trigger_is_active_from_the_bar_close_to_the_end_of_the_next_session():
    day = bars(MON, [("AAA", "09:30", 9.5), ("AAA", "10:15", 8.95), ("AAA", "10:16", 8.0)])
    out = ssr.ssr_status(MON, day, closes(AAA=10.0), None)
    r = row(out, "AAA")
    assert r["trigger_price"] == pytest.approx(9.0)
    assert r["triggered_at"] == et(MON, "10:16")  # the 10:15 bar closes at 10:16: its low is known then
    assert r["trigger_low"] == 8.95
    assert not r["carried_over"]
    assert r["active_from"] == et(MON, "10:16")
    assert r["active_until"] == et(TUE, "20:00")


def test_a_trigger_in_the_last_minute_counts_and_extended_hours_never_trigger():
    day = bars(
        MON,
        [
            ("LAST", "15:58", 9.2),
            ("LAST", "15:59", 8.9),
            ("PRE", "08:00", 5.0),  # -50% pre-market
            ("PRE", "09:30", 9.1),
            ("POST", "16:00", 5.0),  # -50% after hours
            ("POST", "19:59", 5.0),
        ],
    )
    out = ssr.ssr_status(MON, day, closes(LAST=10.0, PRE=10.0, POST=10.0), None)
    assert row(out, "LAST")["triggered_at"] == et(MON, "16:00")
    assert row(out, "LAST")["active_until"] == et(TUE, "20:00")
    for symbol in ("PRE", "POST"):
        r = row(out, symbol)
        assert r["triggered_at"] is None and r["active_from"] is None and r["active_until"] is None


def test_the_threshold_is_ten_percent_inclusive():
    day = bars(MON, [("NEAR", "11:00", 9.001), ("EXACT", "11:00", 9.0), ("ODD", "11:00", 2.997)])
    out = ssr.ssr_status(MON, day, closes(NEAR=10.0, EXACT=10.0, ODD=3.33), None)
    assert row(out, "NEAR")["triggered_at"] is None  # -9.99%
    assert row(out, "EXACT")["triggered_at"] == et(MON, "11:01")  # -10.00%
    assert row(out, "ODD")["triggered_at"] == et(MON, "11:01")  # 0.9 x 3.33 is 2.9970000000000003 in binary


def test_a_retrigger_on_the_next_day_extends_to_the_day_after():
    monday = ssr.ssr_status(MON, bars(MON, [("AAA", "10:00", 8.0)]), closes(AAA=10.0), None)
    tuesday = ssr.ssr_status(TUE, bars(TUE, [("AAA", "14:00", 7.0)]), closes(AAA=8.5), monday)
    r = row(tuesday, "AAA")
    assert r["carried_over"]
    assert r["triggered_at"] == et(TUE, "14:01")
    assert r["active_from"] == et(TUE, "04:00")  # restricted from Tuesday's pre-market on
    assert r["active_until"] == et(WED, "20:00")
    wednesday = ssr.ssr_status(WED, bars(WED, [("AAA", "10:00", 7.5)]), closes(AAA=7.2), tuesday)
    assert row(wednesday, "AAA")["carried_over"]
    assert row(wednesday, "AAA")["active_until"] == et(WED, "20:00")


def test_a_carried_over_day_without_a_retrigger_expires_at_its_close():
    monday = ssr.ssr_status(
        MON, bars(MON, [("AAA", "10:00", 8.0), ("BBB", "10:00", 9.9)]), closes(AAA=10.0, BBB=10.0), None
    )
    tuesday = ssr.ssr_status(
        TUE, bars(TUE, [("AAA", "10:00", 8.1), ("BBB", "10:00", 9.9)]), closes(AAA=8.5, BBB=10.0), monday
    )
    a, b = row(tuesday, "AAA"), row(tuesday, "BBB")
    assert a["carried_over"] and a["triggered_at"] is None  # 8.1 is -4.7% from Monday's 8.5 close
    assert (a["active_from"], a["active_until"]) == (et(TUE, "04:00"), et(TUE, "20:00"))
    assert not b["carried_over"] and b["active_from"] is None
    wednesday = ssr.ssr_status(WED, bars(WED, []), closes(AAA=8.3), tuesday)
    assert not row(wednesday, "AAA")["carried_over"] and row(wednesday, "AAA")["active_from"] is None


def test_the_daily_bars_answer_the_carry_over_for_symbols_the_previous_status_lacks():
    # D-1 (Monday) bars: NEW fell to 8.9 from Friday's 10 close (a trigger), OLD to 9.5, SPL split
    # 2-for-1 on Monday and fell to 4.6 from a 10 close (-8% in Monday's shares).
    friday = pl.DataFrame({"symbol": ["NEW", "OLD", "SPL", "KNOWN"], "close": [10.0, 10.0, 10.0, 10.0]})
    monday = pl.DataFrame(
        {
            "symbol": ["NEW", "OLD", "SPL", "KNOWN"],
            "low": [8.9, 9.5, 4.6, 8.0],
            "split_ratio": [1.0, 1.0, 0.5, 1.0],
        }
    )
    assert ssr.daily_triggers(friday, monday) == ["KNOWN", "NEW"]
    assert ssr.daily_triggers(None, monday) == []
    # Monday's status knew KNOWN (no minute-bar trigger): it wins over the daily bar.
    previous = ssr.ssr_status(MON, bars(MON, [("KNOWN", "10:00", 9.5)]), closes(KNOWN=10.0), None)
    tuesday = ssr.ssr_status(
        TUE, bars(TUE, []), closes(NEW=9.0, OLD=9.6, KNOWN=9.5), previous, ssr.daily_triggers(friday, monday)
    )
    assert dict(tuesday.select("symbol", "carried_over").iter_rows()) == {
        "KNOWN": False,
        "NEW": True,
        "OLD": False,
    }
    # Without any previous status, the daily bars decide for every symbol.
    alone = ssr.ssr_status(TUE, bars(TUE, []), closes(NEW=9.0, KNOWN=9.5), None, ["KNOWN", "NEW"])
    assert alone["carried_over"].all()
    assert (alone["active_until"] == et(TUE, "20:00")).all()


def test_the_prior_close_is_in_todays_share_units():
    prior = pl.DataFrame({"symbol": ["SPLT", "SAME"], "close": [10.0, 10.0], "split_ratio": [3.0, 3.0]})
    today = pl.DataFrame({"symbol": ["SPLT", "SAME"], "split_ratio": [0.5, 1.0]})  # SPLT splits 2-for-1 today
    prior_close = ssr.prior_close_today_units(["SPLT", "SAME", "NEW"], prior, today)
    assert dict(prior_close.iter_rows()) == {"NEW": None, "SAME": 10.0, "SPLT": 5.0}
    day = bars(MON, [("SPLT", "09:30", 4.6), ("SAME", "09:30", 9.5), ("NEW", "09:30", 1.0)])
    out = ssr.ssr_status(MON, day, prior_close, None)
    assert row(out, "SPLT")["triggered_at"] is None  # -8% in today's shares, -54% in yesterday's
    assert row(out, "NEW")["trigger_price"] is None and row(out, "NEW")["triggered_at"] is None
    assert out["symbol"].to_list() == ["NEW", "SAME", "SPLT"]


def test_active_at_is_the_half_open_interval():
    monday = ssr.ssr_status(MON, bars(MON, [("AAA", "10:00", 8.0)]), closes(AAA=10.0, BBB=10.0), None)
    probes = pl.DataFrame(
        {
            "symbol": ["AAA", "AAA", "AAA", "BBB"],
            "ts": [et(MON, "10:00"), et(MON, "10:01"), et(TUE, "20:00"), et(MON, "10:01")],
        },
        schema={"symbol": pl.String, "ts": pl.Datetime("ns", "UTC")},
    )
    active = probes.join(monday, on="symbol").select(active=ssr.active_at(pl.col("ts")))["active"]
    assert active.to_list() == [False, True, False, False]


# ------------------------------------------------------------------------------- gates
def gates(frame: pl.DataFrame, universe: set[str]) -> dict[str, bool]:
    return {g.name: g.passed for g in ssr_quality.ssr_gates(frame, universe, MON)}


@pytest.fixture
def clean() -> pl.DataFrame:
    day = bars(MON, [("AAA", "09:30", 8.0), ("BBB", "15:59", 8.0), ("CCC", "12:00", 9.9)])
    return ssr.ssr_status(MON, day, closes(AAA=10.0, BBB=10.0, CCC=10.0), None)


def test_a_clean_status_passes_every_gate(clean):
    assert gates(clean, {"AAA", "BBB", "CCC"}) == {g.name: True for g in ssr_quality.SSR_GATES}


@pytest.mark.parametrize(
    ("gate", "mutate", "universe"),
    [
        ("ssr_one_row_per_symbol", lambda f: f, {"AAA", "BBB", "CCC", "DDD"}),
        ("ssr_one_row_per_symbol", lambda f: pl.concat([f, f.head(1)]), {"AAA", "BBB", "CCC"}),
        ("ssr_one_row_per_symbol", lambda f: f, {"AAA", "BBB"}),
        # a trigger stamped at the first bar's start: the bar's low was not known yet
        ("ssr_trigger_in_session", lambda f: _set(f, "AAA", triggered_at=et(MON, "09:30")), None),
        ("ssr_trigger_in_session", lambda f: _set(f, "AAA", triggered_at=et(MON, "16:01")), None),
        ("ssr_trigger_in_session", lambda f: _set(f, "AAA", trigger_low=9.5), None),
        ("ssr_active_interval", lambda f: _set(f, "AAA", active_until=et(MON, "09:00")), None),
        ("ssr_active_interval", lambda f: _set(f, "CCC", active_until=et(MON, "20:00")), None),
        ("ssr_active_interval", lambda f: _set(f, "BBB", active_from=None), None),
    ],
)
def test_each_gate_fails_on_what_it_guards_against(clean, gate, mutate, universe):
    result = gates(mutate(clean), universe or {"AAA", "BBB", "CCC"})
    assert not result[gate]
    assert all(passed for name, passed in result.items() if name != gate)


def _set(frame: pl.DataFrame, symbol: str, **values) -> pl.DataFrame:
    hit = pl.col("symbol") == symbol
    return frame.with_columns(
        pl.when(hit).then(pl.lit(v, dtype=frame.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )

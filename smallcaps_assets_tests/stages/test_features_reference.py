"""The reference feature family: universe values, halts so far, former runner, and look-ahead."""

from __future__ import annotations

import datetime as dt

import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.reference import REFERENCE_FEATURES, reference_features

from . import event_cases as cases
from . import feature_cases as fc
from .event_cases import DAY, SYM, at

UNIVERSE = pl.DataFrame(
    {"symbol": [SYM], "prior_close": [10.0], "float_shares": [4.0e6], "market_cap": [9.0e7]}
)


def events(*rows: tuple[str, str, str]) -> pl.DataFrame:
    return pl.DataFrame(
        {"event_id": [r[0] for r in rows], "symbol": [r[1] for r in rows], "ts": [at(r[2]) for r in rows]},
        schema={"event_id": pl.String, "symbol": pl.String, "ts": UTC_NS},
    )


def two_halts() -> pl.DataFrame:
    """Pauses resuming at 10:11 and 11:21 ET (their halt_resumption events close at 10:12, 11:22)."""
    first = cases.halt(11.0).bars
    second = cases.halt(11.0, resume_at="11:21", start="11:00").bars
    return pl.concat([first, second]).sort("symbol", "ts")


def test_universe_values_and_halts_known_at_ts():
    ev = events(
        ("before", SYM, "10:11"),
        ("resumed", SYM, "10:12"),
        ("between", SYM, "11:21"),
        ("second", SYM, "11:22"),
        ("late", SYM, "15:00"),
    )
    out = reference_features(ev, UNIVERSE, two_halts(), None)
    assert out.columns == ["event_id", *REFERENCE_FEATURES]
    assert out["halts_so_far_count"].to_list() == [0, 1, 1, 2, 2]
    assert out["float_shares"].to_list() == [4.0e6] * 5 and out["market_cap_usd"].to_list() == [9.0e7] * 5
    assert out["former_runner_days"].null_count() == 5  # no daily bars given
    prior_close = cal.session(cal.previous_trading_day(DAY)).market_close
    assert out["reference_input_ts"].to_list() == [
        prior_close,
        at("10:12"),
        at("10:12"),
        at("11:22"),
        at("11:22"),
    ]


def test_symbols_without_inputs_get_nulls():
    ev = events(("quiet", "ZZZZ", "10:30"), ("known", SYM, "10:30"))
    out = reference_features(ev, UNIVERSE, two_halts(), None)
    quiet = out.filter(pl.col("event_id") == "quiet").to_dicts()[0]
    assert all(quiet[c] is None for c in REFERENCE_FEATURES)
    assert reference_features(ev, None, two_halts(), None)["float_shares"].null_count() == 2


def runner_history() -> pl.DataFrame:
    """22 sessions before DAY at 10.00 and DAY itself. Counted (the last 20 sessions): a 25% gap
    (index 6), a 25% drop (11) and the 33% recovery (12). Not counted: a 100% gap on index 1 (its
    prior close is 21 sessions back, outside the window), a 1-for-10 reverse split on index 16
    (raw prices x 10, adjusted away), and DAY's own wild bar."""
    days = [*cal.sessions_before(DAY, 22), DAY]
    o = [10.0] * len(days)
    c = [10.0] * len(days)
    c[0] = 5.0  # index 1 opens 100% above it
    o[6] = 12.5
    c[11] = 7.5
    o[12] = 7.5
    ratio = [1.0] * len(days)
    ratio[16] = 10.0
    for i in range(16, len(days)):
        o[i] *= 10.0
        c[i] *= 10.0
    o[-1], c[-1] = 500.0, 1.0
    return pl.DataFrame(
        {
            "symbol": SYM,
            "date": days,
            "open": o,
            "high": [max(a, b) for a, b in zip(o, c, strict=True)],
            "low": [min(a, b) for a, b in zip(o, c, strict=True)],
            "close": c,
            "volume": 1e6,
            "split_ratio": ratio,
        }
    )


def test_former_runner_counts_gap_days_of_the_last_20_sessions():
    out = reference_features(events(("e", SYM, "10:05")), UNIVERSE, two_halts(), runner_history())
    assert out["former_runner_days"].to_list() == [3]
    assert out["reference_input_ts"].item() == cal.session(cal.previous_trading_day(DAY)).market_close
    short = reference_features(events(("e", SYM, "10:30")), None, two_halts(), runner_history().head(2))
    assert short["former_runner_days"].to_list() == [None]  # no bar inside the window


def with_halts(d: dict) -> tuple[dict, list[dt.datetime]]:
    """The small day with a 30% spike at 10:30 and 13:00 ET on two symbols (universe prior close >=
    1, so 30% clears the LULD band), each followed by six missing minutes: two pauses that resume
    at 10:37 and 13:07. Returns the inputs and the resumption bars' closes."""
    names = d["universe"].filter(pl.col("prior_close") >= 1.0)["symbol"].sort().to_list()[:2]
    bars, resumed = d["minute_bars"], []
    for sym, hhmm in zip(names, ("10:30", "13:00"), strict=True):
        spike = cases.at(hhmm, fc.BENCH_DAY)
        gap = (pl.col("ts") > spike) & (pl.col("ts") <= spike + dt.timedelta(minutes=6))
        bars = bars.filter(~((pl.col("symbol") == sym) & gap)).with_columns(
            high=pl.when((pl.col("symbol") == sym) & (pl.col("ts") == spike))
            .then(pl.col("open") * 1.3)
            .otherwise(pl.col("high"))
        )
        resumed.append(spike + dt.timedelta(minutes=8))
        times = [spike + dt.timedelta(minutes=m) for m in range(-19, 12, 3)]
        extra = pl.DataFrame(
            {"event_id": [f"{sym}-{i}" for i in range(len(times))], "symbol": sym, "ts": times}
        )
        d = {
            **d,
            "events": pl.concat([d["events"], extra.with_columns(pl.col("ts").cast(UTC_NS))], how="diagonal"),
        }
    return {**d, "minute_bars": bars, "paused": names}, resumed


def _family(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    return reference_features(ev, inputs["universe"], inputs["minute_bars"], inputs["daily_history"])


def _leaky(ev: pl.DataFrame, inputs: dict) -> pl.DataFrame:
    """Counts the pauses that resume in the next 30 minutes too: the look-ahead to catch."""
    return _family(ev.with_columns(pl.col("ts") + pl.duration(minutes=30, time_unit="ns")), inputs)


def test_no_look_ahead_and_a_leaky_variant_is_caught():
    d, resumed = with_halts(fc.small_day(events=20))
    whole = _family(d["events"], d)
    assert whole["halts_so_far_count"].max() == 1  # the pauses were found: the test can fail
    # each paused symbol: 0 before its resumption bar closes, 1 from that instant on
    for sym, resume in zip(d["paused"], resumed, strict=True):
        mine = whole.join(d["events"], on="event_id").filter(pl.col("symbol") == sym).sort("ts")
        expected = [int(t >= resume) for t in mine["ts"].to_list()]
        assert mine["halts_so_far_count"].to_list() == expected and 0 in expected and 1 in expected
    assert fc.changed_after(_family, d) == []
    assert set(fc.changed_before(_family, d)) == set(d["events"]["event_id"])
    assert len(fc.changed_after(_leaky, d)) >= 4
    stamped = whole.join(d["events"], on="event_id")
    assert stamped.filter(pl.col("reference_input_ts") > pl.col("ts")).is_empty()

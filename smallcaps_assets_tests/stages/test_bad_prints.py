"""The bad-print gate: which prices it flags, how it cleans them, and that it reads no later bar."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from smallcaps_assets.stages.bad_prints import PRICES, BadPrintParams, clean_bars, quarantine
from smallcaps_assets.stages.bars_quality import bad_print_gate, daily_range_gate


def _bars(highs: list[float], symbol: str = "ABCD") -> pl.DataFrame:
    n = len(highs)
    return pl.DataFrame(
        {
            "symbol": [symbol] * n,
            "ts": [dt.datetime(2024, 3, 4, 14, 30 + i) for i in range(n)],
            "open": [10.0] * n,
            "high": highs,
            "low": [9.9] * n,
            "close": [10.05] * n,
            "vwap": [10.0] * n,
        }
    )


def test_a_high_a_quarter_above_the_vwaps_is_flagged_and_rebuilt_from_the_body():
    out = quarantine(_bars([10.1, 10.1, 12.5, 10.1]))
    assert out["bad_print"].to_list() == [False, False, True, False]
    assert out["high_clean"].to_list() == [10.1, 10.1, 10.05, 10.1]  # max(open, close, vwap)
    assert out["high"][2] == 12.5  # the raw price is kept beside the clean one


def test_a_bad_open_and_low_are_replaced_from_the_good_prices():
    bars = _bars([10.1] * 4).with_columns(
        open=pl.Series([10.0, 10.0, 8.0, 10.0]), low=pl.Series([9.9, 9.9, 8.0, 9.9])
    )
    out = quarantine(bars)
    assert out["bad_print"].to_list() == [False, False, True, False]
    # the VWAP (10.0) clamped into the good prices (close 10.05, high 10.1); low = min of the rest
    assert out["open_clean"][2] == 10.05 and out["low_clean"][2] == 10.05


def test_a_real_move_carried_by_the_vwap_is_not_flagged():
    # The whole bar moves 30% with its VWAP: the median of the VWAPs follows within two bars.
    bars = _bars([10.1, 10.1, 13.1, 13.1, 13.1]).with_columns(
        open=pl.Series([10.0, 10.0, 13.0, 13.0, 13.0]),
        low=pl.Series([9.9, 9.9, 12.9, 12.9, 12.9]),
        close=pl.Series([10.05, 10.05, 13.05, 13.05, 13.05]),
        vwap=pl.Series([10.0, 10.0, 13.0, 13.0, 13.0]),
    )
    out = quarantine(bars, BadPrintParams(window=1))
    assert out["bad_print"].to_list() == [False, False, False, False, False]


def test_the_flag_of_a_minute_reads_no_later_minute():
    bars = _bars([10.1, 10.1, 12.5, 10.1, 10.1])
    full = quarantine(bars)
    for k in range(1, bars.height + 1):
        assert quarantine(bars.head(k)).equals(full.head(k))


def test_symbols_are_judged_apart_and_rows_keep_their_order():
    a, b = (
        _bars([10.1, 10.1, 12.5]),
        _bars([50.0, 50.0, 50.0], "EFGH").with_columns(
            open=pl.lit(50.0), low=pl.lit(49.0), close=pl.lit(50.0), vwap=pl.lit(50.0)
        ),
    )
    mixed = pl.concat([a, b]).sort("ts")
    out = quarantine(mixed)
    assert out.select("symbol", "ts").equals(mixed.select("symbol", "ts"))
    assert out.filter("bad_print")["symbol"].to_list() == ["ABCD"]


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="max_deviation"):
        quarantine(_bars([10.1]), BadPrintParams(max_deviation=0))


def test_clean_bars_puts_the_cleaned_prices_in_place_and_keeps_the_raw_ones_of_flagged_bars():
    bars = _bars([10.1, 10.1, 12.5, 10.1]).with_columns(volume=pl.lit(100.0))
    out = clean_bars(bars)
    raw = ["raw_open", "raw_high", "raw_low", "raw_close", "raw_vwap"]
    assert out.columns == [*bars.columns, "bad_print", *raw]
    assert out["bad_print"].to_list() == [False, False, True, False]
    assert out["high"].to_list() == [10.1, 10.1, 10.05, 10.1]
    assert out["raw_high"].to_list() == [None, None, 12.5, None]
    assert out["raw_open"].to_list() == [None, None, 10.0, None]
    unflagged = out.filter(~pl.col("bad_print")).select(bars.columns)
    assert unflagged.equals(bars.filter(pl.int_range(pl.len()) != 2))  # untouched


def test_the_bad_print_gate_warns_above_its_share_with_figures_and_a_sample():
    clean = clean_bars(_bars([10.1] * 10))
    assert bad_print_gate(clean).passed
    dirty = clean_bars(_bars([10.1, 10.1, 12.5, 10.1, 10.1, 10.1, 10.1, 10.1, 10.1, 10.1]))
    gate = bad_print_gate(dirty)
    assert not gate.passed and gate.severity == "warn"
    assert gate.figures["bad_print_bars"] == 1 and gate.figures["bad_print_share"] == 0.1
    assert gate.figures["most_flagged"] == "ABCD (1)"
    assert gate.sample["raw_high"].to_list() == [12.5]
    assert bad_print_gate(dirty, max_share=0.1).passed


def test_a_single_print_bar_far_from_the_earlier_bars_is_put_back_at_their_vwap():
    # One print at x1.25: open = high = low = close = VWAP, so its own VWAP cannot vouch for it.
    bars = _bars([10.1] * 4).with_columns(transactions=pl.Series([50, 50, 1, 50]))
    one = {c: pl.when(pl.int_range(pl.len()) == 2).then(12.5).otherwise(pl.col(c)) for c in PRICES}
    out = clean_bars(bars.with_columns(**one, vwap=one["open"]))
    assert out["bad_print"].to_list() == [False, False, True, False]
    assert out.row(2, named=True) | {"ts": None} == out.row(2, named=True) | {
        "ts": None,
        "open": 10.0,
        "high": 10.0,
        "low": 10.0,
        "close": 10.0,
    }
    assert out["raw_high"][2] == 12.5
    # the same jump carried by many prints is a real move
    busy = bars.with_columns(**one, vwap=one["open"], transactions=pl.lit(40))
    assert not clean_bars(busy)["bad_print"].any()


def test_thin_bars_after_a_real_jump_trade_where_the_last_bar_closed_and_stand():
    """A halt, then a busy bar jumps 25% and closes up there (its VWAP lags at +12%): the thin
    bars after it trade at the new level, far from the earlier bars' VWAPs but at the last close.
    They stand (seen on the offline market: a halted runner's next minutes were put back to the
    old level and its exhaustion event was lost). A single print that far from the last close,
    after a calm bar, is still a bad print."""
    n = 8
    level = [10.0, 10.0, 10.0, 10.0, 12.5, 12.5, 12.5, 12.5]
    bars = pl.DataFrame(
        {
            "symbol": ["ABCD"] * n,
            "ts": [dt.datetime(2024, 3, 4, 14, 30 + i + (6 if i >= 4 else 0)) for i in range(n)],
            "open": [10.0, 10.0, 10.0, 10.0, 10.0, 12.5, 12.5, 12.5],
            "high": [10.05, 10.05, 10.05, 10.05, 12.8, 12.5, 12.5, 12.5],
            "low": [9.95, 9.95, 9.95, 9.95, 10.0, 12.45, 12.45, 12.45],
            "close": [10.0, 10.0, 10.0, 10.0, 12.5, 12.5, 12.45, 12.5],
            "vwap": [10.0, 10.0, 10.0, 10.0, 11.2, *level[5:]],
            "transactions": [50, 50, 50, 50, 160, 3, 3, 2],
        }
    )
    out = quarantine(bars)
    assert not out["bad_print"].any(), out.filter("bad_print")
    lone = bars.head(4).vstack(bars.head(4).with_columns(ts=pl.col("ts") + dt.timedelta(minutes=4)))
    one = pl.int_range(pl.len()) == 5  # a lone print at x1.25 after calm bars
    lone = lone.with_columns(
        **{c: pl.when(one).then(12.5).otherwise(pl.col(c)) for c in (*PRICES, "vwap")},
        transactions=pl.when(one).then(1).otherwise(50),
    )
    assert quarantine(lone)["bad_print"].to_list() == [False] * 5 + [True] + [False] * 2


def test_a_bar_without_a_vwap_is_not_judged():
    bars = _bars([10.1, 10.1, 12.5, 10.1]).with_columns(vwap=pl.Series([10.0, 10.0, None, 10.0]))
    assert not quarantine(bars)["bad_print"].any()


def test_the_daily_range_gate_names_daily_extremes_the_cleaned_minutes_cannot_explain():
    minutes = clean_bars(_bars([10.1, 10.1, 12.5, 10.1]))  # the 12.5 print is cleaned away
    daily = pl.DataFrame({"symbol": ["ABCD"], "high": [12.5], "low": [9.9]})
    gate = daily_range_gate(minutes, daily)
    assert not gate.passed and gate.severity == "warn"
    assert gate.figures == {"symbols": 1, "unexplained": 1, "unexplained_share": 1.0}
    assert gate.sample.row(0) == ("ABCD", 12.5, 10.1, 9.9, 9.9)
    assert daily_range_gate(minutes, daily.with_columns(high=pl.lit(10.5))).passed  # within 5%
    assert daily_range_gate(minutes, None).passed


def _noisy_day(n: int = 120, seed: int = 3) -> pl.DataFrame:
    """A random walk of minute bars with bad prints (x1.25 / x0.8 highs, lows, single prints)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vw = 10 * np.exp(np.cumsum(rng.normal(0, 0.004, n)))
    high, low = vw * 1.003, vw * 0.997
    tx = rng.integers(1, 40, n)
    spikes = rng.random(n) < 0.15
    high = np.where(spikes & (rng.random(n) < 0.5), vw * 1.25, high)
    low = np.where(spikes & (high < vw * 1.2), vw * 0.8, low)
    single = (tx == 1) & (rng.random(n) < 0.5)
    vw = np.where(single, vw * 1.25, vw)
    high, low = np.where(single, vw, high), np.where(single, vw, low)
    return pl.DataFrame(
        {
            "symbol": ["ABCD"] * n,
            "ts": [dt.datetime(2024, 3, 4, 13) + dt.timedelta(minutes=i) for i in range(n)],
            "open": vw,
            "high": high,
            "low": low,
            "close": vw,
            "vwap": vw,
            "transactions": tx,
        }
    )


def _leaky(bars: pl.DataFrame) -> pl.DataFrame:
    """A deliberately leaky variant: the reference also reads the next bar's VWAP."""
    nxt = bars.with_columns(vwap=pl.col("vwap").shift(-1).fill_null(pl.col("vwap")))
    out = clean_bars(nxt)
    return out.with_columns(vwap=bars["vwap"])


@pytest.mark.parametrize("fn", [clean_bars, _leaky], ids=["clean_bars", "leaky"])
def test_rewriting_later_bars_never_changes_an_earlier_bar(fn):
    bars = _noisy_day()
    full = fn(bars)
    assert full["bad_print"].sum() > 5
    leaks = 0
    for cut in range(10, bars.height, 7):
        later = pl.int_range(pl.len()) >= cut
        rewritten = bars.with_columns(
            **{c: pl.when(later).then(pl.col(c) * 3).otherwise(c) for c in PRICES},
            vwap=pl.when(later).then(pl.col("vwap") * 3).otherwise("vwap"),
        )
        leaks += not fn(rewritten).head(cut).equals(full.head(cut))
        # and a rewrite before the cut does change what the gate says at or after it
        earlier = bars.with_columns(
            vwap=pl.when(pl.int_range(pl.len()) < cut).then(pl.col("vwap") * 3).otherwise("vwap")
        )
        assert not fn(earlier).equals(full)
    assert (leaks == 0) == (fn is clean_bars)


def test_a_busy_bar_whose_vwap_close_and_low_all_fell_made_a_real_move():
    # 2,500 prints: low 2.97 and close 3.34 far below the earlier VWAPs (5.0), the VWAP followed.
    bars = _bars([5.05] * 4).with_columns(
        open=pl.lit(5.0), low=pl.lit(4.95), close=pl.lit(5.0), vwap=pl.lit(5.0), transactions=pl.lit(2500)
    )
    fall = pl.int_range(pl.len()) == 3
    moved = bars.with_columns(
        low=pl.when(fall).then(2.97).otherwise("low"),
        close=pl.when(fall).then(3.34).otherwise("close"),
        vwap=pl.when(fall).then(4.2).otherwise("vwap"),
    )
    assert not clean_bars(moved)["bad_print"].any()
    # the same low with the VWAP and the close unmoved is one wrong print
    lone = moved.with_columns(close=pl.lit(5.0), vwap=pl.lit(5.0))
    assert clean_bars(lone)["bad_print"].to_list() == [False, False, False, True]

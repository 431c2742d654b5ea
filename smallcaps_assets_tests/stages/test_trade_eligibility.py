"""Which prints update a bar's price and which its volume: hand-built trades with the condition
codes and corrections the vendor excludes, checked field by field (o, h, l, c, v, vw, n).

The simulator's ordinary prints are all eligible, so without these the filter behind flat-file
VWAP (``flatfiles_source.trade_vwap``) would never be exercised."""

from __future__ import annotations

import polars as pl
import pytest

from smallcaps_assets.stages import trade_rules as tr

T0 = 1_709_735_400_000_000_000  # 2024-03-06 09:30 ET: every print falls in one minute
MINUTE = pl.col("sip_timestamp") // 60_000_000_000

# (price, size, conditions, correction, what the rules make of it)
PRINTS = [
    (10.00, 100, [], 0),  # regular: everything
    (10.50, 50, [37], 0),  # odd lot: volume only
    (20.00, 1000, [15], 0),  # market center official close: nothing
    (9.00, 200, [], 1),  # corrected (correction != 0): nothing, whatever its conditions
    (10.20, 300, [14, 41], 0),  # intermarket sweep + trade-through exempt: everything
    (10.60, 400, [12], 0),  # Form T: volume; price too in minute bars only (extended hours)
    (10.30, 10, [38], 0),  # corrected consolidated close: price, not volume
]


def trades() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticker": ["ABCD"] * len(PRINTS),
            "sip_timestamp": [T0 + i * 1_000_000 for i in range(len(PRINTS))],
            "sequence_number": list(range(1, len(PRINTS) + 1)),
            "price": [p for p, *_ in PRINTS],
            "size": [float(s) for _, s, *_ in PRINTS],
            "conditions": [c for *_, c, _ in PRINTS],
            "correction": [k for *_, k in PRINTS],
        },
        schema_overrides={"conditions": pl.List(pl.Int32), "correction": pl.Int32},
    )


# Volume-eligible prints: 1, 2, 5, 6 -> v = 100 + 50 + 300 + 400, n = 4,
# vw = (100000*100 + 105000*50 + 102000*300 + 106000*400) / 850 ticks = 103823.53 -> 10.3824.
VOLUME = {"v": 850.0, "n": 4, "vw": 10.3824}
EXPECTED = {
    # minute bars ignore Form T's extended-hours flag: the 10.60 print sets the high
    False: {"o": 10.00, "h": 10.60, "l": 10.00, "c": 10.30, **VOLUME},
    # daily bars do not let Form T touch the price
    True: {"o": 10.00, "h": 10.30, "l": 10.00, "c": 10.30, **VOLUME},
}


@pytest.mark.parametrize("daily", [False, True], ids=["minute", "daily"])
def test_bar_counts_only_eligible_prints(daily):
    bar = tr.aggregate(trades(), MINUTE, daily=daily, by=["ticker"])
    assert bar.height == 1
    got = bar.select(*EXPECTED[daily]).row(0, named=True)
    assert got == EXPECTED[daily]


@pytest.mark.parametrize("daily", [False, True], ids=["minute", "daily"])
def test_flat_file_vwap_parts_use_the_same_volume_rules(daily):
    """The streamed path behind flat-file VWAP, batch by batch, agrees with the bar."""
    frame = trades()
    parts = [tr.vwap_parts(frame.slice(i, 2), MINUTE, daily=daily) for i in range(0, frame.height, 2)]
    vw = tr.vwap_from_parts(parts)
    assert vw.select("v", "vw").row(0, named=True) == {"v": VOLUME["v"], "vw": VOLUME["vw"]}


def test_per_print_flags():
    flags = tr.with_eligibility(trades(), daily=True).select("upd_oc", "upd_hl", "upd_vol").rows()
    assert flags == [
        (True, True, True),
        (False, False, True),
        (False, False, False),
        (False, False, False),
        (True, True, True),
        (False, False, True),
        (True, True, False),
    ]


def test_a_bucket_with_no_price_eligible_print_has_no_bar():
    only_volume = trades().filter(pl.col("conditions").list.contains(37))
    assert tr.aggregate(only_volume, MINUTE).is_empty()

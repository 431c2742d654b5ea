"""The vendor's stock condition codes and bar-eligibility rules.

Hand-transcribed from polygon_api.md §7.2-§7.3 (the official conditions fixture for ids 1-10, the
glossary transcriptions for the rest) because the live ``/v3/reference/conditions`` table cannot be
fetched from here. ``/v3/reference/conditions`` in the simulated API serves exactly this table, and
the bar builder in ``ticks.py`` reads its rules from it, so served rules and built bars cannot drift.
"""

from __future__ import annotations

from functools import cache

# Trade condition ids used by the generator.
FORM_T = 12
AVERAGE_PRICE = 2
INTERMARKET_SWEEP = 14
ODD_LOT = 37
EXTENDED_OUT_OF_SEQUENCE = 13
# Quote condition ids and indicators used by the generator.
Q_REGULAR_TWO_SIDED = 1
Q_LULD_PAUSE = 43
IND_NBBO_CROSSED = 84  # placeholder: the vendor's indicator codes are undocumented (polygon_api.md §10.7)

_T, _F = True, False
# id: (name, type, CTA, UTP, updates_high_low, updates_open_close, updates_volume)
TRADE_CONDITIONS: dict[int, tuple[str, str, str | None, str | None, bool, bool, bool]] = {
    0: ("Regular Sale", "sale_condition", "@", "@", _T, _T, _T),
    1: ("Acquisition", "sale_condition", None, "A", _T, _T, _T),
    2: ("Average Price Trade", "sale_condition", "B", "W", _F, _F, _T),
    3: ("Automatic Execution", "sale_condition", "E", None, _T, _T, _T),
    4: ("Bunched Trade", "sale_condition", None, "B", _T, _T, _T),
    5: ("Bunched Sold Trade", "sale_condition", None, "G", _T, _F, _T),
    6: ("CAP Election", "sale_condition", "I", None, _T, _T, _T),
    7: ("Cash Sale", "sale_condition", "C", "C", _F, _F, _T),
    8: ("Closing Prints", "sale_condition", None, "6", _T, _T, _T),
    9: ("Cross Trade", "sale_condition", "X", "X", _T, _T, _T),
    10: ("Derivatively Priced", "sale_condition", "4", "4", _T, _F, _T),
    11: ("Distribution", "sale_condition", "D", "D", _T, _T, _T),
    12: ("Form T", "sale_condition", "T", "T", _F, _F, _T),
    13: ("Extended Trading Hours (Sold Out of Sequence)", "sale_condition", "U", "U", _F, _F, _T),
    14: ("Intermarket Sweep", "sale_condition", "F", "F", _T, _T, _T),
    15: ("Market Center Official Close", "sale_condition", "M", "M", _F, _F, _F),
    16: ("Market Center Official Open", "sale_condition", "Q", "Q", _F, _F, _F),
    20: ("Next Day", "sale_condition", "N", "N", _F, _F, _T),
    21: ("Price Variation Trade", "sale_condition", "H", "H", _F, _F, _T),
    22: ("Prior Reference Price", "sale_condition", "P", "P", _T, _F, _T),
    23: ("Rule 155 Trade (AMEX)", "sale_condition", "K", None, _T, _T, _T),
    25: ("Opening Prints", "sale_condition", "O", "O", _T, _T, _T),
    27: ("Stopped Stock (Regular Trade)", "sale_condition", "1", "1", _T, _T, _T),
    28: ("Re-Opening Prints", "sale_condition", "5", "5", _T, _T, _T),
    29: ("Seller", "sale_condition", "R", "R", _T, _F, _T),
    30: ("Sold Last", "sale_condition", "L", "L", _T, _T, _T),
    33: ("Sold (Out of Sequence)", "sale_condition", "Z", "Z", _T, _F, _T),
    34: ("Split Trade", "sale_condition", "S", "S", _T, _T, _T),
    36: ("Yellow Flag Regular Trade", "sale_condition", "Y", "Y", _T, _T, _T),
    37: ("Odd Lot Trade", "sale_condition", "I", "I", _F, _F, _T),
    38: ("Corrected Consolidated Close (per listing market)", "sale_condition", "9", "9", _T, _T, _F),
    41: ("Trade Thru Exempt", "trade_thru_exempt", "1", "X", _T, _T, _T),
    52: ("Contingent Trade", "sale_condition", "V", "V", _F, _F, _T),
    53: ("Qualified Contingent Trade", "sale_condition", "7", "7", _F, _F, _T),
}
# Conditions whose extended-hours nature the vendor ignores when building intraday bars (§7.1).
EXTENDED_HOURS = frozenset({FORM_T, EXTENDED_OUT_OF_SEQUENCE})

QUOTE_CONDITIONS: dict[int, tuple[str, str]] = {
    0: ("Regular", "quote_condition"),
    1: ("Regular Two-Sided Open", "quote_condition"),
    2: ("Regular One-Sided Open", "quote_condition"),
    13: ("Opening", "quote_condition"),
    14: ("Closing", "quote_condition"),
    15: ("Closed", "quote_condition"),
    16: ("Resume", "quote_condition"),
    21: ("News Dissemination", "quote_condition"),
    27: ("News Pending", "quote_condition"),
    35: ("LULD Price Band", "quote_condition"),
    36: ("Market Wide Circuit Breaker Level 1", "quote_condition"),
    37: ("Market Wide Circuit Breaker Level 2", "quote_condition"),
    38: ("Market Wide Circuit Breaker Level 3", "quote_condition"),
    41: ("Cash Only Settlement", "settlement_condition"),
    43: ("LULD Trading Pause", "quote_condition"),
}


@cache
def ineligible_sets(daily: bool) -> tuple[frozenset[int], frozenset[int], frozenset[int]]:
    """Condition ids that forbid updating (high/low, open/close, volume).

    Unknown ids are treated as eligible: new codes appear over time, and a real regular print
    usually carries none at all.
    """
    hl, oc, vol = set(), set(), set()
    for cid, (_, _, _, _, upd_hl, upd_oc, upd_vol) in TRADE_CONDITIONS.items():
        if not daily and cid in EXTENDED_HOURS:
            continue
        if not upd_hl:
            hl.add(cid)
        if not upd_oc:
            oc.add(cid)
        if not upd_vol:
            vol.add(cid)
    return frozenset(hl), frozenset(oc), frozenset(vol)


def reference_rows() -> list[dict]:
    """Rows in the shape of ``/v3/reference/conditions`` (stocks)."""
    rows: list[dict] = []
    for cid, (name, ctype, cta, utp, hl, oc, vol) in TRADE_CONDITIONS.items():
        sip = {k: v for k, v in (("CTA", cta), ("UTP", utp)) if v is not None}
        rule = {"updates_high_low": hl, "updates_open_close": oc, "updates_volume": vol}
        rows.append(
            {
                "id": cid,
                "type": ctype,
                "name": name,
                "asset_class": "stocks",
                "sip_mapping": sip,
                "update_rules": {"consolidated": dict(rule), "market_center": dict(rule)},
                "data_types": ["trade"],
            }
        )
    for cid, (name, ctype) in QUOTE_CONDITIONS.items():
        rows.append(
            {
                "id": cid,
                "type": ctype,
                "name": name,
                "asset_class": "stocks",
                "sip_mapping": {"CTA": str(cid), "UTP": str(cid)},
                "data_types": ["bbo", "nbbo"],
            }
        )
    return rows

"""The condition codes the generator uses, the quote-condition table, and the rows of
``/v3/reference/conditions``.

The *trade* condition table and its bar-eligibility rules are vendor reference data that the
platform needs without the simulator (rebuilding VWAP from flat-file trades), so they live in
``smallcaps_assets.stages.trade_rules`` (transcribed from the vendor's conditions reference; docs/market_rules.md) and are
re-exported here. ``/v3/reference/conditions`` serves exactly that table and the bar builder reads
its rules from it, so served rules, simulated bars and the platform's re-derived bars cannot drift.
"""

from __future__ import annotations

from ..stages.trade_rules import (
    EXTENDED_HOURS,
    EXTENDED_OUT_OF_SEQUENCE,
    FORM_T,
    TRADE_CONDITIONS,
    ineligible_sets,
)

__all__ = [
    "AVERAGE_PRICE",
    "EXTENDED_HOURS",
    "EXTENDED_OUT_OF_SEQUENCE",
    "FORM_T",
    "INTERMARKET_SWEEP",
    "ODD_LOT",
    "OFFICIAL_CLOSE",
    "OFFICIAL_OPEN",
    "OUT_OF_NBBO",
    "QUOTE_CONDITIONS",
    "Q_CROSSED",
    "Q_LOCKED",
    "Q_LULD_PAUSE",
    "Q_REGULAR_TWO_SIDED",
    "TRADE_CONDITIONS",
    "ineligible_sets",
    "reference_rows",
]

# Trade condition ids used by the generator (FORM_T and EXTENDED_OUT_OF_SEQUENCE: see above).
AVERAGE_PRICE = 2
INTERMARKET_SWEEP = 14
OFFICIAL_CLOSE = 15  # Market Center Official Close: in no bar (volume, OHLC)
OFFICIAL_OPEN = 16  # Market Center Official Open: in no bar
ODD_LOT = 37
# Sale conditions whose price may lie outside the NBBO standing at the print: reported late, priced
# by formula or by another reference (average price, cash/next-day settlement, price variation,
# derivatively priced, prior reference, out of sequence, contingent, official open/close).
OUT_OF_NBBO = frozenset({2, 7, 10, 13, 15, 16, 20, 21, 22, 33, 52, 53})
# Quote condition ids used by the generator (the vendor's ids, served by /v3/reference/conditions).
Q_REGULAR_TWO_SIDED = 1
Q_LULD_PAUSE = 43
Q_CROSSED = 84  # Crossed Market (bid > ask)
Q_LOCKED = 85  # Locked Market (bid == ask)


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
    84: ("Crossed Market", "quote_condition"),
    85: ("Locked Market", "quote_condition"),
}


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

"""docs/market_rules.md states the rules the code applies: its condition table is the code's table,
and its LULD bands are what both band functions (the detector's and the offline market's) return."""

from __future__ import annotations

import pytest

from smallcaps_assets.sim.prices import luld_band as sim_band
from smallcaps_assets.stages.events.detectors.halts import luld_band
from smallcaps_assets.stages.trade_rules import TRADE_CONDITIONS

from .snippets import REPO

DOC = (REPO / "docs" / "market_rules.md").read_text()


def _table(after: str) -> list[list[str]]:
    lines = DOC[DOC.index(after) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|---"))
    rows = []
    for line in lines[start + 1 :]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_the_condition_table_is_the_codes():
    yes = {"yes": True, "no": False}
    doc = {
        int(r[0]): (
            r[1],
            None if r[2] == "–" else r[2],
            None if r[3] == "–" else r[3],
            *(yes[x] for x in r[4:7]),
        )
        for r in _table("| Id | Condition |")
    }
    code = {k: (n, cta, utp, hl, oc, vol) for k, (n, _, cta, utp, hl, oc, vol) in TRADE_CONDITIONS.items()}
    assert doc == code


@pytest.mark.parametrize(("row", "prior_close"), [(0, 5.0), (1, 2.0)])
@pytest.mark.parametrize("tier", [1, 2])
def test_the_luld_bands_are_the_codes(row, prior_close, tier):
    quoted = float(_table("| Previous close | Tier 1 | Tier 2 |")[row][tier].rstrip("%")) / 100
    assert luld_band(prior_close, 60, tier=tier) == pytest.approx(quoted)
    assert sim_band(prior_close, prior_close, tier, 60, 390) == pytest.approx(quoted)
    # doubled 09:30-09:45; in the last 25 minutes for Tier 1, and Tier 2 at or under $3
    assert luld_band(prior_close, 5, tier=tier) == pytest.approx(2 * quoted)
    late_doubled = tier == 1 or prior_close <= 3.0
    assert luld_band(prior_close, 380, tier=tier) == pytest.approx(quoted * (2 if late_doubled else 1))


def test_the_lowest_band_is_the_lesser_of_15_cents_or_75_percent():
    assert luld_band(0.50, 60) == pytest.approx(0.15 / 0.50)
    assert luld_band(0.10, 60) == pytest.approx(0.75)

"""Every default the docs quote matches the code (issue 19).

Two kinds of check: the docs' knob tables (one row per field: name, default, ...) compared field by
field with the pydantic model they document, every field included; and single figures in prose, one
row each of (doc, regex, the code's value)."""

from __future__ import annotations

import ast
import inspect
import re

import pytest

from smallcaps_assets.polygon.core import ClientCore
from smallcaps_assets.sim import config as simcfg
from smallcaps_assets.sim import flatfiles
from smallcaps_assets.sim.api import app as sim_app
from smallcaps_assets.sim.cli import serve
from smallcaps_assets.stages import labels, manifest_quality, universe, windows_quality
from smallcaps_assets.stages import manifest as mf

from .snippets import REPO


def _fields(model) -> dict:
    return {name: f.default for name, f in model.model_fields.items()}


# (doc, the heading the table follows (None: the document's first table), model, fields the table
# may leave out because another section documents them)
KNOB_TABLES = [
    ("docs/simulated_market.md", "### `SimConfig`", simcfg.SimConfig, {"end"}),
    ("docs/simulated_market.md", "### `EdgeConfig`", simcfg.EdgeConfig, set()),
    ("docs/simulated_market.md", "### `DataFaults`", simcfg.DataFaults, set()),
    ("docs/simulated_market.md", "### `ApiFaults` (REST only)", simcfg.ApiFaults, set()),
    ("docs/labels.md", None, labels.LabelParams, set()),
]


def knob_rows(text: str, heading: str | None) -> dict[str, str]:
    """{field: default cell} of the first table after ``heading``; a row may name several fields
    (`` `a`, `b` ``) with as many values (``1, 1``)."""
    if heading is not None:
        text = text[text.index(heading + "\n") :]
    rows = re.search(r"(?m)^\|.*\|\n\|[-| ]+\|\n((?:\|.*\|\n?)+)", text).group(1)
    out = {}
    for row in rows.strip().splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        names = re.findall(r"`(\w+)`", cells[0])
        values = [cells[1]] if len(names) == 1 else re.split(r",\s+", cells[1])
        out.update(zip(names, values, strict=True))
    return out


def parse_value(text: str):
    """A doc's cell as a Python value: 3,000 -> 3000, 1% -> 0.01, $20 -> 20.0, "x" -> 'x', None."""
    t = text.strip().strip("`").replace("$", "")
    if re.fullmatch(r"-?[\d,]+(\.\d+)?%", t):
        return float(t[:-1].replace(",", "")) / 100
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?|-?\d+(\.\d+)?", t):
        return float(t.replace(",", ""))
    if re.fullmatch(r"[\d, ]+", t):  # a list of numbers: 1, 5, 15, 30, 60
        return tuple(int(x) for x in t.split(","))
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError):
        return t  # prose (e.g. "last completed NYSE session"): compared as text, or left out


def _same(doc_value, code_value) -> bool:
    if isinstance(code_value, bool) or code_value is None or isinstance(code_value, str):
        return doc_value == code_value
    if isinstance(code_value, int | float):
        return isinstance(doc_value, int | float) and abs(doc_value - code_value) <= 1e-12 * max(
            1, abs(code_value)
        )
    if isinstance(code_value, tuple | list):
        return tuple(doc_value) == tuple(code_value) if isinstance(doc_value, tuple | list) else False
    return str(doc_value) == str(code_value)


@pytest.mark.parametrize(
    ("doc", "heading", "model", "elsewhere"),
    KNOB_TABLES,
    ids=[f"{d}:{m.__name__}" for d, _, m, _ in KNOB_TABLES],
)
def test_knob_tables_match_the_models(doc, heading, model, elsewhere):
    rows = knob_rows((REPO / doc).read_text(), heading)
    fields = _fields(model)
    assert set(fields) - set(rows) - elsewhere == set(), "fields the table leaves out"
    assert set(rows) - set(fields) == set(), "rows naming no field"
    wrong = {}
    for name, cell in rows.items():
        code = fields[name]
        if isinstance(code, simcfg.BaseModel) or name in elsewhere:
            continue  # nested models have their own table
        value = parse_value(cell)
        if not _same(value, code):
            wrong[name] = (cell, code)
    assert wrong == {}, "doc cell vs code default"


def _option_default(command, name):
    return inspect.signature(command).parameters[name].default


_M = mf.ManifestRules()
_U = universe.UniverseRules()
# (doc, regex whose groups are the quoted figure(s), the code's value(s))
FIGURES = [
    ("docs/vendor_api.md", r"gzip-compressed \(level (\d+)", sim_app.GZIP_LEVEL),
    ("docs/simulated_market.md", r"The gzip level is (\d+) by default", flatfiles.COMPRESS_LEVEL),
    ("docs/vendor_api.md", r"\[--rate-burst (\d+)\]", _option_default(serve, "rate_burst")),
    ("README.md", r"keeps the default\s+burst of (\d+)", _option_default(serve, "rate_burst")),
    ("README.md", r"a client sending bursts of (\d+)", _option_default(ClientCore.__init__, "burst")),
    ("docs/operations.md", r"a burst of up to (\d+) requests", _option_default(ClientCore.__init__, "burst")),
    ("docs/manifest.md", r"its default burst is (\d+)", _option_default(serve, "rate_burst")),
    ("docs/manifest.md", r"sends bursts of up to (\d+)\s+requests", _option_default(ClientCore.__init__, "burst")),
    ("docs/operations.md", r"`PolygonResource.rate_limit_per_s`,\s+default (\d+)/s", 50),
    ("docs/operations.md", r"`max_concurrency`, default (\d+)\)", 16),
    ("docs/manifest.md", r"\| ([\d.]+) \| `min_score` \|", _M.min_score),
    ("docs/manifest.md", r"\| \$([\d,]+) and ([\d,]+) shares \| `min_bar_dollar_volume`", (_M.min_bar_dollar_volume, _M.min_bar_shares)),
    ("docs/manifest.md", r"\| ([\d.]+)% over (\d+) bar pairs \| `max_spread_pct`, `spread_bars`", (_M.max_spread_pct, _M.spread_bars)),
    ("docs/manifest.md", r"`max_crossed_share`\s*\(`WindowsConfig`, ([\d.]+)\)", windows_quality.MAX_CROSSED_SHARE),
    ("docs/manifest.md", r"\[`min_rth_share`, `max_rth_share`\] = \[([\d.]+), ([\d.]+)\]", (manifest_quality.DEFAULTS.min_rth_share, manifest_quality.DEFAULTS.max_rth_share)),
    ("docs/manifest.md", r"`max_type_share` = ([\d.]+)", manifest_quality.DEFAULTS.max_type_share),
    ("docs/universe.md", r"\$([\d.]+) ≤ close ≤ \$(\d+)", (_U.min_price, _U.max_price)),
    ("docs/universe.md", r"prior close \*\*< \$(\d+)B\*\*", _U.max_market_cap / 1e9),
    ("docs/universe.md", r"float < (\d+)M shares", _U.max_float / 1e6),
    ("docs/universe.md", r"≥ (\d+) sessions in the lookback", _U.min_adv_sessions),
    ("docs/universe.md", r"over ≤ (\d+) prior sessions ≥ \$(\d+)M", (_U.adv_sessions, _U.min_adv_dollar / 1e6)),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "pattern", "code"), FIGURES, ids=lambda x: str(x)[:40])
def test_each_quoted_default_matches_the_code(doc, pattern, code):
    found = re.search(pattern, (REPO / doc).read_text())
    assert found, f"{doc} no longer quotes /{pattern}/: update the row with the doc"
    quoted = tuple(parse_value(g) for g in found.groups())
    expected = code if isinstance(code, tuple) else (code,)
    assert all(_same(q, c) for q, c in zip(quoted, expected, strict=True)), (quoted, expected)


def test_a_wrong_default_is_caught():
    text = "### `DataFaults`\n\n| Knob | Default |\n|---|---|\n| `bad_tick_rate` | 0.10 |\n"
    rows = knob_rows(text, "### `DataFaults`")
    assert not _same(parse_value(rows["bad_tick_rate"]), simcfg.DataFaults().bad_tick_rate)
    assert parse_value("3,000") == 3000 and parse_value("1%") == 0.01 and parse_value("$0.50") == 0.5

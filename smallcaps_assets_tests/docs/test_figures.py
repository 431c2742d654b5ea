"""Every measured figure in README.md and docs/*.md names the command that printed it, on a pinned
market, and a measured timing names its machine (issue 19).

What counts as a figure here: a paragraph, list item or table that says it was *measured*
("Measured on ...", "Measured:", a "Measured" column, "measured RVOL ..."). Its source must be in
the same section (the text between two headings), or declared once for the whole page ("A number
labelled *measured* is printed by `smallcaps ...`"):

- a ``smallcaps`` command, in inline code or a code block, whose market cannot move with the
  calendar: either it takes dates (``--market-end``, ``--end``, ``--start``, ``--months``) or it
  builds a fixed market itself (the benchmarks other than ``bench sim``, ``sim facts``, ``demo``);
- or a ``pytest`` command, or the name of the test that prints the figure (``test_...``).

A section with a measured figure in seconds, milliseconds or a rate per second must also say on
which machine ("2-core", "two cores"), since timings are the machine's, not the code's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from .snippets import DOCS, REPO

_md = MarkdownIt("commonmark").enable("table")

# "measured" as a figure's label, not as a verb of method ("the width is measured from bars").
MARKER = re.compile(
    r"\bMeasured\b(?! columns)(?! figures are in)|\bmeasured (?:count|quartiles|RVOL|Bayes|on|with|by|in one)\b"
    r"|\(measured\)|\bmeasured:|\bmeasured \d"
)
# The section's own word for "this command printed the figures".
COMMAND = re.compile(r"\bsmallcaps (?:[a-z-]+ ?)+")
# Commands whose market ends on the last completed session unless told otherwise.
MOVING = ("smallcaps sim info", "smallcaps sim census", "smallcaps sim serve", "smallcaps bench sim")
PINS = re.compile(r"--market-end|--end\b|--start\b|--months\b")
TEST_SOURCE = re.compile(r"\bpytest\b|\btest_[a-z0-9_]+")
TIMING = re.compile(r"\d[\d,.]*\s?(?:s|ms|µs|min)\b|\d[\d,.]*\s?(?:M )?(?:rows|events|windows)/s\b")
MACHINE = re.compile(r"2-core|two-core|2 cores|two cores", re.I)
PAGE_SOURCE = re.compile(r"labelled\s+\*measured\*\s+is\s+printed\s+by", re.I)


@dataclass
class Section:
    doc: str
    heading: str
    line: int
    code: list[str] = field(default_factory=list)  # inline code and code blocks
    text: list[str] = field(default_factory=list)
    figures: list[tuple[int, str]] = field(default_factory=list)


def sections(path: Path) -> tuple[list[Section], list[str]]:
    """The page's sections with their figure blocks, and the page-wide source declarations."""
    tokens = _md.parse(path.read_text())
    name = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
    out = [Section(name, "(top)", 1)]
    page: list[str] = []
    block_start = 0
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            out.append(Section(name, tokens[i + 1].content, tok.map[0] + 1))
        elif tok.type in ("paragraph_open", "table_open", "bullet_list_open", "ordered_list_open"):
            block_start = tok.map[0] + 1 if tok.map else block_start
        elif tok.type == "fence":
            out[-1].code.append(tok.content)
        elif tok.type == "inline":
            sec = out[-1]
            sec.text.append(tok.content)
            sec.code += [c.content for c in tok.children or [] if c.type == "code_inline"]
            if PAGE_SOURCE.search(tok.content):
                page += [c.content for c in tok.children or [] if c.type == "code_inline"]
            if MARKER.search(tok.content) and tok.map is not None:
                sec.figures.append((tok.map[0] + 1, tok.content))
            elif MARKER.search(tok.content):  # a table cell: the table's first line stands for it
                sec.figures.append((block_start, tok.content))
    return out, page


def pinned(command: str) -> bool:
    head = COMMAND.search(command)
    if head is None:
        return False
    return PINS.search(command) is not None or not head.group(0).strip().startswith(MOVING)


def problems(path: Path) -> list[str]:
    found, page = sections(path)
    page_ok = any(pinned(c) for c in page)
    out = []
    for sec in found:
        if not sec.figures:
            continue
        where = f"{sec.doc}:{sec.figures[0][0]} (section {sec.heading!r})"
        sourced = page_ok or any(pinned(c) or TEST_SOURCE.search(c) for c in sec.code)
        if not sourced:
            out.append(f"{where}: a measured figure without the command that printed it on a pinned market")
        figure_text = " ".join(t for _, t in sec.figures)
        if TIMING.search(figure_text) and not MACHINE.search(" ".join(sec.text)):
            out.append(f"{where}: a measured timing without its machine")
    return out


IDS = [str(p.relative_to(REPO)) for p in DOCS]


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_measured_figure_names_its_command_on_a_pinned_market(doc):
    assert problems(doc) == []


def test_the_docs_have_measured_figures_to_check():
    figures = sum(len(s.figures) for doc in DOCS for s in sections(doc)[0])
    assert figures > 30


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("# P\n\n## Cost\n\nMeasured: 4,384 catalyst days.\n", "without the command"),
        (
            "# P\n\n## Cost\n\n`smallcaps sim census` prints it. Measured: 4,384 catalyst days.\n",
            "without the command",  # the default market's end moves: not pinned
        ),
        (
            "# P\n\n## Speed\n\nMeasured with `smallcaps bench detect --json`: 7.06 M rows/s.\n",
            "without its machine",
        ),
        (
            "# P\n\n## Speed\n\n| Case | Measured |\n|---|---|\n| bars | 12 ms |\n",
            "without the command",
        ),
    ],
)
def test_an_unsourced_figure_fails(tmp_path, text, problem):
    doc = tmp_path / "page.md"
    doc.write_text(text)
    found = problems(doc)
    assert len(found) == 1 and problem in found[0], found


@pytest.mark.parametrize(
    "text",
    [
        "# P\n\n## Cost\n\n`smallcaps sim census --market-end 2026-11-20` prints it.\n\nMeasured: 3,881 days.\n",
        "# P\n\n## Speed\n\nMeasured with `smallcaps bench detect --json` on a 2-core VM: 7.06 M rows/s.\n",
        "# P\n\nA number labelled *measured* is printed by `smallcaps sim census --market-end 2026-11-20`.\n\n"
        "## Mix\n\nMeasured: 149 splits.\n",
        "# P\n\n## Windows\n\nThe slow test `test_quoted_spread_ranks_the_demo_windows` prints: measured on 583.\n",
        "# P\n\n## Width\n\nThe band's width is measured from bars that had closed.\n",
    ],
)
def test_a_sourced_figure_or_a_method_passes(tmp_path, text):
    doc = tmp_path / "page.md"
    doc.write_text(text)
    assert problems(doc) == []

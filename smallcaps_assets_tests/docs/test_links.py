"""Every link of README.md and docs/*.md resolves inside the repository, anchors included, and no
doc points at a file outside it (issue 19). Links and headings come from markdown-it (CommonMark),
so links inside code are not links; anchors follow GitHub's heading slugs."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from markdown_it import MarkdownIt

from .snippets import DOCS, REPO

IDS = [str(p.relative_to(REPO)) for p in DOCS]
_md = MarkdownIt("commonmark").enable("table")
# Files that were never part of the project (material its authors read): a doc or a code comment
# must say the facts in its own words, with public sources, and never send a reader to them.
OUTSIDE = re.compile(
    r"\.\./shared|/work/|market_structure\.md|polygon_api\.md|dagster_notes\.md|research_stack\.md"
    r"|\bdesign\.md"
)
# Everything a reader of the code opens: the package, its tests, the build and deployment files.
CODE = sorted(
    p
    for p in REPO.rglob("*")
    if p.is_file()
    and p.suffix in (".py", ".yaml", ".yml", ".toml", ".cfg", ".sh", ".sql", ".md")
    and not {".venv", ".git", "data", "node_modules", "__pycache__"} & set(p.relative_to(REPO).parts)
    and p.parent != REPO / "docs"
    and p != REPO / "README.md"
    and p != Path(__file__).resolve()  # this checker has to spell the names it looks for
)


def _tokens(path: Path):
    return _md.parse(path.read_text())


def slug(text: str) -> str:
    """GitHub's heading anchor: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    tokens = _tokens(path)
    seen: dict[str, int] = {}
    out = set()
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open":
            continue
        text = "".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline"))
        base = slug(text)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return frozenset(out)


def links(path: Path) -> list[str]:
    out = []
    for tok in _tokens(path):
        for child in tok.children or []:
            if child.type == "link_open":
                out.append(child.attrs["href"])
            elif child.type == "image":
                out.append(child.attrs["src"])
    return out


def broken_links(path: Path, repo: Path = REPO) -> list[str]:
    bad = []
    for href in links(path):
        parts = urlsplit(href)
        if parts.scheme in ("http", "https", "mailto"):
            continue
        if parts.scheme:
            bad.append(f"{href}: not a relative link")
            continue
        target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
        if not target.is_relative_to(repo.resolve()):
            bad.append(f"{href}: outside the repository")
        elif not target.exists():
            bad.append(f"{href}: no such file")
        elif parts.fragment and target.suffix == ".md" and parts.fragment not in anchors(target):
            bad.append(f"{href}: no heading #{parts.fragment} in {target.name}")
    return bad


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_every_link_resolves_inside_the_repository(doc):
    assert broken_links(doc) == []


@pytest.mark.parametrize("doc", DOCS, ids=IDS)
def test_no_doc_refers_to_a_file_outside_the_repository(doc):
    hits = [
        f"{n}: {line.strip()[:100]}"
        for n, line in enumerate(doc.read_text().splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert hits == []


def test_the_checker_catches_a_missing_file_a_missing_anchor_and_an_escape(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "events.md").write_text("# Events\n\n## The score\n")
    doc = tmp_path / "docs" / "probe.md"
    doc.write_text(
        "# Probe\n\n[a](no_such.md) [b](events.md#no-such-heading) [c](../../outside.md) "
        "[d](events.md#the-score) [e](#probe) `[f](inside_code.md)` [g](https://example.org/x)\n"
    )
    assert broken_links(doc, tmp_path) == [
        "no_such.md: no such file",
        "events.md#no-such-heading: no heading #no-such-heading in events.md",
        "../../outside.md: outside the repository",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Event windows: resuming and repairing", "event-windows-resuming-and-repairing"),
        ("Throughput (`smallcaps bench windows --json`)", "throughput-smallcaps-bench-windows---json"),
        ("6. Fault injection", "6-fault-injection"),
    ],
)
def test_slugs_follow_github(heading, anchor):
    assert slug(heading) == anchor


def outside_refs(path: Path, root: Path = REPO) -> list[str]:
    """Lines of one file that name a file outside the repository, as ``path:line: text``."""
    return [
        f"{path.relative_to(root)}:{n}: {line.strip()[:100]}"
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]


def test_no_code_comment_refers_to_a_file_outside_the_repository():
    """Docstrings and comments (and any other line) of the code, the tests and the deployment files
    state the fact or point at our docs, never at notes that are not in the repository."""
    assert len(CODE) > 100  # the walk found the package, not an empty folder
    assert [hit for path in CODE for hit in outside_refs(path)] == []


@pytest.mark.parametrize(
    "line",
    [
        "    # The vendor's table has duplicates (polygon_api.md §4.6).",
        '    """LULD band (market_structure.md §7.2)."""',
        "# see ../shared/notes.txt",
        '"""The three modes of design.md §3."""',
    ],
)
def test_the_code_scan_catches_an_outside_reference(tmp_path, line):
    probe = tmp_path / "probe.py"
    probe.write_text(f"x = 1\n{line}\n# the LULD band (docs/market_rules.md)\n")
    assert outside_refs(probe, tmp_path) == [f"probe.py:2: {line.strip()}"]

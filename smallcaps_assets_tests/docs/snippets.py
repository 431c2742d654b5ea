"""Running the documentation's snippets with Sybil (https://sybil.readthedocs.io).

Every fenced block of README.md and docs/*.md is an example: ``python`` blocks are executed,
``bash`` blocks line by line through the ``smallcaps`` command (in process), ``sql`` blocks on the
demo lake through the same read-only views as ``smallcaps sql``. ``text`` and ``mermaid`` blocks
are output, synopses or diagrams and are not run.

Expected outcome: a shell line exits 0 unless its comment says ``# exits N``; a SQL statement
runs without error; a Python block runs without an exception (its own ``assert`` lines state the
figures it promises). A block that cannot run in CI is preceded by Sybil's skip directive with
the reason: ``<!-- skip: next "needs POLYGON_API_KEY" -->``.

Two tiers keep the default suite fast: ``FAST`` examples run in the default suite; ``SLOW`` ones
(anything reading the demo lake, benchmarks, the calibration) run in the slow docs test, which
CI runs as its own step. A Python block reading the lake says so with ``<!-- docs: lake -->``; one
that only takes long (a whole-market census) with ``<!-- docs: slow -->``.
"""

from __future__ import annotations

import re
import shlex
import unittest
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sybil import Document, Example, Region
from sybil.evaluators.python import PythonEvaluator
from sybil.example import NotEvaluated, SybilFailure
from sybil.parsers.markdown import CodeBlockParser, SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer, FencedCodeBlockLexer

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

FAST, SLOW = "fast", "slow"
RUN_LANGUAGES = ("python", "bash", "sql")
SHOWN_LANGUAGES = ("text", "mermaid")  # output, synopses, diagrams: read, never run

# Which shell commands run where (first matching prefix wins). Reading or writing the demo lake,
# or taking minutes (benchmarks, the calibration), puts a command in the slow tier.
COMMANDS: list[tuple[tuple[str, ...], str]] = [
    (("smallcaps", "sql"), SLOW),
    (("smallcaps", "materialize"), SLOW),
    (("smallcaps", "windows", "path"), FAST),  # prints where the ledger would be
    (("smallcaps", "windows"), SLOW),
    (("smallcaps", "storage"), SLOW),  # measures the demo lake
    (("smallcaps", "demo"), SLOW),
    (("smallcaps", "bench"), SLOW),
    (("smallcaps", "events", "calibrate"), SLOW),
    (("smallcaps", "sim", "flatfiles"), SLOW),  # the default market: over 10 s a day
    (("smallcaps", "sim", "census"), SLOW),  # whole-market scans of the default market
    (("smallcaps",), FAST),
]
EXITS = re.compile(r"#\s*exits\s+(\d+)")


@dataclass
class Run:
    """What one pass over a document did, example by example."""

    tier: str
    env: dict[str, str]
    ran: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    next_tier: str | None = None


def _where(example: Example) -> str:
    path = Path(example.path)
    return f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path.name}:{example.line}"


def _run_of(example: Example) -> Run:
    return example.namespace["__docs_run__"]


def _gate(example: Example, tier: str, what: str) -> bool:
    """True if the example belongs to this pass; else record it as left to the other pass."""
    run = _run_of(example)
    tier = run.next_tier or tier
    run.next_tier = None
    if tier != run.tier:
        run.deferred.append(f"{_where(example)} {what}")
        return False
    run.ran.append(f"{_where(example)} {what}")
    return True


def logical_lines(source: str) -> list[tuple[list[str], int, str]]:
    """(argv, expected exit code, text) per command: ``\\`` continuations joined, the comment
    split off (a ``#`` outside quotes, after a space), ``# exits N`` read from it."""
    out, pending = [], ""
    for raw in source.splitlines():
        line = pending + raw
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1] + " "
            continue
        code, comment = _split_comment(line)
        if comment is None:  # a quoted argument goes on over the next line
            pending = line + "\n"
            continue
        pending = ""
        if not code.strip():
            continue
        exits = EXITS.search(comment or "")
        out.append((shlex.split(code), int(exits.group(1)) if exits else 0, code.strip()))
    if pending.strip():
        raise ValueError(f"a shell line never ends (a quote or a trailing backslash): {pending.strip()!r}")
    return out


def _split_comment(line: str) -> tuple[str, str | None]:
    """(code, comment); the comment is None while a quote is still open at the end of the line."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i], line[i:]
    return line, None if quote else ""


def tier_of(argv: list[str]) -> str | None:
    for prefix, tier in COMMANDS:
        if tuple(argv[: len(prefix)]) == prefix:
            return tier
    return None


def shell_evaluator(example: Example) -> str | None:
    from typer.testing import CliRunner

    from smallcaps_assets.cli import app

    run = _run_of(example)
    for argv, expected, text in logical_lines(example.parsed):
        tier = tier_of(argv)
        if tier is None:
            return f'{_where(example)}: no runner for `{text}`: put <!-- skip: next "why" --> above the block'
        # Bad input is refused before anything is read or written, so it never needs the lake.
        if not _gate(example, FAST if expected == 2 else tier, text):
            continue
        print(f"$ {text}", flush=True)  # shown with -s, and in a failure's captured output
        result = CliRunner().invoke(app, argv[1:], env=run.env, terminal_width=200)
        if result.exit_code != expected:
            tail = "\n".join(result.output.splitlines()[-15:])
            return f"{_where(example)}: `{text}` exited {result.exit_code}, the doc says {expected}:\n{tail}"
    return None


def sql_evaluator(example: Example) -> str | None:
    from smallcaps_assets import lake_sql

    if not _gate(example, SLOW, "sql"):
        return None
    statements = [s for s in re.split(r";\s*(?:\n|$)", example.parsed) if _sql_body(s)]
    with lake_sql.reader() as con:
        for statement in statements:
            try:
                con.sql(statement).fetchall()
            except Exception as exc:  # duckdb's several error classes
                return f"{_where(example)}: {str(exc).splitlines()[0]}\n{statement.strip()}"
    return None


def _sql_body(statement: str) -> str:
    return "\n".join(x for x in statement.splitlines() if not x.strip().startswith("--")).strip()


_python = PythonEvaluator()


def python_evaluator(example: Example) -> str | None:
    if not _gate(example, FAST, "python"):
        return None
    return _python(example)


class TierParser:
    """``<!-- docs: lake -->`` (the next example reads the demo lake) or ``<!-- docs: slow -->`` (it
    takes long): either puts the next example in the slow tier."""

    def __init__(self) -> None:
        self.lexer = DirectiveInHTMLCommentLexer(directive="docs", arguments=r"lake|slow")

    def __call__(self, document: Document):
        for lexed in self.lexer(document):
            yield Region(lexed.start, lexed.end, SLOW, self._evaluate)

    @staticmethod
    def _evaluate(example: Example) -> None:
        _run_of(example).next_tier = example.parsed


def parsers() -> list[Callable]:
    return [
        SkipParser(),
        TierParser(),
        CodeBlockParser(language="python", evaluator=python_evaluator),
        CodeBlockParser(language="bash", evaluator=shell_evaluator),
        CodeBlockParser(language="sql", evaluator=sql_evaluator),
    ]


def run_document(path: Path, tier: str, env: dict[str, str]) -> Run:
    """Evaluate every example of ``path`` in order; raise AssertionError naming each failure."""
    document = Document.parse(str(path), *parsers())
    run = Run(tier=tier, env=env)
    document.namespace["__docs_run__"] = run
    # A block in a language nothing runs (or none) would pass silently: refuse it.
    known = (*RUN_LANGUAGES, *SHOWN_LANGUAGES)
    failures = [
        f"{path.name}:{line}: a fenced block needs one of {known}, not {lang!r}"
        for line, lang in fences(path)
        if lang not in known
    ]
    for example in document.examples():
        try:
            example.evaluate()
        except unittest.SkipTest as skip:
            run.skipped.append(f"{_where(example)} {skip}")
        except NotEvaluated:
            run.skipped.append(f"{_where(example)} (skip condition)")
        except SybilFailure as exc:
            failures.append(exc.result)
        except Exception as exc:  # a Python block's exception: the doc is wrong
            failures.append(f"{_where(example)}: {type(exc).__name__}: {exc}")
    if failures:
        raise AssertionError("documentation snippets failed:\n" + "\n".join(failures))
    return run


def fences(path: Path) -> list[tuple[int, str]]:
    """(line, language) of every fenced block, untagged ones as ''."""
    document = Document(path.read_text(), str(path))
    lexer = FencedCodeBlockLexer(language=r"[^\n]*", mapping={"language": "language"})
    return [
        (document.text.count("\n", 0, r.start) + 1, r.lexemes["language"].strip()) for r in lexer(document)
    ]

"""Every ``smallcaps ...`` command the docs write in running text (inline code) or as a synopsis
(a line of a ``text`` block) parses against the CLI (issue 19).

Fenced ``bash`` blocks are run by Sybil (``test_snippets.py``); prose commands are not, so a renamed
subcommand or option would silently leave them wrong. Here each one is resolved against the click
command tree that typer builds: the subcommand path must exist, every ``--option`` must be one of
that command's options, and the concrete values are converted by click itself (``make_context``
parses and type-checks without running the command). Synopsis notation is understood: ``[...]``
marks optional parts, ``a|b`` alternatives (each is checked), and an upper-case word (``D``, ``N``,
``DIR``, ``YYYY-MM``) or ``...`` a placeholder, whose value is not checked. A mention without its
required options (``smallcaps materialize`` in a sentence) passes; a wrong name or value does not.
"""

from __future__ import annotations

import itertools
import re
import shlex
from dataclasses import dataclass

import pytest
import typer
from markdown_it import MarkdownIt

try:  # typer 0.29 builds its commands with a click it vendors, not the installed one
    from typer._click import exceptions as cx
except ImportError:  # pragma: no cover - older typer, plain click
    import click.exceptions as cx

from .snippets import DOCS, REPO

_md = MarkdownIt("commonmark").enable("table")
PLACEHOLDER = re.compile(r"^(\.\.\.|[A-Z][A-Z0-9_-]*|.*\.\.\..*)$")
RUN_BLOCKS = ("python", "bash", "sql")  # run by Sybil, so not checked here


@dataclass(frozen=True)
class ProseCommand:
    where: str  # doc:line
    text: str


def _join_continuations(lines: list[str]) -> list[str]:
    out, pending = [], ""
    for line in lines:
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
        else:
            out.append(pending + line)
            pending = ""
    return out + ([pending] if pending else [])


def prose_commands(doc) -> list[ProseCommand]:
    """Inline ``smallcaps ...`` code spans, and ``smallcaps ...`` lines of non-run fenced blocks."""
    name = doc.relative_to(REPO) if doc.is_relative_to(REPO) else doc.name
    out = []
    for tok in _md.parse(doc.read_text()):
        line = tok.map[0] + 1 if tok.map else 0
        if tok.type == "fence" and tok.info.strip().split(" ")[0] not in RUN_BLOCKS:
            for i, text in enumerate(_join_continuations(tok.content.splitlines())):
                if text.startswith("smallcaps "):
                    out.append(ProseCommand(f"{name}:{line + 1 + i}", text))
        for child in tok.children or []:
            if child.type == "code_inline" and child.content.startswith("smallcaps "):
                out.append(ProseCommand(f"{name}:{line}", child.content))
    return out


def _words(text: str) -> list[list[str]]:
    """The argv variants of a synopsis: comment cut, brackets dropped, ``a|b`` expanded."""
    code = text.split("  #")[0].split(" # ")[0]
    words = [w.strip("[]") for w in shlex.split(code)]
    words = [w for w in words if w]
    choices = [w.split("|") if "|" in w and not w.startswith("-") and " " not in w else [w] for w in words]
    return [list(v) for v in itertools.product(*choices)]


def _option(command, name: str):
    for param in command.params:
        if param.param_type_name == "option" and name in (*param.opts, *param.secondary_opts):
            return param
    return None


def check(text: str, root=None) -> list[str]:
    """Problems of one prose command against the CLI; [] if it parses."""
    if root is None:
        from smallcaps_assets.cli import app

        root = typer.main.get_command(app)
    problems = []
    for argv in _words(text):
        problems += _check_argv(argv, root)
    return sorted(set(problems))


def _check_argv(argv: list[str], root) -> list[str]:
    command, path, rest = root, ["smallcaps"], argv[1:]
    while hasattr(command, "commands") and rest and not rest[0].startswith("-"):
        sub = command.commands.get(rest[0])
        if sub is None:
            if PLACEHOLDER.match(rest[0]):
                return []  # `smallcaps bench NAME`: any subcommand
            return [f"`{' '.join(path)}` has no subcommand {rest[0]!r}"]
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    if hasattr(command, "commands"):
        return [] if not rest else [f"`{' '.join(path)}` needs a subcommand before {rest[0]!r}"]
    problems, concrete, i = [], [], 0
    while i < len(rest):
        word = rest[i]
        if word.startswith("-") and word != "-":
            name, eq, value = word.partition("=")
            param = _option(command, name)
            if param is None:
                problems.append(f"`{' '.join(path)}` has no option {name}")
                i += 1
                continue
            takes_value = not (param.is_flag or param.count)
            if takes_value and not eq:
                value = rest[i + 1] if i + 1 < len(rest) else "VALUE"
                i += 1
            if not takes_value or not PLACEHOLDER.match(value):
                concrete += [word] if eq or not takes_value else [name, value]
        elif not PLACEHOLDER.match(word):
            concrete.append(word)
        i += 1
    if problems or not concrete:
        return problems
    try:
        command.make_context(path[-1], concrete)
    except cx.MissingParameter:
        pass  # a mention in a sentence need not repeat the required options
    except cx.UsageError as exc:  # NoSuchOption, BadParameter, too many arguments
        return [f"`{' '.join(path)}`: {exc.format_message()}"]
    return []


ALL = [c for doc in DOCS for c in prose_commands(doc)]


def test_the_docs_have_prose_commands_to_check():
    assert len(ALL) > 50
    assert {c.where.split(":")[0] for c in ALL} >= {"README.md", "docs/operations.md", "docs/models.md"}


@pytest.mark.parametrize("command", ALL, ids=[f"{c.where} {c.text[:60]}" for c in ALL])
def test_every_prose_command_parses_against_the_cli(command):
    assert check(command.text) == [], command.where


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("smallcaps sim serve --rate-limt 5", "`smallcaps sim serve` has no option --rate-limt"),
        ("smallcaps bench nosuch --json", "`smallcaps bench` has no subcommand 'nosuch'"),
        ("smallcaps models --start 2024-13 --end 2024-03", "`smallcaps models`: Invalid value"),
        ("smallcaps sim info [--seed N] [--sybmols N]", "`smallcaps sim info` has no option --sybmols"),
        ("smallcaps sim serve [--port 8765|http]", "`smallcaps sim serve`: Invalid value"),
        ("smallcaps sim info --seed seven", "`smallcaps sim info`: Invalid value"),
    ],
)
def test_a_renamed_option_or_a_bad_value_is_caught(text, problem):
    problems = check(text)
    assert len(problems) == 1 and problems[0].startswith(problem), problems


@pytest.mark.parametrize(
    "text",
    [
        "smallcaps materialize",
        "smallcaps sim facts [--seed S] [--start D --end D] [--tick-minutes M] [--json]",
        "smallcaps events calibrate --start D --end D [--edge planted|null] [--rules-only]",
        "smallcaps materialize --select key:event_labels ...",
        'smallcaps sql "SELECT month FROM event_model"',
    ],
)
def test_synopsis_notation_and_bare_mentions_pass(text):
    assert check(text) == []

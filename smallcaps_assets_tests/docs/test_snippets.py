"""Every snippet of README.md and docs/*.md runs and gives its documented outcome (issue 19).

The default suite runs the fast tier (Python blocks, and shell lines that need no lake); the slow
test builds the demo lake once (``smallcaps demo`` on a small offline market) and runs the rest:
SQL, ``smallcaps sql``/``materialize``/``windows``, benchmarks and the calibration. CI runs both
(``make test``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from . import snippets as sn

# The docs' market: the default market's seed (so the tickers the docs name exist) with few
# tickers and a pinned end, from early enough for the demo's 45 lookback sessions.
DOCS_MARKET = {"seed": 7, "n_symbols": 60, "start": "2023-11-01", "end": "2024-03-29"}
IDS = [str(p.relative_to(sn.REPO)) for p in sn.DOCS]


def _env(tmp: Path, lake: Path) -> dict[str, str]:
    market = tmp / "docs_market.json"
    market.write_text(json.dumps(DOCS_MARKET))
    return {
        "SMALLCAPS_DATA_DIR": str(lake),
        "SMALLCAPS_SIM_CONFIG": str(market),
        "SMALLCAPS_STATE_DIR": "",
        "DAGSTER_HOME": "",
        "POLYGON_API_KEY": "",
        "POLYGON_BASE_URL": "",
    }


def _apply(env: dict[str, str], monkeypatch) -> None:
    """The same environment for Python blocks (in process) as for the CLI lines."""
    for name, value in env.items():
        if value:
            monkeypatch.setenv(name, value)
        else:
            monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("doc", sn.DOCS, ids=IDS)
def test_fast_snippets_run_as_documented(doc, tmp_path, monkeypatch):
    env = _env(tmp_path, tmp_path / "no_lake")
    _apply(env, monkeypatch)
    monkeypatch.chdir(tmp_path)  # relative output paths of the docs land here
    run = sn.run_document(doc, sn.FAST, {k: v or None for k, v in env.items()})
    print(f"{doc.name}: ran {len(run.ran)}, slow tier {len(run.deferred)}, skipped {len(run.skipped)}")


@pytest.fixture(scope="session")
def docs_lake(tmp_path_factory):
    """The demo, as `make demo` runs it, on the docs' small market, over the fortnight the docs
    read (2024-03-04..15; the default span's two months of models are the demo's own test)."""
    from smallcaps_assets.cli import app

    tmp = tmp_path_factory.mktemp("docs_lake")
    env = {k: v or None for k, v in _env(tmp, tmp / "lake").items()}
    result = CliRunner().invoke(
        app, ["demo", "--start", "2024-03-04", "--end", "2024-03-15"], env=env, terminal_width=200
    )
    assert result.exit_code == 0, result.output[-3000:]
    return tmp, env


@pytest.mark.slow
@pytest.mark.parametrize("doc", sn.DOCS, ids=IDS)
def test_slow_snippets_run_on_the_demo_lake(doc, docs_lake, monkeypatch):
    tmp, env = docs_lake
    _apply({k: v or "" for k, v in env.items()}, monkeypatch)
    monkeypatch.chdir(tmp)
    run = sn.run_document(doc, sn.SLOW, env)
    print(f"{doc.name}: ran {len(run.ran)}, fast tier {len(run.deferred)}, skipped {len(run.skipped)}")


@pytest.mark.parametrize("doc", sn.DOCS, ids=IDS)
def test_every_fenced_block_is_run_or_declared_output(doc):
    """A block without a language, or in one the runner does not know, would silently not run."""
    known = (*sn.RUN_LANGUAGES, *sn.SHOWN_LANGUAGES)
    bad = [(line, lang) for line, lang in sn.fences(doc) if lang not in known]
    assert not bad, f"{doc.name}: fenced blocks need one of {known}: {bad}"


BROKEN = {
    "python": '```python\nassert 1 + 1 == 3, "the doc promised 3"\n```\n',
    "bash exit": "```bash\nsmallcaps sim info --no-such-option\n```\n",
    "bash promised code": "```bash\nsmallcaps --help   # exits 2\n```\n",
    "no runner": "```bash\ncurl http://example.invalid\n```\n",
    "unclosed quote": '```bash\nsmallcaps sql "select 1\n```\n',
    "unknown language": "```sh\nsmallcaps --help\n```\n",
}


@pytest.mark.parametrize("text", BROKEN.values(), ids=BROKEN.keys())
def test_a_broken_snippet_fails(text, tmp_path):
    doc = tmp_path / "broken.md"
    doc.write_text(f"# A page\n\n{text}")
    with pytest.raises(AssertionError, match="documentation snippets failed"):
        sn.run_document(doc, sn.FAST, {})


def test_a_skip_marker_skips_with_its_reason_and_a_good_snippet_passes(tmp_path):
    doc = tmp_path / "ok.md"
    doc.write_text(
        '<!-- skip: next "needs POLYGON_API_KEY" -->\n\n```bash\ncurl http://example.invalid\n```\n\n'
        "```python\nx = 2\n```\n\n```python\nassert x == 2\n```\n\n"
        "```bash\nsmallcaps materialize --select '*' --start 2024-03-29   # exits 2: Good Friday\n```\n"
    )
    run = sn.run_document(doc, sn.FAST, {})
    assert [s.split(" ", 1)[1] for s in run.skipped] == ["needs POLYGON_API_KEY"]
    assert len(run.ran) == 3


def test_a_slow_marker_moves_a_python_block_to_the_slow_tier(tmp_path):
    doc = tmp_path / "slow.md"
    doc.write_text('<!-- docs: slow -->\n\n```python\nassert 1 + 1 == 3, "a long census"\n```\n')
    run = sn.run_document(doc, sn.FAST, {})
    assert (run.ran, len(run.deferred)) == ([], 1)
    with pytest.raises(AssertionError, match="a long census"):
        sn.run_document(doc, sn.SLOW, {})


def test_a_quoted_argument_may_span_lines():
    assert sn.logical_lines('smallcaps sql "select 1\n   as x"  # one row\nsmallcaps sim info')[0][0] == [
        "smallcaps",
        "sql",
        "select 1\n   as x",
    ]


def test_shell_lines_are_split_at_comments_and_continuations():
    lines = sn.logical_lines(
        "smallcaps sql \"select '#1' as x\"  # the vendor's\n"
        "smallcaps sim flatfiles --out ff \\\n   --start 2024-03-04   # exits 2\n"
    )
    assert lines == [
        (["smallcaps", "sql", "select '#1' as x"], 0, "smallcaps sql \"select '#1' as x\""),
        (
            ["smallcaps", "sim", "flatfiles", "--out", "ff", "--start", "2024-03-04"],
            2,
            "smallcaps sim flatfiles --out ff     --start 2024-03-04",
        ),
    ]


if __name__ == "__main__":  # pragma: no cover - count the snippets by hand
    sys.exit(pytest.main([__file__, "-q", "-s"]))

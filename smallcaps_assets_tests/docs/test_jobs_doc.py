"""docs/operations.md's jobs table names exactly what each job selects, and the schedule's job
(issue 19: the doc once said `daily_close` built every daily asset while its job stopped at the bars)."""

from __future__ import annotations

import re

import pytest

from smallcaps_assets import asset_names

from .snippets import REPO

DOC = (REPO / "docs" / "operations.md").read_text()
ASSETS = {v for k, v in vars(asset_names).items() if k.isupper() and isinstance(v, str)}


def _row(first_cell: str) -> str:
    return next(line for line in DOC.splitlines() if line.startswith(f"| {first_cell} |"))


@pytest.fixture(scope="module")
def defs():
    from smallcaps_assets.definitions import defs

    return defs


@pytest.mark.parametrize("job", ["daily_ingest", "event_pipeline", "research_daily"])
def test_the_jobs_table_lists_what_each_job_selects(defs, job):
    named = set(re.findall(r"`(\w+)`", _row(f"`{job}`"))) & ASSETS
    selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
    assert named == {k.to_user_string() for k in selected}


def test_daily_close_runs_the_job_the_doc_names(defs):
    schedule = defs.resolve_schedule_def("daily_close")
    assert f"runs the `{schedule.job_name}` job" in _row("`daily_close` schedule")
    daily_graph = defs.resolve_job_def("daily_graph").asset_layer.selected_asset_keys
    parts = [
        defs.resolve_job_def(j).asset_layer.selected_asset_keys
        for j in ("daily_ingest", "event_pipeline", "research_daily")
    ]
    assert daily_graph == set().union(*parts)  # "the first three in one run"

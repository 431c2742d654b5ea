"""Every time-partitioned asset, through Dagster: rewriting what it must not see leaves its
partition identical; rewriting what it reads changes it (harness.py, docs/testing.md)."""

from __future__ import annotations

import dagster as dg
import pytest

from smallcaps_assets.asset_names import MODELS
from smallcaps_assets.definitions import defs

from .cases import CASES, EXTRA_CASES, KNOWN_BUGS, all_cases

# The harness rewrites one trading day's inputs; the models need whole months of history, so their
# out-of-sample guarantee is asserted instead from each model's stored fold (the blocking
# model_fold_no_overlap gate, stages/models/splits.py) and by event_predictions before it predicts
# (stages/models/artifact.py, tests in stages/models/test_artifact.py and defs/test_models_assets.py).
NOT_DAY_LEVEL = set(MODELS)


def time_partitioned_assets() -> set[str]:
    graph = defs.resolve_asset_graph()
    return {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if isinstance(graph.get(key).partitions_def, dg.TimeWindowPartitionsDefinition)
    } - NOT_DAY_LEVEL


def test_every_time_partitioned_asset_has_a_case():
    assets = time_partitioned_assets()
    assert assets, "the definitions have no time-partitioned asset: the test looks in the wrong place"
    missing = sorted(assets - set(CASES))
    assert not missing, f"no look-ahead case for {missing}: add one to lookahead/cases.py (docs/testing.md)"
    stale = sorted(set(CASES) - assets)
    assert not stale, f"cases for assets that no longer exist or are not time-partitioned: {stale}"


def test_every_case_runs_both_directions_and_covers_its_key():
    for key, case in CASES.items():
        assert key in case.assets, key
        assert case.cutoff is None, f"{key}: the registry's case is day-level; cutoffs go in EXTRA_CASES"
    for case in all_cases():
        assert case.allowed, f"{case.name}: no allowed rewrite, so nothing shows the case can fail"
        assert len({r.label for r in case.allowed}) == len(case.allowed), case.name
    assert all(c.cutoff for c in EXTRA_CASES)


@pytest.mark.parametrize("case", all_cases(), ids=lambda c: c.name)
def test_inputs_it_must_not_see_leave_the_output_unchanged(lookahead, case, tmp_path):
    lookahead.assert_unchanged(case, tmp_path)


def _allowed_params() -> list:
    params = []
    for case in all_cases():
        for rewrite in case.allowed:
            bug = KNOWN_BUGS.get((case.name, rewrite.label))
            marks = [pytest.mark.xfail(strict=True, reason=bug)] if bug else []
            params.append(pytest.param(case, rewrite, id=f"{case.name}: {rewrite.label}", marks=marks))
    return params


def test_known_bugs_name_real_rewrites():
    labels = {(c.name, r.label) for c in all_cases() for r in c.allowed}
    assert set(KNOWN_BUGS) <= labels


@pytest.mark.parametrize(("case", "rewrite"), _allowed_params())
def test_inputs_it_reads_change_the_output(lookahead, case, rewrite, tmp_path):
    lookahead.assert_changed(case, rewrite, tmp_path)

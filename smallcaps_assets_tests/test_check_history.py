"""The check tally reads each partition's latest result back from the instance."""

import dagster as dg

from smallcaps_assets.check_history import format_tally, tally

PARTS = dg.StaticPartitionsDefinition(["2024-03-04", "2024-03-05"])


class Verdict(dg.Config):
    passed: bool = True


@dg.asset(
    partitions_def=PARTS,
    check_specs=[
        dg.AssetCheckSpec("looks_fine", asset="thing", blocking=False, partitions_def=PARTS),
    ],
)
def thing(config: Verdict):
    yield dg.MaterializeResult(
        check_results=[dg.AssetCheckResult(check_name="looks_fine", passed=config.passed)]
    )


def _run(instance, day: str, passed: bool) -> None:
    config = {"ops": {"thing": {"config": {"passed": passed}}}}
    assert dg.materialize([thing], partition_key=day, instance=instance, run_config=config).success


def test_the_latest_result_of_each_partition_counts():
    defs = dg.Definitions(assets=[thing])
    with dg.DagsterInstance.ephemeral() as instance:
        assert [(r.check, r.evaluated) for r in tally(instance, defs)] == [("looks_fine", 0)]
        _run(instance, "2024-03-04", passed=False)
        _run(instance, "2024-03-05", passed=False)
        _run(instance, "2024-03-04", passed=True)  # a re-run that passes replaces the failure
        (row,) = tally(instance, defs)
    assert (row.passed, row.failed, row.blocking) == (1, ["2024-03-05"], False)
    assert row.as_dict()["severity"] == "warn"
    text = format_tally([row], only_failing=True)
    assert "thing:looks_fine" in text and "2024-03-05" in text

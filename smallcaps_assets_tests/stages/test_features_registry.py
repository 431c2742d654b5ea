import polars as pl
import pytest

from smallcaps_assets.stages import features as feat
from smallcaps_assets.stages.events.schema import UTC_NS

from .feature_registry_cases import DAY, at, events


def _inputs():
    """Two events and nothing else: every optional input missing, bars and universe empty."""
    from smallcaps_assets import schemas

    ev = events([("e1", "AAA", at(10, 0), "flush"), ("e2", "BBB", at(10, 1), "hod_break")])
    bars = pl.DataFrame(
        schema=schemas.MinuteBars.to_schema().columns
        and {c: t.dtype.type for c, t in schemas.MinuteBars.to_schema().columns.items()}
    )
    universe = pl.DataFrame(schema={c: t.dtype.type for c, t in schemas.Universe.to_schema().columns.items()})
    return feat.FeatureInputs(day=DAY, events=ev, minute_bars=bars, universe=universe)


def test_build_joins_every_family_one_row_per_event():
    out = feat.build_features(_inputs())
    assert out.height == 2
    assert out.columns[: len(feat.KEY_COLUMNS)] == list(feat.KEY_COLUMNS)
    assert feat.input_ts_columns(out) == [f"{f.name}_input_ts" for f in feat.FAMILIES]
    assert "prior_events_today" in feat.feature_columns(out)
    assert "ts" not in feat.feature_columns(out)


def _by_name(name):
    return next(f for f in feat.FAMILIES if f.name == name)


def _family(frame_fn):
    return feat.Family("bad", frame_fn)


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda i: i.events.select("event_id"), "must return event_id and bad_input_ts"),
        (
            lambda i: i.events.select("event_id", bad_input_ts=pl.lit(None, dtype=pl.Datetime("us"))),
            "not Datetime",
        ),
        (
            lambda i: pl.concat([i.events, i.events]).select("event_id", bad_input_ts=pl.col("ts")),
            "returned 4 rows",
        ),
        (lambda i: i.events.head(1).select("event_id", bad_input_ts=pl.col("ts")), "returned 1 rows"),
        (lambda i: i.events.select("event_id", "symbol", bad_input_ts=pl.col("ts")), "key columns"),
    ],
)
def test_a_family_breaking_the_convention_is_refused(fn, message):
    with pytest.raises(feat.FamilyError, match=message):
        feat.build_features(_inputs(), (_family(fn),))


def test_two_families_with_one_column_are_refused():
    dup = feat.Family(
        "dup",
        lambda i: i.events.select(
            "event_id", prior_events_today=pl.lit(1), dup_input_ts=pl.col("ts").cast(UTC_NS)
        ),
    )
    with pytest.raises(feat.FamilyError, match="repeats columns"):
        feat.build_features(_inputs(), (_by_name("event_context"), dup))


def test_every_family_has_its_schema_in_the_contract():
    from smallcaps_assets.stages.features.schema import FAMILY_SCHEMAS, FEATURE_SCHEMA

    assert [f.name for f in feat.FAMILIES] == list(FAMILY_SCHEMAS)
    for family in feat.FAMILIES:
        assert family.input_ts in FAMILY_SCHEMAS[family.name]
    assert list(FEATURE_SCHEMA)[: len(feat.KEY_COLUMNS)] == list(feat.KEY_COLUMNS)


def test_a_day_without_windows_gives_null_tape_features_not_zeros():
    out = feat.build_features(_inputs())
    assert out["tape_input_ts"].null_count() == 2
    assert out["quote_crossed_locked_count"].null_count() == 2
    assert out["tape_speed_tps"].null_count() == 2


def test_docs_describe_every_feature_column():
    """docs/features.md and the data dictionary name every column of the contract."""
    from pathlib import Path

    from smallcaps_assets.stages.features.schema import FEATURE_SCHEMA

    root = Path(__file__).resolve().parents[2] / "docs"
    for doc in ("features.md", "data_dictionary.md"):
        text = (root / doc).read_text()
        missing = [c for c in FEATURE_SCHEMA if f"`{c}`" not in text and c not in feat.KEY_COLUMNS]
        assert not missing, f"docs/{doc} does not describe {missing}"

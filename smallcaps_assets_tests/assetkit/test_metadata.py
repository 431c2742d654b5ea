"""What the UI shows on every asset: owners, kinds, a code reference, the description from the
docstring, and the column schema of the asset's pandera contract."""

from __future__ import annotations

import inspect
from pathlib import Path

import dagster as dg
import pandera.polars as pa
import polars as pl

from smallcaps_assets import asset_names as names
from smallcaps_assets import schemas
from smallcaps_assets.assetkit.metadata import OWNERS, column_schema
from smallcaps_assets.definitions import defs
from smallcaps_assets.stages.signal_report import signal_report_contract

CONTRACTS = {
    names.TICKER_REFERENCE: schemas.TickerReference.to_schema(),
    names.CORPORATE_ACTIONS: schemas.CorporateActions.to_schema(),
    names.TICKER_DETAILS: schemas.TickerDetails.to_schema(),
    names.DAILY_BARS: schemas.DailyBars.to_schema(),
    names.UNIVERSE: schemas.Universe.to_schema(),
    names.MINUTE_BARS: schemas.MinuteBars.to_schema(),
    names.DAILY_EVENTS: schemas.DailyEvents.to_schema(),
    names.INTRADAY_EVENTS: schemas.intraday_events_contract(),
    names.EVENT_MANIFEST: schemas.event_manifest_contract(),
    names.EVENT_TRADES: schemas.event_trades_contract(),
    names.EVENT_QUOTES: schemas.event_quotes_contract(),
    names.SSR_STATUS: schemas.SsrStatus.to_schema(),
    names.NEWS: schemas.News.to_schema(),
    names.SHORT_INTEREST: schemas.ShortInterest.to_schema(),
    names.SHORT_VOLUME: schemas.ShortVolume.to_schema(),
    names.EVENT_FEATURES: schemas.event_features_contract(),
    names.EVENT_LABELS: schemas.event_labels_contract(),
    names.SIGNAL_REPORT: signal_report_contract(),
    names.EVENT_MODEL: schemas.event_model_contract(),
    names.EVENT_PREDICTIONS: schemas.event_predictions_contract(),
    names.BACKTEST: schemas.backtest_contract(),
}


def _specs() -> list[tuple[dg.AssetsDefinition, dg.AssetSpec]]:
    return [(a, spec) for a in defs.assets if isinstance(a, dg.AssetsDefinition) for spec in a.specs]


def test_every_asset_has_owners_kinds_and_a_description():
    specs = _specs()
    assert {s.key.to_user_string() for _, s in specs} == set(names.ALL)
    for assets_def, spec in specs:
        assert spec.owners == list(OWNERS), spec.key
        assert "parquet" in spec.kinds, spec.key
        assert spec.description and len(spec.description) > 40, spec.key
        doc = assets_def.op.compute_fn.decorated_fn.__doc__
        if len(assets_def.keys) == 1:  # a single asset is described by its function's docstring
            assert spec.description == inspect.cleandoc(doc), spec.key


def test_every_asset_references_the_function_that_builds_it():
    for assets_def, spec in _specs():
        (ref,) = spec.metadata["dagster/code_references"].code_references
        path = Path(ref.file_path)
        assert (path.parent.name, path.parent.parent.name) == ("defs", "smallcaps_assets"), spec.key
        # the reference is the decorator's line; the first function below it is the asset's
        below = path.read_text().splitlines()[ref.line_number - 1 :]
        assert below[0].startswith("@"), (spec.key, below[0])
        first_def = next(line for line in below if line.startswith("def "))
        assert first_def.startswith(f"def {assets_def.op.name}("), (spec.key, first_def)


def test_every_asset_shows_its_contract_as_column_schema():
    for _, spec in _specs():
        contract = CONTRACTS[spec.key.to_user_string()]
        shown = spec.metadata["dagster/column_schema"]
        assert [c.name for c in shown.columns] == list(contract.columns), spec.key
        for column in shown.columns:
            expected = contract.columns[column.name]
            assert column.type == str(expected.dtype), (spec.key, column.name)
            assert column.constraints.nullable == expected.nullable, (spec.key, column.name)
            assert column.constraints.unique == expected.unique, (spec.key, column.name)


def test_column_schema_carries_types_nullability_checks_descriptions_and_keys():
    class Tiny(pa.DataFrameModel):
        symbol: str = pa.Field(nullable=False, unique=True, str_matches=r"^[A-Z]+$", description="ticker")
        price: float = pa.Field(nullable=True, gt=0)
        ts: pl.Datetime("ns", "UTC") = pa.Field()  # type: ignore[valid-type]

        class Config:
            unique = ["symbol", "ts"]

    schema = column_schema(Tiny)
    symbol, price, ts = schema.columns
    assert (symbol.name, symbol.type, symbol.description) == ("symbol", "String", "ticker")
    assert not symbol.constraints.nullable and symbol.constraints.unique
    assert symbol.constraints.other == ["str_matches(^[A-Z]+$)"]
    assert price.constraints.nullable and price.constraints.other == ["greater_than(0)"]
    assert ts.type == "Datetime(time_unit='ns', time_zone='UTC')"
    assert schema.constraints.other == ["unique (symbol, ts)"]

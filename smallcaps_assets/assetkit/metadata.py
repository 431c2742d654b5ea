"""The metadata a Dagster user expects on every asset, built from what the code already knows.

- ``dagster/column_schema`` (definition metadata): from the asset's pandera contract in
  ``schemas.py``, so the UI's *Columns* tab is the contract the write is validated against;
- ``dagster/row_count`` (every materialisation): the rows of the partition just written;
- ``smallcaps/warm_up_sessions`` (definition metadata, where set): how many of its own earlier
  partitions ``smallcaps materialize`` runs first on a lake that lacks them;
- owners, and ``dagster/code_references`` pointing at the asset's function, added to every asset
  of the code location by :func:`catalogued`;
- kinds and the description (the asset function's docstring) stay on each asset's decorator.
"""

from __future__ import annotations

import dagster as dg
import pandera.polars as pa

from ..lake import WrittenPartition

OWNERS = ("team:research-data",)
ROW_COUNT = "dagster/row_count"
COLUMN_SCHEMA = "dagster/column_schema"
CODE_REFERENCES = "dagster/code_references"
# Sessions of its own partitions an asset wants run before a range on a fresh lake (``daily_asset``).
WARM_UP_METADATA = "smallcaps/warm_up_sessions"
# An asset whose lookback reads the earlier partitions that exist, never asks for missing ones
# (a report over a window of sessions): ``smallcaps materialize`` does not fill its history.
HISTORY_AS_FOUND_METADATA = "smallcaps/history_as_found"
Contract = type[pa.DataFrameModel] | pa.DataFrameSchema


def column_schema(contract: Contract) -> dg.TableSchema:
    """A pandera (polars) contract as a Dagster table schema: each column's name, dtype,
    nullability, uniqueness, checks and description (where the contract gives one)."""
    schema = contract.to_schema() if isinstance(contract, type) else contract
    columns = [
        dg.TableColumn(
            name,
            type=str(column.dtype),
            description=column.description,
            constraints=dg.TableColumnConstraints(
                nullable=bool(column.nullable),
                unique=bool(column.unique),
                other=[_check_text(check) for check in column.checks],
            ),
        )
        for name, column in schema.columns.items()
    ]
    unique = list(schema.unique or [])
    constraints = dg.TableConstraints(other=[f"unique ({', '.join(unique)})"]) if unique else None
    return dg.TableSchema(columns=columns, constraints=constraints)


def _check_text(check: pa.Check) -> str:
    values = ", ".join(str(v) for v in (check.statistics or {}).values())
    return f"{check.name}({values})"


def contract_metadata(contract: Contract) -> dict[str, object]:
    """Definition metadata of an asset written under ``contract``."""
    return {COLUMN_SCHEMA: column_schema(contract)}


def partition_metadata(written: WrittenPartition) -> dict[str, object]:
    """A written partition's file facts, with its row count as Dagster shows it."""
    return {**written.metadata(), ROW_COUNT: written.rows}


def catalogued(defs: dg.Definitions) -> dg.Definitions:
    """``defs`` with the owners and a code reference (file and line of the asset's function) on
    every asset."""
    assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition) and a.specs]
    references = {
        spec.key: spec.metadata[CODE_REFERENCES]
        for assets_def in dg.with_source_code_references(assets)
        for spec in assets_def.specs
    }
    return defs.map_asset_specs(
        func=lambda spec: spec.replace_attributes(owners=list(OWNERS)).merge_attributes(
            metadata={CODE_REFERENCES: references[spec.key]}
        )
    )

"""short_interest and short_volume: FINRA's short data, stamped with when it became public."""

from collections.abc import Iterator

import dagster as dg

from .. import checks, lake, schemas
from ..asset_names import SHORT_INTEREST, SHORT_VOLUME
from ..assetkit import daily_asset, partition_day, run, usage_metadata, vendor_rows
from ..assetkit.metadata import partition_metadata
from ..resources import PolygonResource
from ..stages import short_data, short_quality

GROUP = "alternative"


@daily_asset(
    SHORT_INTEREST,
    schemas.ShortInterest,
    short_quality.SHORT_INTEREST_GATES,
    group=GROUP,
    vendor=True,
    root=True,
)
def short_interest(
    context: dg.AssetExecutionContext, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Per symbol, the latest FINRA short interest published before the session: a settlement
    date's figures count as published on the 8th trading session after it, at that session's
    20:00 ET (``published_on``, ``published_at``; rule and sources in docs/reference_data.md).
    Partition D keeps rows with ``published_on`` < D, so every event of D may read all of it.
    One paginated ``/stocks/v1/short-interest`` request for every ticker, settlement dates in
    the 45 days before D."""
    day = partition_day(context)
    gte, lte = short_data.settlement_request(day)

    async def fetch():
        async with polygon.connect() as client:
            rows = await client.short_interest(settlement_date_gte=gte, settlement_date_lte=lte)
            return vendor_rows(rows), client.usage

    rows, usage = run(fetch())
    frame = schemas.enforce(schemas.ShortInterest, short_data.short_interest_frame(rows, day))
    written = lake.write_partition(SHORT_INTEREST, day, frame, sort_by=["symbol"])
    latest = frame["settlement_date"].max()
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "vendor_rows": len(rows),
                "latest_settlement": latest.isoformat() if latest else None,
                **usage_metadata(usage),
            },
            check_results=checks.results(SHORT_INTEREST, short_quality.short_interest_gates(frame, day)),
        )
    )


@daily_asset(
    SHORT_VOLUME,
    schemas.ShortVolume,
    short_quality.SHORT_VOLUME_GATES,
    group=GROUP,
    vendor=True,
    root=True,
)
def short_volume(
    context: dg.AssetExecutionContext, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """FINRA's off-exchange short sale volume of session D for every ticker: one paginated
    ``/stocks/v1/short-volume?date=D`` request. Public only after D's close (``available_at`` =
    D's 20:00 ET), so a feature of day D reads partition D-1."""
    day = partition_day(context)

    async def fetch():
        async with polygon.connect() as client:
            rows = await client.short_volume(date=day)
            return vendor_rows(rows), client.usage

    rows, usage = run(fetch())
    frame = schemas.enforce(schemas.ShortVolume, short_data.short_volume_frame(rows, day))
    written = lake.write_partition(SHORT_VOLUME, day, frame, sort_by=["symbol"])
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={**partition_metadata(written), "vendor_rows": len(rows), **usage_metadata(usage)},
            check_results=checks.results(SHORT_VOLUME, short_quality.short_volume_gates(frame, day)),
        )
    )

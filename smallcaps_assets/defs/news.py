"""news: the vendor's articles of a trading day, one row per (article, symbol)."""

from collections.abc import Iterator

import dagster as dg

from .. import checks, lake, schemas
from ..asset_names import NEWS
from ..assetkit import daily_asset, partition_day, run, usage_metadata
from ..assetkit.metadata import partition_metadata
from ..resources import PolygonResource
from ..stages import news as news_stage
from ..stages import news_quality

GROUP = "alternative"


@daily_asset(NEWS, schemas.News, news_quality.NEWS_GATES, group=GROUP, vendor=True, root=True)
def news(context: dg.AssetExecutionContext, polygon: PolygonResource) -> Iterator[checks.CheckedEvent]:
    """Every article the vendor published in ``[previous session's end of extended hours, this
    session's)`` (20:00 ET, 17:00 ET after an early close), one row per (article, symbol): the
    windows of consecutive sessions tile time, so weekend and holiday news lands on the next
    session. One paginated ``/v2/reference/news`` walk for the whole market (1,000 per page,
    oldest first), never one request per symbol. A feature of day D reads D's and D-1's
    partitions and keeps what was published before each event."""
    day = partition_day(context)
    start, end = news_stage.news_window(day)

    async def fetch():
        async with polygon.connect() as client:
            articles = await client.news(published_utc_gte=start, published_utc_lt=end)
            return [a.model_dump(mode="json", by_alias=True) for a in articles], client.usage

    articles, usage = run(fetch())
    rows, dropped = news_stage.news_frame(articles, start, end)
    frame = schemas.enforce(schemas.News, rows)
    written = lake.write_partition(NEWS, day, frame, sort_by=["published_utc", "id", "symbol"])
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "articles": len(articles),
                "symbols": frame["symbol"].n_unique(),
                "dropped_tickers": dropped,
                "window_start": start.isoformat(),
                "window_end": end.isoformat(),
                **usage_metadata(usage),
            },
            check_results=checks.results(NEWS, news_quality.news_gates(frame, start, end)),
        )
    )

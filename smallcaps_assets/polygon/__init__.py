"""Vendor client of Polygon.io / Massive REST: async httpx, shared rate limit, retries, pagination,
pydantic models and per-endpoint usage counters. ``connect()`` picks real API, served sim or in-process sim.
"""

from .client import DEFAULT_BASE_URL, RETRYABLE_STATUSES, PolygonClient, PolygonError
from .connect import connect, describe_mode, sim_market
from .models import (
    AggBar,
    AggsResponse,
    Condition,
    Dividend,
    Envelope,
    Exchange,
    FreeFloat,
    GroupedBar,
    MarketHoliday,
    MarketStatusNow,
    NewsArticle,
    Quote,
    ShortInterest,
    ShortVolume,
    Split,
    Ticker,
    TickerDetails,
    TickerType,
    Trade,
)
from .ratelimit import TokenBucket, reset_buckets
from .usage import ApiUsage, EndpointUsage

__all__ = [
    "DEFAULT_BASE_URL",
    "RETRYABLE_STATUSES",
    "AggBar",
    "AggsResponse",
    "ApiUsage",
    "Condition",
    "Dividend",
    "EndpointUsage",
    "Envelope",
    "Exchange",
    "FreeFloat",
    "GroupedBar",
    "MarketHoliday",
    "MarketStatusNow",
    "NewsArticle",
    "PolygonClient",
    "PolygonError",
    "Quote",
    "ShortInterest",
    "ShortVolume",
    "Split",
    "Ticker",
    "TickerDetails",
    "TickerType",
    "TokenBucket",
    "Trade",
    "connect",
    "describe_mode",
    "reset_buckets",
    "sim_market",
]

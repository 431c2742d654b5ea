"""Pydantic v2 models of the Polygon.io / Massive REST responses the platform reads.

Rules (the vendor's envelope and field conventions, docs/vendor_api.md §2):

- unknown keys are ignored (the vendor adds fields over time: ``decimal_size``, ``indicesGroups``...);
- optional keys may be missing; only the keys that identify a row are required;
- nanosecond and millisecond timestamps are ``int`` (never float: ns values exceed 2**53);
- sizes, volumes and share counts are ``float`` (the vendor sends fractional shares since 2026);
- dates are ``datetime.date``, RFC3339 instants are aware ``datetime.datetime``.

Field names follow the vendor, except a few camelCase or one-letter keys that get a snake_case
name and keep the vendor key as alias (``T`` -> ``ticker``, ``queryCount`` -> ``query_count``).
Models accept both names on input; ``model_dump(by_alias=True)`` gives back the vendor shape.

Each list model has a ``TypeAdapter(list[Model])`` (``*_LIST``) for fast validation of ``results``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

__all__ = [
    "AGG_BAR_LIST",
    "CONDITION_LIST",
    "DIVIDEND_LIST",
    "EXCHANGE_LIST",
    "FREE_FLOAT_LIST",
    "GROUPED_BAR_LIST",
    "MARKET_HOLIDAY_LIST",
    "NEWS_ARTICLE_LIST",
    "QUOTE_LIST",
    "QUOTE_STRUCT",
    "SHORT_INTEREST_LIST",
    "SHORT_VOLUME_LIST",
    "SPLIT_LIST",
    "TICKER_LIST",
    "TICKER_TYPE_LIST",
    "TRADE_LIST",
    "TRADE_STRUCT",
    "Address",
    "AggBar",
    "AggsResponse",
    "Branding",
    "Condition",
    "Dividend",
    "Envelope",
    "Exchange",
    "FreeFloat",
    "GroupedBar",
    "MarketHoliday",
    "MarketStatusNow",
    "NewsArticle",
    "NewsInsight",
    "NewsPublisher",
    "Quote",
    "ShortInterest",
    "ShortVolume",
    "Split",
    "Ticker",
    "TickerDetails",
    "TickerType",
    "Trade",
    "UpdateRule",
    "UpdateRules",
]


class VendorModel(BaseModel):
    """Base of every vendor model: ignore unknown keys, accept field names or vendor aliases."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


# --------------------------------------------------------------------------- envelope
class Envelope(VendorModel):
    """The common response envelope (docs/vendor_api.md §2, "Envelope"). ``results`` is a list, an object, or absent."""

    status: str | None = None
    request_id: str | None = None
    count: int | None = None
    next_url: str | None = None
    results: Any = None
    error: str | None = None
    message: str | None = None


class AggsResponse(Envelope):
    """Aggregates envelope extras (range, grouped daily, previous close)."""

    ticker: str | None = None
    query_count: int | None = Field(None, alias="queryCount")
    results_count: int | None = Field(None, alias="resultsCount")
    adjusted: bool | None = None


# --------------------------------------------------------------------------- aggregates
class AggBar(VendorModel):
    """One bar of ``/v2/aggs/ticker/{t}/range/...``. ``t`` is the window start in epoch ms."""

    t: int
    o: float
    h: float
    l: float  # noqa: E741 - the vendor's key
    c: float
    v: float
    vw: float | None = None
    n: int | None = None
    otc: bool = False


class GroupedBar(AggBar):
    """One row of grouped daily or ``/prev``: a bar plus its ticker (vendor key ``T``)."""

    ticker: str = Field(alias="T")


# --------------------------------------------------------------------------- ticks
class Trade(VendorModel):
    """One trade of ``/v3/trades/{ticker}``; timestamps are epoch ns."""

    sip_timestamp: int
    price: float
    size: float
    exchange: int | None = None
    id: str | None = None
    participant_timestamp: int | None = None
    sequence_number: int | None = None
    conditions: list[int] | None = None
    correction: int | None = None
    decimal_size: str | None = None
    tape: int | None = None
    trf_id: int | None = None
    trf_timestamp: int | None = None


class Quote(VendorModel):
    """One NBBO quote of ``/v3/quotes/{ticker}``; timestamps are epoch ns, sizes as sent."""

    sip_timestamp: int
    participant_timestamp: int | None = None
    sequence_number: int | None = None
    ask_exchange: int | None = None
    ask_price: float | None = None
    ask_size: float | None = None
    bid_exchange: int | None = None
    bid_price: float | None = None
    bid_size: float | None = None
    conditions: list[int] | None = None
    indicators: list[int] | None = None
    tape: int | None = None
    trf_timestamp: int | None = None


# The same two shapes as polars structs, for ``PolygonClient.ticks_frame``: bulk tick pages are
# parsed and type-checked by polars' JSON reader instead of one model per print. Keep in step
# with ``Trade`` and ``Quote`` above (a test compares the two paths on the same pages). Deliberately
# not shared with ``sim/ticks.py``: the simulator plays the vendor, and one definition on both sides
# would hide a mismatch instead of failing on it.
TRADE_STRUCT = pl.Struct(
    {
        "sip_timestamp": pl.Int64,
        "participant_timestamp": pl.Int64,
        "trf_timestamp": pl.Int64,
        "sequence_number": pl.Int64,
        "id": pl.String,
        "price": pl.Float64,
        "size": pl.Float64,
        "exchange": pl.Int32,
        "trf_id": pl.Int32,
        "tape": pl.Int32,
        "conditions": pl.List(pl.Int32),
        "correction": pl.Int32,
    }
)
QUOTE_STRUCT = pl.Struct(
    {
        "sip_timestamp": pl.Int64,
        "participant_timestamp": pl.Int64,
        "trf_timestamp": pl.Int64,
        "sequence_number": pl.Int64,
        "bid_price": pl.Float64,
        "bid_size": pl.Float64,
        "bid_exchange": pl.Int32,
        "ask_price": pl.Float64,
        "ask_size": pl.Float64,
        "ask_exchange": pl.Int32,
        "tape": pl.Int32,
        "conditions": pl.List(pl.Int32),
        "indicators": pl.List(pl.Int32),
    }
)


# --------------------------------------------------------------------------- reference
class Ticker(VendorModel):
    """One row of ``/v3/reference/tickers``."""

    ticker: str
    name: str | None = None
    market: str | None = None
    locale: str | None = None
    primary_exchange: str | None = None
    type: str | None = None
    active: bool | None = None
    currency_name: str | None = None
    currency_symbol: str | None = None
    base_currency_symbol: str | None = None
    base_currency_name: str | None = None
    cik: str | None = None
    composite_figi: str | None = None
    share_class_figi: str | None = None
    last_updated_utc: dt.datetime | None = None
    delisted_utc: dt.datetime | None = None


class Address(VendorModel):
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class Branding(VendorModel):
    """Logo and icon URLs (fetching them needs the API key: never log them with it)."""

    logo_url: str | None = None
    icon_url: str | None = None


class TickerDetails(VendorModel):
    """``results`` of ``/v3/reference/tickers/{ticker}``: the point-in-time overview."""

    ticker: str
    name: str | None = None
    market: str | None = None
    locale: str | None = None
    active: bool | None = None
    currency_name: str | None = None
    primary_exchange: str | None = None
    type: str | None = None
    cik: str | None = None
    composite_figi: str | None = None
    share_class_figi: str | None = None
    market_cap: float | None = None
    share_class_shares_outstanding: float | None = None
    weighted_shares_outstanding: float | None = None
    round_lot: float | None = None
    list_date: dt.date | None = None
    delisted_utc: dt.datetime | None = None
    sic_code: str | None = None
    sic_description: str | None = None
    ticker_root: str | None = None
    ticker_suffix: str | None = None
    total_employees: float | None = None
    description: str | None = None
    homepage_url: str | None = None
    phone_number: str | None = None
    address: Address | None = None
    branding: Branding | None = None


class TickerType(VendorModel):
    """One row of ``/v3/reference/tickers/types``."""

    code: str
    description: str | None = None
    asset_class: str | None = None
    locale: str | None = None


class Exchange(VendorModel):
    """One row of ``/v3/reference/exchanges``. ``id`` is not unique (four FINRA facilities share 4)."""

    id: int
    type: str | None = None
    asset_class: str | None = None
    locale: str | None = None
    name: str | None = None
    acronym: str | None = None
    mic: str | None = None
    operating_mic: str | None = None
    participant_id: str | None = None
    url: str | None = None


class UpdateRule(VendorModel):
    updates_high_low: bool | None = None
    updates_open_close: bool | None = None
    updates_volume: bool | None = None


class UpdateRules(VendorModel):
    consolidated: UpdateRule | None = None
    market_center: UpdateRule | None = None


class Condition(VendorModel):
    """One row of ``/v3/reference/conditions``. ``id`` is unique per data type only."""

    id: int
    type: str | None = None
    name: str | None = None
    abbreviation: str | None = None
    description: str | None = None
    asset_class: str | None = None
    data_types: list[str] = Field(default_factory=list)
    legacy: bool | None = None
    exchange: int | None = None
    sip_mapping: dict[str, str] = Field(default_factory=dict)
    update_rules: UpdateRules | None = None


class Split(VendorModel):
    """One row of ``/v3/reference/splits`` (also fits ``/stocks/v1/splits``)."""

    ticker: str
    execution_date: dt.date
    split_from: float
    split_to: float
    id: str | None = None
    adjustment_type: str | None = None
    historical_adjustment_factor: float | None = None


class Dividend(VendorModel):
    """One row of ``/v3/reference/dividends`` (also fits ``/stocks/v1/dividends``)."""

    ticker: str
    ex_dividend_date: dt.date
    cash_amount: float | None = None
    id: str | None = None
    currency: str | None = None
    declaration_date: dt.date | None = None
    record_date: dt.date | None = None
    pay_date: dt.date | None = None
    frequency: int | None = None
    dividend_type: str | None = None
    distribution_type: str | None = None
    historical_adjustment_factor: float | None = None
    split_adjusted_cash_amount: float | None = None


class MarketStatusNow(VendorModel):
    """``/v1/marketstatus/now``: a bare object, no envelope."""

    market: str | None = None
    early_hours: bool | None = Field(None, alias="earlyHours")
    after_hours: bool | None = Field(None, alias="afterHours")
    server_time: dt.datetime | None = Field(None, alias="serverTime")
    exchanges: dict[str, str] = Field(default_factory=dict)
    currencies: dict[str, str] = Field(default_factory=dict)
    indices_groups: dict[str, str] = Field(default_factory=dict, alias="indicesGroups")


class MarketHoliday(VendorModel):
    """One element of ``/v1/marketstatus/upcoming`` (a bare array)."""

    exchange: str
    date: dt.date
    name: str | None = None
    status: str | None = None
    open: dt.datetime | None = None
    close: dt.datetime | None = None


class ShortInterest(VendorModel):
    """One row of ``/stocks/v1/short-interest`` (FINRA, bi-monthly)."""

    settlement_date: dt.date
    ticker: str | None = None
    short_interest: float | None = None
    avg_daily_volume: float | None = None
    days_to_cover: float | None = None


class ShortVolume(VendorModel):
    """One row of ``/stocks/v1/short-volume`` (FINRA off-exchange, daily)."""

    date: dt.date
    ticker: str | None = None
    short_volume: float | None = None
    exempt_volume: float | None = None
    non_exempt_volume: float | None = None
    total_volume: float | None = None
    short_volume_ratio: float | None = None
    nyse_short_volume: float | None = None
    nyse_short_volume_exempt: float | None = None
    nasdaq_carteret_short_volume: float | None = None
    nasdaq_carteret_short_volume_exempt: float | None = None
    nasdaq_chicago_short_volume: float | None = None
    nasdaq_chicago_short_volume_exempt: float | None = None
    adf_short_volume: float | None = None
    adf_short_volume_exempt: float | None = None


class FreeFloat(VendorModel):
    """One row of ``/stocks/vX/float``: the latest value only, no history."""

    ticker: str
    effective_date: dt.date | None = None
    free_float: float | None = None
    free_float_percent: float | None = None


# --------------------------------------------------------------------------- news (parsed, unused)
class NewsPublisher(VendorModel):
    name: str | None = None
    homepage_url: str | None = None
    logo_url: str | None = None
    favicon_url: str | None = None


class NewsInsight(VendorModel):
    ticker: str | None = None
    sentiment: str | None = None
    sentiment_reasoning: str | None = None


class NewsArticle(VendorModel):
    """One row of ``/v2/reference/news``."""

    id: str
    publisher: NewsPublisher | None = None
    title: str | None = None
    author: str | None = None
    published_utc: dt.datetime | None = None
    article_url: str | None = None
    tickers: list[str] = Field(default_factory=list)
    amp_url: str | None = None
    image_url: str | None = None
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)
    insights: list[NewsInsight] = Field(default_factory=list)


# --------------------------------------------------------------------------- list adapters
AGG_BAR_LIST = TypeAdapter(list[AggBar])
GROUPED_BAR_LIST = TypeAdapter(list[GroupedBar])
TRADE_LIST = TypeAdapter(list[Trade])
QUOTE_LIST = TypeAdapter(list[Quote])
TICKER_LIST = TypeAdapter(list[Ticker])
TICKER_TYPE_LIST = TypeAdapter(list[TickerType])
EXCHANGE_LIST = TypeAdapter(list[Exchange])
CONDITION_LIST = TypeAdapter(list[Condition])
SPLIT_LIST = TypeAdapter(list[Split])
DIVIDEND_LIST = TypeAdapter(list[Dividend])
MARKET_HOLIDAY_LIST = TypeAdapter(list[MarketHoliday])
SHORT_INTEREST_LIST = TypeAdapter(list[ShortInterest])
SHORT_VOLUME_LIST = TypeAdapter(list[ShortVolume])
FREE_FLOAT_LIST = TypeAdapter(list[FreeFloat])
NEWS_ARTICLE_LIST = TypeAdapter(list[NewsArticle])

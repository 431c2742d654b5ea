"""Every captured vendor response parses into its model, exactly (ints stay ints, unknown keys ignored)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import TypeAdapter

from smallcaps_assets.polygon import models as m
from smallcaps_assets_tests.conftest import CAPTURES, load_capture

# capture file -> (envelope model or None for bare bodies, list adapter or single model of results)
PARSERS: dict[str, tuple[type[m.Envelope] | None, TypeAdapter[Any] | type[m.VendorModel]]] = {
    "v1__marketstatus__now.json": (None, m.MarketStatusNow),
    "v1__marketstatus__upcoming.json": (None, m.MARKET_HOLIDAY_LIST),
    "v2__aggs__grouped__locale__us__market__stocks__2005-04-04__adjusted-true.json": (
        m.AggsResponse,
        m.GROUPED_BAR_LIST,
    ),
    "v2__aggs__ticker__AAPL__prev.json": (m.AggsResponse, m.GROUPED_BAR_LIST),
    "v2__aggs__ticker__AAPL__range__1__day__2005-04-01__2005-04-04.json": (m.AggsResponse, m.AGG_BAR_LIST),
    "v2__reference__news__ticker-NFLX.json": (m.Envelope, m.NEWS_ARTICLE_LIST),
    "v3__quotes__AAPL.json": (m.Envelope, m.QUOTE_LIST),
    "v3__reference__conditions__asset_class-stocks.json": (m.Envelope, m.CONDITION_LIST),
    "v3__reference__dividends.json": (m.Envelope, m.DIVIDEND_LIST),
    "v3__reference__exchanges.json": (m.Envelope, m.EXCHANGE_LIST),
    "v3__reference__splits.json": (m.Envelope, m.SPLIT_LIST),
    "v3__reference__tickers.json": (m.Envelope, m.TICKER_LIST),
    "v3__reference__tickers__AAPL.json": (m.Envelope, m.TickerDetails),
    "v3__reference__tickers__AAPL__date-2020-10-01.json": (m.Envelope, m.TickerDetails),
    "v3__reference__tickers__types.json": (m.Envelope, m.TICKER_TYPE_LIST),
    "v3__trades__AAPL__limit-2.json": (m.Envelope, m.TRADE_LIST),
}


def _parse(name: str) -> tuple[Any, Any]:
    raw = load_capture(name)
    envelope_model, parser = PARSERS[name]
    envelope = envelope_model.model_validate(raw) if envelope_model else None
    body = envelope.results if envelope else raw
    if isinstance(parser, TypeAdapter):
        return envelope, parser.validate_python(body)
    return envelope, parser.model_validate(body)


def test_every_capture_has_a_parser() -> None:
    assert sorted(p.name for p in CAPTURES.glob("*.json")) == sorted(PARSERS)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_capture_parses(name: str) -> None:
    raw = load_capture(name)
    envelope, parsed = _parse(name)
    if envelope is not None:
        assert envelope.status == "OK"
        assert envelope.request_id == raw["request_id"]
    raw_rows = raw["results"] if isinstance(raw, dict) and "results" in raw else raw
    if isinstance(parsed, list):
        assert len(parsed) == len(raw_rows) > 0
        rows = list(zip(parsed, raw_rows, strict=True))
    else:
        rows = [(parsed, raw_rows)]
    for model, source in rows:
        dumped = model.model_dump(by_alias=True, exclude_unset=True)
        # every field the model knows comes back with the vendor's key; none is invented
        for key in dumped:
            assert key in source, (name, key)


def test_ns_timestamps_stay_exact_ints() -> None:
    text = (CAPTURES / "v3__trades__AAPL__limit-2.json").read_bytes()
    raw = json.loads(text)["results"][0]
    trade = m.TRADE_LIST.validate_json(json.dumps(json.loads(text)["results"]))[0]
    for field in ("sip_timestamp", "participant_timestamp", "trf_timestamp"):
        value = getattr(trade, field)
        assert type(value) is int and value == raw[field]
    assert isinstance(trade.size, float) and trade.size == 10.0
    assert trade.conditions == [12, 37]
    big = 1_651_181_822_461_979_393  # not representable as a float
    assert m.Trade.model_validate({"sip_timestamp": big, "price": 1, "size": 1}).sip_timestamp == big


def test_aggs_fields_and_aliases() -> None:
    env, bars = _parse("v2__aggs__ticker__AAPL__range__1__day__2005-04-01__2005-04-04.json")
    assert env.ticker == "AAPL" and env.query_count == 2 and env.results_count == 2 and env.adjusted
    assert bars[0].t == 1112331600000 and type(bars[0].t) is int
    assert bars[0].v == 642646396.0 and bars[0].n == 82132 and bars[0].otc is False
    _, grouped = _parse("v2__aggs__grouped__locale__us__market__stocks__2005-04-04__adjusted-true.json")
    assert grouped[0].ticker == "GIK" and isinstance(grouped[0].v, float)
    assert grouped[0].model_dump(by_alias=True)["T"] == "GIK"


def test_details_nested_objects() -> None:
    _, details = _parse("v3__reference__tickers__AAPL.json")
    assert details.address is not None and details.address.city == "CUPERTINO"
    assert details.branding is not None and details.branding.logo_url.endswith(".svg")
    assert details.weighted_shares_outstanding == 16185181000.0
    assert str(details.list_date) == "1980-12-12"


def test_market_status_and_holidays() -> None:
    _, now = _parse("v1__marketstatus__now.json")
    assert now.market == "extended-hours" and now.after_hours is True
    assert now.server_time is not None and now.server_time.utcoffset() is not None
    _, holidays = _parse("v1__marketstatus__upcoming.json")
    early = [h for h in holidays if h.status == "early-close"]
    assert early and all(h.open is not None and h.close is not None for h in early)


LENIENT_CASES: list[tuple[Callable[[dict], Any], dict]] = [
    (m.Trade.model_validate, {"sip_timestamp": 1, "price": 1.5, "size": 3, "brand_new_field": [1, 2]}),
    (m.Quote.model_validate, {"sip_timestamp": 1}),
    (m.AggBar.model_validate, {"t": 1, "o": 1, "h": 1, "l": 1, "c": 1, "v": 0.5, "zz": 1}),
    (m.Ticker.model_validate, {"ticker": "ABCD"}),
    (m.TickerDetails.model_validate, {"ticker": "ABCD", "address": {"city": "X", "country": "US"}}),
    (
        m.Split.model_validate,
        {"ticker": "A", "execution_date": "2024-01-02", "split_from": 10, "split_to": 1},
    ),
    (m.Dividend.model_validate, {"ticker": "A", "ex_dividend_date": "2024-01-02"}),
    (m.ShortInterest.model_validate, {"settlement_date": "2024-01-12"}),
    (m.ShortVolume.model_validate, {"date": "2024-01-12"}),
    (m.FreeFloat.model_validate, {"ticker": "A"}),
    (m.Condition.model_validate, {"id": 1}),
    (m.Exchange.model_validate, {"id": 4}),
    (m.MarketStatusNow.model_validate, {"indicesGroups": {"msci": "open"}}),
    (m.Envelope.model_validate, {"status": "DELAYED"}),
]


@pytest.mark.parametrize(("validate", "payload"), LENIENT_CASES)
def test_missing_optional_and_unknown_keys_tolerated(validate: Callable[[dict], Any], payload: dict) -> None:
    validate(payload)

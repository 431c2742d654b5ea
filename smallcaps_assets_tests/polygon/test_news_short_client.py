"""news, short_interest and short_volume of PolygonClient against the offline market in process:
what the assets ask for (a whole market per request) parses into what the market planted."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from smallcaps_assets.polygon import PolygonClient
from smallcaps_assets.sim import SimMarket, prices
from smallcaps_assets.stages import news as news_stage

from .test_sim_integration import DAY, run, sim_client

ET = ZoneInfo("America/New_York")


def _catalysts(market: SimMarket) -> dict[tuple[str, dt.date], int]:
    """(ticker, session) of every planted catalyst -> the ns its pre-market jump's news minute starts."""
    out = {}
    for p in market.profiles():
        sk = market.skeleton(p)
        for i in np.nonzero(np.asarray(sk.shape) != prices.NO_CATALYST)[0]:
            out[(p.ticker, sk.dates[int(i)])] = prices.news_time_ns(sk, int(i))
    return out


def test_news_is_one_article_per_catalyst_just_before_its_jump(small_market: SimMarket) -> None:
    """Every catalyst day has exactly one article, published 5-54 s before the news minute in
    which the pre-market volume burst starts (the jump is the minute after): the truth of
    sim/api/news.py and prices.news_time_ns, against which docs/vendor_api.md was fixed."""
    first, last = small_market.sessions()[0], small_market.sessions()[-1]
    start = dt.datetime.combine(first, dt.time(0), ET)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), ET)
    client = sim_client(small_market)
    articles = run(client, lambda c: c.news(published_utc_gte=start, published_utc_lt=end, limit=5))
    catalysts = _catalysts(small_market)
    assert len(catalysts) >= 10, "the test market should plant a dozen catalysts or more"
    by_day = {}
    for a in articles:
        assert len(a.tickers) == 1 and a.published_utc.tzinfo is not None
        by_day[(a.tickers[0], a.published_utc.astimezone(ET).date())] = a
    assert len(by_day) == len(articles) and set(by_day) == set(catalysts)
    for key, article in by_day.items():
        lead_s = catalysts[key] / 1e9 - article.published_utc.timestamp()
        assert 5 <= lead_s < 55, (key, lead_s)
        assert dt.time(5, 38) <= article.published_utc.astimezone(ET).time() <= dt.time(8, 41)
    assert [a.published_utc for a in articles] == sorted(a.published_utc for a in articles)
    usage = client.usage["/v2/reference/news"]
    assert usage.calls == 1 and usage.pages == usage.http_requests >= len(articles) // 5


def test_news_window_is_half_open(small_market: SimMarket) -> None:
    ticker, session = min(_catalysts(small_market))
    one = run(sim_client(small_market), lambda c: c.news(ticker=ticker, published_utc_gte=start_of(session)))
    published = next(a.published_utc for a in one if a.published_utc.date() == session)
    second = dt.timedelta(seconds=1)

    def window(lo: dt.datetime, hi: dt.datetime) -> list:
        return run(
            sim_client(small_market),
            lambda c: c.news(ticker=ticker, published_utc_gte=lo, published_utc_lt=hi),
        )

    assert [a.published_utc for a in window(published, published + second)] == [published]
    assert window(published - second, published) == []


def start_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), dt.UTC)


def test_news_refuses_naive_or_fractional_bounds() -> None:
    client = PolygonClient("http://offline.sim", "k")
    with pytest.raises(ValueError, match="timezone-aware"):
        run(client, lambda c: c.news(published_utc_gte=dt.datetime(2024, 1, 2)))
    with pytest.raises(ValueError, match="whole second"):
        run(client, lambda c: c.news(published_utc_lt=dt.datetime(2024, 1, 2, 0, 0, 0, 5, dt.UTC)))


def test_one_news_day_of_the_asset_window(small_market: SimMarket) -> None:
    """The news asset's window of a catalyst session holds exactly that session's articles (the
    catalysts are all pre-market, after the previous session's 20:00 ET)."""
    ticker, session = sorted(_catalysts(small_market), key=lambda k: k[1])[len(_catalysts(small_market)) // 2]
    lo, hi = news_stage.news_window(session)
    articles = run(sim_client(small_market), lambda c: c.news(published_utc_gte=lo, published_utc_lt=hi))
    want = {t for t, d in _catalysts(small_market) if d == session}
    assert {a.tickers[0] for a in articles} == want and ticker in want


def test_short_interest_of_every_ticker_in_one_request(small_market: SimMarket) -> None:
    lo, hi = dt.date(2024, 1, 1), dt.date(2024, 2, 13)
    client = sim_client(small_market)
    rows = run(client, lambda c: c.short_interest(settlement_date_gte=lo, settlement_date_lte=hi))
    want = {
        (r["ticker"], r["settlement_date"], r["short_interest"])
        for p in small_market.profiles()
        for r in small_market.short_interest(p.ticker)
        if lo.isoformat() <= r["settlement_date"] <= hi.isoformat()
    }
    got = {(r.ticker, r.settlement_date.isoformat(), r.short_interest) for r in rows}
    assert got == want and len({t for t, _, _ in got}) > 10
    assert {r.settlement_date for r in rows} == {dt.date(2024, 1, 12), dt.date(2024, 1, 31)}
    assert client.usage["/stocks/v1/short-interest"].http_requests == 1


def test_short_volume_of_every_ticker_in_one_request(small_market: SimMarket) -> None:
    client = sim_client(small_market)
    rows = run(client, lambda c: c.short_volume(date=DAY))
    want = {
        p.ticker: r["short_volume"]
        for p in small_market.profiles()
        if (r := small_market.short_volume(p.ticker, DAY)) is not None
    }
    assert {r.ticker: r.short_volume for r in rows} == want and len(want) > 10
    assert all(r.date == DAY and r.short_volume <= r.total_volume for r in rows)
    assert client.usage["/stocks/v1/short-volume"].http_requests == 1

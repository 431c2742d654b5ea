"""The download manifest's selection rules, each at its boundary, on hand-built frames."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages import manifest as mf

DAY = dt.date(2024, 3, 5)  # EST: 09:30 ET = 14:30 UTC
UTC_NS = pl.Datetime("ns", "UTC")


def at(hhmm: str) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(DAY, dt.time(h, m), tzinfo=cal.NY).astimezone(dt.UTC)


def bars_for(
    symbol: str, mids: list[float], start: str = "09:30", volume: float = 50_000, spread=0.0
) -> list[dict]:
    """Bars around a mid: with ``spread`` > 0 each bar's range is the quoted spread (low = bid,
    high = ask) and the close prints at the bid or the ask (a bid-ask bounce), which is what the
    close-high-low estimator reads as a spread."""
    t0 = at(start)
    rows = []
    for i, m in enumerate(mids):
        bid, ask = m * (1 - spread / 2), m * (1 + spread / 2)
        close = ask if (i * 7) % 3 else bid
        rows.append(
            {
                "symbol": symbol,
                "ts": t0 + dt.timedelta(minutes=i),
                "open": m,
                "high": max(ask, m),
                "low": min(bid, m),
                "close": close if spread else m,
                "volume": volume,
                "vwap": m,
                "transactions": 100,
            }
        )
    return rows


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows).with_columns(pl.col("ts").cast(UTC_NS))


def event(
    symbol: str, hhmm: str, score: float | None = 0.9, etype: str = "volume_spike", strength: float = 5.0
):
    return {
        "event_id": f"{symbol}-{hhmm}-{etype}",
        "symbol": symbol,
        "ts": at(hhmm),
        "event_type": etype,
        "session": "RTH",
        "direction": 1,
        "strength": strength,
        "score": score,
    }


EVENT_COLUMNS = {
    "event_id": pl.String,
    "symbol": pl.String,
    "ts": UTC_NS,
    "event_type": pl.String,
    "session": pl.String,
    "direction": pl.Int64,
    "strength": pl.Float64,
    "score": pl.Float64,
}


def events_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=EVENT_COLUMNS)


def universe(*symbols: str, cap: float | None = 5e8) -> pl.DataFrame:
    return pl.DataFrame(
        {"symbol": list(symbols), "market_cap": [cap] * len(symbols)},
        schema_overrides={"market_cap": pl.Float64},
    )


def run(events, bars, uni, prior=None, **rules):
    return mf.select(DAY, events_frame(events), frame(bars), uni, prior, mf.ManifestRules(**rules))


@pytest.fixture()
def liquid_bars():
    return bars_for("AAA", [10.0] * 40) + bars_for("BBB", [5.0] * 40)


def test_score_boundary_and_null_scores(liquid_bars):
    evs = [event("AAA", "09:50", 0.60), event("BBB", "09:50", 0.5999), event("BBB", "09:55", None, "flush")]
    out, funnel = run(evs, liquid_bars, universe("AAA", "BBB"))
    assert out["symbol"].to_list() == ["AAA"]
    assert funnel["detected"] == 3 and funnel["score"] == 1


def test_liquidity_boundaries_on_the_confirming_bar():
    # The event at 09:50 is confirmed by the bar that starts 09:49; 10,000 shares at $10 = $100K.
    ok = bars_for("AAA", [10.0] * 40, volume=10_000)
    thin_shares = bars_for("BBB", [20.0] * 40, volume=9_999)  # $199,980 but < 10K shares
    thin_dollars = bars_for("CCC", [9.9999] * 40, volume=10_000)  # 10K shares but $99,999
    evs = [event("AAA", "09:50"), event("BBB", "09:50"), event("CCC", "09:50")]
    out, funnel = run(evs, ok + thin_shares + thin_dollars, universe("AAA", "BBB", "CCC"))
    assert out["symbol"].to_list() == ["AAA"]
    assert out["bar_volume"][0] == 10_000 and out["bar_dollar_volume"][0] == pytest.approx(100_000)
    assert funnel["liquidity"] == 1


def test_event_without_a_confirming_bar_is_not_liquid(liquid_bars):
    out, _ = run([event("AAA", "12:00")], liquid_bars, universe("AAA"))  # bars end 10:10
    assert out.is_empty()


def test_spread_estimate_matches_the_formula_and_gates():
    rng = np.random.default_rng(3)
    closes = list(10 + np.cumsum(rng.normal(0, 0.02, 40)))
    rows = bars_for("AAA", closes, spread=0.004)
    bars = frame(rows)
    est = mf.estimated_spread(bars, n_bars=30)
    # Independent recomputation in plain Python for the bar closing at 10:00 (started 09:59).
    c = [math.log(r["close"]) for r in rows]
    eta = [math.log((r["high"] + r["low"]) / 2) for r in rows]
    k = 29  # index of the 09:59 bar
    pairs = [4 * (c[t - 1] - eta[t - 1]) * (c[t - 1] - eta[t]) for t in range(1, k + 1)][-30:]
    expected = 100 * math.sqrt(max(0.0, sum(pairs) / len(pairs)))
    got = est.filter(pl.col("ts") == at("10:00"))["est_spread_pct"][0]
    assert got == pytest.approx(expected, rel=1e-9)
    assert 0.2 < got < 0.6  # a 0.4% quoted spread, read back approximately
    wide = bars_for("WIDE", [2.0] * 40, spread=0.12, volume=200_000)
    out, funnel = run(
        [event("AAA", "10:00"), event("WIDE", "10:00")],
        rows + wide,
        universe("AAA", "WIDE"),
        max_spread_pct=5.0,
    )
    assert out["symbol"].to_list() == ["AAA"] and funnel["spread"] == 1
    assert out["est_spread_pct"][0] == pytest.approx(expected)


def test_spread_estimate_uses_no_later_bar():
    rows = bars_for("AAA", [10.0 + 0.01 * i for i in range(40)], spread=0.01)
    full = mf.estimated_spread(frame(rows))
    changed = [dict(r) for r in rows]
    for r in changed[30:]:  # rewrite everything after the bar closing at 10:00
        r.update(high=r["close"] * 1.5, low=r["close"] * 0.5)
    trunc = mf.estimated_spread(frame(changed))
    cut = at("10:00")
    left = full.filter(pl.col("ts") <= cut)
    right = trunc.filter(pl.col("ts") <= cut)
    assert left.equals(right)
    assert not full.equals(trunc)


def test_universe_membership_and_cap_recheck(liquid_bars):
    evs = [event("AAA", "09:50"), event("BBB", "09:50")]
    out, _ = run(evs, liquid_bars, universe("AAA"))
    assert out["symbol"].to_list() == ["AAA"]
    big = pl.concat([universe("AAA", cap=1.999e9), universe("BBB", cap=2.0e9)])
    out, _ = run(evs, liquid_bars, big)
    assert out["symbol"].to_list() == ["AAA"]
    out, funnel = run(evs, liquid_bars, universe("AAA", "BBB", cap=None))
    assert out.is_empty() and funnel["universe"] == 0


def test_the_best_event_of_each_type_first_then_the_best_per_day(liquid_bars):
    evs = [
        event("AAA", "09:45", 0.95, "volume_spike"),
        event("AAA", "09:46", 0.93, "volume_spike"),
        event("AAA", "09:50", 0.9, "hod_break"),
        event("AAA", "09:55", 0.9, "flush", strength=2.0),
        event("AAA", "09:56", 0.8, "vwap_break"),
        event("AAA", "09:50", 0.9, "hod_break"),  # exact duplicate key
    ]
    no_context = {"context_types": ()}
    out, funnel = run(evs, liquid_bars, universe("AAA"), **no_context)
    assert funnel["dedup"] == 5 and funnel["per_day"] == 3
    # one per type (the second volume_spike waits), then the best three by score, then strength
    assert out.sort("ts").select("event_type", "score").rows() == [
        ("volume_spike", 0.95),
        ("hod_break", 0.9),
        ("flush", 0.9),
    ]
    one, _ = run(evs, liquid_bars, universe("AAA"), max_per_symbol_day=1, **no_context)
    assert one.select("event_type", "score").row(0) == ("volume_spike", 0.95)
    by_score, _ = run(
        evs, liquid_bars, universe("AAA"), max_per_symbol_type_day=2, max_per_symbol_day=2, **no_context
    )
    assert by_score["event_type"].to_list() == ["volume_spike", "volume_spike"]
    # by default volume_spike is a context type: the setups rank first, whatever their scores
    setups, _ = run(evs, liquid_bars, universe("AAA"))
    assert setups.sort("ts")["event_type"].to_list() == ["hod_break", "flush", "vwap_break"]
    alone, _ = run(evs[:2], liquid_bars, universe("AAA"))
    assert alone["event_type"].to_list() == ["volume_spike"], "a context type still goes when alone"


def test_trailing_window_limit_counts_earlier_manifests(liquid_bars):
    evs = [event("AAA", "09:50"), event("BBB", "09:50")]
    prior = pl.DataFrame({"symbol": ["AAA", "AAA", "BBB", "BBB", "BBB"]})
    out, funnel = run(evs, liquid_bars, universe("AAA", "BBB"), prior, max_per_symbol_window=3)
    assert out["symbol"].to_list() == ["AAA"]
    assert out["prior_window_events"].to_list() == [2]
    assert funnel["per_window"] == 1


def test_windows_are_3_before_to_7_after_clipped_to_the_session():
    rows = bars_for("AAA", [10.0] * 30, start="19:35")  # bars to 20:04: the sim never has them,
    rows = [r for r in rows if r["ts"] < at("20:00")]  # the vendor stops at 20:00
    out, _ = run(
        [event("AAA", "19:40"), event("AAA", "19:58", 0.95)],
        rows,
        universe("AAA"),
        max_per_symbol_day=2,
        max_per_symbol_type_day=2,
    )
    got = {r["ts"]: (r["window_start"], r["window_end"]) for r in out.iter_rows(named=True)}
    assert got[at("19:40")] == (at("19:37"), at("19:47"))
    assert got[at("19:58")] == (at("19:55"), at("20:00"))  # clipped at the 20:00 close


def test_output_schema_is_fixed_even_when_empty(liquid_bars):
    out, funnel = run([], liquid_bars, universe("AAA"))
    assert out.is_empty() and dict(out.schema) == mf.MANIFEST_SCHEMA
    assert list(funnel) == list(mf.FUNNEL) and set(funnel.values()) == {0}


def test_content_hash_tracks_the_requested_windows_only(liquid_bars):
    evs = [event("AAA", "09:50"), event("BBB", "09:50")]
    a, _ = run(evs, liquid_bars, universe("AAA", "BBB"))
    rescored = a.with_columns(score=pl.lit(0.99))
    assert mf.content_hash(a) == mf.content_hash(rescored) == mf.content_hash(a.reverse())
    moved = a.with_columns(window_end=pl.col("window_end") + dt.timedelta(seconds=1))
    assert mf.content_hash(moved) != mf.content_hash(a)
    assert mf.content_hash(a.head(1)) != mf.content_hash(a)


def test_rules_refuse_nonsense():
    with pytest.raises(ValueError, match="min_score"):
        mf.ManifestRules(min_score=1.5)
    with pytest.raises(ValueError, match="max_per_symbol_day"):
        mf.ManifestRules(max_per_symbol_day=0)


def _quotes(symbol: str, ts: dt.datetime, spreads_before: list[float], after: float = 0.5) -> pl.DataFrame:
    """Quotes of one event around a $10 mid: one a second before ``ts`` with the given spreads
    (oldest first), and one right at ``ts`` (which the measure must not read)."""
    ts_ns = int(ts.timestamp()) * 1_000_000_000
    rows = [
        {"sip_timestamp": ts_ns - (len(spreads_before) - i) * 1_000_000_000, "spread": sp}
        for i, sp in enumerate(spreads_before)
    ] + [{"sip_timestamp": ts_ns, "spread": after}]
    return pl.DataFrame(rows).select(
        symbol=pl.lit(symbol),
        ts=pl.lit(ts).cast(UTC_NS),
        sip_timestamp="sip_timestamp",
        bid_price=10 - pl.col("spread") / 2,
        ask_price=10 + pl.col("spread") / 2,
    )


def test_quoted_spread_is_the_median_of_the_last_quotes_before_the_event():
    q = _quotes("AAA", at("09:50"), [0.04, 0.02, 0.02, 0.0, -0.01, 0.03])  # a locked and a crossed quote
    got = mf.quoted_spread_before(q, last=5)
    # the last 5 usable quotes before ts: 0.04 0.02 0.02 0.03 (locked/crossed skipped, 0.5 at ts unread)
    assert got["est_spread_pct"].to_list() == [pytest.approx(100 * 0.025 / 10)]
    assert mf.quoted_spread_before(q, last=2)["est_spread_pct"][0] == pytest.approx(100 * 0.025 / 10)
    one_sided = q.with_columns(bid_price=pl.lit(0.0))
    assert mf.quoted_spread_before(one_sided).is_empty()  # unknown: the spread rule fails it


def test_select_reads_the_quoted_spread_where_given(liquid_bars):
    evs = [event("AAA", "09:50"), event("BBB", "09:50")]
    wide = _quotes("AAA", at("09:50"), [0.6] * 10)  # 6% of a $10 mid: over the 5% rule
    out, funnel = run(evs, liquid_bars, universe("AAA", "BBB"))
    assert funnel["spread"] == 2  # flat bars: the bar estimate reads 0
    out, funnel = mf.select(
        DAY, events_frame(evs), frame(liquid_bars), universe("AAA", "BBB"), None, quotes_before=wide
    )
    assert out["symbol"].to_list() == ["BBB"] and funnel["spread"] == 1  # BBB falls back on its bars
    assert out["spread_source"].to_list() == ["bars"]
    narrow = _quotes("AAA", at("09:50"), [0.02] * 10)
    out, _ = mf.select(
        DAY, events_frame(evs), frame(liquid_bars), universe("AAA", "BBB"), None, quotes_before=narrow
    )
    assert dict(zip(out["symbol"], out["spread_source"], strict=True)) == {"AAA": "quoted", "BBB": "bars"}
    assert out.filter(pl.col("symbol") == "AAA")["est_spread_pct"][0] == pytest.approx(100 * 0.02 / 10)


def test_spread_candidates_are_the_events_past_score_and_liquidity(liquid_bars):
    evs = [
        event("AAA", "09:50"),
        event("AAA", "09:50", etype="flush"),  # same (symbol, ts): one request
        event("BBB", "09:55", 0.5),  # below the score
        event("BBB", "12:00"),  # no confirming bar: not liquid
        event("BBB", "09:45"),
    ]
    got = mf.spread_candidates(events_frame(evs), frame(liquid_bars))
    assert got.rows() == [("AAA", at("09:50")), ("BBB", at("09:45"))]


class _QuoteVendor:
    """A client whose ``ticks_before`` answers from a fixed frame and records what was asked."""

    def __init__(self, quotes: dict[str, pl.DataFrame]):
        self.quotes, self.asked = quotes, []

    async def ticks_before(self, kind, ticker, before_ns, limit=100):
        self.asked.append((kind, ticker, before_ns, limit))
        none = pl.DataFrame(
            schema={"sip_timestamp": pl.Int64, "bid_price": pl.Float64, "ask_price": pl.Float64}
        )
        q = self.quotes.get(ticker, none)
        return q.filter(pl.col("sip_timestamp") < before_ns).sort("sip_timestamp").tail(limit).reverse()


def test_fetch_quotes_before_asks_once_per_candidate_and_feeds_the_spread():
    import asyncio

    q = _quotes("AAA", at("09:50"), [0.04, 0.02, 0.02, 0.03]).drop("symbol", "ts")
    vendor = _QuoteVendor({"AAA": q})
    cands = pl.DataFrame({"symbol": ["AAA", "ZZZ"], "ts": [at("09:50"), at("09:50")]}).with_columns(
        pl.col("ts").cast(UTC_NS)
    )
    got = asyncio.run(mf.fetch_quotes_before(vendor, cands, last=3))
    ts_ns = int(at("09:50").timestamp()) * 1_000_000_000
    assert sorted(vendor.asked) == [("quotes", "AAA", ts_ns, 3), ("quotes", "ZZZ", ts_ns, 3)]
    assert got.height == 3 and set(got["symbol"]) == {"AAA"}  # ZZZ has no quote: no row
    spread = mf.quoted_spread_before(got, last=3)
    assert spread["est_spread_pct"].to_list() == [pytest.approx(100 * 0.02 / 10)]  # median 0.02 0.02 0.03


def _universe_like(market, day: dt.date) -> list[str]:
    """The day's universe by the default rules, read from the simulator's daily paths (price band,
    cap, float, 20-session dollar volume): the names the demo detects events on."""
    from smallcaps_assets.stages.universe import UniverseRules

    r = UniverseRules()
    prev = cal.previous_trading_day(day)
    out = []
    for p in market.tickers_on(day):
        if p.type not in r.types or p.primary_exchange not in r.exchanges:
            continue
        sk = market.skeleton(p)
        i = sk.pos.get(prev)
        if i is None or i < r.min_adv_sessions:
            continue
        close, shares = sk.raw_close(i), sk.raw_shares(i)
        if not r.min_price <= close <= r.max_price or shares * close >= r.max_market_cap:
            continue
        if p.float_pct is not None and shares * p.float_pct >= r.max_float:
            continue
        lo = max(0, i - r.adv_sessions + 1)
        if np.mean(sk.econ_volume[lo : i + 1] * sk.econ_close[lo : i + 1]) < r.min_adv_dollar:
            continue
        out.append(p.ticker)
    return out


def _demo_window_ranks(market, days: list[dt.date]) -> tuple[float, float, int]:
    """Over the events the demo's detectors find on its universe (the liquid ones, one per symbol-day):
    rank correlation with the quoted spread of each download window of (the quoted spread before the
    event, the bar estimate), and the number of windows."""
    from smallcaps_assets.sim.facts import event_windows

    w = pl.concat([event_windows(market, d, _universe_like(market, d)) for d in days])
    quoted = w.select(pl.corr("quoted_before_pct", "quoted_pct", method="spearman")).item()
    bars = w.select(pl.corr("est_spread_pct", "quoted_pct", method="spearman")).item()
    print(f"{w.height} windows: quoted before the event {quoted:.3f}, bar estimate {bars:.3f}")
    return quoted, bars, w.height


def test_quoted_spread_ranks_event_windows_on_the_offline_market(small_market):
    """The manifest's spread measure against the quoted spread of the window it downloads, on the
    demo's days of a small market; the bar estimate cannot rank them (why it is only a fallback)."""
    days = cal.trading_days(dt.date(2024, 3, 4), dt.date(2024, 3, 8))
    quoted, bars, n = _demo_window_ranks(small_market, days)
    assert n >= 15
    assert quoted >= 0.7
    assert bars < quoted


@pytest.mark.slow
def test_quoted_spread_ranks_the_demo_windows(default_market):
    """The figure docs/manifest.md quotes: the demo's fortnight (2024-03-04..15) of the default market."""
    days = cal.trading_days(dt.date(2024, 3, 4), dt.date(2024, 3, 15))
    quoted, bars, n = _demo_window_ranks(default_market, days)
    assert n >= 200
    assert quoted >= 0.7
    assert bars < quoted

"""The simulated market as a library: determinism, internal consistency and stylised facts."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from smallcaps_assets import calendar as cal
from smallcaps_assets.sim import DataFaults, EdgeConfig, SimConfig, SimMarket, ticks
from smallcaps_assets.sim import conditions as cond
from smallcaps_assets.sim.prices import SHAPE_NAMES


def _sample_symbol_days(market: SimMarket, n: int, seed: int = 0, types=("CS",)) -> list[tuple[str, dt.date]]:
    rng = np.random.default_rng(seed)
    ps = [p for p in market.profiles() if p.type in types]
    days = market.sessions()
    out = []
    while len(out) < n:
        p = ps[rng.integers(len(ps))]
        d = days[rng.integers(len(days))]
        if market.is_listed(p, d):
            out.append((p.ticker, d))
    return out


# ----------------------------------------------------------------------------- determinism


def test_same_seed_same_market(small_config):
    a, b = SimMarket(small_config), SimMarket(small_config)
    ticker, day = _sample_symbol_days(a, 1, seed=3)[0]
    assert a.trades(ticker, day).equals(b.trades(ticker, day))
    assert a.quotes(ticker, day).equals(b.quotes(ticker, day))
    assert [p.ticker for p in a.profiles()] == [p.ticker for p in b.profiles()]


def test_different_seed_different_market(small_config):
    a = SimMarket(small_config)
    b = SimMarket(small_config.model_copy(update={"seed": small_config.seed + 1}))
    assert [p.ticker for p in a.profiles()] != [p.ticker for p in b.profiles()]
    day = dt.date(2024, 2, 1)
    assert not a.grouped_daily(day).equals(b.grouped_daily(day))


def test_extending_the_span_keeps_history(small_config):
    short = SimMarket(small_config)
    longer = SimMarket(small_config.model_copy(update={"end": small_config.end + dt.timedelta(days=60)}))
    day = dt.date(2024, 2, 13)
    # Raw bars only: adjusted ones legitimately change when a later split enters the span.
    assert short.grouped_daily(day, adjusted=False).equals(longer.grouped_daily(day, adjusted=False))


def test_window_equals_slice_of_full_day(small_market):
    """Lazy generation: a 10-minute window is exactly those minutes of the full-day answer."""
    for ticker, day in _sample_symbol_days(small_market, 5, seed=4):
        sess = cal.session(day)
        start = sess.ns("market_open") + 7 * 60 * 10**9 + 123
        end = start + 10 * 60 * 10**9
        full_t = small_market.trades(ticker, day)
        win_t = small_market.trades(ticker, day, start, end)
        expect_t = full_t.filter(pl.col("sip_timestamp").is_between(start, end))
        assert win_t.equals(expect_t)
        full_q = small_market.quotes(ticker, day)
        win_q = small_market.quotes(ticker, day, start, end)
        assert win_q.equals(full_q.filter(pl.col("sip_timestamp").is_between(start, end)))


# ----------------------------------------------------------------------------- consistency


def _bars_from_trades_independently(trades: pl.DataFrame, daily: bool) -> dict[int, tuple]:
    """A deliberately naive re-implementation of the vendor's rules, row by row."""
    hl_bad, oc_bad, vol_bad = cond.ineligible_sets(daily=daily)
    out: dict[int, list] = {}
    for r in trades.sort("sip_timestamp", "sequence_number").iter_rows(named=True):
        if r["correction"]:  # cancelled or corrected: in no bar
            continue
        key = 0 if daily else r["sip_timestamp"] // 60_000_000_000
        c = set(r["conditions"] or [])
        b = out.setdefault(key, [None, None, None, None, 0.0, 0.0, 0])
        if not c & oc_bad:
            b[0] = r["price"] if b[0] is None else b[0]
            b[3] = r["price"]
        if not c & hl_bad:
            b[1] = r["price"] if b[1] is None else max(b[1], r["price"])
            b[2] = r["price"] if b[2] is None else min(b[2], r["price"])
        if not c & vol_bad:
            b[4] += r["size"]
            b[5] += round(r["price"] * 10_000) * r["size"]
            b[6] += 1
    return {  # no bar without an OHLC-eligible print
        k: (o, h, low, c, v, math.floor(pv / v + 0.5) / 10_000, n)
        for k, (o, h, low, c, v, pv, n) in out.items()
        if o is not None and h is not None
    }


def test_trades_aggregate_exactly_to_minute_bars(small_market):
    for ticker, day in _sample_symbol_days(small_market, 12, seed=5):
        trades = small_market.trades(ticker, day)
        bars = small_market.minute_bars(ticker, day)
        expected = _bars_from_trades_independently(trades, daily=False)
        got = {t * 1_000_000 // 60_000_000_000: row for t, *row in bars.iter_rows()}
        assert set(got) == set(expected), (ticker, day)
        for k, row in got.items():
            o, h, low, c, v, vw, n = expected[k]
            assert tuple(row) == pytest.approx((o, h, low, c, v, vw, n), rel=1e-12, abs=1e-9), (
                ticker,
                day,
                k,
            )


def test_minute_bars_relate_to_daily_bar_by_vendor_rules(small_market):
    """Daily OHLC comes from regular-hours prints (Form T excluded); volume and count from all."""
    for ticker, day in _sample_symbol_days(small_market, 15, seed=6):
        daily = small_market.daily_bar(ticker, day)
        bars = small_market.minute_bars(ticker, day)
        sess = cal.session(day)
        rth = bars.filter(
            pl.col("t").is_between(
                sess.ns("market_open") // 10**6, sess.ns("market_close") // 10**6, closed="left"
            )
        )
        assert daily["v"] == bars["v"].sum()
        assert daily["n"] == bars["n"].sum()
        assert daily["h"] == rth["h"].max()
        assert daily["l"] == rth["l"].min()
        assert daily["o"] == rth["o"][0]
        assert daily["c"] == rth["c"][-1]
        vwap = (bars["vw"] * bars["v"]).sum() / bars["v"].sum()
        assert daily["vw"] == pytest.approx(vwap, abs=2e-4 * daily["vw"])
        assert daily == {
            k: v
            for k, v in zip(
                "ohlc",
                _bars_from_trades_independently(small_market.trades(ticker, day), daily=True)[0],
                strict=False,
            )
        } | {k: daily[k] for k in ("v", "vw", "n")}


def test_minutes_without_trades_are_absent(small_market):
    ticker, day = _sample_symbol_days(small_market, 1, seed=7)[0]
    bars = small_market.minute_bars(ticker, day)
    sess = cal.session(day)
    session_minutes = (sess.ns("post_close") - sess.ns("pre_open")) // 60_000_000_000
    assert 0 < bars.height < session_minutes
    assert (bars["n"] > 0).all()
    assert bars["t"].is_unique().all()


def test_bars_inside_extended_session_with_early_close(default_market):
    """2024-11-29 (day after Thanksgiving) closes at 13:00 ET; after-hours ends 17:00 ET."""
    day = dt.date(2024, 11, 29)
    sess = cal.session(day)
    assert sess.early_close
    ticker = next(
        p.ticker for p in default_market.profiles() if default_market.is_listed(p, day) and p.type == "CS"
    )
    bars = default_market.minute_bars(ticker, day)
    assert bars["t"].min() >= sess.ns("pre_open") // 10**6
    assert bars["t"].max() < sess.ns("post_close") // 10**6
    assert default_market.minute_bars(ticker, dt.date(2024, 11, 28)).is_empty()  # Thanksgiving


def test_adjusted_equals_raw_divided_by_split_factor(default_market):
    reverse = [s for s in default_market.all_splits if s.split_from > s.split_to]
    assert reverse, "the default market must contain reverse splits"
    s = reverse[0]
    before = cal.previous_trading_day(s.execution_date)
    raw = default_market.daily_bar(s.ticker, before)
    adj = default_market.daily_bar(s.ticker, before, adjusted=True)
    f = default_market.split_factor(s.ticker, before)
    assert f <= s.split_to / s.split_from
    for k in ("o", "h", "l", "c", "vw"):
        assert adj[k] == raw[k] / f
    assert adj["v"] == raw["v"] * f
    mraw = default_market.minute_bars(s.ticker, before)
    madj = default_market.minute_bars(s.ticker, before, adjusted=True)
    assert (madj["c"] == mraw["c"] / f).all()
    # Across the split the adjusted series is continuous; the raw one jumps by the ratio.
    after = default_market.daily_bar(s.ticker, s.execution_date, adjusted=True)
    raw_after = default_market.daily_bar(s.ticker, s.execution_date)
    assert raw_after["o"] / raw["c"] > 2.0
    assert 0.3 < after["o"] / adj["c"] < 3.0


# ----------------------------------------------------------------------------- stylised facts


def test_market_cap_trap_share(default_market):
    """15-30% of common stocks priced $0.50-$20 have a market cap >= $2B."""
    days = default_market.sessions()[::15]
    total = large = 0
    for p in default_market.profiles():
        if p.type != "CS" or p.market != "stocks":
            continue
        sk = default_market.skeleton(p)
        for d in days:
            i = sk.pos.get(d)
            if i is None:
                continue
            close = sk.raw_close(i)
            if 0.5 <= close <= 20.0:
                total += 1
                large += sk.raw_shares(i) * close >= 2e9
    assert total > 2000
    assert 0.15 <= large / total <= 0.30


def test_reference_mix(default_market):
    ps = default_market.profiles()
    assert len(ps) >= 500
    types = {p.type for p in ps}
    assert {"CS", "ETF", "WARRANT", "PFD", "ADRC"} <= types
    assert any(p.market == "otc" for p in ps)
    assert sum(default_market.delisted_on(p) is not None for p in ps) > 10
    assert sum(p.list_date > default_market.config.start for p in ps) > 10
    assert sum(p.float_pct is None for p in ps) > 5
    assert len({p.ticker for p in ps}) == len(ps)


def test_shares_outstanding_change_over_time(default_market):
    changed = 0
    for p in default_market.profiles():
        sk = default_market.skeleton(p)
        if len(sk.offerings):
            changed += 1
            d = sk.offerings[0]
            before = default_market.shares_outstanding(p, cal.previous_trading_day(d))
            assert default_market.shares_outstanding(p, d) > before * 1.1
    assert changed > 20


def test_gap_day_rate_and_catalyst_ranges(default_market):
    gaps = rvols = n = 0
    all_gaps: list[float] = []
    for p in default_market.profiles():
        if p.type != "CS" or p.market != "stocks":
            continue
        sk = default_market.skeleton(p)
        g = sk.econ_open[1:] / sk.econ_close[:-1] - 1.0
        n += len(g)
        gaps += int((np.abs(g) >= 0.10).sum())
        cat = sk.shape >= 0
        all_gaps.extend(sk.gap[cat].tolist())
        rvols += int(((sk.rvol[cat] >= 5) & (sk.rvol[cat] <= 50)).all())
    rate = gaps / n
    assert 0.004 <= rate <= 0.03, rate
    up = [g for g in all_gaps if g > 0]
    assert min(up) >= 0.095 and max(up) <= 3.05
    assert max(up) > 1.0  # the tail reaches past +100%


def test_extended_hours_volume_share(small_market):
    shares = []
    for ticker, day in _sample_symbol_days(small_market, 60, seed=8):
        plan = small_market.day_plan(ticker, day)
        if plan is None or plan.shape is not None:
            continue
        bars = small_market.minute_bars(ticker, day)
        sess = cal.session(day)
        ext = bars.filter(
            (pl.col("t") < sess.ns("market_open") // 10**6)
            | (pl.col("t") >= sess.ns("market_close") // 10**6)
        )
        shares.append(ext["v"].sum() / bars["v"].sum())
    assert 0.01 < float(np.median(shares)) < 0.15


def test_u_shaped_intraday_volume(small_market):
    first = mid = last = 0.0
    for ticker, day in _sample_symbol_days(small_market, 60, seed=9):
        bars = small_market.minute_bars(ticker, day)
        sess = cal.session(day)
        if sess.early_close or bars.is_empty():
            continue
        o = sess.ns("market_open") // 10**6
        t = (bars["t"] - o) // 60_000
        first += bars.filter(t.is_between(0, 29))["v"].sum()
        mid += bars.filter(t.is_between(180, 209))["v"].sum()
        last += bars.filter(t.is_between(360, 389))["v"].sum()
    assert first > 1.5 * mid and last > 1.3 * mid


def test_catalyst_days_have_shapes_halts_and_ssr(default_market):
    days = default_market.sessions()[200:260]
    per_day = {d: default_market.catalysts(d) for d in days}
    cats = pl.concat(per_day.values())
    assert set(cats["shape"]) == set(SHAPE_NAMES)
    assert (cats["halts"] > 0).mean() > 0.15
    assert cats["rvol"].is_between(5, 50).all()
    # SSR (Rule 201) days: the low reaches 10% under the prior close.
    ssr = 0
    for d, frame in per_day.items():
        for ticker in frame["ticker"]:
            bar = default_market.daily_bar(ticker, d)
            ssr += bar is not None and bar["l"] <= 0.9 * default_market.day_plan(ticker, d).prev_close
    assert ssr > 5


def test_no_trades_during_luld_pause(default_market):
    days = default_market.sessions()[200:240]
    found = 0
    for d in days:
        for r in default_market.catalysts(d).filter(pl.col("halts") > 0).iter_rows(named=True):
            plan = default_market.day_plan(r["ticker"], d)
            trades = default_market.trades(r["ticker"], d)
            for h in plan.halts:
                inside = trades.filter(
                    pl.col("sip_timestamp").is_between(h.start_ns, h.end_ns, closed="left")
                )
                assert inside.is_empty()
                after = trades.filter(pl.col("sip_timestamp") >= h.end_ns)
                assert not after.is_empty()
                assert 300e9 <= h.end_ns - h.start_ns <= 600e9
                found += 1
            if found > 20:
                return
    assert found > 0


def test_quotes_spread_widens_as_price_and_liquidity_fall(default_market):
    day = default_market.sessions()[300]
    rows = []
    for p in default_market.profiles():
        if p.type != "CS" or not default_market.is_listed(p, day):
            continue
        bar = default_market.daily_bar(p.ticker, day)
        if bar is None:
            continue
        sess = cal.session(day)
        q = default_market.quotes(
            p.ticker, day, sess.ns("market_open") + 3600 * 10**9, sess.ns("market_open") + 3900 * 10**9
        )
        if q.is_empty():
            continue
        rel = ((q["ask_price"] - q["bid_price"]) / ((q["ask_price"] + q["bid_price"]) / 2)).median()
        rows.append((bar["c"] * bar["v"], rel))
        if len(rows) > 120:
            break
    dv, rel = np.array(rows).T
    assert np.corrcoef(np.log(dv), np.log(rel))[0, 1] < -0.5


def test_quotes_rarely_locked_or_crossed_and_flagged(small_market):
    qs = pl.concat([small_market.quotes(t, d) for t, d in _sample_symbol_days(small_market, 20, seed=10)])
    crossed = qs["bid_price"] > qs["ask_price"]
    locked = qs["bid_price"] == qs["ask_price"]
    assert 0 < (crossed | locked).mean() <= 0.001
    code = qs["conditions"].list.first()
    assert ((code == cond.Q_CROSSED) == crossed).all() and ((code == cond.Q_LOCKED) == locked).all()


def test_minute_bars_are_the_aggregated_trades_on_busy_and_paused_days(small_market, small_config):
    """The fast path (sums over runs of prints) equals the vendor-rule aggregation of the trades,
    on catalyst days with LULD pauses and with the bad-tick fault (which aggregates the prints)."""
    faulty = SimMarket(small_config.model_copy(update={"faults": DataFaults(bad_tick_rate=0.01)}))
    cases = []
    for d in small_market.sessions():
        cases += [(t, d) for t in small_market.catalysts(d)["ticker"]]
    cases = cases[::2]
    assert len(cases) >= 8 and any(small_market.day_plan(t, d).halts for t, d in cases)
    for market in (small_market, faulty):
        for ticker, day in cases[:10]:
            plan = market.day_plan(ticker, day)
            bucket = (pl.col("sip_timestamp") - plan.t0_ns) // 60_000_000_000
            slow = (
                ticks.aggregate(market.trades(ticker, day), bucket)
                .with_columns(t=(plan.t0_ns + pl.col("bucket") * 60_000_000_000) // 1_000_000)
                .select("t", *"ohlcv", "vw", "n")
            )
            assert market.minute_bars(ticker, day).equals(slow), (ticker, day)
            daily = ticks.aggregate(market.trades(ticker, day), pl.lit(0, pl.Int64), daily=True)
            assert tuple(daily.row(0)[1:]) == tuple(market.daily_bar(ticker, day).values())


def test_prints_follow_volume_and_the_cap_binds_per_minute(small_config):
    """Prints per minute follow the minute's volume; where the cap binds only that minute's lots grow."""
    market = SimMarket(small_config.model_copy(update={"max_trades_per_minute": 40}))
    day = market.sessions()[30]
    busy = max(
        (p for p in market.tickers_on(day) if p.type == "CS"),
        key=lambda p: market.day_plan(p.ticker, day).n_trades.sum(),
    )
    plan = market.day_plan(busy.ticker, day)
    assert plan.n_trades.max() <= 40
    capped = plan.lot > plan.lot.min()
    assert capped.any() and not capped.all()
    bars = market.minute_bars(busy.ticker, day)
    minute = (bars["t"].to_numpy() * 1_000_000 - plan.t0_ns) // 60_000_000_000
    size = bars["v"].to_numpy() / bars["n"].to_numpy()
    assert np.median(size[capped[minute]]) > 2 * np.median(size[~capped[minute]])
    # Uncapped, more volume means more prints: the opening half hour prints more than midday.
    uncapped = SimMarket(small_config)
    plan = uncapped.day_plan(busy.ticker, day)
    assert plan.n_trades.max() > 40
    n = plan.n_trades[plan.rth_start :]
    assert n[:30].sum() > 1.5 * n[180:210].sum()


def test_prints_kept_out_of_bars_are_in_the_tape(small_market):
    """Cancelled/erroneous prints (correction != 0) and the official open/close (15, 16): a few tenths
    of a percent of the tape, in no bar's volume or count."""
    total = kept_out = 0
    for ticker, day in _sample_symbol_days(small_market, 8, seed=13):
        tr = small_market.trades(ticker, day)
        if tr.is_empty():
            continue
        void = tr["correction"] != 0
        official = tr["conditions"].list.contains(cond.OFFICIAL_OPEN) | tr["conditions"].list.contains(
            cond.OFFICIAL_CLOSE
        )
        total += tr.height
        kept_out += int((void | official).sum())
        bars = small_market.minute_bars(ticker, day)
        assert bars["n"].sum() == tr.height - int((void | official).sum())
        assert bars["v"].sum() == tr.filter(~void & ~official)["size"].sum()
        assert official.sum() <= 2
    assert 0.0005 <= kept_out / total <= 0.01


def test_trades_carry_vendor_conditions(small_market):
    codes: set[int] = set()
    for ticker, day in _sample_symbol_days(small_market, 6, seed=12):
        tr = small_market.trades(ticker, day)
        sess = cal.session(day)
        ext = tr.filter(pl.col("sip_timestamp") < sess.ns("market_open"))
        assert ext["conditions"].list.contains(cond.FORM_T).all()
        codes |= set(tr["conditions"].explode().drop_nulls().to_list())
        off = tr.filter(pl.col("exchange") == 4)
        assert (off["trf_id"] > 0).all() and (off["trf_timestamp"] > 0).all()
        assert tr["sequence_number"].is_unique().all() and tr["sequence_number"].is_sorted()
    assert {cond.ODD_LOT, cond.INTERMARKET_SWEEP, cond.AVERAGE_PRICE, cond.OFFICIAL_OPEN} <= codes
    assert codes <= set(cond.TRADE_CONDITIONS)


# ----------------------------------------------------------------------------- switches and faults


def test_planted_edge_and_null_mode():
    base = SimConfig(seed=5, n_symbols=400, catalyst_rate=0.05)
    planted = SimMarket(base.model_copy(update={"edge": EdgeConfig(mode="planted", continuation_prob=0.8)}))
    null = SimMarket(base.model_copy(update={"edge": EdgeConfig(mode="null")}))

    def win_rates(m: SimMarket) -> tuple[float, float]:
        edge, other = [], []
        for p in m.profiles():
            sk = m.skeleton(p)
            for si, w in zip(sk.shape, sk.win, strict=True):
                if si < 0:
                    continue
                (edge if SHAPE_NAMES[si] in m.config.edge.setups else other).append(w)
        return float(np.mean(edge)), float(np.mean(other))

    pe, po = win_rates(planted)
    ne, no = win_rates(null)
    assert pe == pytest.approx(0.8, abs=0.05)
    assert po == pytest.approx(0.5, abs=0.06)
    assert ne == pytest.approx(0.5, abs=0.05)
    assert no == pytest.approx(0.5, abs=0.06)


def test_data_faults_are_off_by_default_and_injectable(small_config):
    clean = SimMarket(small_config)
    faulty = SimMarket(
        small_config.model_copy(
            update={
                "faults": DataFaults(
                    bad_tick_rate=0.01, duplicate_bar_rate=1.0, missing_day_rate=0.3, crossed_quote_rate=0.05
                )
            }
        )
    )
    days = clean.sessions()[:10]
    tickers = [p.ticker for p in clean.profiles() if p.type == "CS"][:10]
    missing = sum(
        faulty.daily_bar(t, d) is None and clean.daily_bar(t, d) is not None for t in tickers for d in days
    )
    assert missing > 5
    t, d = next((t, d) for t in tickers for d in days if faulty.daily_bar(t, d) is not None)
    assert not faulty.minute_bars(t, d)["t"].is_unique().all()
    assert clean.minute_bars(t, d)["t"].is_unique().all()
    q = faulty.quotes(t, d)
    assert (q["bid_price"] > q["ask_price"]).mean() > 0.02
    bad = faulty.trades(t, d)["price"] != clean.trades(t, d)["price"]
    assert 0 < bad.mean() < 0.05


@pytest.mark.parametrize(
    "bad",
    [
        {"seed": -1},
        {"n_symbols": 3},
        {"start": "2024-03-01", "end": "2024-01-01"},
        {"edge": {"setups": ["not_a_setup"]}},
        {"faults": {"bad_tick_rate": 0.5}},
        {"unknown_knob": 1},
    ],
)
def test_invalid_config_is_refused_with_a_clear_error(bad):
    with pytest.raises(ValidationError) as err:
        SimConfig.model_validate(bad)
    assert next(iter(bad)) in str(err.value) or "end" in str(err.value)


def test_aggregate_drops_buckets_without_eligible_trade():
    df = pl.DataFrame(
        {
            "sip_timestamp": [1, 2, 61_000_000_000],
            "sequence_number": [1, 2, 3],
            "price": [10.0, 10.5, 11.0],
            "size": [100.0, 5.0, 3.0],
            "conditions": [[], [37], [37]],
            "correction": [0, 0, 0],
        },
        schema_overrides={"conditions": pl.List(pl.Int32)},
    )
    bars = ticks.aggregate(df, pl.col("sip_timestamp") // 60_000_000_000)
    assert bars.height == 1
    row = bars.row(0, named=True)
    assert (row["o"], row["h"], row["l"], row["c"], row["v"], row["n"]) == (10.0, 10.0, 10.0, 10.0, 105.0, 2)

"""The planted edge (sim/edge.py): the law of (z, outcome), where z shows in the tape, the null mode,
and the Bayes-optimal AUC the simulator reports."""

from __future__ import annotations

import datetime as dt
from functools import cache

import numpy as np
import polars as pl
import pytest

from smallcaps_assets.sim import edge
from smallcaps_assets.sim.config import EdgeConfig, SimConfig
from smallcaps_assets.sim.market import SimMarket
from smallcaps_assets.sim.prices import NO_CATALYST, SHAPE_NAMES

NS_MIN = 60_000_000_000
# A small, busy market: ~200 catalyst symbol-days in two months.
SMALL = SimConfig(
    seed=5, n_symbols=150, catalyst_rate=0.05, start=dt.date(2024, 1, 2), end=dt.date(2024, 2, 29)
)


@cache
def market(mode: str = "planted", **edge_kw) -> SimMarket:
    return SimMarket(SMALL.model_copy(update={"edge": EdgeConfig(mode=mode, **edge_kw)}))


@cache
def truth(mode: str = "planted") -> pl.DataFrame:
    m = market(mode)
    return pl.concat([m.planted_truth(d) for d in m.sessions()])


# ----------------------------------------------------------------------------- the law of (z, outcome)


def test_auc_on_hand_built_scores():
    assert edge.auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1], bool)) == 0.75
    assert edge.auc(np.array([0.3, 0.3, 0.3]), np.array([1, 0, 1], bool)) == 0.5  # ties count one half
    assert edge.auc(np.array([0.9, 0.1]), np.array([0, 1], bool)) == 0.0
    assert np.isnan(edge.auc(np.array([0.1, 0.2]), np.array([1, 1], bool)))


@pytest.mark.parametrize(("mean_prob", "strength"), [(0.5, 1.0), (0.65, 1.0), (0.65, 2.0)])
def test_z_drawn_given_the_outcome_has_the_logistic_law(mean_prob, strength):
    """Outcome first (rate ``mean_prob``), then z given it: z is standard normal and the continuation
    rate within narrow z bins is sigmoid(a + b z). n = 400,000: bin rates have SE < 0.01."""
    rng = np.random.default_rng(0)
    n = 400_000
    won = rng.random(n) < mean_prob
    z = edge.draw_z(rng.random(n), won, np.full(n, mean_prob), np.full(n, strength))
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1.0) < 0.01
    for lo in (-1.5, -0.5, 0.0, 0.5, 1.5):
        sel = (z >= lo) & (z < lo + 0.1)
        expected = edge.planted_prob(np.array([lo + 0.05]), mean_prob, strength)[0]
        assert won[sel].mean() == pytest.approx(expected, abs=0.04)
    assert edge.planted_prob(z, mean_prob, strength).mean() == pytest.approx(mean_prob, abs=0.005)


def test_expected_bayes_auc_matches_a_simulation_and_is_one_half_in_null_mode():
    rng = np.random.default_rng(1)
    n = 200_000  # the AUC's SE is about 0.0015
    cfg = EdgeConfig()
    won = rng.random(n) < cfg.continuation_prob
    z = edge.draw_z(rng.random(n), won, np.full(n, cfg.continuation_prob), np.full(n, cfg.signal_strength))
    measured = edge.auc(edge.planted_prob(z, cfg.continuation_prob, cfg.signal_strength), won)
    assert edge.expected_bayes_auc(cfg) == pytest.approx(measured, abs=0.006)
    assert edge.expected_bayes_auc(cfg) == pytest.approx(0.741, abs=0.002)  # a logistic slope of 1
    assert edge.expected_bayes_auc(EdgeConfig(signal_strength=2.0)) == pytest.approx(0.864, abs=0.002)
    assert edge.expected_bayes_auc(EdgeConfig(mode="null")) == 0.5
    assert edge.expected_bayes_auc(EdgeConfig(signal_strength=0.0)) == 0.5


def test_flow_window_ends_at_the_trigger():
    tilt = edge.flow_tilt(EdgeConfig(flow_minutes=10), 1.0, np.zeros(60), 330, 345, 960)
    assert np.flatnonzero(tilt).tolist() == list(range(335, 345))  # nothing at or after the trigger
    assert tilt[340] == pytest.approx(0.25)
    clipped = edge.flow_tilt(EdgeConfig(flow_minutes=10), 1.0, np.zeros(60), 330, 336, 960)
    assert np.flatnonzero(clipped).tolist() == list(range(330, 336))  # not before the open


# ----------------------------------------------------------------------------- the outcome and z


@cache
def skeleton_draws(mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(z, win, win_prob, concerned) of every catalyst day of a larger market (daily paths only)."""
    cfg = SimConfig(
        seed=11, n_symbols=500, catalyst_rate=0.2, start=dt.date(2023, 1, 3), end=dt.date(2024, 6, 28)
    )
    m = SimMarket(cfg.model_copy(update={"edge": EdgeConfig(mode=mode)}))
    parts = []
    for p in m.profiles():
        sk = m.skeleton(p)
        cat = sk.shape != NO_CATALYST
        concerned = np.isin(sk.shape, [SHAPE_NAMES.index(s) for s in m.config.edge.setups])
        parts.append(np.stack([sk.flow_z, sk.win, sk.win_prob, concerned])[:, cat])
    z, win, prob, concerned = np.concatenate(parts, axis=1)
    return z, win.astype(bool), prob, concerned.astype(bool)


def test_planted_continuation_rises_with_z_and_null_does_not():
    z, win, prob, concerned = skeleton_draws("planted")
    zc, wc = z[concerned], win[concerned]
    assert len(zc) > 5_000  # ~2,000 days per tercile: rates have SE < 0.012
    lo, hi = np.quantile(zc, [1 / 3, 2 / 3])
    rates = [wc[zc < lo].mean(), wc[(zc >= lo) & (zc < hi)].mean(), wc[zc >= hi].mean()]
    assert rates[0] + 0.1 < rates[1] < rates[2] - 0.1
    assert wc.mean() == pytest.approx(0.65, abs=0.02)
    # Other shapes: z says nothing, the rate is one half.
    assert edge.auc(z[~concerned], win[~concerned]) == pytest.approx(0.5, abs=0.03)
    assert np.all(prob[~concerned] == 0.5)

    zn, wn, pn, cn = skeleton_draws("null")
    np.testing.assert_array_equal(zn, z)  # the same latent signal in both modes
    assert np.all(pn == 0.5)
    assert wn.mean() == pytest.approx(0.5, abs=0.02)
    # Independent of z: the AUC of z is 0.5 within 4 SE (SE < 0.005 for > 5,000 days per side).
    assert edge.auc(zn[cn], wn[cn]) == pytest.approx(0.5, abs=0.03)
    assert edge.auc(zn, wn) == pytest.approx(0.5, abs=0.02)


# ----------------------------------------------------------------------------- the market's view


def test_planted_truth_is_deterministic_and_complete():
    a = truth("planted")
    b = SimMarket(market("planted").config).planted_truth(a["date"][0])
    assert a.filter(pl.col("date") == a["date"][0]).equals(b)
    assert a.height > 150
    assert (a["flow_start_ns"] < a["trigger_ns"]).all()
    assert ((a["trigger_ns"] - a["flow_start_ns"]) <= 10 * NS_MIN).all()
    catalysts = pl.concat([market().catalysts(d) for d in market().sessions()[:5]])
    head = a.filter(pl.col("date") <= market().sessions()[4])
    assert head.select("ticker", "trigger_ns", "win").equals(catalysts.select("ticker", "trigger_ns", "win"))


def test_bayes_auc_reports_measured_and_expected():
    m = market("planted")
    rep = m.bayes_auc(m.sessions())
    assert rep["events"] > 50
    se = 0.5 / np.sqrt(rep["wins"] * (rep["events"] - rep["wins"]) / rep["events"])  # conservative
    assert rep["expected_bayes_auc"] == pytest.approx(0.741, abs=0.002)
    assert abs(rep["bayes_auc"] - rep["expected_bayes_auc"]) < 3 * se
    null = market("null").bayes_auc(m.sessions())
    assert null["bayes_auc"] == 0.5 and null["expected_bayes_auc"] == 0.5
    assert m.bayes_auc([])["events"] == 0


def _flipped_the_day_before(m_a: SimMarket, m_b: SimMarket, ticker: str, date: dt.date) -> bool:
    p = m_a.profile(ticker)
    a, b = m_a.skeleton(p), m_b.skeleton(p)
    i = a.pos[date]
    return i > 0 and bool(a.win[i - 1] != b.win[i - 1])


def test_null_and_planted_tapes_are_identical_before_the_trigger():
    planted, null = market("planted"), market("null")
    tp, tn = truth("planted"), truth("null")
    assert tp.drop("win", "win_prob").equals(tn.drop("win", "win_prob"))
    flipped_days = checked = 0
    for r, rn in zip(tp.iter_rows(named=True), tn.iter_rows(named=True), strict=True):
        t, d = r["ticker"], r["date"]
        if _flipped_the_day_before(planted, null, t, d):
            continue  # the prior close differs (documented): the only exception
        flipped = r["win"] != rn["win"]
        if checked - flipped_days >= 20 and not flipped:
            continue  # every flipped day, and 20 others, keeps the test quick
        end = r["trigger_ns"] - 1
        checked += 1
        flipped_days += flipped
        assert planted.trades(t, d, end_ns=end).equals(null.trades(t, d, end_ns=end)), (t, d)
        assert planted.quotes(t, d, end_ns=end).equals(null.quotes(t, d, end_ns=end)), (t, d)
        bars_p, bars_n = (
            m.minute_bars(t, d).filter(pl.col("t") * 1_000_000 < r["trigger_ns"]) for m in (planted, null)
        )
        assert bars_p.equals(bars_n), (t, d)
    assert checked - flipped_days == 20 and flipped_days > 40  # the splice of a flipped outcome is exercised
    # ... and after the trigger a flipped day does differ.
    r = tp.join(tn, on=["ticker", "date"]).filter(pl.col("win") != pl.col("win_right")).row(0, named=True)
    after_p = planted.trades(r["ticker"], r["date"], start_ns=r["trigger_ns"])
    assert not after_p.equals(null.trades(r["ticker"], r["date"], start_ns=r["trigger_ns"]))


def test_ordinary_days_identical_across_modes_except_after_a_flipped_outcome():
    planted, null = market("planted"), market("null")
    day = planted.sessions()[20]
    cats = set(truth("planted").filter(pl.col("date") == day)["ticker"])
    same = 0
    for p in planted.tickers_on(day)[:40]:
        if p.ticker in cats or _flipped_the_day_before(planted, null, p.ticker, day):
            continue
        assert planted.minute_bars(p.ticker, day).equals(null.minute_bars(p.ticker, day))
        same += 1
    assert same >= 30


def _ask_share(m: SimMarket, r: dict) -> float:
    """Share of the window's regular prints above the standing mid (buyer-initiated)."""
    tr = m.trades(r["ticker"], r["date"], start_ns=r["flow_start_ns"], end_ns=r["trigger_ns"] - 1)
    q = m.quotes(r["ticker"], r["date"], start_ns=r["flow_start_ns"] - NS_MIN, end_ns=r["trigger_ns"] - 1)
    j = (
        tr.filter(pl.col("correction") == 0)
        .sort("sip_timestamp")
        .join_asof(
            q.sort("sip_timestamp").select("sip_timestamp", "bid_price", "ask_price"), on="sip_timestamp"
        )
        .with_columns(mid=(pl.col("bid_price") + pl.col("ask_price")) / 2)
        .filter(pl.col("price") != pl.col("mid"))
    )
    return float((j["price"] > j["mid"]).mean())


def test_the_flow_shows_z_in_the_tape_and_only_in_its_window():
    m = market("planted")
    rows = truth("planted").filter("concerned").head(40).to_dicts()
    share = np.array([_ask_share(m, r) for r in rows])
    z = np.array([r["flow_z"] for r in rows])
    assert np.corrcoef(z, share)[0, 1] > 0.8  # measured ~0.92 on 110 days at the defaults
    # Switching the flow off changes the window's bars and nothing else.
    flat = market("planted", flow_tilt=0.0)
    changed_in = changed_out = 0
    for r in rows[:10]:
        a, b = (x.minute_bars(r["ticker"], r["date"]) for x in (m, flat))
        in_win = (pl.col("t") * 1_000_000 >= r["flow_start_ns"]) & (pl.col("t") * 1_000_000 < r["trigger_ns"])
        changed_in += not a.filter(in_win).equals(b.filter(in_win))
        changed_out += not a.filter(~in_win).equals(b.filter(~in_win))
    assert changed_in == 10 and changed_out == 0


# ----------------------------------------------------------------------------- martingale paths

# Two months of a busier small market: ~800 catalyst symbol-days, ~3,000 probes.
BUSY = SMALL.model_copy(update={"catalyst_rate": 0.2})
PROBES = (-9, -3, 0, 5, 30, 90)  # minutes from the trigger where a trader could act


@cache
def busy(mode: str, paths: str) -> SimMarket:
    return SimMarket(BUSY.model_copy(update={"edge": EdgeConfig(mode=mode, paths=paths)}))


def _forward_moves(m: SimMarket) -> tuple[np.ndarray, np.ndarray]:
    """On every catalyst day, at each probe minute of the regular session: the next 30 minutes'
    move and the last 10 minutes' move, in the setup's direction and in units of the day's move
    scale (the day plans' mid path, no tape needed)."""
    fwd, past = [], []
    for p in m.profiles():
        sk = m.skeleton(p)
        for i in np.flatnonzero(sk.shape != NO_CATALYST):
            plan = m.day_plan(p.ticker, sk.dates[i]) if sk.dates[i] >= m.config.start else None
            if plan is None:
                continue
            trig = (plan.trigger_ns - plan.t0_ns) // NS_MIN
            for a in (trig + k for k in PROBES):
                if a - 10 >= plan.rth_start and a + 30 <= plan.rth_end:
                    lm, scale = plan.log_mid, plan.direction / float(sk.move[i])
                    fwd.append(scale * (lm[a + 30] - lm[a]))
                    past.append(scale * (lm[a] - lm[a - 10]))
    return np.array(fwd), np.array(past)


def _t_stats(fwd: np.ndarray, past: np.ndarray) -> tuple[float, float]:
    """t of the mean forward move, and of its correlation with the past move (momentum/reversal)."""
    n = len(fwd)
    return float(fwd.mean() / fwd.std() * np.sqrt(n)), float(np.corrcoef(fwd, past)[0, 1] * np.sqrt(n))


def test_a_null_market_on_martingale_paths_gives_no_direction_and_the_shapes_do():
    """The null market a backtest must find nothing in: after any probe minute the catalyst day's
    move is centred on zero and unrelated to the move before it. The same null switch on the
    default shapes is the leaky variant: its paths carry the shapes' direction (measured t ~ 11)."""
    fwd, past = _forward_moves(busy("null", "martingale"))
    assert len(fwd) > 2_500
    mean_t, corr_t = _t_stats(fwd, past)
    assert abs(mean_t) < 4 and abs(corr_t) < 4  # measured -0.4 and 0.1
    shaped = _t_stats(*_forward_moves(busy("null", "shapes")))
    assert abs(shaped[0]) > 6  # measured 11.3: the shapes' legs after the trigger have a direction


def test_martingale_paths_keep_the_days_flow_and_volumes_and_plant_only_the_setups_leg():
    shapes, null, planted = (
        busy("planted", "shapes"),
        busy("null", "martingale"),
        busy("planted", "martingale"),
    )
    day = shapes.sessions()[25]
    tp, tn = planted.planted_truth(day), null.planted_truth(day)
    assert tp.drop("win", "win_prob").equals(tn.drop("win", "win_prob"))
    assert tp.equals(shapes.planted_truth(day))  # the planted outcome does not depend on the paths
    for r in tp.head(12).iter_rows(named=True):
        a, b, c = (m.day_plan(r["ticker"], day) for m in (shapes, null, planted))
        np.testing.assert_array_equal(a.buy_tilt, b.buy_tilt)  # the same flow before the trigger
        np.testing.assert_array_equal(a.buy_tilt, c.buy_tilt)
        assert a.trigger_ns == b.trigger_ns == c.trigger_ns
        p = shapes.profile(r["ticker"])
        i = shapes.skeleton(p).pos[day]
        for m in (null, planted):  # the day's volume and news jump are the shapes' own
            assert m.skeleton(p).econ_volume[i] == shapes.skeleton(p).econ_volume[i]
            assert m.skeleton(p).news_jump[i] == pytest.approx(np.log1p(shapes.skeleton(p).gap[i]))
    # The leg: in planted mode the concerned setups move with their outcome after the trigger and
    # nothing else does; the null market has no leg at all.
    legs = {"win": [], "loss": [], "other": []}
    for r in pl.concat([planted.planted_truth(d) for d in planted.sessions()[:30]]).iter_rows(named=True):
        plan = planted.day_plan(r["ticker"], r["date"])
        trig = (plan.trigger_ns - plan.t0_ns) // NS_MIN
        move = plan.direction * (plan.log_mid[min(trig + 30, plan.rth_end)] - plan.log_mid[trig])
        legs["other" if not r["concerned"] else "win" if r["win"] else "loss"].append(move)
        sk = null.skeleton(null.profile(r["ticker"]))
        assert sk.leg[sk.pos[r["date"]]] == 0.0
    assert np.mean(legs["win"]) > 0.03 and np.mean(legs["loss"]) < -0.02
    other = np.array(legs["other"])
    assert abs(other.mean()) < 4 * other.std() / np.sqrt(len(other))


def test_martingale_days_trade_like_any_day():
    """Daily bars, minute bars and trades agree on a martingale market as on the default one."""
    m = busy("null", "martingale")
    day = m.sessions()[30]
    r = m.planted_truth(day).row(0, named=True)
    bars = m.minute_bars(r["ticker"], day)
    daily = m.daily_bar(r["ticker"], day)
    assert daily["v"] == bars["v"].sum() and daily["n"] == bars["n"].sum()
    sk = m.skeleton(m.profile(r["ticker"]))
    i = sk.pos[day]
    assert daily["c"] == pytest.approx(sk.raw_close(i), rel=0.02)  # the close where the walk ended

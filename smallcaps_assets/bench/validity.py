"""``smallcaps bench validity``: the models on a market where the truth is known.

The graph's pure stages run in process on two offline markets that differ only in their edge's
mode (``VALIDITY_EDGE`` in ``null`` and in ``planted`` mode, everything else identical): per
session, the production universe rules (``calibrate.universe_like``), the day's minute bars, the
intraday detectors and the score with 20-session baselines (as ``intraday_events``),
``event_features`` and ``event_labels`` (entries from the bars); then the walk-forward models
(``stages.models.experiment.walk_forward``: monthly, purged, embargoed, expanding) predict every
month after the first ``history_months`` (default 1) out of sample. ``--target`` picks the models'
target (``barrier_pt``, the graph's default, or the meta-label ``take``).

**The markets.** ``VALIDITY_EDGE`` puts the catalyst days on martingale paths (``EdgeConfig.paths``):
after the news the price is a Brownian motion, plus in planted mode each setup's first leg after its
trigger, up if the planted outcome continues and down if it fails. So the null market has no
direction anywhere and the planted one only the planted outcome, which depends on the order flow
``z`` shown in the tape in the 20 minutes before the trigger. On the default market's shapes the
null switch alone leaves the shapes' own direction, which the models learn in both markets.

**What is scored.** The models are trained on the graph's target (``barrier_pt``: the
profit-take barrier is hit first). Whether a barrier is reached within 30 minutes depends on the
volatility and the time of day, which the features see, in both markets, so the target's AUC says
nothing of the planted edge. The check scores each market's predictions against the simulator's
truth on the events the edge concerns: the out-of-sample events of each catalyst symbol-day in its
order-flow window up to its trigger (``flow_start_ns`` to ``trigger_ns``; later events have seen the
leg in their own bars), in the setup's direction, and its ``win`` (did the move continue;
``SimMarket.planted_truth``). In null mode ``win`` is a coin independent of everything observable, so
any model's AUC there is centred on 0.5; in planted mode the true ``win_prob`` of the same events is
the ceiling. A simulator without ``planted_truth`` falls back to the target on every event
(``scored_against``).

Figures (``--json``):

- ``null_auc``, ``null_events``, ``null_band`` (3 cluster-robust standard errors, clusters =
  symbol-day, ``metrics.clustered_auc_se``) and ``null_within_band``;
- ``planted_auc``, ``planted_events``; ``bayes_auc``: the AUC of the true probability on the same
  scored events (the best any score can do on them); ``days_bayes_auc``: the simulator's own over
  every concerned catalyst day of the sessions (``SimMarket.bayes_auc``);
- ``recovered_lift`` = (planted_auc - 0.5) / (bayes_auc - 0.5); ``seconds`` (wall clock, both
  markets);
- ``null_flow_auc``, ``planted_flow_auc``: the AUC of one feature, ``tape_flow_count_in_direction_ratio``
  as it is (no model), against the truth on the same scored events: what the tape shows of the
  planted signal without any learning;
- ``planted_volume_flow_auc``: the same for the size-weighted ``tape_flow_in_direction_ratio``;
- ``planted_lift_by_month``: each model month's own recovered lift (its model, its events, its
  ceiling): a model trained on more history should recover more;
- ``null_target_auc``, ``planted_target_auc``, ``target_events``: the AUC against the model's own
  target over every out-of-sample event (not a validity figure, see above).
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable

import polars as pl

from .. import calendar as cal
from ..asset_names import EVENT_FEATURES, EVENT_LABELS, INTRADAY_EVENTS, MINUTE_BARS
from ..calibrate import universe_like
from ..sim.config import SETUP_SHAPES, EdgeConfig, SimConfig
from ..sim.market import SimMarket
from ..stages import events as ev
from ..stages import features as feat
from ..stages import labels as lab
from ..stages.manifest import ManifestRules, with_windows
from ..stages.models.experiment import model_input, walk_forward
from ..stages.models.metrics import auc, clustered_auc_se
from ..stages.models.splits import SplitParams
from ..stages.models.train import TrainParams, numeric_features, target
from ..stages.universe import UniverseRules
from ..stages.windows import quotes_1hz, trades_frame, windows_from_manifest
from . import machine_info
from .detect import sim_day

# The validity market's symbols: every listed common stock with a catalyst that day, whatever its
# price, cap, float or volume (the universe filter is not what the check validates).
ANY_LISTED = UniverseRules(
    max_price=1e6, max_market_cap=None, max_float=1e15, min_adv_dollar=0.0, min_adv_sessions=1
)
BASELINE_SESSIONS = 20
SCORE_WINDOW = 60
HISTORY_SESSIONS = 25
Z = 3.0
# The validity markets' edge (docs/models.md says why each): martingale paths, so a catalyst day's
# price has no direction but the planted one and the null market no edge anywhere; every shape a
# planted setup and the flow shown over the 20 minutes before the trigger, for more scored events
# per symbol-day; the flow as clear as the tape allows (the largest tilt, no extra noise) and a
# stronger signal (a Bayes AUC near 0.88 instead of 0.74), so the check has power at a few thousand events.
VALIDITY_EDGE = EdgeConfig(
    paths="martingale",
    setups=SETUP_SHAPES,
    flow_minutes=20,
    flow_tilt=0.4,
    flow_noise=0.0,
    signal_strength=2.5,
)
# The feature that reads the planted order flow most directly (stages/features/tape.py), and its
# size-weighted twin, printed beside it.
FLOW_FEATURE = "tape_flow_count_in_direction_ratio"
VOLUME_FLOW_FEATURE = "tape_flow_in_direction_ratio"


def _daily(market: SimMarket, day: dt.date, cache: dict) -> pl.DataFrame:
    """The whole market's daily bars of ``day`` as ``daily_bars`` rows (split_ratio 1)."""
    if day not in cache:
        g = market.grouped_daily(day, adjusted=False)
        cache[day] = g.select(
            date=pl.lit(day, pl.Date),
            symbol="T",
            open="o",
            high="h",
            low="l",
            close="c",
            volume=pl.col("v").cast(pl.Float64),
            vwap="vw",
            transactions=pl.col("n").cast(pl.Int64),
            split_ratio=pl.lit(1.0),
        )
    return cache[day]


def _windows(
    market: SimMarket, day: dt.date, events: pl.DataFrame, before_only: bool = False
) -> tuple[pl.DataFrame, ...]:
    """Every event's tick window (the manifest's default [ts - 3 min, ts + 7 min)), as if the
    manifest had taken them all: (manifest, event_trades, event_quotes). ``before_only`` ends each
    window at ``ts``: the tape features read only the ticks before ``ts``, so they are the same,
    and the labels then enter from the bars (a third of the ticks to draw)."""
    manifest = with_windows(events.select("event_id", "symbol", "ts"), day, ManifestRules())
    if before_only:
        manifest = manifest.with_columns(window_end=pl.col("ts").cast(manifest.schema["window_end"]))
    trades, quotes = [], []
    for w in windows_from_manifest(manifest, day):
        trades.append(trades_frame(w, market.trades(w.symbol, day, w.start_ns, w.end_ns - 1)))
        quotes.append(quotes_1hz(w, market.quotes(w.symbol, day, w.start_ns, w.end_ns - 1))[0])
    return manifest, pl.concat(trades), pl.concat(quotes)


def market_rows(
    market: SimMarket,
    days: list[dt.date],
    progress: Callable[[dt.date, int], None] | None = None,
    tape: bool = True,
    catalyst_only: bool = False,
    sink: Callable[[dt.date, dict[str, pl.DataFrame]], None] | None = None,
) -> pl.DataFrame:
    """event_features joined with event_labels (``experiment.model_input``) of every session of
    ``days``, built by the graph's pure stages (module docstring). ``catalyst_only``: each day's
    symbols are its catalyst symbol-days (``SimMarket.planted_truth``) instead of the universe, and
    the tick windows end at each event's ``ts`` (``_windows``). ``sink(day, frames)``, when given,
    receives each day's frames under their assets' names (minute_bars, intraday_events,
    event_features, event_labels), e.g. to write them as a lake the graph's own assets then read."""
    daily: dict = {}
    uni_cache: dict = {}
    bars_by_day: dict[dt.date, pl.DataFrame] = {}
    history: pl.DataFrame | None = None
    out = []
    for day in days:
        if catalyst_only:
            catalysts = market.planted_truth(day)["ticker"]
            universe = universe_like(market, day, uni_cache, ANY_LISTED).filter(
                pl.col("symbol").is_in(catalysts)
            )
        else:
            universe = universe_like(market, day, uni_cache)
        tickers = universe["symbol"].to_list()
        bars = sim_day(market, day, tickers)
        prior = [d for d in cal.sessions_before(day, BASELINE_SESSIONS) if d in bars_by_day]
        prior_bars = [bars_by_day[d].filter(pl.col("symbol").is_in(tickers)) for d in prior]
        baseline = ev.baselines(pl.concat(prior_bars)) if prior_bars else None
        prior_close = pl.DataFrame(
            [
                {"symbol": t, "prior_close": plan.prev_close}
                for t in tickers
                if (plan := market.day_plan(t, day)) is not None
            ],
            schema={"symbol": pl.String, "prior_close": pl.Float64},
        )
        found = ev.detect_intraday(bars, ev.make_context(prior_close, baseline))
        window = cal.sessions_before(day, SCORE_WINDOW)
        hist = history.filter(pl.col("date") >= window[0]) if history is not None else found.clear()
        events = ev.score(found, hist)
        dated = events.with_columns(date=pl.lit(day, pl.Date))
        history = dated if history is None else pl.concat([history, dated], how="diagonal_relaxed")
        bars_by_day[day] = bars
        for old in [d for d in bars_by_day if d < cal.sessions_before(day, BASELINE_SESSIONS)[0]]:
            del bars_by_day[old]
        if events.is_empty():
            continue
        past = cal.sessions_before(day, HISTORY_SESSIONS)
        daily_history = pl.concat(
            [
                *(_daily(market, d, daily) for d in past),
                _daily(market, day, daily).select("date", "symbol", "split_ratio"),
            ],
            how="diagonal_relaxed",
        )
        symbols = sorted(set(events["symbol"]))
        manifest, trades, quotes = (
            _windows(market, day, events, catalyst_only) if tape else (None, None, None)
        )
        inputs = feat.FeatureInputs(
            day=day,
            events=events,
            minute_bars=bars.filter(pl.col("symbol").is_in(symbols)),
            universe=universe,
            daily_history=daily_history,
            baseline=baseline.filter(pl.col("symbol").is_in(symbols)) if baseline is not None else None,
            trades=trades,
            quotes=quotes,
            manifest=manifest,
        )
        features = feat.build_features(inputs)
        labels = lab.event_labels(day, events, bars, trades=trades, windows=manifest)
        if sink:
            sink(
                day,
                {
                    MINUTE_BARS: bars,
                    INTRADAY_EVENTS: events,
                    EVENT_FEATURES: features,
                    EVENT_LABELS: labels,
                },
            )
        out.append(model_input(features, labels).with_columns(date=pl.lit(day, pl.Date)))
        if progress:
            progress(day, events.height)
    return pl.concat(out, how="diagonal_relaxed")


def concerned_events(market: SimMarket, oos: pl.DataFrame, days: list[dt.date]) -> pl.DataFrame | None:
    """The out-of-sample events of the catalyst symbol-days the planted edge concerns, in the
    flow window (``flow_start_ns``) up to the trigger and in the setup's direction, with the
    simulator's truth: ``win`` (did the move continue) and ``win_prob``. Events of one symbol-day share their ``win``; the AUC's band is
    cluster-robust by symbol-day. None when the simulator has no ``planted_truth``."""
    truth_of = getattr(market, "planted_truth", None)
    if truth_of is None:
        return None
    truth = pl.concat([truth_of(d) for d in days], how="diagonal_relaxed").filter("concerned")
    keyed = oos.with_columns(ts_ns=pl.col("ts").dt.epoch("ns")).join(
        truth.select(
            symbol="ticker", date="date", setup_direction="direction", trigger_ns="trigger_ns",
            flow_start_ns="flow_start_ns",
            win=pl.col("win").cast(pl.Int64), win_prob="win_prob",
        ),
        on=["symbol", "date"],
    )  # fmt: skip
    # At or before the trigger: an event after it reads bars of the move itself, which follow the
    # planted outcome (the setup's leg), so its features would read the outcome itself. Within the
    # flow window: before it nothing shows ``z``.
    hit = pl.col("ts_ns").is_between(pl.col("flow_start_ns"), pl.col("trigger_ns")) & (
        pl.col("direction") == pl.col("setup_direction")
    )
    return keyed.filter(hit)


def out_of_sample(
    rows: pl.DataFrame, train: TrainParams = TrainParams(), split: SplitParams = SplitParams()
) -> pl.DataFrame:
    """Every walk-forward month's out-of-sample predictions joined with their rows (labelled only)."""
    names = numeric_features(
        rows,
        [c for c in feat.feature_columns(rows) if c not in ("t1", "barrier_label", "label_return", "date")],
    )
    results = walk_forward(rows, names, {"rows": str(rows.height)}, train, split)
    preds = pl.concat([r.predictions.select("event_id", "prob", "model_month") for r in results])
    joined = rows.join(preds, on="event_id")
    return joined.with_columns(y=target(joined, train.target)).filter(pl.col("y").is_not_null())


def auc_figures(oos: pl.DataFrame, outcome: str = "y") -> dict:
    """AUC of ``prob`` against ``outcome``, its events and 3 cluster-robust standard errors."""
    y, p = oos[outcome].to_numpy(), oos["prob"].to_numpy()
    clusters = oos.select(pl.col("symbol") + "|" + pl.col("date").cast(pl.String)).to_series().to_numpy()
    se = clustered_auc_se(y, p, clusters)
    return {"auc": auc(y, p), "events": int(y.size), "band": Z * se if se is not None else math.nan}


def lift_by_month(scored: pl.DataFrame) -> dict[str, float]:
    """Per model month of the scored events: (AUC of ``prob`` - 0.5) / (AUC of ``win_prob`` - 0.5)
    against ``win``, the recovered lift of that month's model alone (NaN where the month's events
    are all one outcome or the true probability ranks nothing)."""
    out = {}
    for (month,), g in scored.sort("model_month").group_by("model_month", maintain_order=True):
        y = g["win"].to_numpy()
        ceiling = auc(y, g["win_prob"].to_numpy())
        out[str(month)[:7]] = (
            (auc(y, g["prob"].to_numpy()) - 0.5) / (ceiling - 0.5) if ceiling != 0.5 else math.nan
        )
    return out


def _feature_auc(scored: pl.DataFrame, feature: str) -> float:
    """AUC of one feature as it is against ``win``, on the scored events where it is not null."""
    rows = scored.filter(pl.col(feature).is_not_null())
    return auc(rows["win"].to_numpy(), rows[feature].to_numpy()) if rows.height else math.nan


def run_market(
    mode: str,
    days: list[dt.date],
    symbols: int,
    seed: int,
    train: TrainParams,
    catalyst_rate: float,
    progress: Callable[[dt.date, int], None] | None = None,
    catalyst_only: bool = True,
    edge: EdgeConfig = VALIDITY_EDGE,
    split: SplitParams = SplitParams(),
) -> dict:
    market = SimMarket(
        SimConfig(
            seed=seed,
            n_symbols=symbols,
            catalyst_rate=catalyst_rate,
            start=cal.sessions_before(days[0], 30)[0],
            end=days[-1],
            edge=edge.model_copy(update={"mode": mode}),
        )
    )
    rows = market_rows(market, days, progress, catalyst_only=catalyst_only)
    oos = out_of_sample(rows, train, split)
    figures = {"target": auc_figures(oos), "raw_events": rows.height, "months": oos["model_month"].n_unique()}
    concerned = concerned_events(market, oos, days)
    if concerned is not None and concerned.height:
        figures["truth"] = auc_figures(concerned, "win")
        # One feature read as it is (no model): how much of the planted signal the tape shows the
        # scored events; the model's AUC can be read against it as well as against the Bayes AUC.
        figures["flow_auc"] = _feature_auc(concerned, FLOW_FEATURE)
        figures["volume_flow_auc"] = _feature_auc(concerned, VOLUME_FLOW_FEATURE)
        figures["lift_by_month"] = lift_by_month(concerned)
        # The ceiling on these very events: the true probability scored like the model.
        figures["events_bayes_auc"] = auc(concerned["win"].to_numpy(), concerned["win_prob"].to_numpy())
    bayes = getattr(market, "bayes_auc", None)
    figures["bayes_auc"] = float(bayes(days)["bayes_auc"]) if bayes is not None else math.nan
    return figures


def bench_validity(
    months: int = 3,
    symbols: int = 200,
    seed: int = 7,
    end: dt.date = dt.date(2024, 6, 28),
    catalyst_rate: float = 0.1,
    train: TrainParams = TrainParams(),
    progress: Callable[[dt.date, int], None] | None = None,
    catalyst_only: bool = True,
    history_months: int = 1,
) -> dict:
    """Both markets over the ``months`` calendar months ending with ``end``'s (module docstring).
    ``catalyst_rate`` (the simulator's default is 0.012) makes catalyst days, hence events and
    planted setups, common enough for a few thousand events in a few months. The first
    ``history_months`` only train (``SplitParams.min_history_months``): every scored month's model
    has at least that much history, the months after them add to it (expanding window)."""
    if not 1 <= history_months < months:
        raise ValueError(
            f"history_months must be at least 1 and below months ({months}), got {history_months}"
        )
    split = SplitParams(min_history_months=history_months)
    first = dt.date(end.year, end.month, 1)
    for _ in range(months - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    days = cal.trading_days(first, end)
    started = time.perf_counter()
    args = (days, symbols, seed, train, catalyst_rate, progress, catalyst_only)
    null = run_market("null", *args, split=split)
    planted = run_market("planted", *args, split=split)
    seconds = time.perf_counter() - started
    # Scored against the simulator's truth where it reports one, else against the model's target.
    null_fig, planted_fig = (m.get("truth", m["target"]) for m in (null, planted))
    bayes = planted.get("events_bayes_auc", planted["bayes_auc"])
    lift = (planted_fig["auc"] - 0.5) / (bayes - 0.5) if not math.isnan(bayes) and bayes != 0.5 else math.nan
    return {
        "scored_against": "truth" if "truth" in planted else "target",
        "null_auc": null_fig["auc"],
        "null_events": null_fig["events"],
        "null_band": null_fig["band"],
        "null_within_band": bool(abs(null_fig["auc"] - 0.5) <= null_fig["band"]),
        "planted_auc": planted_fig["auc"],
        "planted_events": planted_fig["events"],
        "bayes_auc": bayes,
        "days_bayes_auc": planted["bayes_auc"],
        "recovered_lift": lift,
        "planted_lift_by_month": planted.get("lift_by_month", {}),
        "null_flow_auc": null.get("flow_auc", math.nan),
        "planted_flow_auc": planted.get("flow_auc", math.nan),
        "planted_volume_flow_auc": planted.get("volume_flow_auc", math.nan),
        "null_target_auc": null["target"]["auc"],
        "planted_target_auc": planted["target"]["auc"],
        "target_events": planted["target"]["events"],
        "seconds": round(seconds, 1),
        "sessions": len(days),
        "first_session": str(days[0]),
        "oos_months": planted["months"],
        "history_months": history_months,
        "target": train.target,
        "symbols": symbols,
        "catalyst_rate": catalyst_rate,
        "catalyst_only": catalyst_only,
        "seed": seed,
        **machine_info(),
    }


def format_report(r: dict) -> str:
    return (
        f"null market:    AUC {r['null_auc']:.4f} over {r['null_events']:,} out-of-sample events "
        f"(band 0.5 +/- {r['null_band']:.4f})\n"
        f"planted market: AUC {r['planted_auc']:.4f} over {r['planted_events']:,} events; "
        f"Bayes AUC {r['bayes_auc']:.4f} on these events"
        + (f" ({r['days_bayes_auc']:.4f} over every concerned day)" if "days_bayes_auc" in r else "")
        + "; "
        f"recovered lift {r['recovered_lift']:.2f}\n"
        + (
            f"the order-flow feature alone (no model): {r['planted_flow_auc']:.4f} planted, "
            f"{r['null_flow_auc']:.4f} null\n"
            if "planted_flow_auc" in r
            else ""
        )
        + (
            "recovered lift by model month: "
            + ", ".join(f"{m} {v:.2f}" for m, v in r["planted_lift_by_month"].items())
            + "\n"
            if r.get("planted_lift_by_month")
            else ""
        )
        + f"{r['sessions']} sessions from {r['first_session']}, {r['symbols']} tickers, {r['seconds']:.0f} s"
    )

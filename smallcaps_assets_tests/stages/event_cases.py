"""Hand-built minute-bar sequences for the intraday detectors, and a reference recomputation of the
evidence columns from the bars (written independently of the detectors, per symbol, in plain Python).

Every scenario runs on one regular session (2024-03-05, EST: 09:30 ET = 14:30 UTC) and returns
``Case(bars, context, params, fire)``: ``fire`` is the ET clock time ("HH:MM") of the bar that should
confirm the event (the event's ts is that bar's start + 1 minute), or None when the scenario sits
just on the other side of a threshold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets.stages import events
from smallcaps_assets.stages.minute import MINUTE_SCHEMA, with_session

DAY = dt.date(2024, 3, 5)
SYM = "ABCD"
MIN = dt.timedelta(minutes=1)


def at(hhmm: str, day: dt.date = DAY) -> dt.datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return dt.datetime.combine(day, dt.time(h, m), tzinfo=cal.NY).astimezone(dt.UTC)


def minute_range(start: str, n: int) -> list[str]:
    t0 = dt.datetime.combine(DAY, dt.time(*(int(x) for x in start.split(":"))))
    return [(t0 + i * MIN).strftime("%H:%M") for i in range(n)]


@dataclass
class Bars:
    """A growing list of bars for one symbol."""

    symbol: str = SYM
    rows: list[dict] = field(default_factory=list)

    def add(
        self,
        hhmm: str,
        c: float,
        *,
        o: float | None = None,
        h: float | None = None,
        l: float | None = None,  # noqa: E741
        v: float = 1000.0,
        n: int = 10,
        vw: float | None = None,
    ) -> Bars:
        o = c if o is None else o
        h = max(o, c) if h is None else h
        l = min(o, c) if l is None else l  # noqa: E741
        self.rows.append(
            {
                "symbol": self.symbol,
                "ts": at(hhmm),
                "open": float(o),
                "high": float(h),
                "low": float(l),
                "close": float(c),
                "volume": float(v),
                "vwap": None if vw is None else float(vw),
                "transactions": int(n),
            }
        )
        return self

    def frame(self) -> pl.DataFrame:
        return with_session(pl.DataFrame(self.rows, schema=MINUTE_SCHEMA).sort("symbol", "ts"), DAY)


def flat_baselines(symbol: str = SYM, vol: float = 2000.0, txn: float = 5.0, days: int = 20) -> pl.DataFrame:
    minutes = list(range(240, 1200))
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(minutes),
            "minute_of_day": minutes,
            "vol_baseline": [vol] * len(minutes),
            "txn_baseline": [txn] * len(minutes),
            "baseline_days": [days] * len(minutes),
        }
    )


def context(
    prior_close: float = 10.0, baselines: pl.DataFrame | None = None, symbol: str = SYM
) -> pl.DataFrame:
    return events.make_context(pl.DataFrame({"symbol": [symbol], "prior_close": [prior_close]}), baselines)


@dataclass
class Case:
    bars: pl.DataFrame
    context: pl.DataFrame
    params: events.IntradayParams
    fire: str | None
    event_type: str
    direction: int | None = None


# The cases test each detector's rule alone: the in-play filter (tested in test_events_inplay.py)
# would drop most hand-built events, whose symbols trade a few thousand dollars.
RULES_ONLY = {"in_play": {"enabled": False}}


def P(**kw) -> events.IntradayParams:  # noqa: N802 (reads like the params class it builds)
    """``IntradayParams`` with the in-play filter off (unless ``in_play`` is given)."""
    return events.IntradayParams(**{**RULES_ONLY, **kw})


# ------------------------------------------------------------------------------------- scenarios


def volume_spike(volume: float, baseline: float = 2000.0) -> Case:
    b = Bars()
    for hm in minute_range("08:00", 20):
        b.add(hm, 10.0, v=volume if hm == "08:10" else 1000.0, o=10.0 if hm != "08:10" else 9.9)
    return Case(b.frame(), context(10.0, flat_baselines(vol=baseline)), P(), "08:10", "volume_spike", +1)


def volume_spike_pair(second: str) -> pl.DataFrame:
    b = Bars()
    for hm in minute_range("08:00", 40):
        b.add(hm, 10.0, v=20_000.0 if hm in ("08:10", second) else 1000.0)
    return b.frame()


def tape_speed(last_n: int) -> Case:
    b = Bars()
    for hm in minute_range("10:00", 12):
        n = {"10:05": 20, "10:06": 20, "10:07": last_n}.get(hm, 5)
        b.add(hm, 10.0 + (0.01 if hm == "10:07" else 0.0), o=10.0, n=n)
    return Case(b.frame(), context(10.0, flat_baselines(txn=5.0)), P(), "10:07", "tape_speed", +1)


def _zigzag(b: Bars, start: str, n: int, lo: float = 10.00, hi: float = 10.01) -> Bars:
    for i, hm in enumerate(minute_range(start, n)):
        b.add(hm, lo if i % 2 == 0 else hi)
    return b


def price_momentum(closes: tuple[float, float, float], **params) -> Case:
    """40 zigzag bars (|close change| = 0.01), then three closes at 10:40-10:42."""
    b = _zigzag(Bars(), "10:00", 40)
    for hm, c in zip(("10:40", "10:41", "10:42"), closes, strict=True):
        b.add(hm, c)
    return Case(b.frame(), context(10.0), P(**params), "10:42", "price_momentum", +1)


def vwap_break(below: float, reclaim_at: str, direction: int = +1) -> Case:
    """A heavy first bar at 10.00 anchors VWAP; light bars sit at ``below`` (or mirrored above);
    the bar at ``reclaim_at`` closes back across VWAP."""
    b = Bars()
    b.add("09:30", 10.0, v=1_000_000, vw=10.0)
    side = below if direction == +1 else 20.0 - below
    cross = 10.05 if direction == +1 else 9.95
    for hm in minute_range("09:31", 40):
        if hm == reclaim_at:
            b.add(hm, cross, o=side, v=100, vw=cross)
            break
        b.add(hm, side, v=100, vw=side)
    return Case(b.frame(), context(10.0), P(), reclaim_at, "vwap_break", direction)


def opening_range(break_close: float, break_at: str = "09:40") -> Case:
    b = Bars()
    b.add("09:30", 10.00, o=10.00, h=10.10, l=9.95)
    b.add("09:31", 9.95, o=10.00, h=10.05, l=9.90)
    for hm in minute_range("09:32", 3):
        b.add(hm, 10.00, h=10.02, l=9.98)
    for hm in minute_range("09:35", 20):
        if hm == break_at:
            b.add(hm, break_close, o=10.00, h=max(break_close, 10.0) + 0.01, l=9.99)
        else:
            b.add(hm, 10.00, h=10.03, l=9.97)
    return Case(b.frame(), context(10.0), P(), break_at, "opening_range_break", +1)


def hod_break(break_at: str) -> Case:
    b = Bars()
    for hm in minute_range("09:30", 60):
        if hm == "09:35":
            b.add(hm, 10.40, o=10.30, h=10.50, l=10.30)
        elif hm == break_at:
            b.add(hm, 10.45, o=10.40, h=10.51, l=10.38)
        else:
            b.add(hm, 10.30, h=10.40, l=10.20)
    return Case(b.frame(), context(10.0), P(), break_at, "hod_break", +1)


def consolidation(break_volume: float, **params) -> Case:
    """Wide zigzag 09:30-09:49, a tight base 09:50-10:09 (10.20/10.21), a break at 10:10."""
    b = Bars()
    for i, hm in enumerate(minute_range("09:30", 20)):
        b.add(hm, 10.00 if i % 2 == 0 else 10.40)
    for i, hm in enumerate(minute_range("09:50", 20)):
        b.add(hm, 10.20 if i % 2 == 0 else 10.21)
    b.add("10:10", 10.25, o=10.21, h=10.25, l=10.21, v=break_volume)
    for hm in minute_range("10:11", 5):
        b.add(hm, 10.25)
    return Case(b.frame(), context(10.0), P(**params), "10:10", "consolidation_break", +1)


def flush(close: float) -> Case:
    b = _zigzag(Bars(), "10:00", 40)
    b.add("10:40", close, o=10.00, h=10.00, l=close - 0.02)
    for hm in minute_range("10:41", 5):
        b.add(hm, close)
    return Case(b.frame(), context(10.0), P(), "10:40", "flush", -1)


def halt(high: float, resume_at: str = "10:11", start: str = "09:50", prior_close: float = 10.0) -> Case:
    b = Bars()
    pre = minute_range(start, 16)  # 16 bars at 10.00, then the bar that runs into the band
    for hm in pre:
        b.add(hm, 10.00, vw=10.00)
    last = (dt.datetime.strptime(pre[-1], "%H:%M") + MIN).strftime("%H:%M")
    b.add(last, high - 0.10, o=10.00, h=high, l=10.00, vw=(10.0 + high) / 2)
    b.add(resume_at, high - 0.05, o=high - 0.05)
    for hm in minute_range(resume_at, 4)[1:]:
        b.add(hm, high - 0.05)
    return Case(b.frame(), context(prior_close), P(), resume_at, "halt_resumption", +1)


def gap_and_go(open_: float, break_high: float, break_at: str = "09:35") -> Case:
    b = Bars()
    b.add("07:00", 10.80, o=10.50, h=10.90, l=10.50)
    b.add("08:00", 11.20, o=10.90, h=11.50, l=10.90)
    b.add("09:00", 11.00, h=11.10, l=10.95)
    b.add("09:30", 11.10, o=open_, h=11.40, l=open_ - 0.05)
    for hm in minute_range("09:31", 100):
        if hm == break_at:
            b.add(hm, 11.45, o=11.30, h=break_high, l=11.30)
        else:
            b.add(hm, 11.20, h=11.30, l=11.10)
    return Case(b.frame(), context(10.0), P(), break_at, "gap_and_go", +1)


def first_pullback(hod: float = 10.60, pullback_low: float = 10.30) -> Case:
    """Open 10.00, a first leg to ``hod`` at 09:33, a pullback to ``pullback_low``, then a green bar
    at 09:37 closing above the previous bar's high."""
    b = Bars()
    b.add("09:30", 10.10, o=10.00, h=10.12, l=10.00)
    b.add("09:31", 10.25, o=10.10, h=10.27, l=10.10)
    b.add("09:32", 10.40, o=10.25, h=10.42, l=10.25)
    b.add("09:33", hod - 0.05, o=10.40, h=hod, l=10.40)
    b.add("09:34", hod - 0.10, o=hod - 0.05, h=hod - 0.05, l=hod - 0.12)
    b.add("09:35", pullback_low + 0.10, o=hod - 0.10, h=hod - 0.10, l=pullback_low + 0.05)
    b.add("09:36", pullback_low + 0.02, o=pullback_low + 0.10, h=pullback_low + 0.10, l=pullback_low)
    b.add("09:37", pullback_low + 0.15, o=pullback_low + 0.02, h=pullback_low + 0.16, l=pullback_low + 0.01)
    for hm in minute_range("09:38", 5):
        b.add(hm, pullback_low + 0.12, h=pullback_low + 0.14, l=pullback_low + 0.10)
    return Case(b.frame(), context(9.0), P(), "09:37", "first_pullback", +1)


def parabolic(hod: float = 11.60, red_at: str = "09:41") -> Case:
    """A run from a 9.95 low to ``hod`` at 09:40, then a red bar closing under the previous low."""
    b = Bars()
    b.add("09:30", 10.00, o=10.00, h=10.02, l=9.95)
    step = (hod - 0.10 - 10.0) / 9
    for i, hm in enumerate(minute_range("09:31", 9)):
        c = 10.0 + step * (i + 1)
        b.add(hm, c, o=c - step, h=c + 0.01, l=c - step)
    b.add("09:40", hod - 0.05, o=hod - 0.15, h=hod, l=hod - 0.30)
    after = minute_range("09:41", 10)
    for hm in after:
        if hm == red_at:
            b.add(hm, hod - 0.40, o=hod - 0.10, h=hod - 0.08, l=hod - 0.45)
            break
        b.add(hm, hod - 0.10, o=hod - 0.10, h=hod - 0.05, l=hod - 0.20)
    return Case(b.frame(), context(9.5), P(), red_at, "parabolic_exhaustion", -1)


# ------------------------------------------------------------------- reference recomputation


_GROUPED: dict[int, tuple[pl.DataFrame, dict[str, list[dict]]]] = {}


def _bars_by_symbol(bars: pl.DataFrame) -> dict[str, list[dict]]:
    hit = _GROUPED.get(id(bars))
    if hit is not None and hit[0] is bars:
        return hit[1]
    out: dict[str, list[dict]] = {}
    for r in bars.sort("symbol", "ts").iter_rows(named=True):
        out.setdefault(r["symbol"], []).append(r)
    _GROUPED.clear()
    _GROUPED[id(bars)] = (bars, out)
    return out


def _price(r: dict) -> float:
    return r["vwap"] if r.get("vwap") is not None else (r["high"] + r["low"] + r["close"]) / 3.0


def _ticks(x: float) -> int:
    return round(x * 10_000)


def _vol_unit(rows: list[dict], k: int, b: int, w: int) -> float | None:
    """Mean |close change| over the ``b`` changes ending ``w`` bars before bar ``k``."""
    if k < b + w:
        return None
    diffs = [
        abs(_ticks(rows[i]["close"]) - _ticks(rows[i - 1]["close"])) for i in range(k - w - b + 1, k - w + 1)
    ]
    return sum(diffs) / (b * 10_000)


def recompute(event: dict, bars: pl.DataFrame, prior_close: float | None, p: events.IntradayParams) -> dict:
    """The evidence of ``event`` recomputed from the symbol's bars that started before its ts."""
    rows = _bars_by_symbol(bars)[event["symbol"]]
    ts = event["ts"]
    k = next(i for i, r in enumerate(rows) if r["ts"] + MIN == ts)
    bar = rows[k]
    sess = cal.session(bar["ts"].astimezone(cal.NY).date())
    rth = [r for r in rows[: k + 1] if sess.market_open <= r["ts"] < sess.market_close]
    etype = event["event_type"]
    out: dict = {"ev_close": bar["close"]}
    if etype == "vwap_break":
        out["ev_vwap"] = sum(_price(r) * r["volume"] for r in rth) / sum(r["volume"] for r in rth)
    elif etype == "volume_spike":
        out["ev_volume"] = bar["volume"]
        out["ev_open"] = bar["open"]
    elif etype == "tape_speed":
        window = [r for r in rows[: k + 1] if r["ts"] >= bar["ts"] - (p.tape_speed.window_minutes - 1) * MIN]
        out["ev_transactions"] = sum(r["transactions"] for r in window)
        out["ev_open"] = window[0]["open"]
    elif etype == "opening_range_break":
        n = event["ev_or_minutes"]
        rng = [r for r in rth if r["ts"] < sess.market_open + n * MIN]
        out["ev_or_high"] = max(r["high"] for r in rng)
        out["ev_or_low"] = min(r["low"] for r in rng)
    elif etype == "hod_break":
        before = rth[:-1]
        level = max(r["high"] for r in before)
        out["ev_level"] = level
        out["ev_level_ts"] = next(r["ts"] for r in before if r["high"] == level)
        out["ev_high"] = bar["high"]
    elif etype == "consolidation_break":
        w, nb = p.consolidation_break.minutes, p.consolidation_break.min_bars
        window = [r for r in rth[:-1] if r["ts"] >= bar["ts"] - w * MIN]
        out["ev_range_high"] = max(r["high"] for r in window)
        out["ev_range_low"] = min(r["low"] for r in window)
        changes = [abs(_ticks(rth[i]["close"]) - _ticks(rth[i - 1]["close"])) for i in range(1, len(rth) - 1)]
        out["ev_vol_unit"] = sum(changes) / (len(changes) * 10_000)
        out["ev_baseline"] = sum(round(r["volume"]) for r in rth[-1 - nb : -1]) / nb
        out["ev_volume"] = bar["volume"]
    elif etype == "flush":
        w = p.flush.window_minutes
        out["ev_level"] = max(r["high"] for r in rth if r["ts"] >= bar["ts"] - (w - 1) * MIN)
        out["ev_vol_unit"] = _vol_unit(rows, k, p.flush.vol_unit_bars, p.flush.vol_unit_lag_bars)
    elif etype == "price_momentum":
        w = p.price_momentum.window_minutes
        ref = [r for r in rows[:k] if r["ts"] <= bar["ts"] - w * MIN][-1]["close"]
        out["ev_ref_price"] = ref
        out["ev_vol_unit"] = max(
            _vol_unit(rows, k, p.price_momentum.vol_unit_bars, w), p.price_momentum.vol_unit_floor * ref
        )
    elif etype == "halt_resumption":
        prev = rth[-2]
        out["ev_halt_start"] = prev["ts"]
        out["ev_halt_minutes"] = round((bar["ts"] - prev["ts"]) / MIN)
        ref_rows = [r for r in rth[:-2] if prev["ts"] - 5 * MIN <= r["ts"]]
        ref = sum(_price(r) for r in ref_rows) / len(ref_rows)
        out["ev_ref_price"] = ref
        up, dn = prev["high"] / ref - 1.0, prev["low"] / ref - 1.0
        out["ev_move_before_halt"] = up if up >= -dn else dn
        minute = round((prev["ts"] - sess.market_open) / MIN)
        rth_len = round((sess.market_close - sess.market_open) / MIN)
        out["ev_band_pct"] = events.luld_band(
            prior_close if prior_close is not None else ref, minute, rth_len, p.halt_resumption.luld_tier
        )
    elif etype == "gap_and_go":
        out["ev_pm_high"] = max(r["high"] for r in rows if r["ts"] < sess.market_open)
        out["ev_gap_pct"] = rth[0]["open"] / prior_close - 1.0
        out["ev_open"] = rth[0]["open"]
    elif etype == "first_pullback":
        before = rth[:-1]
        level = max(r["high"] for r in before)
        j = next(i for i, r in enumerate(before) if r["high"] == level)  # first time the high was set
        out["ev_level"] = level
        out["ev_pullback_low"] = min(r["low"] for r in before[j + 1 :])
        out["ev_prev_high"] = before[-1]["high"]
        out["ev_open"] = rth[0]["open"]
    elif etype == "parabolic_exhaustion":
        before = rth[:-1]
        level = max(r["high"] for r in before)
        j = next(i for i, r in enumerate(before) if r["high"] == level)
        out["ev_level"] = level
        out["ev_ref_price"] = min(
            r["low"] for r in before[max(0, j - p.parabolic_exhaustion.window_bars + 1) : j + 1]
        )
        out["ev_prev_low"] = before[-1]["low"]
    return out

"""Event labels: what happened after each intraday event (pure polars/numpy; docs/labels.md).

Every label is measured from the **entry**, the first tradable price after the event's ``ts``:
the first eligible trade (one that may set a bar's open/close and high/low) at or after
``ts + latency`` in the event's downloaded window, else the open of the first minute bar starting
at or after ``ts``. The side is the event's ``direction`` (+1 long, -1 short), so barriers and the
side-adjusted returns read "did the event's direction pay" (meta-labelling).

**Triple barrier.** Profit-take and stop sit ``k_pt`` and ``k_sl`` times the pre-event volatility
away from the entry (the std of the 1-minute log returns of the last ``vol_bars`` bars that closed
at or before ``ts``, times sqrt(``vertical_minutes``), floored at ``vol_floor`` and capped at
``vol_cap``); the vertical barrier is ``vertical_minutes`` after the entry. The walk reads the
minute bars from the entry (the entry's own minute rebuilt from the trades after the entry when
the entry is a trade) up to the last bar ending at or before the vertical barrier:

- a bar that opens beyond a barrier (a gap, e.g. a reopening after a trading pause) exits at its
  open, not at the barrier;
- a bar that touches one barrier exits at that barrier;
- a bar that touches both is resolved by its trades (the first eligible print at or beyond either
  barrier) when the event's window covers the whole minute, else conservatively as the stop;
- no touch: the close of the last bar walked (the vertical exit).

``t1`` is the close of the hitting bar, or the vertical barrier (no later than the session's
20:00 ET close). Fewer than ``min_vol_returns`` returns before ``ts`` leave the barrier null.

**Forward returns** (raw, from the entry price) at each horizon h: the close of the last bar
ending at or before ``entry_ts + h`` (the entry price when nothing traded since the entry); null
when ``entry_ts + h`` is past the session's close: nothing is carried past 20:00 ET.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from pydantic import Field

from .. import calendar as cal
from .events.params import FrozenParams, HaltResumptionParams
from .events.schema import MINUTE_NS, UTC_NS
from .labels_context import horizon_flags, next_session_returns
from .trade_rules import with_eligibility

SECOND_NS = 1_000_000_000
ENTRY_SOURCES = ("trade", "bar")
BARRIER_HITS = {"pt": 1, "vertical": 0, "sl": -1}


class LabelParams(FrozenParams):
    """Defaults of the labels (docs/labels.md)."""

    latency_seconds: float = Field(1.0, ge=0, description="entry: first eligible trade at/after ts + this")
    vol_bars: int = Field(30, ge=2, le=390, description="pre-event volatility: bars closed at/before ts")
    min_vol_returns: int = Field(5, ge=2, description="fewer 1-minute returns before ts: no barrier")
    vertical_minutes: int = Field(30, ge=1, le=240, description="vertical barrier after the entry")
    k_pt: float = Field(1.0, gt=0, description="profit-take at k_pt x horizon volatility")
    k_sl: float = Field(1.0, gt=0, description="stop at k_sl x horizon volatility")
    # A barrier closer than 1% sits inside a small cap's spread and bar noise.
    vol_floor: float = Field(0.01, ge=0, description="horizon volatility at least this (fraction)")
    vol_cap: float = Field(0.5, gt=0, le=0.9, description="horizon volatility at most this")
    horizons_minutes: tuple[int, ...] = Field((1, 5, 15, 30, 60), min_length=1)
    # A trading pause is the halt detector's notion (detectors/halts.py): consecutive regular-hours
    # bars whose starts are at least this far apart (labels_context.trading_pauses).
    pause_minutes: int = Field(HaltResumptionParams().min_gap_minutes, ge=2)


def fwd_column(h: int) -> str:
    return f"fwd_return_{h}m"


def label_schema(p: LabelParams = LabelParams()) -> dict[str, pl.DataType]:
    return {
        "event_id": pl.String(),
        "symbol": pl.String(),
        "ts": UTC_NS,
        "event_type": pl.String(),
        "side": pl.Int64(),
        "entry_ts": UTC_NS,
        "entry_price": pl.Float64(),
        "entry_source": pl.String(),
        "horizon_vol": pl.Float64(),
        "pt_price": pl.Float64(),
        "sl_price": pl.Float64(),
        "vertical_ts": UTC_NS,
        "barrier_label": pl.Int64(),
        "barrier_hit": pl.String(),
        "exit_price": pl.Float64(),
        "t1": UTC_NS,
        "label_return": pl.Float64(),
        **{fwd_column(h): pl.Float64() for h in p.horizons_minutes},
        "mfe_pct": pl.Float64(),
        "mae_pct": pl.Float64(),
        "halt_in_horizon": pl.Boolean(),
        "ssr_in_horizon": pl.Boolean(),
        "next_open_return": pl.Float64(),
        "next_close_return": pl.Float64(),
        "next_open_return_raw": pl.Float64(),
        "next_close_return_raw": pl.Float64(),
    }


def eligible_trades(trades: pl.DataFrame | None) -> pl.DataFrame:
    """event_id, t (ns), price: prints that may set a minute bar's open/close and high/low
    (the vendor's rules, ``trade_rules``), in tape order per event."""
    if trades is None or trades.is_empty():
        return pl.DataFrame(schema={"event_id": pl.String, "t": pl.Int64, "price": pl.Float64})
    flagged = with_eligibility(trades, daily=False)
    return (
        flagged.filter(pl.col("upd_oc") & pl.col("upd_hl"))
        .sort("event_id", "sip_timestamp", "sequence_number")
        .select("event_id", t=pl.col("sip_timestamp").dt.epoch("ns"), price="price")
    )


def pre_event_vol(events: pl.DataFrame, bars: pl.DataFrame, p: LabelParams) -> pl.DataFrame:
    """event_id, horizon_vol: std of the 1-minute log returns of the last ``vol_bars`` bars that
    closed at or before ts, x sqrt(vertical_minutes), floored and capped; null with fewer than
    ``min_vol_returns`` returns. Only bars knowable at ts are read."""
    rets = (
        bars.sort("symbol", "ts")
        .select("symbol", "ts", r=(pl.col("close") / pl.col("close").shift(1).over("symbol")).log())
        .filter(pl.col("r").is_not_null())
        .with_row_index("j")
        .with_columns(first_j=pl.col("j").min().over("symbol"), bar_end=pl.col("ts").dt.offset_by("1m"))
    )
    # The last return whose bar closed by ts (an as-of join), then the up-to-``vol_bars`` returns
    # of the symbol ending there, gathered as a matrix: linear in events, unlike a join of every
    # event with every bar of its symbol.
    last = (
        events.select("event_id", "symbol", pl.col("ts").cast(rets.schema["bar_end"]))
        .sort("ts")
        .join_asof(
            rets.select("symbol", "bar_end", "j", "first_j").sort("bar_end"),
            left_on="ts",
            right_on="bar_end",
            by="symbol",
            strategy="backward",
            check_sortedness=False,  # sorted on the time column; the by-groups follow
        )
        .filter(pl.col("j").is_not_null())
    )
    r_all = rets["r"].to_numpy()
    k = last["j"].to_numpy().astype(np.int64)
    idx = k[:, None] - np.arange(p.vol_bars)[None, :]
    inside = idx >= last["first_j"].to_numpy().astype(np.int64)[:, None]
    window = np.where(inside, r_all[np.where(inside, idx, 0)], np.nan)
    n = inside.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(n >= 2, np.nanstd(window, axis=1, ddof=1) if len(k) else np.zeros(0), np.nan)
    known = last.select("event_id").with_columns(r=pl.Series(sd).fill_nan(None), n=pl.Series(n))
    vol = (pl.col("r") * np.sqrt(p.vertical_minutes)).clip(p.vol_floor, p.vol_cap)
    return events.select("event_id").join(
        known.select("event_id", horizon_vol=pl.when(pl.col("n") >= p.min_vol_returns).then(vol)),
        on="event_id",
        how="left",
    )


def _ns(frame: pl.DataFrame, col: str) -> np.ndarray:
    return frame[col].dt.epoch("ns").to_numpy()


def _walk(o, h, lo, c, side, up, dn, trades_of_bar):
    """The barrier walk over bars in time order: (hit, exit price, index of the exit bar).
    ``up``/``dn`` are the upper and lower barrier prices; which is the profit-take depends on
    ``side``. ``trades_of_bar(i)`` gives the bar's eligible trade prices in order, or None."""
    up_hit, dn_hit = ("pt", "sl") if side > 0 else ("sl", "pt")
    for i in range(len(o)):
        if o[i] >= up or o[i] <= dn:  # a gap through a barrier exits at the open
            return (up_hit if o[i] >= up else dn_hit), o[i], i
        touched_up, touched_dn = h[i] >= up, lo[i] <= dn
        if touched_up and touched_dn:
            prices = trades_of_bar(i)
            first = None if prices is None else np.flatnonzero((prices >= up) | (prices <= dn))
            if first is not None and len(first):
                above = prices[first[0]] >= up
                return (up_hit if above else dn_hit), (up if above else dn), i
            return "sl", (up if up_hit == "sl" else dn), i  # unresolved: the stop, conservatively
        if touched_up:
            return up_hit, up, i
        if touched_dn:
            return dn_hit, dn, i
    return "vertical", c[-1], len(o) - 1


def barrier_walk_matrix(o, h, lo, c, valid, side, up, dn):
    """``_walk``'s rules for many walks at once, without the tape (a bar touching both barriers
    is the stop): arrays (walks x bars) with ``valid`` marking each walk's bars, and per walk its
    side and upper/lower barrier. Returns (hit as "pt"/"sl"/"vertical", exit price, bar column);
    a walk without a hit exits at its last valid bar's close (column 0 when it has none)."""
    side = np.asarray(side)[:, None]
    up, dn = np.asarray(up, float)[:, None], np.asarray(dn, float)[:, None]
    with np.errstate(invalid="ignore"):
        t_up, t_dn = (h >= up) & valid, (lo <= dn) & valid
        g_up, g_dn = (o >= up) & valid, (o <= dn) & valid
    any_hit = t_up | t_dn
    rows = np.arange(o.shape[0])
    at = np.argmax(any_hit, axis=1)
    hit_any = any_hit[rows, at]
    last = np.where(valid.any(axis=1), valid.shape[1] - 1 - np.argmax(valid[:, ::-1], axis=1), 0)
    at = np.where(hit_any, at, last)
    gu, gd, tu, td = (x[rows, at] for x in (g_up, g_dn, t_up, t_dn))
    up1, dn1, long = up[:, 0], dn[:, 0], side[:, 0] > 0
    stop_price = np.where(long, dn1, up1)
    price = np.select([gu | gd, tu & td, tu, td], [o[rows, at], stop_price, up1, dn1], default=c[rows, at])
    went_up = np.where(tu & td, ~long, np.where(gu | gd, gu, tu))  # which barrier was reached
    hit = np.where(~hit_any, "vertical", np.where(went_up == long, "pt", "sl"))
    return hit, price, at


class _Day:
    """The day's bars as numpy arrays per symbol, the eligible tape per event and the windows."""

    def __init__(self, day: dt.date, bars: pl.DataFrame, trades, windows) -> None:
        sess = cal.session(day)
        if sess is None:
            raise ValueError(f"{day} is not a trading day")
        self.close_ns = sess.ns("post_close")
        self.start = _ns(bars, "ts")
        self.end = self.start + MINUTE_NS
        self.o, self.h = bars["open"].to_numpy(), bars["high"].to_numpy()
        self.l, self.c = bars["low"].to_numpy(), bars["close"].to_numpy()
        offsets = bars.with_row_index("i").group_by("symbol").agg(pl.col("i").min(), n=pl.len())
        self.ranges = {s: (i, i + n) for s, i, n in offsets.iter_rows()}
        self.tape = {
            k[0]: (g["t"].to_numpy(), g["price"].to_numpy())
            for k, g in eligible_trades(trades).group_by("event_id")
        }
        self.windows = {}
        if windows is not None:
            bounds = windows.select(
                "event_id", *(pl.col(c).dt.epoch("ns") for c in ("window_start", "window_end"))
            )
            self.windows = {eid: (ws, we) for eid, ws, we in bounds.iter_rows()}


def _label_one(d: _Day, eid: str, sym: str, ts: int, side: int, vol: float | None, p: LabelParams) -> dict:
    lo_i, hi_i = d.ranges.get(sym, (0, 0))
    t_tr, p_tr = d.tape.get(eid, (np.empty(0, np.int64), np.empty(0)))
    # The entry: the first eligible trade at/after ts + latency, else the first bar starting at/after ts.
    k = int(np.searchsorted(t_tr, ts + int(p.latency_seconds * SECOND_NS)))
    if k < len(t_tr):
        entry_ts, entry, source = int(t_tr[k]), float(p_tr[k]), "trade"
        minute = entry_ts - entry_ts % MINUTE_NS
        first = lo_i + int(np.searchsorted(d.start[lo_i:hi_i], minute + MINUTE_NS))
        # The entry's minute from the trades at/after the entry: the bar's range may predate it.
        part = p_tr[(t_tr >= entry_ts) & (t_tr < minute + MINUTE_NS)]
        head = ([entry], [part.max()], [part.min()], [part[-1]], [minute])
    else:
        first = lo_i + int(np.searchsorted(d.start[lo_i:hi_i], ts))
        if first >= hi_i:
            return {"event_id": eid}  # nothing traded after ts today: no entry, no labels
        entry_ts, entry, source = int(d.start[first]), float(d.o[first]), "bar"
        head = ([], [], [], [], [])
    vertical = entry_ts + p.vertical_minutes * MINUTE_NS
    last = lo_i + int(np.searchsorted(d.end[lo_i:hi_i], vertical, side="right"))
    walked = slice(first, max(first, last))
    o, h, lo, c = (
        np.concatenate([x, arr[walked]]) for x, arr in zip(head[:4], (d.o, d.h, d.l, d.c), strict=True)
    )
    starts = np.concatenate([np.array(head[4], np.int64), d.start[walked]])
    ends = starts + MINUTE_NS
    row = {
        "event_id": eid,
        "entry_ts": entry_ts,
        "entry_price": entry,
        "entry_source": source,
        "horizon_vol": vol,
        "vertical_ts": min(vertical, d.close_ns),
    }
    if len(o):  # MFE/MAE to the vertical barrier, side-adjusted, in %
        rise, fall = h.max() / entry - 1.0, lo.min() / entry - 1.0
        row["mfe_pct"] = 100.0 * max(0.0, rise if side > 0 else -fall)
        row["mae_pct"] = 100.0 * min(0.0, fall if side > 0 else -rise)
    if vol is not None and len(o):
        up = entry * (1 + (p.k_pt if side > 0 else p.k_sl) * vol)
        dn = entry * (1 - (p.k_sl if side > 0 else p.k_pt) * vol)
        ws, we = d.windows.get(eid, (None, None))

        def trades_of_bar(i: int) -> np.ndarray | None:
            if ws is None or ws > starts[i] or we < ends[i]:
                return None  # the window does not cover the whole minute
            return p_tr[(t_tr >= max(int(starts[i]), entry_ts)) & (t_tr < ends[i])]

        hit, exit_price, i = _walk(o, h, lo, c, side, up, dn, trades_of_bar)
        row.update(
            pt_price=up if side > 0 else dn,
            sl_price=dn if side > 0 else up,
            barrier_hit=hit,
            barrier_label=BARRIER_HITS[hit],
            exit_price=float(exit_price),
            t1=int(ends[i]) if hit != "vertical" else min(vertical, d.close_ns),
            label_return=side * (float(exit_price) / entry - 1.0),
        )
    for hz in p.horizons_minutes:
        at = entry_ts + hz * MINUTE_NS
        if at > d.close_ns:
            continue  # nothing is carried past the session's close
        j = lo_i + int(np.searchsorted(d.end[lo_i:hi_i], at, side="right")) - 1
        price = d.c[j] if j >= lo_i and d.end[j] > entry_ts else entry  # no print since the entry: flat
        row[fwd_column(hz)] = float(price) / entry - 1.0
    return row


def event_labels(
    day: dt.date,
    events: pl.DataFrame,
    bars: pl.DataFrame,
    trades: pl.DataFrame | None = None,
    windows: pl.DataFrame | None = None,
    ssr_status: pl.DataFrame | None = None,
    next_daily: pl.DataFrame | None = None,
    p: LabelParams = LabelParams(),
) -> pl.DataFrame:
    """One row per event of ``events`` (``label_schema``), in event_id order.

    ``bars``: the day's minute bars; ``trades``: event_trades (None: every entry from the bars);
    ``windows``: event_id, window_start, window_end of the downloaded windows (the manifest);
    ``ssr_status``: the day's status (None: ``ssr_in_horizon`` null); ``next_daily``: the next
    session's daily bars (None: the next-session returns are null, pending)."""
    bars = bars.sort("symbol", "ts")
    d = _Day(day, bars, trades, windows)
    ev = events.sort("event_id").join(pre_event_vol(events, bars, p), on="event_id", how="left")
    rows = [
        _label_one(d, eid, sym, ts, side, vol, p)
        for eid, sym, ts, side, vol in ev.select(
            "event_id", "symbol", pl.col("ts").dt.epoch("ns"), "direction", "horizon_vol"
        ).iter_rows()
    ]
    out = horizon_flags(_frame(rows, ev, p), bars, ssr_status, p.pause_minutes, cal.session(day).market_close)
    schema = label_schema(p)
    return (
        next_session_returns(out, next_daily)
        .select(pl.col(c).cast(t) for c, t in schema.items())
        .sort("event_id")
    )


def _frame(rows: list[dict], ev: pl.DataFrame, p: LabelParams) -> pl.DataFrame:
    schema = label_schema(p)
    ns_cols = {"entry_ts", "vertical_ts", "t1"}
    body = {
        c: pl.Series(c, [r.get(c) for r in rows], dtype=pl.Int64 if c in ns_cols else t)
        for c, t in schema.items()
        if c not in {"symbol", "ts", "event_type", "side", "halt_in_horizon", "ssr_in_horizon"}
        and not c.startswith("next_")
    }
    frame = pl.DataFrame(body).with_columns(pl.col(c).cast(UTC_NS) for c in ns_cols)
    keys = ev.select("event_id", "symbol", "ts", "event_type", side="direction")
    return keys.join(frame, on="event_id", how="left")

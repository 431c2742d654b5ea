"""The day's preparation and the per-chunk frames the detectors read.

``prepare`` checks and orders the day's bars and builds the per-symbol context (``DayEnv``);
``chunk_frame`` turns one chunk of whole symbols into typed per-row columns; ``ChunkFrames`` adds the
regular-session frame and the per-symbol session statistics, each built once, on first use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from ... import calendar as cal
from ..daily import OHLCV
from .context import SESSION_MINUTES
from .kernels import abs_change_cumsum, positions, run_starts, to_ticks
from .schema import MINUTE_NS, UTC_NS

KEY_STRIDE = 2048  # time key = sid * stride + minute index


@dataclass(frozen=True)
class DayEnv:
    """Day-level constants and per-symbol context, indexed by ``sid`` (0..S-1, symbols sorted)."""

    day: dt.date
    pre_open_ns: int
    open_ns: int
    r0: int  # minute index (since 04:00 ET) of 09:30
    r1: int  # minute index of the close (exclusive end of RTH)
    symbols: pl.Series
    prior_close: np.ndarray  # float, NaN when unknown
    base_row: np.ndarray  # row of the symbol in vol_base / txn_base, -1 without a usable baseline
    vol_base: np.ndarray | None  # (U, 960) float
    txn_base: np.ndarray | None


def prepare(
    bars: pl.DataFrame, context: pl.DataFrame | None, min_baseline_days: int, force_sort: bool = False
) -> tuple[pl.DataFrame, DayEnv]:
    """Check and order the bars (sorted by symbol, ts) and build the day's per-symbol context.

    Returns the bars (re-sorted only when needed) with an integer ``sid`` column, and the ``DayEnv``.
    Per-row preparation happens chunk by chunk in ``chunk_frame`` so that no full-length
    intermediate column is ever materialised for the whole day.
    """
    need = {"symbol", "ts", *OHLCV}
    missing = need - set(bars.columns)
    if missing:
        raise ValueError(f"minute bars lack columns {sorted(missing)}")
    if bars.schema["ts"] != UTC_NS:
        bars = bars.with_columns(pl.col("ts").cast(UTC_NS))  # integer ns since the epoch, or another unit
    t_min = bars["ts"].min().timestamp()
    t_max_ns = int(bars["ts"].max().timestamp() * 1e9)
    day = dt.datetime.fromtimestamp(t_min, tz=dt.UTC).astimezone(cal.NY).date()
    sess = cal.session(day)
    if sess is None:
        raise ValueError(f"bars start on {day}, not an NYSE trading day")
    pre, post = sess.ns("pre_open"), sess.ns("post_close")
    if int(t_min * 1e9) < pre - 1000 or t_max_ns >= post:
        raise ValueError(f"bars must lie inside one extended session ({day} 04:00 ET to its post-close)")

    def runs(frame: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        sid = frame["symbol"].rle_id().to_numpy()
        return sid, frame["symbol"].gather(run_starts(sid))

    sid, run_syms = runs(bars)
    # Symbols in sorted contiguous runs; the time order inside each run is checked chunk by chunk
    # (``chunk_frame``), which falls back to a full sort when it fails.
    if not (force_sort or bool((run_syms.slice(1) > run_syms.slice(0, len(run_syms) - 1)).all())):
        force_sort = True
    if force_sort:
        bars = bars.sort("symbol", "ts")
        sid, run_syms = runs(bars)
        if not ts_increasing(bars["ts"], sid):
            raise ValueError("minute bars hold duplicate (symbol, ts) rows")
    bars = bars.with_columns(sid=pl.Series(sid.astype(np.int32)))

    nsym = len(run_syms)
    prior_close = np.full(nsym, np.nan)
    base_row = np.full(nsym, -1, dtype=np.int64)
    vol_base = txn_base = None
    if context is not None and context.height:
        # Symbols are mapped to context rows by index: the (large) baseline arrays are read in place.
        if context["symbol"].is_duplicated().any():
            raise ValueError("context holds more than one row for a symbol")
        cr = (
            pl.DataFrame({"symbol": run_syms})
            .join(
                context.select("symbol").with_row_index("cr"), on="symbol", how="left", maintain_order="left"
            )["cr"]
            .cast(pl.Int64)
            .fill_null(-1)
            .to_numpy()
        )
        has = cr >= 0
        if "prior_close" in context.columns:
            pcs = context["prior_close"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            prior_close[has] = pcs[cr[has]]
        if "vol_baseline" in context.columns and "txn_baseline" in context.columns:
            usable = context["vol_baseline"].is_not_null() & context["txn_baseline"].is_not_null()
            if "baseline_days" in context.columns:
                usable = usable & (context["baseline_days"].fill_null(0) >= min_baseline_days)
            usable_np = usable.to_numpy()
            ok = has.copy()
            ok[has] = usable_np[cr[has]]
            if ok.any():
                arr = pl.Array(pl.Float64, SESSION_MINUTES)
                vol_base = np.ascontiguousarray(context["vol_baseline"].cast(arr).to_numpy())
                txn_base = np.ascontiguousarray(context["txn_baseline"].cast(arr).to_numpy())
                base_row[ok] = cr[ok]
    env = DayEnv(
        day=day,
        pre_open_ns=pre,
        open_ns=sess.ns("market_open"),
        r0=(sess.ns("market_open") - pre) // MINUTE_NS,
        r1=(sess.ns("market_close") - pre) // MINUTE_NS,
        symbols=run_syms,
        prior_close=prior_close,
        base_row=base_row,
        vol_base=vol_base,
        txn_base=txn_base,
    )
    return bars, env


def ts_increasing(ts: pl.Series, sid: np.ndarray) -> bool:
    """True when timestamps strictly increase within every symbol run."""
    t = ts.dt.epoch("ns").to_numpy()
    return bool(np.all(np.diff(t)[np.diff(sid) == 0] > 0))


def chunk_frame(raw: pl.DataFrame, env: DayEnv) -> pl.DataFrame:
    """One chunk of whole symbols with the typed per-row columns the detectors use.

    The integer columns (minute index, positions, time key, the |close change| running sum) are
    built with numpy: polars' integer division and cumulative scans cost several times more per row,
    and all of them are exact integer arithmetic, so the kernel does not change any value.
    """
    # Multiplying by 1/3 (not dividing by 3): polars divides by a literal differently for one-row
    # and longer frames, and results must not depend on how many rows a frame holds.
    typical = (pl.col("high") + pl.col("low") + pl.col("close")) * (1.0 / 3.0)
    if "vwap" not in raw.columns:
        price = typical
    elif raw["vwap"].null_count() == 0:
        price = pl.col("vwap").cast(pl.Float64)  # the coalesce below, without computing ``typical``
    else:
        price = pl.coalesce(pl.col("vwap").cast(pl.Float64), typical)
    n = (
        pl.col("transactions").cast(pl.Int64).fill_null(0)
        if "transactions" in raw.columns
        else pl.lit(0, pl.Int64)
    )
    sid = raw["sid"].to_numpy()
    t = raw["ts"].dt.epoch("ns").to_numpy()
    m = ((t - env.pre_open_ns) // MINUTE_NS).astype(np.int32)
    # A globally increasing time key: time windows ("the last N minutes") become windows on it
    # that can never reach into another symbol (N < KEY_STRIDE - 960).
    key = sid.astype(np.int64) * KEY_STRIDE + m
    if len(key) > 1 and not bool((key[1:] > key[:-1]).all()):
        raise UnsortedError
    pos = positions(sid)
    typed = raw.select(
        o=pl.col("open").cast(pl.Float64),
        h=pl.col("high").cast(pl.Float64),
        l=pl.col("low").cast(pl.Float64),
        c=pl.col("close").cast(pl.Float64),
        v=pl.col("volume").cast(pl.Float64),
        p=price,
        n=n,
    ).rechunk()
    return pl.DataFrame(
        [
            pl.Series("fi", np.arange(len(sid), dtype=np.int64)),
            pl.Series("sid", sid).set_sorted(),
            pl.Series("t", t),
            pl.Series("m", m),
            pl.Series("pos", pos),
            *typed.get_columns(),
            pl.Series("key", key).set_sorted(),
            pl.Series("dcs", abs_change_cumsum(typed["c"].to_numpy(), pos)),
        ]
    )


class UnsortedError(Exception):
    """A chunk's bars are not in (symbol, ts) order: sort the day and start again."""


def chunk_ranges(sid: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """Row ranges of whole symbols, about ``rows`` rows each."""
    n = len(sid)
    starts = run_starts(sid)
    out, a = [], 0
    while a < n:
        j = int(np.searchsorted(starts, a + rows, side="left"))
        b = int(starts[j]) if j < len(starts) else n
        if b <= a:
            b = int(starts[j + 1]) if j + 1 < len(starts) else n
        out.append((a, b))
        a = b
    return out


def rth_frame(full: pl.DataFrame, env: DayEnv) -> pl.DataFrame:
    """RTH bars with the running session quantities every RTH detector shares.

    The running high is exact: prices in $0.0001 ticks are packed under the symbol id
    (sid * 2^40 + ticks) so that one global cumulative max restarts at every symbol. Cumulative
    volume is a global cumulative sum minus its value before the symbol's first RTH bar (exact for
    whole-share volumes); the price-volume sum of the VWAP is summed per symbol, in bar order.

    The scans run in numpy on contiguous arrays: they are the same sequential float additions and
    exact integer maxima as polars' ``cum_sum``/``cum_max``, at a fraction of the cost, and numpy's
    allocations are reused where polars' large temporaries fault fresh pages in on every chunk.
    """
    m = full["m"].to_numpy()
    keep = np.flatnonzero((m >= env.r0) & (m < env.r1))
    cols = ("fi", "sid", "t", "m", "key", "o", "h", "l", "c", "v")
    a = {c: full[c].to_numpy()[keep] for c in cols if c != "fi"}
    a["fi"] = keep  # the chunk frame's row index is its row number
    price = full["p"].to_numpy()[keep]
    n = len(keep)
    sid, h, v, t = a["sid"], a["h"], a["v"], a["t"]
    starts = run_starts(sid)
    lengths = np.diff(np.append(starts, n))
    rpos = (np.arange(n) - np.repeat(starts, lengths)).astype(np.int32)
    packed = sid.astype(np.int64)
    packed <<= 40
    hod_k = to_ticks(h)
    hod_k += packed
    np.maximum.accumulate(hod_k, out=hod_k)
    hod_k -= packed
    newhigh = rpos == 0
    newhigh[1:] |= hod_k[1:] > hod_k[:-1]
    # Per-symbol running sum of price x volume: laid out as one row per symbol (padded with zeros
    # after its last bar), a row-wise cumulative sum adds in bar order exactly like a grouped
    # ``cum_sum``.
    width = int(lengths.max()) if n else 0
    cell = np.repeat(np.arange(len(starts), dtype=np.int64) * width, lengths) + rpos
    grid = np.zeros((len(starts), width))
    grid.ravel()[cell] = price * v
    np.cumsum(grid, axis=1, out=grid)
    csv = np.cumsum(v)
    with np.errstate(divide="ignore", invalid="ignore"):
        vwap = grid.ravel()[cell] / (csv - np.repeat((csv - v)[starts], lengths))
    vwap[~np.isfinite(vwap)] = np.nan
    # The first RTH bar always sets the high, so these forward fills never cross symbols; the high
    # itself is the (exact float) high of the bar that set it.
    at = np.maximum.accumulate(np.where(newhigh, np.arange(n), 0))
    # No lag columns: a symbol's previous RTH bar is the previous row (when rpos >= 1), which the
    # detectors read by index. ``vwap`` is NaN (not null) where undefined: only numpy reads it.
    return pl.DataFrame(
        [
            *(pl.Series(c, a[c]) for c in cols),
            pl.Series("rpos", rpos),
            pl.Series("vwap", vwap),
            pl.Series("newhigh", newhigh),
            pl.Series("hod_t", t[at]),
            pl.Series("hod", h[at]),
        ]
    ).with_columns(pl.col("sid").set_sorted(), pl.col("key").set_sorted())


def symbol_stats(full: pl.DataFrame, rth: pl.DataFrame, env: DayEnv) -> pl.DataFrame:
    """Per symbol of the chunk with RTH bars: RTH open (first RTH bar), RTH high/low, pre-market
    high (null without pre-market bars) and prior close."""
    sid = rth["sid"].to_numpy()
    starts = run_starts(sid)
    syms = sid[starts]
    pm = np.flatnonzero(full["m"].to_numpy() < env.r0)
    pm_high = np.full(len(syms), np.nan)
    if len(pm):
        psid = full["sid"].to_numpy()[pm]
        pstarts = run_starts(psid)
        where = np.searchsorted(syms, psid[pstarts])
        found = (where < len(syms)) & (syms[np.minimum(where, len(syms) - 1)] == psid[pstarts])
        pm_high[where[found]] = np.maximum.reduceat(full["h"].to_numpy()[pm], pstarts)[found]
    return pl.DataFrame(
        {
            "sid": syms,
            "o_rth": rth["o"].to_numpy()[starts],
            "max_h": np.maximum.reduceat(rth["h"].to_numpy(), starts),
            "min_l": np.minimum.reduceat(rth["l"].to_numpy(), starts),
            "pm_high": pm_high,
            "pc": env.prior_close[syms],
        },
        nan_to_null=True,
    )


class ChunkFrames:
    """The frames of one chunk of whole symbols, as the detectors read them.

    ``full``: every bar (``chunk_frame``); ``rth``: the regular-session bars with their running
    session quantities (``rth_frame``); ``stats``: one row per symbol with RTH bars
    (``symbol_stats``). ``rth`` and ``stats`` are built on first use and then shared, so a run that
    needs none of the regular-session detectors never builds them.
    """

    def __init__(self, full: pl.DataFrame, env: DayEnv) -> None:
        self.full = full
        self.env = env

    @cached_property
    def rth(self) -> pl.DataFrame:
        return rth_frame(self.full, self.env)

    @cached_property
    def stats(self) -> pl.DataFrame:
        return symbol_stats(self.full, self.rth, self.env)

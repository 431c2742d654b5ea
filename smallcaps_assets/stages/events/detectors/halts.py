"""``halt_resumption``: LULD pauses inferred from gaps in the regular session's bars."""

from __future__ import annotations

import numpy as np
import polars as pl

from ..frames import ChunkFrames
from ..params import HaltResumptionParams
from ..schema import MINUTE_NS
from .common import event_rows, minutes_since, signed


def luld_band_expr(prior_close: pl.Expr, minute_after_open: pl.Expr, rth_len: int, tier: int) -> pl.Expr:
    """LULD band as a fraction of the reference price (the LULD Plan; docs/market_rules.md): the percentage is
    chosen by the previous close, doubled 09:30-09:45 and in the last 25 minutes (Tier 1, or
    Tier 2 at or below $3)."""
    pc = prior_close
    base = (
        pl.when(pc > 3.0)
        .then(0.05 if tier == 1 else 0.10)
        .when(pc >= 0.75)
        .then(0.20)
        .otherwise(pl.min_horizontal(0.15 / pc, 0.75))
    )
    late = minute_after_open >= rth_len - 25
    doubled = (minute_after_open < 15) | (late & ((pc <= 3.0) if tier == 2 else pl.lit(True)))
    return pl.when(doubled).then(base * 2.0).otherwise(base)


def luld_band(prior_close: float, minute_after_open: int, rth_minutes: int = 390, tier: int = 2) -> float:
    """The LULD band fraction ``halt_resumption`` uses, for one bar (a helper for recomputation)."""
    return pl.select(
        luld_band_expr(pl.lit(float(prior_close)), pl.lit(int(minute_after_open)), rth_minutes, tier)
    ).item()


def halt_resumption(frames: ChunkFrames, p: HaltResumptionParams) -> pl.DataFrame | None:
    """A gap in the bars after a move into the LULD band: a pause and its resumption."""
    full, rth, env = frames.full, frames.rth, frames.env
    rpos, t = rth["rpos"].to_numpy(), rth["t"].to_numpy()
    ri = np.flatnonzero((t[1:] - t[:-1] >= p.min_gap_minutes * MINUTE_NS) & (rpos[1:] >= 1)) + 1
    if len(ri) == 0:
        return None
    # The symbol's RTH bars are consecutive rows of the chunk too: bar j back of an RTH row is j rows
    # back in either frame (when rpos >= j; null before the symbol's first RTH bar).
    fi, rp = rth["fi"].to_numpy()[ri], pl.Series(rpos[ri])
    src = {"t": t, "m": rth["m"].to_numpy(), "h": rth["h"].to_numpy(), "l": rth["l"].to_numpy()}
    price = full["p"].to_numpy()

    def back(values: np.ndarray, at: np.ndarray, j: int, name: str) -> pl.Expr:
        return pl.when(rp >= j).then(pl.Series(values[np.maximum(at - j, 0)])).alias(f"{name}{j}")

    g = rth.select("sid", "t", "m", "o", "c")[ri].with_columns(
        *[back(src[col], ri, 1, col) for col in ("t", "m", "h", "l")],
        *[back(t, ri, j, "t") for j in range(2, 7)],
        *[back(price, fi, j, "p") for j in range(2, 7)],
    )
    in_ref = {j: (pl.col(f"t{j}") >= pl.col("t1") - 5 * MINUTE_NS).fill_null(False) for j in range(2, 7)}
    nref = pl.sum_horizontal(*[in_ref[j].cast(pl.Int64) for j in range(2, 7)])
    sref = pl.sum_horizontal(*[pl.when(in_ref[j]).then(pl.col(f"p{j}")).otherwise(0.0) for j in range(2, 7)])
    pc = pl.Series("pc", env.prior_close[g["sid"].to_numpy()], nan_to_null=True)
    g = g.with_columns(pc, nref=nref, ref=sref / nref).with_columns(
        band=luld_band_expr(pl.coalesce("pc", "ref"), pl.col("m1") - env.r0, env.r1 - env.r0, p.luld_tier),
        up=pl.col("h1") / pl.col("ref") - 1.0,
        dn=pl.col("l1") / pl.col("ref") - 1.0,
    )
    g = g.with_columns(move=pl.when(pl.col("up") >= -pl.col("dn")).then(pl.col("up")).otherwise(pl.col("dn")))
    fired = g.filter(
        (pl.col("nref") >= p.min_reference_bars)
        & (pl.col("move").abs() >= p.band_fraction * pl.col("band")).fill_null(False)
    )
    if fired.is_empty():
        return None
    return event_rows(
        fired,
        direction=signed(pl.col("move") > 0),
        strength=pl.col("move").abs() / pl.col("band"),
        ev_halt_start="t1",
        ev_halt_minutes=minutes_since("t1").cast(pl.Int64),
        ev_move_before_halt="move",
        ev_ref_price="ref",
        ev_bars="nref",
        ev_band_pct="band",
        ev_prior_close="pc",
        ev_prev_high="h1",
        ev_prev_low="l1",
        ev_open="o",
        ev_close="c",
    )

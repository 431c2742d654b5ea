"""A point-in-time check for feature families: for each event, rewrite every input row stamped at
or after its ``ts`` and require that event's features unchanged; rewrite rows before ``ts`` and
require some event's features to change (so the rewrite is consequential)."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from polars.testing import assert_frame_equal

Rewrite = Callable[[pl.DataFrame, pl.Expr], pl.DataFrame]  # (frame, rows to rewrite) -> frame


def _rewritten(inputs: dict, stamps: dict[str, str], rewrites: dict[str, Rewrite], ts, before: bool) -> dict:
    out = dict(inputs)
    for name, stamp in stamps.items():
        frame = inputs[name]
        mask = (pl.col(stamp) < ts) if before else (pl.col(stamp) >= ts)
        out[name] = rewrites[name](frame, mask)
    return out


def assert_point_in_time(
    family: Callable[..., pl.DataFrame],
    events: pl.DataFrame,
    inputs: dict[str, pl.DataFrame],
    stamps: dict[str, str],
    rewrites: dict[str, Rewrite],
    **fixed,
) -> int:
    """Raises AssertionError on look-ahead; returns how many events a before-``ts`` rewrite changed."""
    base = family(events, **inputs, **fixed)
    changed = 0
    for i, ts in enumerate(events["ts"]):
        after = family(events, **_rewritten(inputs, stamps, rewrites, ts, before=False), **fixed)
        assert_frame_equal(after.slice(i, 1), base.slice(i, 1))
        earlier = family(events, **_rewritten(inputs, stamps, rewrites, ts, before=True), **fixed)
        changed += not earlier.slice(i, 1).equals(base.slice(i, 1))
    assert changed > 0, "no rewrite before ts changed any feature: the check cannot fail"
    return changed

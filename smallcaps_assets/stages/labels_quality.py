"""Gates of event_labels (pure): outcomes known after the event, one row per event, few missing
values, a plausible class balance and whether the next session has landed (docs/labels.md)."""

from __future__ import annotations

import polars as pl
from pydantic import Field

from ..gates import Gate, GateResult, share_confidently_outside
from .events.params import FrozenParams


class LabelQualityParams(FrozenParams):
    """Bounds of the label gates (docs/labels.md says how they were judged on the offline market)."""

    # Missing shares by column: an event with no print after it has no entry (and so no label);
    # too few bars before ts leaves the barrier null; a horizon past 20:00 ET nulls a forward return.
    max_missing_entry: float = Field(0.05, ge=0, le=1, description="entry_price null share at most")
    max_missing_barrier: float = Field(0.25, ge=0, le=1, description="barrier_label null share at most")
    max_missing_forward: float = Field(0.5, ge=0, le=1, description="each forward return's null share")
    max_nonfinite: float = Field(0.0, ge=0, le=1, description="NaN/inf share of any float column")
    # The default market pools stop 13%, vertical 58%, profit 29% (docs/labels.md), but a day of
    # 30-40 labels swings widely: 0 stops of 30 happens on ~1 day in 60 by chance alone. So a class
    # fails only when the day's count shows, with a one-sided exact binomial test at
    # ``class_alpha``, that its true share lies outside the band (gates.share_confidently_outside).
    min_class_share: float = Field(0.05, ge=0, le=1, description="each barrier class at least this share")
    max_class_share: float = Field(0.85, ge=0, le=1, description="each barrier class at most this share")
    class_alpha: float = Field(0.001, gt=0, lt=1, description="test level of each class's band")
    min_labelled: int = Field(30, ge=0, description="class balance judged from this many labels")


T1_AFTER_TS = Gate(
    "labels_t1_after_ts",
    "Every label was known after its event: entry_ts >= ts, t1 > ts and t1 >= entry_ts; t1 is set "
    "exactly when barrier_label is.",
)
ONE_PER_EVENT = Gate(
    "labels_one_per_event", "Exactly one label row per intraday event of the day, and no other."
)
MISSING_SHARES = Gate(
    "labels_missing_shares",
    "Null shares within bounds: entry_price <= {p.max_missing_entry:.0%}, barrier_label <= "
    "{p.max_missing_barrier:.0%}, each forward return <= {p.max_missing_forward:.0%}; NaN/inf share of "
    "every float column <= {p.max_nonfinite:.0%}.",
    params=LabelQualityParams(),
)
CLASS_BALANCE = Gate(
    "labels_class_balance",
    "No barrier_label class (stop, vertical, profit) is shown, at test level {p.class_alpha:g}, to hold "
    "less than {p.min_class_share:.0%} or more than {p.max_class_share:.0%} of the labelled events "
    "(judged from {p.min_labelled} labels).",
    severity="warn",
    params=LabelQualityParams(),
)
NEXT_SESSION_COMPLETE = Gate(
    "next_session_complete",
    "Once the next session's daily bars exist, next_open_return and next_close_return are filled for "
    "every event with an entry whose symbol traded that session. Before they land the columns are "
    "null (next_session: pending, a truthful state that passes) and the partition is re-run when "
    "they do.",
    severity="warn",
)
LABEL_GATES = (T1_AFTER_TS, ONE_PER_EVENT, MISSING_SHARES, CLASS_BALANCE, NEXT_SESSION_COMPLETE)
FORWARD_PREFIX = "fwd_return_"


def class_balance(labels: pl.DataFrame) -> dict[str, float]:
    """Share of each barrier outcome among the labelled events (``sl``, ``vertical``, ``pt``)."""
    hits = labels["barrier_hit"].drop_nulls()
    n = hits.len()
    return {h: (float((hits == h).sum()) / n if n else 0.0) for h in ("sl", "vertical", "pt")}


def missing_shares(labels: pl.DataFrame) -> dict[str, float]:
    """Null share of every column, and NaN/inf share of every float column (``<col>_nonfinite``)."""
    n = max(labels.height, 1)
    out = {c: labels[c].null_count() / n for c in labels.columns}
    for c, t in labels.schema.items():
        if t.is_float():
            out[f"{c}_nonfinite"] = float((~labels[c].is_finite()).fill_null(False).sum()) / n
    return out


def label_gates(
    labels: pl.DataFrame,
    event_ids: pl.Series,
    next_daily: pl.DataFrame | None,
    p: LabelQualityParams = LabelQualityParams(),
) -> list[GateResult]:
    """``next_daily``: the next session's daily bars as the asset read them (None: not landed)."""
    ids = labels["event_id"]
    wanted = set(event_ids.to_list())
    missing, extra = wanted - set(ids), set(ids) - wanted
    dup = ids.len() - ids.n_unique()
    shares = missing_shares(labels)
    forward = [c for c in labels.columns if c.startswith(FORWARD_PREFIX)]
    worst_nonfinite = max((v for k, v in shares.items() if k.endswith("_nonfinite")), default=0.0)
    missing_ok = (
        shares["entry_price"] <= p.max_missing_entry
        and shares["barrier_label"] <= p.max_missing_barrier
        and all(shares[c] <= p.max_missing_forward for c in forward)
        and worst_nonfinite <= p.max_nonfinite
    )
    balance = class_balance(labels)
    labelled = int(labels["barrier_hit"].is_not_null().sum())
    hits = labels["barrier_hit"].drop_nulls()
    balanced = labelled < p.min_labelled or not any(
        share_confidently_outside(
            int((hits == h).sum()), labelled, p.min_class_share, p.max_class_share, p.class_alpha
        )
        for h in balance
    )
    t1, ts, entry = pl.col("t1"), pl.col("ts"), pl.col("entry_ts")
    return [
        T1_AFTER_TS.rows(
            labels,
            (entry.is_null() | (entry >= ts))
            & (t1.is_null() == pl.col("barrier_label").is_null())
            & (t1.is_null() | ((t1 > ts) & (t1 >= entry))),
        ),
        ONE_PER_EVENT.judge(
            not missing and not extra and dup == 0,
            {"missing": len(missing), "extra": len(extra), "duplicates": dup},
        ),
        MISSING_SHARES.judge(
            missing_ok,
            {
                "entry_price_null": round(shares["entry_price"], 4),
                "barrier_label_null": round(shares["barrier_label"], 4),
                **{f"{c}_null": round(shares[c], 4) for c in forward},
                "worst_nonfinite": round(worst_nonfinite, 4),
            },
            params=p,
        ),
        CLASS_BALANCE.judge(
            balanced,
            {"labelled": labelled, **{f"share_{k}": round(v, 4) for k, v in balance.items()}},
            params=p,
        ),
        next_session_gate(labels, next_daily),
    ]


def next_session_gate(labels: pl.DataFrame, next_daily: pl.DataFrame | None) -> GateResult:
    """Pending passes: the next session has not landed, nothing is wrong. Once it has, a label
    with an entry whose symbol has a next-session bar and still no next-session return fails."""
    if next_daily is None:
        return NEXT_SESSION_COMPLETE.judge(True, {"next_session": "pending", "missing_next_returns": 0})
    traded = next_daily.filter(pl.col("open").is_not_null() & pl.col("close").is_not_null())["symbol"]
    owed = pl.col("entry_price").is_not_null() & pl.col("symbol").is_in(traded.implode())
    filled = pl.col("next_open_return").is_not_null() & pl.col("next_close_return").is_not_null()
    missing = labels.filter(owed & ~filled).height
    return NEXT_SESSION_COMPLETE.rows(
        labels,
        ~owed | filled,
        {"next_session": "complete" if not missing else "incomplete", "missing_next_returns": missing},
    )

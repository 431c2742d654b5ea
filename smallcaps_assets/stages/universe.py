"""The point-in-time small-cap universe: who is eligible on day D, using only what was known
before D's open (reference as of D, shares as of the prior session, bars up to the prior session).

The market-cap rule is the one the old system lacked: cap = point-in-time shares outstanding x
prior close, and an unknown cap excludes the symbol (counted) instead of letting it through.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

NATIONAL_EXCHANGES = ("XNAS", "XNYS", "XASE", "ARCX", "BATS", "IEXG")


class UniverseRules(BaseModel):
    """Every threshold of the universe, with the platform's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: tuple[str, ...] = Field(("CS",), description="vendor type codes admitted")
    exchanges: tuple[str, ...] = Field(NATIONAL_EXCHANGES, description="primary-exchange MICs (no OTC)")
    min_price: float = Field(0.50, gt=0, description="prior close at least this ($)")
    max_price: float = Field(20.0, gt=0, description="prior close at most this ($)")
    max_market_cap: float | None = Field(
        2.0e9, gt=0, description="cap strictly below this ($); None disables"
    )
    max_float: float = Field(100.0e6, gt=0, description="float strictly below this (shares) where known")
    min_adv_dollar: float = Field(1.0e6, ge=0, description="mean close x volume over the lookback ($)")
    adv_sessions: int = Field(20, ge=1, le=250, description="lookback sessions for the average dollar volume")
    min_adv_sessions: int = Field(5, ge=1, description="fewer sessions of history excludes (new listings)")
    max_unknown_cap_share: float = Field(
        0.10, ge=0, le=1, description="gate: share of price-band names without cap"
    )


# Rule names in evaluation order; a symbol's ``excluded_by`` is the first rule it fails.
RULES = (
    "type",
    "exchange",
    "no_prior_bar",
    "price_band",
    "unknown_market_cap",
    "market_cap",
    "float",
    "adv_history",
    "adv_dollar",
)


def build_universe(
    day: dt.date,
    reference: pl.DataFrame,
    details: pl.DataFrame | None,
    history: pl.DataFrame,
    rules: UniverseRules,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (eligible rows, audit of every candidate with the rule that excluded it).

    ``history``: daily bars of sessions strictly before ``day`` with a ``date`` column.
    """
    prior = history.filter(pl.col("date") < day)
    lookback_dates = prior.select(pl.col("date").unique().sort().tail(rules.adv_sessions))["date"]
    window = prior.filter(pl.col("date").is_in(lookback_dates.implode()))
    last = (
        prior.sort("date")
        .group_by("symbol")
        .agg(prior_date=pl.col("date").last(), prior_close=pl.col("close").last())
    )
    adv = window.group_by("symbol").agg(
        adv_dollar_20d=(pl.col("close") * pl.col("volume")).mean(), adv_sessions=pl.len().cast(pl.Int64)
    )
    cand = reference.filter(pl.col("active")).select("symbol", "type", "market", "primary_exchange")
    cand = cand.join(last, on="symbol", how="left").join(adv, on="symbol", how="left")
    if details is not None and details.height:
        cand = cand.join(
            details.select(
                "symbol",
                shares_outstanding="weighted_shares_outstanding",
                shares_as_of="as_of",
                float_shares="float_shares",
            ),
            on="symbol",
            how="left",
        )
    else:
        cand = cand.with_columns(
            shares_outstanding=pl.lit(None, pl.Float64),
            shares_as_of=pl.lit(None, pl.Date),
            float_shares=pl.lit(None, pl.Float64),
        )
    cand = cand.with_columns(market_cap=pl.col("shares_outstanding") * pl.col("prior_close"))

    cap_limit = rules.max_market_cap
    fails = {
        "type": ~pl.col("type").is_in(list(rules.types)).fill_null(False),
        "exchange": ~(
            (pl.col("market") == "stocks") & pl.col("primary_exchange").is_in(list(rules.exchanges))
        ).fill_null(False),
        "no_prior_bar": pl.col("prior_close").is_null(),
        "price_band": ~pl.col("prior_close").is_between(rules.min_price, rules.max_price).fill_null(False),
        "unknown_market_cap": pl.col("market_cap").is_null() if cap_limit is not None else pl.lit(False),
        "market_cap": (pl.col("market_cap") >= cap_limit).fill_null(False)
        if cap_limit is not None
        else pl.lit(False),
        "float": (pl.col("float_shares") >= rules.max_float).fill_null(False),
        "adv_history": (pl.col("adv_sessions").fill_null(0) < rules.min_adv_sessions),
        "adv_dollar": ~(pl.col("adv_dollar_20d") >= rules.min_adv_dollar).fill_null(False),
    }
    excluded_by = pl.lit(None, pl.String)
    for name in reversed(RULES):
        excluded_by = pl.when(fails[name]).then(pl.lit(name)).otherwise(excluded_by)
    audit = cand.with_columns(**{f"fails_{k}": v for k, v in fails.items()}, excluded_by=excluded_by).sort(
        "symbol"
    )
    eligible = (
        audit.filter(pl.col("excluded_by").is_null())
        .select(
            "symbol",
            "type",
            "primary_exchange",
            "prior_date",
            "prior_close",
            "shares_outstanding",
            "shares_as_of",
            "market_cap",
            "float_shares",
            "adv_dollar_20d",
            "adv_sessions",
        )
        .sort("symbol")
    )
    return eligible, audit


def exclusion_counts(audit: pl.DataFrame) -> dict[str, int]:
    """How many candidates each rule removed (first failing rule) and how many it would remove alone."""
    first = dict(audit.group_by("excluded_by").len().drop_nulls("excluded_by").iter_rows())
    out = {f"excluded_by_{r}": int(first.get(r, 0)) for r in RULES}
    in_band = audit.filter(~pl.col("fails_type") & ~pl.col("fails_exchange") & ~pl.col("fails_price_band"))
    out["large_caps_excluded"] = int(in_band["fails_market_cap"].sum())
    out["unknown_caps_excluded"] = int(in_band["fails_unknown_market_cap"].sum())
    out["price_band_candidates"] = in_band.height
    out["candidates"] = audit.height
    return out

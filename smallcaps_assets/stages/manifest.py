"""The download manifest: which intraday events get their trades and quotes fetched (pure polars).

Selection runs as a funnel, each step counted so the metadata shows where events were lost:

1. ``score``: the event's past-only score is at least ``min_score`` (null scores, i.e. types still
   warming up, are out);
2. ``liquidity``: the bar that confirmed the event (the minute ending at ``ts``) traded at least
   ``min_bar_dollar_volume`` and ``min_bar_shares``;
3. ``spread``: the estimated spread at the event is at most ``max_spread_pct``;
4. ``universe``: the symbol is in that day's universe with a known cap below ``max_market_cap``
   (re-checked here, so a manifest can never ask for a large cap even if the universe was built
   with the cap rule off);
5. ``dedup``: one row per (symbol, ts, event_type);
6. ``per_day``: at most ``max_per_symbol_day`` events per symbol (best score, then strength,
   then earliest);
7. ``per_window``: at most ``max_per_symbol_window`` per symbol over the trailing
   ``window_sessions`` sessions, counting earlier manifests' rows.

The spread at the event is measured before the window is bought, in one of two ways:

* **quoted** (preferred): the median quoted spread of the vendor's last NBBO quotes before ``ts``
  (``quoted_spread_before``; ``fetch_quotes_before`` makes one ``/v3/quotes`` request per
  candidate that passed the score and liquidity rules, ``timestamp.lt = ts``, ``order = desc``,
  ``limit = QUOTES_BEFORE``). On the offline market's demo windows it ranks events like the
  quoted spread of their whole window (docs/manifest.md);
* **estimated** (fallback, for events whose fetch returned no quote): from the minute bars up to the event, with
  the close-high-low estimator of Abdi & Ranaldo (2017, RFS "A Simple Estimation of Bid-Ask Spreads
  from Daily Close, High, and Low Prices"). Their two-period form needs the *next* period's
  mid-range; we pair each bar with the one before it, so the estimate at the event bar uses only
  bars that have closed by ``ts`` (no look-ahead). It reads an effective spread swamped by the
  bar's volatility and ranks names poorly on fast tapes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from .. import calendar as cal
from .events.schema import EVENT_KEY_SCHEMA, UTC_NS

MINUTE = dt.timedelta(minutes=1)

FUNNEL = ("detected", "score", "liquidity", "spread", "universe", "dedup", "per_day", "per_window")

# The event's own columns (as in intraday_events), then what the selection measured and the window.
MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_KEY_SCHEMA,
    "score": pl.Float64(),
    "window_start": UTC_NS,
    "window_end": UTC_NS,
    "bar_volume": pl.Float64(),
    "bar_dollar_volume": pl.Float64(),
    "est_spread_pct": pl.Float64(),
    "spread_source": pl.String(),
    "market_cap": pl.Float64(),
    "prior_window_events": pl.Int64(),
}
# The columns that define what is downloaded: the manifest's content hash covers exactly these,
# so a rescored but otherwise identical manifest asks for the same windows under the same hash.
REQUEST_COLUMNS = ("event_id", "symbol", "window_start", "window_end")
# Where ``est_spread_pct`` came from (the ``spread_source`` column).
SPREAD_QUOTED, SPREAD_BARS = "quoted", "bars"


class ManifestRules(BaseModel):
    """Selection rules with the old system's defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float = Field(0.60, ge=0, le=1, description="past-only score at least this")
    # A name in play fires many types in a day; one event per type first, then the best few, so
    # that one type (volume_spike, which fires on most busy bars) cannot take the whole manifest.
    max_per_symbol_type_day: int = Field(1, ge=1, description="events per symbol and type per day")
    # Types that describe activity rather than a setup: a window around a setup covers the same
    # burst, so within a symbol-day they rank after the setups (by score within each group).
    context_types: tuple[str, ...] = Field(
        ("volume_spike", "tape_speed", "price_momentum"), description="ranked after the other types"
    )
    max_per_symbol_day: int = Field(3, ge=1, description="events per symbol per day")
    max_per_symbol_window: int = Field(6, ge=1, description="events per symbol over the trailing window")
    window_sessions: int = Field(5, ge=1, le=60, description="trailing window, today included")
    min_bar_dollar_volume: float = Field(100_000.0, ge=0, description="dollar volume of the event bar ($)")
    min_bar_shares: float = Field(10_000.0, ge=0, description="shares traded in the event bar")
    max_spread_pct: float = Field(5.0, gt=0, description="estimated spread at the event, % of price")
    spread_bars: int = Field(30, ge=2, le=390, description="bars averaged by the spread estimator")
    max_market_cap: float = Field(2.0e9, gt=0, description="re-checked cap strictly below this ($)")
    minutes_before: int = Field(3, ge=0, le=60, description="window starts this long before ts")
    minutes_after: int = Field(7, ge=1, le=120, description="window ends this long after ts")


def estimated_spread(bars: pl.DataFrame, n_bars: int = 30) -> pl.DataFrame:
    """Per (symbol, ts): the Abdi-Ranaldo spread estimate (% of price) over the last ``n_bars``
    bar pairs ending at that bar. ``ts`` is returned as the bar's *close* (start + 1 minute), the
    instant the estimate becomes known, so it joins directly on an event's ``ts``.

    Each pair (t-1, t) gives s^2 = 4 (c[t-1] - eta[t-1]) (c[t-1] - eta[t]) with c the log close and
    eta the log mid-range; the mean over the window is floored at 0 before the square root (single
    pairs are often negative, which the paper handles by averaging first)."""
    c = pl.col("close").log()
    eta = ((pl.col("high") + pl.col("low")) / 2).log()
    same = pl.col("symbol") == pl.col("symbol").shift(1)
    pair = pl.when(same).then(4 * (c.shift(1) - eta.shift(1)) * (c.shift(1) - eta))
    s2 = pair.rolling_mean(n_bars, min_samples=2).over("symbol")
    return bars.sort("symbol", "ts").select(
        "symbol",
        ts=(pl.col("ts") + MINUTE).cast(UTC_NS),
        # null until two bar pairs exist: an unknown spread fails the spread rule, never passes it
        est_spread_pct=100 * s2.clip(lower_bound=0).sqrt(),
    )


QUOTES_BEFORE = 100  # NBBO quotes read before the event by the quoted spread measure


def quoted_spread_before(quotes: pl.DataFrame, last: int = QUOTES_BEFORE) -> pl.DataFrame:
    """Per (symbol, ts): the median quoted spread (% of mid) of the last ``last`` NBBO quotes
    strictly before ``ts``, as ``est_spread_pct``.

    ``quotes``: columns symbol, ts (the event's), sip_timestamp (ns), bid_price, ask_price: the
    vendor's quotes fetched for the event (any that are not before ``ts`` are ignored, so a
    careless fetch cannot look ahead). One-sided, locked and crossed quotes are not a spread and
    are skipped. Events whose quotes are all skipped get no row (an unknown spread fails the rule).
    """
    ts_ns = pl.col("ts").cast(UTC_NS).dt.epoch("ns")
    mid = (pl.col("ask_price") + pl.col("bid_price")) / 2
    return (
        quotes.filter(
            (pl.col("sip_timestamp") < ts_ns)
            & (pl.col("bid_price") > 0)
            & (pl.col("ask_price") > pl.col("bid_price"))
        )
        .sort("symbol", "ts", "sip_timestamp")
        .group_by("symbol", "ts", maintain_order=True)
        .agg(est_spread_pct=(100 * (pl.col("ask_price") - pl.col("bid_price")) / mid).tail(last).median())
        .with_columns(pl.col("ts").cast(UTC_NS))
    )


async def fetch_quotes_before(client, candidates: pl.DataFrame, last: int = QUOTES_BEFORE) -> pl.DataFrame:
    """The vendor's last ``last`` NBBO quotes strictly before each candidate's ``ts``, one request
    per distinct (symbol, ts) (``PolygonClient.ticks_before``), in the form ``quoted_spread_before``
    reads: symbol, ts, sip_timestamp, bid_price, ask_price. A candidate with no quote before ``ts``
    has no row (its spread falls back on the bars). Requests run concurrently; the client's
    semaphore and rate limit pace them. A request that fails for good raises: a vendor outage must
    not silently change which events are selected."""
    keys = candidates.select("symbol", pl.col("ts").cast(UTC_NS)).unique(maintain_order=True)
    stamps = keys.select("symbol", "ts", ts_ns=pl.col("ts").dt.epoch("ns")).iter_rows()

    async def one(symbol: str, ts: dt.datetime, ts_ns: int) -> pl.DataFrame:
        q = await client.ticks_before("quotes", symbol, int(ts_ns), limit=last)
        return q.select(
            pl.lit(symbol, pl.String).alias("symbol"),
            pl.lit(ts).cast(UTC_NS).alias("ts"),
            pl.col("sip_timestamp").cast(pl.Int64),
            pl.col("bid_price").cast(pl.Float64),
            pl.col("ask_price").cast(pl.Float64),
        )

    frames = await asyncio.gather(*(one(*k) for k in stamps))
    empty = {
        "symbol": pl.String,
        "ts": UTC_NS,
        "sip_timestamp": pl.Int64,
        "bid_price": pl.Float64,
        "ask_price": pl.Float64,
    }
    return pl.concat([pl.DataFrame(schema=empty), *frames])


def event_bar_figures(bars: pl.DataFrame, n_bars: int = 30) -> pl.DataFrame:
    """Liquidity and spread of the bar that confirms an event (keyed by the bar's close)."""
    price = pl.coalesce("vwap", (pl.col("high") + pl.col("low") + pl.col("close")) / 3)
    liquidity = bars.select(
        "symbol",
        ts=(pl.col("ts") + MINUTE).cast(UTC_NS),
        bar_volume=pl.col("volume").cast(pl.Float64),
        bar_dollar_volume=pl.col("volume") * price,
    )
    return liquidity.join(estimated_spread(bars, n_bars), on=["symbol", "ts"], how="left")


def select(
    day: dt.date,
    events: pl.DataFrame,
    bars: pl.DataFrame,
    universe: pl.DataFrame,
    prior_manifest: pl.DataFrame | None,
    rules: ManifestRules | None = None,
    quotes_before: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The day's manifest and the funnel counts (events left after each step).

    ``events``: that day's intraday events; ``bars``: that day's minute bars; ``universe``: that
    day's universe (symbol, market_cap); ``prior_manifest``: the manifests of the previous
    ``window_sessions - 1`` sessions (symbol column at least), or None. ``quotes_before``: the
    vendor's last quotes before each candidate's ``ts`` (``quoted_spread_before``); where given,
    the spread rule reads the quoted spread, elsewhere the bar estimate (``spread_source`` says
    which: ``quoted`` or ``bars``)."""
    r = rules or ManifestRules()
    ev, funnel = _scored_and_liquid(events, bars, r)
    bar_source = pl.when(pl.col("est_spread_pct").is_not_null()).then(pl.lit(SPREAD_BARS))
    if quotes_before is not None:
        quoted = quoted_spread_before(quotes_before).rename({"est_spread_pct": "quoted_spread_pct"})
        ev = (
            ev.join(quoted, on=["symbol", "ts"], how="left")
            .with_columns(
                spread_source=pl.when(pl.col("quoted_spread_pct").is_not_null())
                .then(pl.lit(SPREAD_QUOTED))
                .otherwise(bar_source),
                est_spread_pct=pl.coalesce("quoted_spread_pct", "est_spread_pct"),
            )
            .drop("quoted_spread_pct")
        )
    else:
        ev = ev.with_columns(spread_source=bar_source)
    ev = ev.filter(pl.col("est_spread_pct") <= r.max_spread_pct)
    funnel["spread"] = ev.height

    caps = universe.select("symbol", "market_cap")
    ev = ev.join(caps, on="symbol", how="inner").filter(
        pl.col("market_cap").is_not_null() & (pl.col("market_cap") < r.max_market_cap)
    )
    funnel["universe"] = ev.height
    ev = ev.unique(["symbol", "ts", "event_type"], keep="first", maintain_order=True)
    funnel["dedup"] = ev.height

    ranked = ev.with_columns(_context=pl.col("event_type").is_in(list(r.context_types))).sort(
        ["symbol", "_context", "score", "strength", "ts", "event_type"],
        descending=[False, False, True, True, False, False],
    )
    ranked = ranked.filter(pl.int_range(pl.len()).over("symbol", "event_type") < r.max_per_symbol_type_day)
    ev = ranked.filter(pl.int_range(pl.len()).over("symbol") < r.max_per_symbol_day)
    funnel["per_day"] = ev.height

    if prior_manifest is not None and prior_manifest.height:
        prior = prior_manifest.group_by("symbol").agg(prior_window_events=pl.len().cast(pl.Int64))
    else:
        prior = pl.DataFrame(schema={"symbol": pl.String, "prior_window_events": pl.Int64})
    ev = ev.join(prior, on="symbol", how="left").with_columns(pl.col("prior_window_events").fill_null(0))
    rank_today = pl.int_range(1, pl.len() + 1).over("symbol")
    ev = ev.filter(pl.col("prior_window_events") + rank_today <= r.max_per_symbol_window)
    funnel["per_window"] = ev.height

    ev = with_windows(ev, day, r)
    out = ev.select([pl.col(c).cast(t) for c, t in MANIFEST_SCHEMA.items()]).sort(
        "symbol", "ts", "event_type"
    )
    return out, funnel


def _scored_and_liquid(
    events: pl.DataFrame, bars: pl.DataFrame, r: ManifestRules
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Funnel steps 1-2 (score, liquidity), the events joined with their bar figures."""
    funnel = {"detected": events.height}
    ev = events.filter(pl.col("score").is_not_null() & (pl.col("score") >= r.min_score))
    funnel["score"] = ev.height
    figures = event_bar_figures(
        bars.filter(pl.col("symbol").is_in(ev["symbol"].unique().implode())), r.spread_bars
    )
    ev = ev.join(figures, on=["symbol", "ts"], how="left").filter(
        (pl.col("bar_dollar_volume") >= r.min_bar_dollar_volume) & (pl.col("bar_volume") >= r.min_bar_shares)
    )
    funnel["liquidity"] = ev.height
    return ev, funnel


def spread_candidates(
    events: pl.DataFrame, bars: pl.DataFrame, rules: ManifestRules | None = None
) -> pl.DataFrame:
    """(symbol, ts) of the events that pass the score and liquidity rules, once each: the events
    whose quoted spread is worth a request (``fetch_quotes_before``), in (symbol, ts) order."""
    ev, _ = _scored_and_liquid(events, bars, rules or ManifestRules())
    return ev.select("symbol", pl.col("ts").cast(UTC_NS)).unique().sort("symbol", "ts")


def with_windows(frame: pl.DataFrame, day: dt.date, rules: ManifestRules) -> pl.DataFrame:
    """[window_start, window_end): ``minutes_before`` before ``ts`` to ``minutes_after`` after it,
    clipped to the day's extended session (there are no prints outside 04:00-20:00 ET)."""
    sess = cal.session(day)
    if sess is None:
        raise ValueError(f"{day} is not a trading day")
    lo = pl.lit(sess.pre_open).cast(UTC_NS)
    hi = pl.lit(sess.post_close).cast(UTC_NS)
    return frame.with_columns(
        window_start=pl.max_horizontal(
            (pl.col("ts") - pl.duration(minutes=rules.minutes_before)).cast(UTC_NS), lo
        ),
        window_end=pl.min_horizontal(
            (pl.col("ts") + pl.duration(minutes=rules.minutes_after)).cast(UTC_NS), hi
        ),
    )


def content_hash(manifest: pl.DataFrame) -> str:
    """sha256 over the request-defining columns in a canonical text form (independent of the Parquet
    writer's version): two manifests with the same hash ask for exactly the same windows."""
    h = hashlib.sha256()
    rows = manifest.select(
        pl.col(c).dt.epoch("ns") if manifest.schema[c].is_temporal() else pl.col(c) for c in REQUEST_COLUMNS
    ).sort("event_id")
    for row in rows.iter_rows():
        h.update(("|".join(str(v) for v in row) + "\n").encode())
    return h.hexdigest()

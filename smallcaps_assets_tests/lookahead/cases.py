"""The registry: one look-ahead case per time-partitioned asset (docs/testing.md says how to add
one). ``CASES`` maps each asset key to its day-level case; ``EXTRA_CASES`` holds the intraday
cutoff cases. ``test_lookahead.py`` fails when an asset of the definitions has no case.

The forbidden rewrites listed here are the asset's own; every case also gets "every partition
after D is scrambled" and "the vendor's market ends on D" from the harness.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from smallcaps_assets import calendar as cal
from smallcaps_assets import lake
from smallcaps_assets.stages.labels import LabelParams

from .harness import (
    AfterEvent,
    At,
    Case,
    Context,
    LakeRewrite,
    Part,
    VendorRewrite,
    before_cutoff,
    compose,
    day_d,
    et_instant,
    every_other_row,
    from_cutoff,
    prior_session,
    scale,
    scramble,
    set_column,
    shift_time,
    vendor_results,
    week_anchor,
)

# ---------------------------------------------------------------------- shared rewrites
PRICES = ("open", "high", "low", "close", "vwap")
SHARES = ("weighted_shares_outstanding", "share_class_shares_outstanding")

# A forbidden rewrite should be consequential if it were read: it pushes values across the
# asset's thresholds rather than nudging them.
#
# Day D's daily bar is end-of-day data; an asset built from "prior" data must not read it. Prices
# x0.3 would make every symbol gap up 230% from a "prior close" taken from it. Its split_ratio is
# the exception: it comes from corporate_actions of D (known before the open), so it is kept,
# and rewriting it is an allowed input of intraday_events.
D_DAILY_BAR = LakeRewrite(
    "daily_bars[D]: prices x0.3, volume and count x7 (split_ratio kept)",
    "daily_bars",
    day_d,
    compose(scale(0.3, *PRICES), scale(7, "volume", "transactions")),
)
# Shares x100 would lift every market cap over the $2B ceiling.
D_SHARES = LakeRewrite(
    "ticker_details[D]: shares and float x100", "ticker_details", day_d, scale(100, *SHARES, "float_shares")
)


def _edge_prints(original, ctx: Context):
    """``ticks_frame`` that also returns a print at each manifest window's end and one just
    before its start whenever the request reaches them (a correct request never does)."""

    async def replaced(self, kind, ticker, gte_ns=None, lte_ns=None, *args, **kwargs):
        frame = await original(self, kind, ticker, gte_ns, lte_ns, *args, **kwargs)
        manifest = lake.read_partition("event_manifest", ctx.day, ctx.root)
        mine = manifest.filter(pl.col("symbol") == ticker)
        lo, hi = gte_ns or 0, lte_ns if lte_ns is not None else 2**63 - 1
        edges = [
            s
            for a, b in mine.select(
                pl.col("window_start").dt.epoch("ns"), pl.col("window_end").dt.epoch("ns")
            ).iter_rows()
            for s in (a - 1, b)
            if lo <= s <= hi
        ]
        if not edges or frame.is_empty():
            return frame
        fake = pl.concat(
            frame.head(1).with_columns(
                pl.lit(s, dtype=frame.schema["sip_timestamp"]).alias("sip_timestamp"),
                pl.lit(10**15 + i, dtype=frame.schema["sequence_number"]).alias("sequence_number"),
            )
            for i, s in enumerate(edges)
        )
        return pl.concat([frame, fake])

    return replaced


TICKS_OUTSIDE_WINDOWS = VendorRewrite(
    "vendor ticks: a print at each window's end and just before its start", "ticks_frame", _edge_prints
)


def _quotes_from_ts(original, ctx: Context):
    """``ticks_before`` that also returns, newest first, as many quotes again stamped at and after
    the instant asked about, each 20 times as wide: a spread measure that read them would move."""

    async def replaced(self, kind, ticker, before_ns, limit=100):
        frame = await original(self, kind, ticker, before_ns, limit)
        if frame.is_empty():
            return frame
        late = _widened(frame, 20).with_columns(
            sip_timestamp=before_ns + pl.int_range(pl.len(), 0, -1, dtype=pl.Int64) - 1
        )
        return pl.concat([late, frame])

    return replaced


def _quotes_widened(original, ctx: Context):
    """``ticks_before`` whose quotes (all before the instant asked about) are 20 times as wide."""

    async def replaced(self, kind, ticker, before_ns, limit=100):
        return _widened(await original(self, kind, ticker, before_ns, limit), 20)

    return replaced


def _widened(quotes: pl.DataFrame, factor: float) -> pl.DataFrame:
    return quotes.with_columns(
        ask_price=pl.col("ask_price") + (factor - 1) * (pl.col("ask_price") - pl.col("bid_price"))
    )


QUOTES_FROM_TS = VendorRewrite(
    "vendor quotes at and after each event's ts, 20x as wide", "ticks_before", _quotes_from_ts
)
QUOTES_BEFORE_TS = VendorRewrite(
    "vendor quotes before each event's ts: spreads x20", "ticks_before", _quotes_widened
)


def _second_session_before(day: dt.date) -> list[dt.date]:
    return prior_session(prior_session(day)[0])


def _news_at_window_edges(original, ctx: Context):
    """``news`` that also returns an article at D's window end and one a second before its start
    (a vendor that ignores the bounds): the asset must keep neither."""

    async def replaced(self, *args, **kwargs):
        from smallcaps_assets.polygon import models
        from smallcaps_assets.stages.news import news_window

        start, end = news_window(ctx.day)
        edges = [
            models.NewsArticle(id=f"edge{i}", tickers=["ZZZZ"], title="edge", published_utc=t)
            for i, t in enumerate((end, start - dt.timedelta(seconds=1)))
        ]
        return [*await original(self, *args, **kwargs), *edges]

    return replaced


NEWS_OUTSIDE_WINDOW = VendorRewrite(
    "vendor news: an article at D's window end and one just before its start", "news", _news_at_window_edges
)


def _unpublished_short_interest(original, ctx: Context):
    """``short_interest`` whose rows not yet published before D (published_on >= D) are x100."""

    async def replaced(self, *args, **kwargs):
        from smallcaps_assets.stages.short_data import published_on

        rows = await original(self, *args, **kwargs)
        late = [r for r in rows if published_on(r.settlement_date) >= ctx.day]
        if not late:
            raise AssertionError("the request returned no unpublished settlement: the rewrite tests nothing")
        return [
            r.model_copy(update={"short_interest": r.short_interest * 100})
            if published_on(r.settlement_date) >= ctx.day
            else r
            for r in rows
        ]

    return replaced


SHORT_INTEREST_UNPUBLISHED = VendorRewrite(
    "vendor short interest settled but not yet published before D: x100",
    "short_interest",
    _unpublished_short_interest,
)


def _short_volume_next_session(original, ctx: Context):
    """``short_volume`` that also returns the next session's rows (a vendor ignoring ``date``)."""

    async def replaced(self, *args, **kwargs):
        rows = await original(self, *args, **kwargs)
        later = cal.next_trading_day(ctx.day)
        return [*rows, *(r.model_copy(update={"date": later, "short_volume": 0.0}) for r in rows)]

    return replaced


SHORT_VOLUME_NEXT_SESSION = VendorRewrite(
    "vendor short volume: the next session's rows too", "short_volume", _short_volume_next_session
)


@dataclass(frozen=True)
class BeyondLabelHorizons:
    """D's minute bars no label can reach, scrambled: per symbol, every bar starting at or after
    the latest horizon end of its events (the later of entry + the longest forward return and the
    vertical barrier, read from the base lake's labels), and every bar of a symbol without events."""

    label: str = "minute_bars[D] beyond every event's horizon, and of symbols without events"
    longest_minutes: int = max(LabelParams().horizons_minutes)

    def apply(self, ctx: Context, stack) -> None:
        labels = lake.read_partition("event_labels", ctx.day, ctx.root)
        bars = lake.read_partition("minute_bars", ctx.day, ctx.root)
        if labels is None or bars is None:
            raise AssertionError(f"{self.label}: no labels or minute bars for {ctx.day}")
        reach = labels.group_by("symbol").agg(
            end=pl.max_horizontal(
                pl.col("entry_ts") + pl.duration(minutes=self.longest_minutes), "vertical_ts", "ts"
            ).max()
        )
        marked = bars.join(reach, on="symbol", how="left").with_columns(
            beyond=pl.col("end").is_null() | (pl.col("ts") >= pl.col("end"))
        )
        inside = marked.filter(~pl.col("beyond")).drop("end", "beyond")
        outside = scramble(keep=("ts",))(marked.filter("beyond").drop("end", "beyond"), Part(ctx.day, None))
        lake.write_partition("minute_bars", ctx.day, pl.concat([inside, outside]), root=ctx.root)


# ---------------------------------------------------------------------- the cases
_EVENT_WINDOWS = Case(
    assets=("event_trades", "event_quotes"),
    forbidden=(TICKS_OUTSIDE_WINDOWS,),
    allowed=(
        LakeRewrite(
            "event_manifest[D]: windows 2 min later",
            "event_manifest",
            day_d,
            shift_time(dt.timedelta(minutes=2), "window_start", "window_end"),
        ),
        LakeRewrite("event_manifest[D]: every other event", "event_manifest", day_d, every_other_row),
    ),
    note="Downloads exactly [window_start, window_end) of D's manifest events.",
)

CASES: dict[str, Case] = {
    "ticker_reference": Case(
        assets=("ticker_reference",),
        allowed=(vendor_results("vendor tickers of D: every other one", "tickers", lambda r: r[::2]),),
        note="The vendor's reference as of D; nothing after D.",
    ),
    "corporate_actions": Case(
        assets=("corporate_actions",),
        allowed=(vendor_results("vendor splits of D: none", "splits", lambda r: []),),
        note="Actions executed or going ex on D, asked for D only.",
    ),
    "ticker_details": Case(
        assets=("ticker_details",),
        allowed=(
            LakeRewrite(
                "ticker_reference[D]: every other ticker", "ticker_reference", day_d, every_other_row
            ),
            LakeRewrite(
                "ticker_details[week anchor]: shares x3",
                "ticker_details",
                week_anchor,
                scale(3, *SHARES),
            ),
        ),
        note="Shares as of D: carried from the week's anchor or asked with date=D.",
    ),
    "daily_bars": Case(
        assets=("daily_bars",),
        allowed=(
            LakeRewrite(
                "corporate_actions[D]: split_from x2", "corporate_actions", day_d, scale(2, "split_from")
            ),
            vendor_results("vendor grouped daily of D: every other bar", "grouped_daily", lambda r: r[::2]),
        ),
        note="D's raw bars and D's split ratio; nothing after D.",
    ),
    "universe": Case(
        assets=("universe",),
        forbidden=(D_DAILY_BAR, D_SHARES),
        allowed=(
            LakeRewrite(
                "ticker_details[D-1]: shares x100",
                "ticker_details",
                prior_session,
                scale(100, *SHARES),
            ),
            LakeRewrite("daily_bars[D-1]: prices x0.02", "daily_bars", prior_session, scale(0.02, *PRICES)),
            LakeRewrite(
                "ticker_reference[D]: every other ticker", "ticker_reference", day_d, every_other_row
            ),
        ),
        note="Eligibility on D from data known before D's open: D-1 close and shares, D's listing.",
    ),
    "minute_bars": Case(
        assets=("minute_bars",),
        allowed=(LakeRewrite("universe[D]: every other symbol", "universe", day_d, every_other_row),),
        note=(
            "D's bars of D's universe; nothing after D. A bar's bad-print flag and cleaned prices"
            " read only that bar and earlier bars of D (stages/test_bad_prints.py)."
        ),
    ),
    "daily_events": Case(
        assets=("daily_events",),
        forbidden=(D_SHARES,),
        allowed=(
            LakeRewrite("daily_bars[D]: volume x10", "daily_bars", day_d, scale(10, "volume")),
            LakeRewrite("daily_bars[D-1]: prices x0.8", "daily_bars", prior_session, scale(0.8, *PRICES)),
        ),
        note="An end-of-day screen of D's bar against prior sessions; nothing after D.",
    ),
    "intraday_events": Case(
        assets=("intraday_events",),
        forbidden=(D_DAILY_BAR, D_SHARES),
        allowed=(
            LakeRewrite(
                "minute_bars[D]: volume x5", "minute_bars", day_d, scale(5, "volume", "transactions")
            ),
            LakeRewrite(
                "minute_bars[D-1]: volume x10 (baselines)",
                "minute_bars",
                prior_session,
                scale(10, "volume", "transactions"),
            ),
            LakeRewrite(
                "daily_bars[D-1]: prices x0.5 (prior close)", "daily_bars", prior_session, scale(0.5, *PRICES)
            ),
            LakeRewrite("daily_bars[D]: split_ratio x0.5", "daily_bars", day_d, scale(0.5, "split_ratio")),
            LakeRewrite("universe[D]: every other symbol", "universe", day_d, every_other_row),
            LakeRewrite(
                "intraday_events[D-1]: strength x0.5 (score history)",
                "intraday_events",
                prior_session,
                scale(0.5, "strength"),
            ),
        ),
        note="Prior close from D-1 (in D's share units), baselines from prior sessions, score "
        "against prior sessions' events; D's own bars are the detectors' input.",
    ),
    "event_manifest": Case(
        assets=("event_manifest",),
        forbidden=(D_DAILY_BAR, D_SHARES, QUOTES_FROM_TS),
        allowed=(
            LakeRewrite(
                "intraday_events[D]: every score 0.99", "intraday_events", day_d, set_column("score", 0.99)
            ),
            LakeRewrite("minute_bars[D]: volume x0.01", "minute_bars", day_d, scale(0.01, "volume")),
            LakeRewrite("universe[D]: every other symbol", "universe", day_d, every_other_row),
            QUOTES_BEFORE_TS,
        ),
        note="Day level only: the per-symbol-day pick uses the whole day's events (docs/testing.md); "
        "the spread reads the vendor's quotes before each event's ts, never at or after it.",
    ),
    "event_trades": _EVENT_WINDOWS,
    "event_quotes": _EVENT_WINDOWS,
    "ssr_status": Case(
        assets=("ssr_status",),
        forbidden=(D_DAILY_BAR, D_SHARES),
        allowed=(
            LakeRewrite("minute_bars[D]: lows x0.5", "minute_bars", day_d, scale(0.5, "low")),
            LakeRewrite(
                "daily_bars[D-1]: prices x2 (prior close)", "daily_bars", prior_session, scale(2, *PRICES)
            ),
            LakeRewrite("daily_bars[D]: split_ratio x2", "daily_bars", day_d, scale(2, "split_ratio")),
            LakeRewrite(
                "daily_bars[D-2]: prices x2 (carry-over of symbols D-1's status lacks)",
                "daily_bars",
                _second_session_before,
                scale(2, *PRICES),
            ),
            LakeRewrite("universe[D]: every other symbol", "universe", day_d, every_other_row),
            LakeRewrite(
                "ssr_status[D-1]: every symbol triggered at 15:00 (carry-over)",
                "ssr_status",
                prior_session,
                lambda frame, part: frame.with_columns(
                    triggered_at=pl.lit(et_instant(part.day, dt.time(15, 0))).cast(
                        frame.schema["triggered_at"]
                    )
                ),
            ),
        ),
        note="Prior close from D-1 in D's share units, D's own minute bars, the carry-over from D-1's "
        "status; nothing of D's daily bar but its split_ratio.",
    ),
    "event_labels": Case(
        assets=("event_labels",),
        forbidden=(BeyondLabelHorizons(),),
        allowed=(
            LakeRewrite(
                "minute_bars[D] from 11:00: prices x1.1",
                "minute_bars",
                day_d,
                lambda frame, part: frame.with_columns(
                    pl.when(pl.col("ts") >= et_instant(part.day, dt.time(11, 0)))
                    .then(pl.col(c) * 1.1)
                    .otherwise(pl.col(c))
                    .alias(c)
                    for c in PRICES
                ),
            ),
            LakeRewrite("intraday_events[D]: every other event", "intraday_events", day_d, every_other_row),
            LakeRewrite(
                "ssr_status[D]: every symbol active all day",
                "ssr_status",
                day_d,
                lambda frame, part: frame.with_columns(
                    active_from=pl.lit(et_instant(part.day, dt.time(4, 0))).cast(frame.schema["active_from"]),
                    active_until=pl.lit(et_instant(part.day, dt.time(20, 0))).cast(
                        frame.schema["active_until"]
                    ),
                ),
            ),
            LakeRewrite("event_trades[D]: prices x1.01", "event_trades", day_d, scale(1.01, "price")),
        ),
        view=lambda frame: frame.select(pl.exclude("^next_.*$")),
        note="Labels look forward inside D by design (the outcome after each event); what they must not "
        "read is a bar beyond their horizon or any later partition. The next-session returns read D+1's daily bars by design, so "
        "both directions compare every other column (docs/labels.md).",
    ),
    "signal_report": Case(
        assets=("signal_report",),
        allowed=(
            LakeRewrite("event_labels[D]: every other event", "event_labels", day_d, every_other_row),
            LakeRewrite("event_features[D]: every other event", "event_features", day_d, every_other_row),
        ),
        note="ICs over D and its prior sessions' features and labels; no partition after D.",
    ),
    "event_features": Case(
        assets=("event_features",),
        forbidden=(D_DAILY_BAR, D_SHARES),
        allowed=(
            LakeRewrite("intraday_events[D]: strength x2", "intraday_events", day_d, scale(2, "strength")),
            LakeRewrite(
                "ssr_status[D]: every symbol triggered at 09:45",
                "ssr_status",
                day_d,
                lambda frame, part: frame.with_columns(
                    triggered_at=pl.lit(et_instant(part.day, dt.time(9, 45))).cast(
                        frame.schema["triggered_at"]
                    ),
                    active_from=pl.lit(et_instant(part.day, dt.time(9, 45))).cast(
                        frame.schema["active_from"]
                    ),
                    active_until=pl.lit(et_instant(part.day, dt.time(20, 0))).cast(
                        frame.schema["active_until"]
                    ),
                ),
            ),
            LakeRewrite("minute_bars[D]: prices x1.3", "minute_bars", day_d, scale(1.3, *PRICES)),
            LakeRewrite("event_trades[D]: sizes x5", "event_trades", day_d, scale(5, "size")),
            LakeRewrite(
                "daily_bars[D-1]: prices x0.5 (prior close, ATR)",
                "daily_bars",
                prior_session,
                scale(0.5, *PRICES),
            ),
        ),
        note="Features of D's events from D's inputs up to each event's ts and prior sessions; "
        "test_features_per_event.py checks each event's own cutoff.",
    ),
    "news": Case(
        assets=("news",),
        forbidden=(NEWS_OUTSIDE_WINDOW,),
        allowed=(vendor_results("vendor news of D: none", "news", lambda r: []),),
        note="Articles published in [post_close(D-1), post_close(D)); nothing at or after D's end.",
    ),
    "short_interest": Case(
        assets=("short_interest",),
        forbidden=(SHORT_INTEREST_UNPUBLISHED,),
        allowed=(
            vendor_results("vendor short interest: every other row", "short_interest", lambda r: r[::2]),
        ),
        note="Each symbol's latest settlement published before D (8 sessions after settlement).",
    ),
    "short_volume": Case(
        assets=("short_volume",),
        forbidden=(SHORT_VOLUME_NEXT_SESSION,),
        allowed=(
            vendor_results("vendor short volume of D: every other row", "short_volume", lambda r: r[::2]),
        ),
        note="Session D's own rows, stamped available after D's close.",
    ),
}


def _features_cutoff(cutoff) -> Case:
    return Case(
        assets=("event_features",),
        cutoff=cutoff,
        forbidden=(
            LakeRewrite("minute_bars[D] from the cutoff", "minute_bars", day_d, from_cutoff(scramble())),
            LakeRewrite(
                "intraday_events[D] from the cutoff",
                "intraday_events",
                day_d,
                from_cutoff(scramble(keep=("direction", "score")), ts="ts"),
            ),
        ),
        allowed=(
            LakeRewrite(
                "intraday_events[D] before the cutoff: strength x2",
                "intraday_events",
                day_d,
                before_cutoff(scale(2, "strength")),
            ),
        ),
        note="Every feature of an event stamped before the cutoff is fixed by then.",
    )


def _intraday_cutoff(cutoff) -> Case:
    return Case(
        assets=("intraday_events",),
        cutoff=cutoff,
        forbidden=(
            LakeRewrite("minute_bars[D] from the cutoff", "minute_bars", day_d, from_cutoff(scramble())),
        ),
        allowed=(
            LakeRewrite(
                "minute_bars[D] before the cutoff: volume x5",
                "minute_bars",
                day_d,
                before_cutoff(scale(5, "volume", "transactions")),
            ),
        ),
        note="Every event stamped before the cutoff (evidence, strength, score) is fixed by then.",
    )


def _ssr_known_at(status: pl.DataFrame, cutoff: dt.datetime) -> pl.DataFrame:
    """The SSR status as known at the cutoff: a trigger (and the interval it opens) only once its
    bar has closed; the carry-over and the prices are known from the open."""
    late = pl.col("triggered_at").is_null() | (pl.col("triggered_at") > cutoff)
    return status.with_columns(
        pl.when(late).then(None).otherwise(pl.col(c)).alias(c) for c in ("triggered_at", "trigger_low")
    ).with_columns(
        pl.when(pl.col("active_from") > cutoff)
        .then(None)
        .otherwise(pl.col("active_from"))
        .alias("active_from"),
        # active_until depends on whether D triggers, known only once it has.
        pl.when(late).then(None).otherwise(pl.col("active_until")).alias("active_until"),
    )


def _ssr_cutoff(cutoff) -> Case:
    return Case(
        assets=("ssr_status",),
        cutoff=cutoff,
        known_at=_ssr_known_at,
        forbidden=(
            LakeRewrite("minute_bars[D] from the cutoff", "minute_bars", day_d, from_cutoff(scramble())),
        ),
        allowed=(
            LakeRewrite(
                "minute_bars[D] before the cutoff: lows x0.5",
                "minute_bars",
                day_d,
                before_cutoff(scale(0.5, "low")),
            ),
        ),
        note="A trigger is known once its bar has closed; bars from the cutoff on change nothing known by then.",
    )


# A fixed mid-morning cutoff, and one a minute after a baseline-using event: time-of-day
# baselines are smoothed over neighbouring minutes, so a leak of D's own bars into them is seen
# only by events just before the cutoff.
EXTRA_CASES: list[Case] = [
    _intraday_cutoff(At(dt.time(11, 0))),
    _intraday_cutoff(AfterEvent("volume_spike", quantile=0.5)),
    _ssr_cutoff(At(dt.time(11, 0))),
    _features_cutoff(At(dt.time(11, 0))),
]


# Allowed rewrites whose effect a known bug hides: (case name, rewrite label) -> the bug. The test
# expects these to fail (strict xfail), so fixing the bug turns them into failures that say
# "delete the entry".
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def all_cases() -> list[Case]:
    """Every distinct case, day-level first."""
    out: list[Case] = []
    for case in [*CASES.values(), *EXTRA_CASES]:
        if all(case is not c for c in out):
            out.append(case)
    return out

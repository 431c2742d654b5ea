"""``SimMarket``: the simulated market as a library. The REST app and the flat files read only this.

All answers are pure functions of the ``SimConfig`` (plus a clock for market status). Costs are
proportional to the question: one symbol-day of ticks costs one symbol-day; a 10-minute window costs
ten minutes; a symbol's daily path (~1,000 numbers) is built once and cached.
"""

from __future__ import annotations

import datetime as dt
from functools import cached_property, lru_cache

import numpy as np
import polars as pl

from .. import calendar as cal
from . import edge, prices, ticks
from .config import SimConfig
from .prices import DayPlan, Skeleton, Split
from .reference import TickerProfile, profile_index, profiles
from .rng import generator, stable_key, uniforms

MS = 1_000_000
BAR_COLUMNS = ("o", "h", "l", "c", "v", "vw", "n")
PLANTED_TRUTH_SCHEMA = {
    "ticker": pl.String,
    "date": pl.Date,
    "shape": pl.String,
    "concerned": pl.Boolean,
    "direction": pl.Int64,
    "trigger_ns": pl.Int64,
    "flow_start_ns": pl.Int64,
    "flow_z": pl.Float64,
    "win_prob": pl.Float64,
    "win": pl.Boolean,
}


class SimMarket:
    def __init__(self, config: SimConfig | None = None):
        self.config = config or SimConfig()
        # Caches are per instance: two markets with different seeds never share entries.
        # Full-day trades can run to millions of rows on the busiest days: keep only a few. Bars do
        # not need them (``ticks.minute_bar_frame`` sums the runs of prints directly).
        self._trades_day = lru_cache(maxsize=8)(self._trades_day_uncached)
        self._daily_bar = lru_cache(maxsize=200_000)(self._daily_bar_uncached)
        # A window's trades and quotes share its minute structure and regular prints.
        self._tape_parts = ticks.TapeParts()

    # ------------------------------------------------------------------ reference
    @property
    def today(self) -> dt.date:
        """The market's 'now' for reference data: the last simulated session."""
        return cal.previous_trading_day(self.config.end + dt.timedelta(days=1)) or self.config.end

    def profiles(self) -> tuple[TickerProfile, ...]:
        return profiles(self.config)

    def profile(self, ticker: str) -> TickerProfile | None:
        return profile_index(self.config).get(ticker)

    def skeleton(self, p: TickerProfile) -> Skeleton:
        return prices.skeleton(self.config, p)

    def sessions(self) -> list[dt.date]:
        return cal.trading_days(self.config.start, self.config.end)

    def delisted_on(self, p: TickerProfile) -> dt.date | None:
        return self.skeleton(p).delisted_on

    def is_listed(self, p: TickerProfile, date: dt.date) -> bool:
        gone = self.delisted_on(p)
        return p.list_date <= date and (gone is None or date < gone)

    def _session_index(self, sk: Skeleton, date: dt.date) -> int | None:
        """Index of the last session <= date on which the symbol traded."""
        import bisect

        i = bisect.bisect_right(sk.dates, date) - 1
        return i if i >= 0 else None

    def shares_outstanding(self, p: TickerProfile, date: dt.date) -> float:
        sk = self.skeleton(p)
        i = self._session_index(sk, date)
        return sk.raw_shares(i) if i is not None else float(p.start_shares)

    def ticker_details(self, ticker: str, date: dt.date | None = None) -> dict | None:
        """Point-in-time overview, or None when the ticker was not listed on ``date``."""
        p = self.profile(ticker)
        date = date or self.today
        if p is None or date < p.list_date:
            return None
        sk = self.skeleton(p)
        i = self._session_index(sk, date)
        shares = sk.raw_shares(i) if i is not None else float(p.start_shares)
        close = sk.raw_close(i) if i is not None else p.start_price
        gone = sk.delisted_on
        d: dict = {
            "ticker": p.ticker,
            "name": p.name,
            "market": p.market,
            "locale": "us",
            "primary_exchange": p.primary_exchange,
            "type": p.type,
            "active": gone is None or date < gone,
            "currency_name": "usd",
            "cik": p.cik,
            "composite_figi": p.composite_figi,
            "share_class_figi": p.share_class_figi,
            "market_cap": round(shares * close, 2) if p.type in ("CS", "ADRC") else None,
            "phone_number": f"(555) {p.index % 900 + 100:03d}-{p.index % 9000 + 1000:04d}",
            "address": {
                "address1": f"{p.index + 1} MAIN ST",
                "city": "SPRINGFIELD",
                "state": "DE",
                "postal_code": "19901",
            }
            if p.cik
            else None,
            "description": f"{p.name} is a simulated issuer of the smallcaps offline market.",
            "sic_code": p.sic_code,
            "sic_description": p.sic_description,
            "ticker_root": p.ticker.rstrip("wrU").removesuffix("pA") or p.ticker,
            "homepage_url": f"https://www.{p.ticker.lower()}.example.com",
            "total_employees": int(50 + shares / 2e5) if p.cik else None,
            "list_date": p.list_date.isoformat(),
            "round_lot": 100,
            "share_class_shares_outstanding": round(shares),
            "weighted_shares_outstanding": round(shares),
        }
        if not d["active"]:
            d["delisted_utc"] = f"{gone.isoformat()}T00:00:00Z"
        return {k: v for k, v in d.items() if v is not None}

    def tickers_on(self, date: dt.date, active: bool = True) -> list[TickerProfile]:
        """Tickers listed on ``date`` (active) or delisted by then (inactive): no survivorship bias."""
        out = []
        for p in self.profiles():
            if date < p.list_date:
                continue
            listed = self.is_listed(p, date)
            if listed == active:
                out.append(p)
        return out

    # ------------------------------------------------------------------ corporate actions
    @cached_property
    def all_splits(self) -> tuple[Split, ...]:
        out = [s for p in self.profiles() for s in self.skeleton(p).splits]
        return tuple(sorted(out, key=lambda s: (s.execution_date, s.ticker)))

    def splits_for(self, ticker: str) -> tuple[Split, ...]:
        p = self.profile(ticker)
        return self.skeleton(p).splits if p else ()

    def split_factor(self, ticker: str, date: dt.date) -> float:
        """Cumulative factor of splits executed after ``date``: adjusted = raw / factor."""
        f = 1.0
        for s in self.splits_for(ticker):
            if s.execution_date > date:
                f *= s.split_to / s.split_from
        return f

    @cached_property
    def all_dividends(self) -> tuple[dict, ...]:
        rows: list[dict] = []
        for p in self.profiles():
            freq = 12 if p.type == "PFD" else 4
            yld = p.dividend_yield or (0.06 if p.type == "PFD" else 0.0)
            sk = self.skeleton(p)
            if not sk.dates:
                continue
            rng = generator(self.config.seed, "dividends", p.index)
            if yld > 0:
                step = 21 if freq == 12 else 63
                offset = int(rng.integers(0, step))
                for i in range(offset, len(sk.dates), step):
                    rows.append(self._dividend_row(p, sk, i, yld / freq, freq, "CD"))
            elif p.type == "CS" and rng.random() < 0.03:
                i = int(rng.integers(0, len(sk.dates)))
                rows.append(self._dividend_row(p, sk, i, 0.03, 0, "SC"))
        return tuple(sorted(rows, key=lambda r: (r["ex_dividend_date"], r["ticker"])))

    def _dividend_row(
        self, p: TickerProfile, sk: Skeleton, i: int, rate: float, freq: int, kind: str
    ) -> dict:
        ex = sk.dates[i]
        cash = max(0.01, round(sk.raw_close(max(i - 1, 0)) * rate, 2))
        return {
            "id": f"E{stable_key(self.config.seed, 'div', p.ticker, ex):016x}",
            "ticker": p.ticker,
            "cash_amount": cash,
            "currency": "USD",
            "declaration_date": (ex - dt.timedelta(days=14)).isoformat(),
            "ex_dividend_date": ex.isoformat(),
            "record_date": ex.isoformat(),
            "pay_date": (ex + dt.timedelta(days=14)).isoformat(),
            "frequency": freq,
            "dividend_type": kind,
        }

    # ------------------------------------------------------------------ ticks and bars
    def _fault(self, name: str, ticker: str, date: dt.date) -> float:
        return float(
            uniforms(stable_key(self.config.seed, "fault", name, ticker, date.toordinal()), np.array([0]))[0]
        )

    def is_missing(self, ticker: str, date: dt.date) -> bool:
        """Data fault: the vendor has nothing for this symbol-day."""
        rate = self.config.faults.missing_day_rate
        return rate > 0 and self._fault("missing", ticker, date) < rate

    def day_plan(self, ticker: str, date: dt.date) -> DayPlan | None:
        p = self.profile(ticker)
        if p is None or self.is_missing(ticker, date):
            return None
        return prices.day_plan(self.config, p, date)

    def _trades_day_uncached(self, ticker: str, date: dt.date) -> pl.DataFrame:
        plan = self.day_plan(ticker, date)
        if plan is None:
            return pl.DataFrame(schema=ticks.TRADE_COLUMNS)
        return ticks.trades(self.config, self.profile(ticker), plan)

    def trades(
        self, ticker: str, date: dt.date, start_ns: int | None = None, end_ns: int | None = None
    ) -> pl.DataFrame:
        """Raw (unadjusted) trades of one session, optionally restricted to [start_ns, end_ns]."""
        if start_ns is None and end_ns is None:
            return self._trades_day(ticker, date)
        plan = self.day_plan(ticker, date)
        if plan is None:
            return pl.DataFrame(schema=ticks.TRADE_COLUMNS)
        return ticks.trades(self.config, self.profile(ticker), plan, start_ns, end_ns, self._tape_parts)

    def quotes(
        self, ticker: str, date: dt.date, start_ns: int | None = None, end_ns: int | None = None
    ) -> pl.DataFrame:
        plan = self.day_plan(ticker, date)
        if plan is None:
            return pl.DataFrame(schema=ticks.QUOTE_COLUMNS)
        return ticks.quotes(self.config, self.profile(ticker), plan, start_ns, end_ns, self._tape_parts)

    def bars(self, ticker: str, date: dt.date, seconds: int = 60, adjusted: bool = False) -> pl.DataFrame:
        """Intraday bars of ``seconds`` width aligned to the ET day, ``t`` = window start in ms.

        Bars are the vendor-rule aggregation of ``trades``. One-minute bars come straight from the
        day's runs of prints (``ticks.minute_bar_frame``, equal to aggregating the trades), so they
        cost the day's NBBO segments, not its prints; other widths aggregate the trades."""
        plan = self.day_plan(ticker, date)
        sess = cal.session(date)
        if plan is None or sess is None:
            return pl.DataFrame(schema=ticks.BAR_SCHEMA)
        if seconds == 60:
            out = ticks.minute_bar_frame(self.config, self.profile(ticker), plan)
        else:
            tr = self.trades(ticker, date)
            if tr.is_empty():
                return pl.DataFrame(schema=ticks.BAR_SCHEMA)
            midnight_ns = (
                int(dt.datetime.combine(date, dt.time(0), tzinfo=cal.NY).timestamp()) * 1_000_000_000
            )
            width = seconds * 1_000_000_000
            bucket = (pl.col("sip_timestamp") - midnight_ns) // width * width + midnight_ns
            out = ticks.aggregate(tr, bucket).rename({"bucket": "t"}).with_columns(pl.col("t") // MS)
        rate = self.config.faults.duplicate_bar_rate
        if seconds == 60 and rate > 0 and out.height > 1 and self._fault("duplicate", ticker, date) < rate:
            j = int(self._fault("duplicate_row", ticker, date) * (out.height - 1))
            out = pl.concat([out[: j + 1], out[j : j + 1], out[j + 1 :]])
        return self._adjust(out, ticker, date) if adjusted else out

    def minute_bars(self, ticker: str, date: dt.date, adjusted: bool = False) -> pl.DataFrame:
        return self.bars(ticker, date, 60, adjusted)

    def _daily_bar_uncached(self, ticker: str, date: dt.date) -> tuple | None:
        plan = self.day_plan(ticker, date)
        if plan is None:
            return None
        return ticks.daily_bar_row(self.config, self.profile(ticker), plan)

    def daily_bar(self, ticker: str, date: dt.date, adjusted: bool = False) -> dict | None:
        """One session's bar by the consolidated (daily) rules: OHLC from regular-hours eligible
        prints, volume and count from every volume-eligible print 04:00-20:00 ET."""
        row = self._daily_bar(ticker, date)
        if row is None:
            return None
        bar = dict(zip(BAR_COLUMNS, row, strict=True))
        if adjusted:
            f = self.split_factor(ticker, date)
            if f != 1.0:
                for k in ("o", "h", "l", "c", "vw"):
                    bar[k] = bar[k] / f
                bar["v"] = bar["v"] * f
        return bar

    def _adjust(self, bars: pl.DataFrame, ticker: str, date: dt.date) -> pl.DataFrame:
        f = self.split_factor(ticker, date)
        if f == 1.0:
            return bars
        return bars.with_columns(*[(pl.col(c) / f) for c in ("o", "h", "l", "c", "vw")], v=pl.col("v") * f)

    def grouped_daily(self, date: dt.date, adjusted: bool = True, include_otc: bool = False) -> pl.DataFrame:
        """Every listed ticker's bar for one session (the grouped-daily endpoint's content)."""
        rows = []
        for p in self.profiles():
            if not self.is_listed(p, date) or (p.market == "otc" and not include_otc):
                continue
            bar = self.daily_bar(p.ticker, date, adjusted)
            if bar is not None:
                rows.append({"T": p.ticker, **bar, "otc": p.market == "otc"})
        schema = {
            "T": pl.String,
            **{c: pl.Float64 for c in BAR_COLUMNS[:-1]},
            "n": pl.Int64,
            "otc": pl.Boolean,
        }
        return pl.DataFrame(rows, schema=schema)

    # ------------------------------------------------------------------ other datasets
    def short_interest(self, ticker: str) -> list[dict]:
        """FINRA-style bi-monthly short interest: settlement on the 15th and at month end."""
        p = self.profile(ticker)
        if p is None or p.type not in ("CS", "ADRC"):
            return []
        sk = self.skeleton(p)
        if not sk.dates:
            return []
        out = []
        d = dt.date(sk.dates[0].year, sk.dates[0].month, 1)
        while d <= sk.dates[-1]:
            month_end = (d.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
            for target in (d.replace(day=15), month_end):
                settle = cal.previous_trading_day(target + dt.timedelta(days=1))
                if settle is None or settle < sk.dates[0] or settle > sk.dates[-1]:
                    continue
                i = self._session_index(sk, settle)
                adv = float(
                    np.mean(sk.econ_volume[max(0, i - 19) : i + 1] / sk.factor[max(0, i - 19) : i + 1])
                )
                u = uniforms(stable_key(self.config.seed, "si", ticker, settle), np.array([0]))[0]
                si = sk.raw_shares(i) * (p.float_pct or 0.7) * p.short_interest_pct * (0.7 + 0.6 * u)
                out.append(
                    {
                        "ticker": ticker,
                        "settlement_date": settle.isoformat(),
                        "short_interest": round(si),
                        "avg_daily_volume": max(1, round(adv)),
                        "days_to_cover": round(si / max(adv, 1.0), 2),
                    }
                )
            d = month_end + dt.timedelta(days=1)
        return out

    def short_volume(self, ticker: str, date: dt.date) -> dict | None:
        """Daily off-exchange (FINRA) short volume, split by facility."""
        p = self.profile(ticker)
        if p is None:
            return None
        sk = self.skeleton(p)
        i = sk.pos.get(date)
        if i is None:
            return None
        u = uniforms(stable_key(self.config.seed, "sv", ticker, date), np.arange(4))
        total = int(sk.econ_volume[i] / sk.factor[i] * (0.35 + 0.15 * u[0]))
        short = int(total * (0.25 + 0.40 * u[1]))
        exempt = int(short * 0.01 * u[2])
        nyse = int(short * 0.05)
        chicago = int(short * 0.02)
        carteret = short - nyse - chicago
        return {
            "ticker": ticker,
            "date": date.isoformat(),
            "short_volume": short,
            "exempt_volume": exempt,
            "non_exempt_volume": short - exempt,
            "total_volume": total,
            "short_volume_ratio": round(100.0 * short / max(total, 1), 2),
            "nyse_short_volume": nyse,
            "nyse_short_volume_exempt": 0,
            "nasdaq_carteret_short_volume": carteret,
            "nasdaq_carteret_short_volume_exempt": exempt,
            "nasdaq_chicago_short_volume": chicago,
            "nasdaq_chicago_short_volume_exempt": 0,
            "adf_short_volume": 0,
            "adf_short_volume_exempt": 0,
        }

    def free_float(self, ticker: str) -> dict | None:
        """Latest free float only (the vendor keeps no history); None when float is unknown."""
        p = self.profile(ticker)
        if p is None or p.float_pct is None or p.type not in ("CS", "ADRC"):
            return None
        sk = self.skeleton(p)
        if not sk.dates:
            return None
        shares = sk.raw_shares(len(sk.dates) - 1)
        return {
            "ticker": ticker,
            "effective_date": sk.dates[-1].isoformat(),
            "free_float": round(shares * p.float_pct),
            "free_float_percent": round(100.0 * p.float_pct, 2),
        }

    # ------------------------------------------------------------------ the planted edge
    def planted_truth(self, date: dt.date) -> pl.DataFrame:
        """The edge's ground truth for one session: one row per catalyst symbol-day.

        ``trigger_ns`` is when the setup triggers; ``flow_start_ns`` when its order-flow window opens
        (the tape shows ``flow_z`` in [flow_start_ns, trigger_ns)); ``win_prob`` is the true
        ``P(continue | flow_z, shape)`` in this market's mode (0.5 everywhere in null mode), ``win``
        the realised outcome, ``concerned`` whether the shape is one of ``edge.setups``. Computed
        from the daily path alone: no minute plan is built.
        """
        rows = []
        edge_cfg = self.config.edge
        sess = cal.session(date)
        if sess is None:
            return pl.DataFrame(schema=PLANTED_TRUTH_SCHEMA)
        for p in self.profiles():
            sk = self.skeleton(p)
            i = sk.pos.get(date)
            if i is None or sk.shape[i] == prices.NO_CATALYST:
                continue
            shape = prices.SHAPE_NAMES[int(sk.shape[i])]
            trigger_ns = prices.trigger_time_ns(sess, shape)
            first = sess.ns("market_open")
            rows.append(
                {
                    "ticker": p.ticker,
                    "date": date,
                    "shape": shape,
                    "concerned": shape in edge_cfg.setups,
                    "direction": prices.SHAPES[shape].direction,
                    "trigger_ns": trigger_ns,
                    "flow_start_ns": max(first, trigger_ns - edge_cfg.flow_minutes * 60_000_000_000),
                    "flow_z": float(sk.flow_z[i]),
                    "win_prob": float(sk.win_prob[i]),
                    "win": bool(sk.win[i]),
                }
            )
        return pl.DataFrame(rows, schema=PLANTED_TRUTH_SCHEMA)

    def bayes_auc(self, days: list[dt.date], concerned_only: bool = True) -> dict:
        """The Bayes-optimal AUC of the planted signal, measured: the AUC of the true probability
        ``win_prob`` against the realised outcome over the catalyst days of ``days`` (the concerned
        setups only by default). Also returns the analytic expectation of the same AUC
        (``edge.expected_bayes_auc``) and the event counts, so a sample's value can be read against
        its expectation."""
        frames = [self.planted_truth(d) for d in days]
        truth = pl.concat(frames) if frames else pl.DataFrame(schema=PLANTED_TRUTH_SCHEMA)
        if concerned_only:
            truth = truth.filter("concerned")
        return {
            "bayes_auc": edge.auc(truth["win_prob"].to_numpy(), truth["win"].to_numpy()),
            "expected_bayes_auc": edge.expected_bayes_auc(self.config.edge) if concerned_only else None,
            "events": truth.height,
            "wins": int(truth["win"].sum()),
        }

    def catalysts(self, date: dt.date) -> pl.DataFrame:
        """Ground truth for tests and detector recall: the planted shape of each catalyst day."""
        rows = []
        for p in self.profiles():
            sk = self.skeleton(p)
            i = sk.pos.get(date)
            if i is None or sk.shape[i] == prices.NO_CATALYST:
                continue
            plan = self.day_plan(p.ticker, date)
            if plan is None:
                continue
            rows.append(
                {
                    "ticker": p.ticker,
                    "shape": plan.shape,
                    "gap": plan.gap,
                    "rvol": float(sk.rvol[i]),
                    "trigger_ns": plan.trigger_ns,
                    "direction": plan.direction,
                    "win": plan.win,
                    "halts": len(plan.halts),
                }
            )
        return pl.DataFrame(
            rows,
            schema={
                "ticker": pl.String,
                "shape": pl.String,
                "gap": pl.Float64,
                "rvol": pl.Float64,
                "trigger_ns": pl.Int64,
                "direction": pl.Int64,
                "win": pl.Boolean,
                "halts": pl.Int64,
            },
        )

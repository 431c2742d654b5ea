"""Structural contracts, one pandera (polars) model per lake asset, all in one place.

A contract is validated *before* writing: a frame that breaks it raises ``ContractViolationError`` and
nothing lands. Quality rules (value ranges, coverage, distributions) are gates in ``gates.py``.
Prices are float64, sizes and counts int64/float64 as the vendor sends them, timestamps
``Datetime("ns", "UTC")``; the data dictionary in docs/data_dictionary.md mirrors these models.
"""

from __future__ import annotations

import json

import pandera.polars as pa
import polars as pl

from .stages.backtest.run import TRADE_SCHEMA as BACKTEST_SCHEMA
from .stages.events.registry import EVENT_TYPES
from .stages.events.schema import EVENT_KEY_COLUMNS, EVENT_SCHEMA, SESSIONS, UTC_NS
from .stages.features.schema import FEATURE_SCHEMA
from .stages.labels import BARRIER_HITS, ENTRY_SOURCES, label_schema
from .stages.manifest import MANIFEST_SCHEMA
from .stages.windows import QUOTE_SCHEMA, TRADE_SCHEMA

SYMBOL_PATTERN = r"^[A-Z][A-Za-z0-9.]{0,9}$"


class ContractViolationError(ValueError):
    """A frame broke its asset's structural contract; the message names columns and checks."""


class _Contract(pa.DataFrameModel):
    class Config:
        strict = True
        coerce = True


class TickerReference(_Contract):
    """One row per ticker known on the partition date, listed or delisted (no survivorship bias)."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    name: str = pa.Field(nullable=True)
    type: str = pa.Field(nullable=True)
    market: str = pa.Field(nullable=False)
    primary_exchange: str = pa.Field(nullable=True)
    active: bool = pa.Field(nullable=False)
    cik: str = pa.Field(nullable=True)
    composite_figi: str = pa.Field(nullable=True)
    delisted_utc: UTC_NS = pa.Field(nullable=True)  # type: ignore[valid-type]


class TickerDetails(_Contract):
    """Point-in-time shares outstanding per ticker; ``as_of`` is the date the vendor was asked."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    type: str = pa.Field(nullable=True)
    as_of: pl.Date = pa.Field(nullable=False)
    weighted_shares_outstanding: float = pa.Field(nullable=True, ge=0)
    share_class_shares_outstanding: float = pa.Field(nullable=True, ge=0)
    free_float_percent: float = pa.Field(nullable=True, ge=0, le=100)
    float_shares: float = pa.Field(nullable=True, ge=0)
    sic_code: str = pa.Field(nullable=True)
    list_date: pl.Date = pa.Field(nullable=True)


class CorporateActions(_Contract):
    """Splits and dividends taking effect on the partition date."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN)
    action: str = pa.Field(isin=["split", "dividend"])
    action_id: str = pa.Field(nullable=False, unique=True)
    effective_date: pl.Date = pa.Field(nullable=False)
    split_from: float = pa.Field(nullable=True, gt=0)
    split_to: float = pa.Field(nullable=True, gt=0)
    cash_amount: float = pa.Field(nullable=True, ge=0)


class DailyBars(_Contract):
    """The whole market's session bars, raw (unadjusted), plus that day's split ratio."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    open: float = pa.Field(nullable=False)
    high: float = pa.Field(nullable=False)
    low: float = pa.Field(nullable=False)
    close: float = pa.Field(nullable=False)
    volume: float = pa.Field(nullable=False)
    vwap: float = pa.Field(nullable=True)
    transactions: pl.Int64 = pa.Field(nullable=True)
    split_ratio: float = pa.Field(nullable=False, gt=0)
    otc: bool = pa.Field(nullable=False)


class Universe(_Contract):
    """Symbols eligible on the partition date, with the values every rule compared."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    type: str = pa.Field(nullable=False)
    primary_exchange: str = pa.Field(nullable=False)
    prior_date: pl.Date = pa.Field(nullable=False)
    prior_close: float = pa.Field(nullable=False)
    shares_outstanding: float = pa.Field(nullable=True)
    shares_as_of: pl.Date = pa.Field(nullable=True)
    market_cap: float = pa.Field(nullable=True)  # null only when the cap rule is switched off
    float_shares: float = pa.Field(nullable=True)
    adv_dollar_20d: float = pa.Field(nullable=False)
    adv_sessions: pl.Int64 = pa.Field(nullable=False)


class MinuteBars(_Contract):
    """Symbol-minute bars 04:00-20:00 ET for the day's universe; ``ts`` is the minute's start."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN)
    ts: UTC_NS = pa.Field(nullable=False)  # type: ignore[valid-type]
    open: float = pa.Field(nullable=False)
    high: float = pa.Field(nullable=False)
    low: float = pa.Field(nullable=False)
    close: float = pa.Field(nullable=False)
    volume: float = pa.Field(nullable=False)
    vwap: float = pa.Field(nullable=True)
    transactions: pl.Int64 = pa.Field(nullable=True)
    session: str = pa.Field(isin=["PM", "RTH", "AH"])
    # open/high/low/close/vwap above are the cleaned prices (stages.bad_prints); a flagged bar
    # keeps its vendor prices here, null elsewhere.
    bad_print: bool = pa.Field(nullable=False)
    raw_open: float = pa.Field(nullable=True)
    raw_high: float = pa.Field(nullable=True)
    raw_low: float = pa.Field(nullable=True)
    raw_close: float = pa.Field(nullable=True)
    raw_vwap: float = pa.Field(nullable=True)

    class Config:
        unique = ["symbol", "ts"]


class SsrStatus(_Contract):
    """SEC Rule 201 per universe symbol and day: when it triggered, and the interval it is active
    (``active_from <= t < active_until``); docs/ssr.md."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    prior_close: float = pa.Field(nullable=True, gt=0)
    trigger_price: float = pa.Field(nullable=True, gt=0)
    triggered_at: UTC_NS = pa.Field(nullable=True)  # type: ignore[valid-type]
    trigger_low: float = pa.Field(nullable=True)
    carried_over: bool = pa.Field(nullable=False)
    active_from: UTC_NS = pa.Field(nullable=True)  # type: ignore[valid-type]
    active_until: UTC_NS = pa.Field(nullable=True)  # type: ignore[valid-type]


class News(_Contract):
    """The vendor's articles published in the partition's window [previous session's 20:00 ET, this
    session's 20:00 ET), one row per (article, symbol); stages/news.py."""

    id: str = pa.Field(nullable=False)
    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN)
    published_utc: UTC_NS = pa.Field(nullable=False)  # type: ignore[valid-type]
    title: str = pa.Field(nullable=True)
    publisher: str = pa.Field(nullable=True)
    author: str = pa.Field(nullable=True)
    article_url: str = pa.Field(nullable=True)
    n_tickers: pl.Int64 = pa.Field(nullable=False, ge=1)

    class Config:
        unique = ["id", "symbol"]


class ShortInterest(_Contract):
    """Per symbol, the latest FINRA short interest published before the partition's session
    (``published_on`` < D); stages/short_data.py states the publication rule."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    settlement_date: pl.Date = pa.Field(nullable=False)
    published_on: pl.Date = pa.Field(nullable=False)
    published_at: UTC_NS = pa.Field(nullable=False)  # type: ignore[valid-type]
    short_interest: float = pa.Field(nullable=True)
    avg_daily_volume: float = pa.Field(nullable=True)
    days_to_cover: float = pa.Field(nullable=True)


class ShortVolume(_Contract):
    """FINRA's off-exchange short sale volume of the partition's session, public after its close
    (``available_at``)."""

    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    date: pl.Date = pa.Field(nullable=False)
    available_at: UTC_NS = pa.Field(nullable=False)  # type: ignore[valid-type]
    short_volume: float = pa.Field(nullable=True, ge=0)
    exempt_volume: float = pa.Field(nullable=True, ge=0)
    total_volume: float = pa.Field(nullable=True, ge=0)
    short_volume_ratio_pct: float = pa.Field(nullable=True, ge=0, le=100)


class DailyEvents(_Contract):
    """Symbol-days of the partition date on which a daily screen gate fired, with every measure."""

    date: pl.Date = pa.Field(nullable=False)
    symbol: str = pa.Field(nullable=False, str_matches=SYMBOL_PATTERN, unique=True)
    open: float
    high: float
    low: float
    close: float
    volume: float
    prior_close: float = pa.Field(nullable=True, gt=0)
    history_sessions: pl.Int64 = pa.Field(ge=0)
    gap_pct: float = pa.Field(nullable=True)
    change_pct: float = pa.Field(nullable=True)
    avg_volume: float = pa.Field(nullable=True)
    rvol: float = pa.Field(nullable=True, ge=0)
    dollar_volume: float = pa.Field(ge=0)
    true_range: float = pa.Field(nullable=True, ge=0)
    atr: float = pa.Field(nullable=True, ge=0)
    atr_move: float = pa.Field(nullable=True)
    avg_range: float = pa.Field(nullable=True, ge=0)
    range_ratio: float = pa.Field(nullable=True, ge=0)
    high_to_close: float = pa.Field(nullable=True)
    direction: pl.Int64 = pa.Field(isin=[-1, 1])
    gate_gap: bool
    gate_rvol: bool
    gate_dollar_volume: bool
    triple_gate: bool
    atr_breakout: bool
    range_explosion: bool
    daily_flush: bool


def _event_key_domains() -> dict[str, pa.Column]:
    """Domains of the columns every event table shares (intraday events, the manifest)."""
    return {
        "event_id": pa.Column(str, nullable=False, unique=True),
        "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
        "ts": pa.Column(UTC_NS, nullable=False),
        "event_type": pa.Column(str, checks=pa.Check.isin(list(EVENT_TYPES))),
        "session": pa.Column(str, checks=pa.Check.isin(list(SESSIONS))),
        "direction": pa.Column(pl.Int64, checks=pa.Check.isin([-1, 1])),
        "strength": pa.Column(float, nullable=False),
    }


def intraday_events_contract() -> pa.DataFrameSchema:
    """Events with their typed evidence columns: the column set is the detectors' ``EVENT_SCHEMA``
    (stages/events/schema.py), so the contract and the detectors cannot drift; keys are unique and
    values in their domains."""
    domains = {
        **_event_key_domains(),
        "score": pa.Column(float, nullable=True, checks=pa.Check.in_range(0.0, 1.0)),
    }
    return _from_schema(
        "IntradayEvents", {**EVENT_SCHEMA, "score": pl.Float64()}, domains, list(EVENT_KEY_COLUMNS)
    )


def _from_schema(
    name: str, schema: dict[str, pl.DataType], domains: dict[str, pa.Column], unique: list[str]
) -> pa.DataFrameSchema:
    columns = {c: domains.get(c, pa.Column(t, nullable=True)) for c, t in schema.items()}
    return pa.DataFrameSchema(columns, strict=True, coerce=True, unique=unique or None, name=name)


def event_manifest_contract() -> pa.DataFrameSchema:
    """The download manifest: one row per selected event with its window (stages/manifest.py)."""
    domains = {
        **_event_key_domains(),
        "score": pa.Column(float, nullable=False, checks=pa.Check.in_range(0.0, 1.0)),
        "window_start": pa.Column(UTC_NS, nullable=False),
        "window_end": pa.Column(UTC_NS, nullable=False),
        "market_cap": pa.Column(float, nullable=False, checks=pa.Check.gt(0)),
        "prior_window_events": pa.Column(pl.Int64, nullable=False, checks=pa.Check.ge(0)),
    }
    return _from_schema("EventManifest", MANIFEST_SCHEMA, domains, list(EVENT_KEY_COLUMNS))


def event_trades_contract() -> pa.DataFrameSchema:
    """Tick-level trades inside event windows (stages/windows.py)."""
    domains = {
        "event_id": pa.Column(str, nullable=False),
        "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
        "sip_timestamp": pa.Column(UTC_NS, nullable=False),
        "sequence_number": pa.Column(pl.Int64, nullable=False),
        "price": pa.Column(float, nullable=False, checks=pa.Check.gt(0)),
        "size": pa.Column(float, nullable=False, checks=pa.Check.ge(0)),
    }
    # (event_id, sequence_number) uniqueness is a gate, not the contract: a vendor duplicate
    # should land visibly as a failed check with its rows, not vanish in a refused write.
    return _from_schema("EventTrades", TRADE_SCHEMA, domains, [])


def event_quotes_contract() -> pa.DataFrameSchema:
    """1 Hz NBBO inside event windows: the last quote of each second that had one."""
    domains = {
        "event_id": pa.Column(str, nullable=False),
        "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
        "second": pa.Column(UTC_NS, nullable=False),
        "sip_timestamp": pa.Column(UTC_NS, nullable=False),
        "bid_price": pa.Column(float, nullable=True, checks=pa.Check.ge(0)),
        "ask_price": pa.Column(float, nullable=True, checks=pa.Check.ge(0)),
        "quotes_in_second": pa.Column(pl.Int64, nullable=False, checks=pa.Check.ge(1)),
        "crossed": pa.Column(bool, nullable=False),
        "locked": pa.Column(bool, nullable=False),
    }
    return _from_schema("EventQuotes", QUOTE_SCHEMA, domains, [])


def event_features_contract() -> pa.DataFrameSchema:
    """Point-in-time features, one row per intraday event (stages/features/): the column set is
    ``FEATURE_SCHEMA``; keys are unique and in their domains, input instants are timestamps."""
    keys = _event_key_domains()
    domains = {c: keys[c] for c in ("event_id", "symbol", "ts", "event_type", "session", "direction")}
    return _from_schema("EventFeatures", FEATURE_SCHEMA, domains, ["event_id"])


def event_labels_contract() -> pa.DataFrameSchema:
    """What happened after each intraday event (stages/labels.py, docs/labels.md): one row per
    event, labels null where no entry or no pre-event volatility."""
    domains = {
        "event_id": pa.Column(str, nullable=False, unique=True),
        "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
        "ts": pa.Column(UTC_NS, nullable=False),
        "event_type": pa.Column(str, checks=pa.Check.isin(list(EVENT_TYPES))),
        "side": pa.Column(pl.Int64, checks=pa.Check.isin([-1, 1])),
        "entry_price": pa.Column(float, nullable=True, checks=pa.Check.gt(0)),
        "entry_source": pa.Column(str, nullable=True, checks=pa.Check.isin(list(ENTRY_SOURCES))),
        "horizon_vol": pa.Column(float, nullable=True, checks=pa.Check.gt(0)),
        "barrier_label": pa.Column(
            pl.Int64, nullable=True, checks=pa.Check.isin(sorted(BARRIER_HITS.values()))
        ),
        "barrier_hit": pa.Column(str, nullable=True, checks=pa.Check.isin(list(BARRIER_HITS))),
        "mfe_pct": pa.Column(float, nullable=True, checks=pa.Check.ge(0)),
        "mae_pct": pa.Column(float, nullable=True, checks=pa.Check.le(0)),
    }
    return _from_schema("EventLabels", label_schema(), domains, [])


def enforce(model: type[_Contract] | pa.DataFrameSchema, frame: pl.DataFrame) -> pl.DataFrame:
    """Validate the contract (all errors at once) and return the coerced frame, or raise."""
    name = model.name if isinstance(model, pa.DataFrameSchema) else model.__name__
    try:
        return model.validate(frame, lazy=True)
    except (pa.errors.SchemaErrors, pa.errors.SchemaError) as exc:
        cases = getattr(exc, "failure_cases", None)
        summary = ""
        if isinstance(cases, pl.DataFrame) and cases.height:
            unique = _unique_columns(model)
            summary = "; ".join(
                _duplicate_text(cases, unique, r["failure_case"])
                if r["check"] == "multiple_fields_uniqueness"
                else f"{r['column']}: {r['check']} (e.g. {str(r['failure_case'])[:80]})"
                for r in cases.unique(["column", "check"], keep="first").head(8).iter_rows(named=True)
            )
        # pandera's own text is a multi-line JSON report: never let it reach a terminal line.
        fallback = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractViolationError(f"{name} contract violated: {summary or fallback}") from exc


def _unique_columns(model) -> list[str]:
    schema = model if isinstance(model, pa.DataFrameSchema) else model.to_schema()
    unique = schema.unique
    return [unique] if isinstance(unique, str) else list(unique or [])


def _duplicate_text(cases: pl.DataFrame, unique: list[str], example: object) -> str:
    """``duplicated (symbol, ts): 2 rows, e.g. symbol=A ts=...``: the key, not pandera's JSON row."""
    rows = cases.filter(pl.col("check") == "multiple_fields_uniqueness").height
    try:
        row = json.loads(str(example))
    except ValueError:
        row = {}
    key = " ".join(f"{c}={row[c]}" for c in unique if c in row) or str(example)[:80]
    return f"duplicated ({', '.join(unique)}): {rows} rows, e.g. {key}"


def event_model_contract() -> pa.DataFrameSchema:
    """One month's event model (stages/models/artifact.py, docs/models.md): one row, the LightGBM
    model as text with its sha256 and the experiment record as JSON."""
    return pa.DataFrameSchema(
        {
            "month": pa.Column(pl.Date, nullable=False, unique=True),
            "model_sha256": pa.Column(str, nullable=False, checks=pa.Check.str_matches(r"^[0-9a-f]{64}$")),
            "target": pa.Column(str, nullable=False),
            "n_features": pa.Column(pl.Int64, nullable=False, checks=pa.Check.gt(0)),
            "blocking_gates_passed": pa.Column(pl.Boolean, nullable=False),
            "model_text": pa.Column(str, nullable=False),
            "record_json": pa.Column(str, nullable=False),
        },
        strict=True,
        coerce=True,
        name="EventModel",
    )


def event_predictions_contract() -> pa.DataFrameSchema:
    """Out-of-sample predictions of one day's events by their month's model (docs/models.md)."""
    return pa.DataFrameSchema(
        {
            "event_id": pa.Column(str, nullable=False, unique=True),
            "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
            "ts": pa.Column(UTC_NS, nullable=False),
            "model_month": pa.Column(pl.Date, nullable=False),
            "model_sha256": pa.Column(str, nullable=False),
            "target": pa.Column(str, nullable=False),
            "prob": pa.Column(float, nullable=False, checks=pa.Check.in_range(0.0, 1.0)),
        },
        strict=True,
        coerce=True,
        name="EventPredictions",
    )


def backtest_contract() -> pa.DataFrameSchema:
    """One row per trade of every strategy over a month (stages/backtest/, docs/backtests.md)."""
    domains = {
        "strategy": pa.Column(str, nullable=False),
        "event_id": pa.Column(str, nullable=False),
        "symbol": pa.Column(str, nullable=False, checks=pa.Check.str_matches(SYMBOL_PATTERN)),
        "side": pa.Column(pl.Int64, nullable=False, checks=pa.Check.isin([-1, 1])),
        "entry_ts": pa.Column(UTC_NS, nullable=False),
        "exit_ts": pa.Column(UTC_NS, nullable=False),
        "entry_price": pa.Column(float, nullable=False, checks=pa.Check.gt(0)),
        "exit_price": pa.Column(float, nullable=False, checks=pa.Check.gt(0)),
        "shares": pa.Column(float, nullable=False, checks=pa.Check.ge(1)),
        "costs": pa.Column(float, nullable=False),
        "gross_pnl": pa.Column(float, nullable=False),
        "net_pnl": pa.Column(float, nullable=False),
    }
    return _from_schema("Backtest", BACKTEST_SCHEMA, domains, ["strategy", "event_id"])

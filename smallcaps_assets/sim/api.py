"""The simulated vendor REST API: a Starlette ASGI app answering like Polygon.io / Massive.

Everything is computed on request from a ``SimMarket`` (nothing is precomputed per market), so a request
costs O(response): trades and quotes are generated only for the windows a page needs, aggregates read
only the sessions their ``limit`` allows.

Endpoints: ``/v2/aggs`` range, grouped and prev; ``/v1/open-close``; ``/v3/trades`` and ``/v3/quotes``;
``/v3/reference`` tickers (list, details, types), exchanges, conditions, splits, dividends; ``/v2/reference/news``
(one article per simulated catalyst day); ``/stocks/v1`` splits, short-interest, short-volume; ``/stocks/vX/float``;
``/v1/marketstatus`` now and upcoming.

Conventions copied from ``polygon_api.md`` (§1-§4, §9):

- auth through ``apiKey=`` or ``Authorization: Bearer``; 401 bodies for a missing or unknown key;
- ``X-Request-Id`` equals the body's ``request_id``: 32 lowercase hex characters derived from the market's
  config plus method, path and query (never the key), so the same seed and request give byte-identical
  bodies;
- ``next_url`` is absolute (built from the request's own host), carries only ``cursor`` (unpadded
  base64url of a query string) and never the key; when ``cursor`` is present every other parameter but
  ``apiKey`` is ignored; the last page has no ``next_url``;
- empty optional fields are omitted, never null; NaN never reaches JSON; ns timestamps are exact ints;
- bad input answers 400 ``{"status":"ERROR","request_id":…,"error":…}``; unknown routes answer the plain
  text ``404 page not found``.

Choices where the vendor's behaviour is undocumented (§10), so a client relying on them is warned:

- Aggregates: base aggregates (what ``limit`` counts and ``queryCount`` reports) are second bars for
  ``timespan=second``, minute bars for ``minute``/``hour`` and day bars for ``day`` and longer. A bar is never
  split across pages: a page stops before the first bar whose base aggregates would exceed ``limit`` (a
  single bar wider than ``limit`` is still returned whole, so paging always progresses). ``sort=asc`` pages
  rewrite ``{from}`` to the next bar's ``t`` (as the vendor does); ``sort=desc`` pages rewrite ``{to}`` to the
  ``t`` of the newest base aggregate of the next bar. The cursor is ``base64url("limit=N&sort=S")``, plus
  ``&adjusted=false`` when unadjusted bars were asked for (the vendor would silently fall back to adjusted).
- Aggregate windows are aligned to Eastern Time: intraday windows to 00:00 ET of the session day; ``day``
  multiples to whole days counted from 1970-01-01; weeks start on **Sunday** 00:00 ET (weeks counted from
  Sunday 1969-12-28); months, quarters (Jan/Apr/Jul/Oct) and years on their first day at 00:00 ET. A bar's
  ``t`` is its window start. Grouped-daily and ``/prev`` bars carry ``t`` = 16:00 ET of the session, even on
  early-close days.
- Trades and quotes: ``timestamp=YYYY-MM-DD`` means the ET calendar day; filters apply to
  ``sip_timestamp``; rows are ordered by (``sip_timestamp``, ``sequence_number``); an empty page answers
  ``"results": []``.
- ``limit`` above the documented maximum answers 400 (the vendor may clamp instead).
- 429 answers carry ``Retry-After`` (integer seconds, at least 1).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np
import polars as pl
import pydantic_core
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route

from .. import calendar as cal
from . import conditions, prices, reference
from .config import ApiFaults
from .market import SimMarket

log = logging.getLogger(__name__)
REQUEST_LOG_ENV = "SMALLCAPS_SIM_REQUEST_LOG"

NY = cal.NY
NS = 1_000_000_000
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
MAX_NS = 2**63 - 1

RATE_LIMIT_MESSAGE = (
    "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. "
    "https://polygon.io/pricing"
)
TIMESPANS = ("second", "minute", "hour", "day", "week", "month", "quarter", "year")
INTRADAY_SECONDS = {"second": 1, "minute": 60, "hour": 3600}


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TICKER_TYPES = _words(
    "CS ADRC ADRP ADRR UNIT RIGHT PFD FUND SP WARRANT INDEX ETF ETN OS GDR OTHER NYRS AGEN EQLK BOND ADRW "
    "BASKET LT"
)
TICKER_SORTS = _words(
    "ticker name market locale primary_exchange type currency_symbol currency_name base_currency_symbol "
    "base_currency_name cik composite_figi share_class_figi last_updated_utc delisted_utc"
)
# Conditions the vendor flags ``legacy`` (the official conditions capture marks id 6, CAP Election).
LEGACY_TRADE_CONDITIONS = frozenset({6})

_TICKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:\-]{0,23}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_RE = re.compile(r"^\d{1,19}$")
_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+\- ]\d{2}:\d{2})$"
)
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_\-]{1,8192}={0,2}$")
_EPOCH = dt.date(1970, 1, 1)
_EPOCH_SUNDAY = dt.date(1969, 12, 28)


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------


class ApiError(Exception):
    """An answer other than 200: ``status`` ERROR uses the ``error`` key, the others ``message``."""

    def __init__(self, http_status: int, text: str, status: str = "ERROR"):
        super().__init__(text)
        self.http_status = http_status
        self.text = text
        self.status = status


def _bad(text: str) -> ApiError:
    return ApiError(400, text)


def _show(value: str) -> str:
    """A user value for an error message: quoted and cut short (hostile input stays harmless)."""
    return json.dumps(value[:64] + ("..." if len(value) > 64 else ""))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    if not _CURSOR_RE.match(text):
        raise _bad("Invalid cursor")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise _bad("Invalid cursor") from exc


def _native(value: Any) -> Any:
    """Plain Python values for JSON: numpy scalars converted, NaN/inf dropped from objects."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _native(v)
            if v is None or (isinstance(v, float) and not math.isfinite(v)):
                continue
            out[k] = v
        return out
    if isinstance(value, (list, tuple)):
        items = [_native(v) for v in value]
        return [v for v in items if not (isinstance(v, float) and not math.isfinite(v))]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _dumps(body: Any) -> bytes:
    # pydantic-core's Rust encoder is ~3x faster than json.dumps on tick pages, which made it the
    # simulator's largest cost after generation. It writes NaN/Infinity literally where json.dumps
    # would raise, so any body containing those tokens takes the strict, slower path instead.
    try:
        out = pydantic_core.to_json(body)
    except pydantic_core.PydanticSerializationError:
        out = b"NaN"
    if b"NaN" not in out and b"Infinity" not in out:
        return out
    try:
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (ValueError, TypeError):
        return json.dumps(_native(body), separators=(",", ":"), allow_nan=False).encode()


def _num(x: float) -> int | float:
    """A size or volume as the vendor prints it: an int when whole, else a float."""
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _px(x: float) -> float:
    """Split-adjusted prices lose the tick grid; round them like the vendor (4 dp, 6 below $1)."""
    return round(x, 4) if abs(x) >= 1.0 else round(x, 6)


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime.combine(d, dt.time(0), tzinfo=NY)


def _midnight_ms(d: dt.date) -> int:
    return int(_midnight(d).timestamp()) * 1000


def _midnight_ns(d: dt.date) -> int:
    return int(_midnight(d).timestamp()) * NS


def _et_ms(d: dt.date, hour: int) -> int:
    return int(dt.datetime.combine(d, dt.time(hour), tzinfo=NY).timestamp()) * 1000


def _et_date_ms(ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ms // 1000, tz=NY).date()


def _et_date_ns(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns // NS, tz=NY).date()


def _utc_ms_text(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def _iso_date(text: str, name: str) -> dt.date:
    if not _DATE_RE.match(text):
        raise _bad(f"Invalid value for {name}: {_show(text)}; expected a date formatted as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise _bad(f"Invalid value for {name}: {_show(text)}; not a valid calendar date") from exc


def _ticker(text: str) -> str:
    if not _TICKER_RE.match(text):
        raise _bad(f"Invalid ticker {_show(text)}")
    return text


class _Params:
    """Query parameters with vendor-style validation. The first occurrence of a name wins."""

    def __init__(self, items: Iterable[tuple[str, str]], from_cursor: bool = False):
        self.items = [(k, v) for k, v in items if k not in ("apiKey", "cursor")]
        self.map: dict[str, str] = {}
        for k, v in self.items:
            self.map.setdefault(k, v)
        self.from_cursor = from_cursor

    def raw(self, name: str) -> str | None:
        return self.map.get(name)

    def str(self, name: str) -> str | None:
        v = self.map.get(name)
        return v if v not in (None, "") else None

    def bool(self, name: str, default: bool) -> bool:
        v = self.map.get(name)
        if v is None or v == "":
            return default
        low = v.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise _bad(f"Invalid value for {name}: {_show(v)}; expected true or false")

    def int(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        v = self.map.get(name)
        if v is None or v == "":
            return default
        if not re.match(r"^-?\d{1,19}$", v):
            raise _bad(f"Invalid value for {name}: {_show(v)}; expected an integer")
        n = int(v)
        if not lo <= n <= hi:
            raise _bad(f"Invalid value for {name}: {n}; must be between {lo} and {hi}")
        return n

    def enum(self, name: str, choices: Iterable[str], default: str | None) -> str | None:
        v = self.map.get(name)
        if v is None or v == "":
            return default
        choices = tuple(choices)
        if v not in choices:
            raise _bad(f"Invalid value for {name}: {_show(v)}; expected one of {', '.join(choices)}")
        return v

    def date(self, name: str) -> dt.date | None:
        v = self.str(name)
        return None if v is None else _iso_date(v, name)

    def marker(self, name: str) -> int | None:
        """An integer page marker; honoured only when it came from our own cursor."""
        if not self.from_cursor or name not in self.map:
            return None
        v = self.map[name]
        if not re.match(r"^-?\d{1,19}$", v):
            raise _bad("Invalid cursor")
        return int(v)

    def cursor(self, **markers: object) -> str:
        keep = [(k, v) for k, v in self.items if k not in markers]
        return _b64(urlencode(keep + [(k, str(v)) for k, v in markers.items()]))


# ---------------------------------------------------------------------------------------------------------
# Filters and sorting shared by the reference endpoints
# ---------------------------------------------------------------------------------------------------------


def _parse_value(kind: str, text: str, name: str) -> Any:
    if kind == "date":
        return _iso_date(text, name).isoformat()
    if kind == "float":
        try:
            x = float(text)
        except ValueError as exc:
            raise _bad(f"Invalid value for {name}: {_show(text)}; expected a number") from exc
        if not math.isfinite(x):
            raise _bad(f"Invalid value for {name}: {_show(text)}; expected a finite number")
        return x
    if kind == "int":
        if not re.match(r"^-?\d{1,19}$", text):
            raise _bad(f"Invalid value for {name}: {_show(text)}; expected an integer")
        return int(text)
    return text


class _Filter:
    """``field``, ``field.any_of`` and ``field.gt|gte|lt|lte`` filters over row dicts."""

    def __init__(self, q: _Params, fields: dict[str, str], any_of: bool = True):
        self.preds: dict[str, list[Callable[[Any], bool]]] = {}
        for name, kind in fields.items():
            preds: list[Callable[[Any], bool]] = []
            v = q.str(name)
            if v is not None:
                x = _parse_value(kind, v, name)
                preds.append(lambda a, x=x: a == x)
            if any_of and (v := q.str(f"{name}.any_of")) is not None:
                xs = {
                    _parse_value(kind, part.strip(), f"{name}.any_of")
                    for part in v.split(",")
                    if part.strip()
                }
                preds.append(lambda a, xs=xs: a in xs)
            for op, fn in (("gt", "__gt__"), ("gte", "__ge__"), ("lt", "__lt__"), ("lte", "__le__")):
                if (v := q.str(f"{name}.{op}")) is not None:
                    x = _parse_value(kind, v, f"{name}.{op}")
                    preds.append(lambda a, x=x, fn=fn: getattr(a, fn)(x) is True)
            if preds:
                self.preds[name] = preds

    def has(self, name: str) -> bool:
        return name in self.preds

    def match(self, name: str, value: Any) -> bool:
        preds = self.preds.get(name)
        if not preds:
            return True
        if value is None:
            return False
        return all(p(value) for p in preds)

    def match_row(self, row: dict) -> bool:
        return all(self.match(name, row.get(name)) for name in self.preds)


def _sort_rows(rows: list[dict], spec: list[tuple[str, bool]]) -> list[dict]:
    """Stable multi-key sort; missing values sort last in both directions."""
    out = list(rows)
    for col, desc in reversed(spec):
        present = [r for r in out if r.get(col) is not None]
        missing = [r for r in out if r.get(col) is None]
        present.sort(key=lambda r, c=col: r[c], reverse=desc)
        out = present + missing
    return out


def _new_sort(q: _Params, columns: Iterable[str], default: str) -> list[tuple[str, bool]]:
    """``sort=col.asc,col2.desc`` as used by the ``/stocks/v1`` and ``/stocks/vX`` endpoints."""
    text = q.str("sort") or default
    cols = set(columns)
    spec: list[tuple[str, bool]] = []
    for part in text.split(","):
        part = part.strip()
        col, _, direction = part.rpartition(".") if part.endswith((".asc", ".desc")) else (part, "", "asc")
        if col not in cols:
            raise _bad(
                f"Invalid value for sort: {_show(part)}; sortable columns are {', '.join(sorted(cols))}"
            )
        spec.append((col, direction == "desc"))
    return spec


# ---------------------------------------------------------------------------------------------------------
# Timestamps
# ---------------------------------------------------------------------------------------------------------


def _parse_ts(text: str, name: str) -> tuple[int, int]:
    """A trades/quotes timestamp as an inclusive ns range: a whole ET day, or a single instant."""
    if _DATE_RE.match(text):
        d = _iso_date(text, name)
        return _midnight_ns(d), _midnight_ns(d + dt.timedelta(days=1)) - 1
    if _INT_RE.match(text):
        n = int(text)
        if n > MAX_NS:
            raise _bad(f"Invalid value for {name}: {_show(text)}; out of range")
        return n, n
    m = _RFC3339_RE.match(text)
    if m:
        y, mo, d, h, mi, s, frac, off = m.groups()
        try:
            if off in ("Z", "z"):
                tz = dt.UTC
            else:
                sign = -1 if off[0] == "-" else 1  # a '+' decoded as a space still means '+'
                tz = dt.timezone(sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6])))
            base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=tz)
        except ValueError as exc:
            raise _bad(f"Invalid value for {name}: {_show(text)}; not a valid date-time") from exc
        n = int(base.timestamp()) * NS + int((frac or "").ljust(9, "0"))
        if not 0 <= n <= MAX_NS:
            raise _bad(f"Invalid value for {name}: {_show(text)}; out of range")
        return n, n
    raise _bad(
        f"Invalid value for {name}: {_show(text)}; "
        "expected YYYY-MM-DD, integer nanoseconds or an RFC3339 timestamp"
    )


def _agg_bound(text: str, name: str, end: bool) -> int:
    """An aggregates ``from``/``to`` path segment as ms: a date (whole ET day) or a ms timestamp."""
    if _DATE_RE.match(text):
        d = _iso_date(text, name)
        return _midnight_ms(d + dt.timedelta(days=1)) - 1 if end else _midnight_ms(d)
    if _INT_RE.match(text):
        n = int(text)
        if n > MAX_MS:
            raise _bad(f"Invalid value for {name}: {_show(text)}; out of range")
        return n
    raise _bad(f"Invalid value for {name}: {_show(text)}; expected YYYY-MM-DD or a millisecond timestamp")


def _bucket_start(d: dt.date, timespan: str, mult: int) -> dt.date:
    """First calendar day of the day/week/month/quarter/year window holding session ``d``."""
    if timespan == "day":
        k = (d - _EPOCH).days
        return _EPOCH + dt.timedelta(days=k - k % mult)
    if timespan == "week":
        sunday = d - dt.timedelta(days=(d.weekday() + 1) % 7)
        k = (sunday - _EPOCH_SUNDAY).days // 7
        return _EPOCH_SUNDAY + dt.timedelta(weeks=k - k % mult)
    if timespan in ("month", "quarter"):
        months = mult * (3 if timespan == "quarter" else 1)
        idx = d.year * 12 + d.month - 1
        idx = max(idx - idx % months, 1970 * 12)
        return dt.date(idx // 12, idx % 12 + 1, 1)
    return dt.date(max(d.year - d.year % mult, 1970), 1, 1)


def _bar_json(
    row: tuple, *, ticker: str | None = None, otc: bool = False, adjusted_round: bool = False
) -> dict:
    """A bar in the vendor's key order (T, v, vw, o, c, h, l, t, n, otc)."""
    t, o, h, lo, c, v, vw, n = row
    fix = _px if adjusted_round else float
    out: dict = {}
    if ticker is not None:
        out["T"] = ticker
    out["v"] = round(float(v), 4) if adjusted_round else float(v)
    if vw is not None and math.isfinite(vw):
        out["vw"] = fix(vw)
    out["o"], out["c"], out["h"], out["l"] = fix(o), fix(c), fix(h), fix(lo)
    out["t"] = int(t)
    out["n"] = int(n)
    if otc:
        out["otc"] = True
    return out


def _merge_bars(t: int, group: list[tuple]) -> tuple:
    """One bar from consecutive base bars (t, o, h, l, c, v, vw, n)."""
    if len(group) == 1 and group[0][0] == t:
        return group[0]
    v = sum(b[5] for b in group)
    pv = sum(b[5] * b[6] for b in group if b[6] is not None and math.isfinite(b[6]))
    vw = round(pv / v, 4) if v > 0 else None
    return (
        t,
        group[0][1],
        max(b[2] for b in group),
        min(b[3] for b in group),
        group[-1][4],
        v,
        vw,
        sum(int(b[7]) for b in group),
    )


def _page_bars(
    stream: Iterable[tuple[int, tuple, bool]], limit: int, desc: bool, passthrough: bool
) -> tuple[list[tuple[tuple, bool]], int, tuple[int, int] | None]:
    """Group base bars (in read order) into bars and stop at a bar boundary once ``limit`` base bars
    are used. A bar wider than ``limit`` is still returned whole when it comes first, so paging always
    progresses. ``passthrough``: every base bar is a bar (repeated bars of a data fault stay repeated).

    Returns ([(bar, needs adjusted rounding)], base bars used, next page's (bar t, first base bar t) or None).
    """
    results: list[tuple[tuple, bool]] = []
    used = 0
    key = 0
    group: list[tuple] = []
    rounded = False
    for k, bar, r in stream:
        if group and (passthrough or k != key):
            if results and used + len(group) > limit:
                return results, used, (key, group[0][0])
            results.append((_merge_bars(key, group[::-1] if desc else group), rounded))
            used += len(group)
            if used >= limit:
                return results, used, (k, bar[0])
            group = []
        if not group:
            key, rounded = k, False
        group.append(bar)
        rounded = rounded or r
    if group:
        if results and used + len(group) > limit:
            return results, used, (key, group[0][0])
        results.append((_merge_bars(key, group[::-1] if desc else group), rounded))
        used += len(group)
    return results, used, None


@dataclass(frozen=True)
class _Draw:
    latency_s: float
    u429: float
    u5xx: float
    code: int
    utimeout: float
    utrunc: float
    cut: float


# ---------------------------------------------------------------------------------------------------------
# The API
# ---------------------------------------------------------------------------------------------------------


class _Api:
    def __init__(
        self,
        market: SimMarket,
        api_keys: set[str] | None,
        faults: ApiFaults | None,
        clock: Callable[[], dt.datetime] | None,
    ):
        self.market = market
        self.keys = set(api_keys) if api_keys is not None else None
        self.faults = faults
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.rng = random.Random(faults.seed if faults else 0)
        self.buckets: dict[str, tuple[float, float]] = {}
        self.salt = hashlib.blake2b(market.config.model_dump_json().encode(), digest_size=16).hexdigest()
        self.seed = market.config.seed
        self._bars = lru_cache(maxsize=512)(self._bars_uncached)
        self._short_interest = lru_cache(maxsize=100_000)(self._short_interest_uncached)
        self._news: list[dict] | None = None
        self.routes = self._routes()

    # ----------------------------------------------------------------------------- plumbing
    def request_id(self, scope: dict) -> str:
        qs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = urlencode(sorted((k, v) for k, v in qs if k != "apiKey"))
        raw = f"{self.salt}|{scope.get('method', 'GET')}|{scope.get('path', '')}|{query}"
        return hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()

    def routed(self, scope: dict) -> bool:
        return any(r.matches(scope)[0] != Match.NONE for r in self.routes)

    @staticmethod
    def json_response(body: Any, status: int, rid: str, headers: dict[str, str] | None = None) -> Response:
        return Response(
            _dumps(body),
            status_code=status,
            media_type="application/json",
            headers={"X-Request-Id": rid, **(headers or {})},
        )

    def error_response(self, err: ApiError, rid: str, headers: dict[str, str] | None = None) -> Response:
        key = "error" if err.status == "ERROR" else "message"
        return self.json_response(
            {"status": err.status, "request_id": rid, key: err.text}, err.http_status, rid, headers
        )

    def now(self) -> dt.datetime:
        t = self.clock()
        return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t

    def draw(self) -> _Draw:
        """Seven uniforms per request, always, so the fault sequence depends only on the request count."""
        f = self.faults
        assert f is not None
        u = [self.rng.random() for _ in range(7)]
        z = math.sqrt(-2.0 * math.log(max(u[0], 1e-300))) * math.cos(2.0 * math.pi * u[1])
        latency = max(0.0, f.latency_ms + f.latency_jitter_ms * z) / 1000.0
        return _Draw(latency, u[2], u[3], (500, 502, 503, 504)[min(3, int(u[4] * 4))], u[5], u[6], u[4])

    def take_token(self, key: str) -> int:
        """Token bucket per key: 0 when the request may pass, else the seconds to wait (>= 1)."""
        f = self.faults
        if f is None or f.rate_limit is None:
            return 0
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (float(f.rate_burst), now))
        tokens = min(float(f.rate_burst), tokens + (now - last) * f.rate_limit)
        if tokens >= 1.0:
            self.buckets[key] = (tokens - 1.0, now)
            return 0
        self.buckets[key] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / f.rate_limit))

    def _route(self, path: str, fn: Callable[[Request, str], Any]) -> Route:
        async def endpoint(request: Request) -> Response:
            rid = request.scope.get("sim.request_id") or self.request_id(request.scope)
            try:
                body = await run_in_threadpool(fn, request, rid)
                return self.json_response(body, 200, rid)
            except ApiError as err:
                return self.error_response(err, rid)
            except Exception:  # never a stack trace on the wire
                log.exception("simulated API failed on %s", request.url.path)
                return self.error_response(ApiError(500, "Internal server error"), rid)

        return Route(path, endpoint, methods=["GET"])

    def _routes(self) -> list[Route]:
        r = self._route
        return [
            r("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}", self.aggs_range),
            r("/v2/aggs/ticker/{ticker}/prev", self.aggs_prev),
            r("/v2/aggs/grouped/locale/us/market/stocks/{date}", self.aggs_grouped),
            r("/v1/open-close/{ticker}/{date}", self.open_close),
            r("/v3/trades/{ticker}", self.trades),
            r("/v3/quotes/{ticker}", self.quotes),
            r("/v3/reference/tickers/types", self.ticker_types),
            r("/v3/reference/tickers/{ticker}", self.ticker_details),
            r("/v3/reference/tickers", self.tickers),
            r("/v3/reference/exchanges", self.exchanges),
            r("/v3/reference/conditions", self.conditions),
            r("/v3/reference/splits", self.splits_v3),
            r("/v3/reference/dividends", self.dividends_v3),
            r("/v2/reference/news", self.news),
            r("/stocks/v1/splits", self.splits_v1),
            r("/stocks/v1/short-interest", self.short_interest),
            r("/stocks/v1/short-volume", self.short_volume),
            r("/stocks/vX/float", self.free_float),
            r("/v1/marketstatus/now", self.market_status_now),
            r("/v1/marketstatus/upcoming", self.market_status_upcoming),
        ]

    @staticmethod
    def params(request: Request) -> _Params:
        """The query, or the query stored in ``cursor`` (which then replaces every other parameter)."""
        items = request.query_params.multi_items()
        cursor = next((v for k, v in items if k == "cursor"), None)
        if cursor is None:
            return _Params(items)
        return _Params(parse_qsl(_unb64(cursor), keep_blank_values=True), from_cursor=True)

    @staticmethod
    def next_url(request: Request, path: str, cursor: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{path}?cursor={cursor}"

    def _sessions(self, lo: dt.date, hi: dt.date) -> list[dt.date]:
        return cal.trading_days(max(lo, self.market.config.start), min(hi, self.market.config.end))

    def _paged(
        self, request: Request, rid: str, q: _Params, rows: list[dict], limit: int, *, count: bool
    ) -> dict:
        """An offset page of fully built rows, with the vendor's envelope."""
        offset = max(0, q.marker("offset") or 0)
        page = rows[offset : offset + limit]
        body: dict = {"results": page, "status": "OK", "request_id": rid}
        if count:
            body["count"] = len(page)
        if offset + limit < len(rows):
            body["next_url"] = self.next_url(request, request.url.path, q.cursor(offset=offset + limit))
        return body

    # ----------------------------------------------------------------------------- aggregates
    def _bars_uncached(self, ticker: str, d: dt.date, seconds: int, adjusted: bool) -> tuple[tuple, ...]:
        df = self.market.bars(ticker, d, seconds, adjusted)
        return tuple(df.select("t", "o", "h", "l", "c", "v", "vw", "n").rows())

    def _base_bars(
        self, ticker: str, timespan: str, mult: int, adjusted: bool, from_ms: int, to_ms: int, desc: bool
    ) -> Iterator[tuple[int, tuple, bool]]:
        """(bucket t, base bar, adjusted-with-a-factor) in the requested order, one session at a time."""
        if self.market.profile(ticker) is None or from_ms > to_ms:
            return
        days = self._sessions(_et_date_ms(from_ms), _et_date_ms(to_ms))
        if desc:
            days = days[::-1]
        if timespan in INTRADAY_SECONDS:
            base_s = 1 if timespan == "second" else 60
            width = mult * INTRADAY_SECONDS[timespan] * 1000
            for d in days:
                mid = _midnight_ms(d)
                rounded = adjusted and self.market.split_factor(ticker, d) != 1.0
                rows = [b for b in self._bars(ticker, d, base_s, adjusted) if from_ms <= b[0] <= to_ms]
                for b in reversed(rows) if desc else rows:
                    yield mid + (b[0] - mid) // width * width, b, rounded
            return
        for d in days:
            ms = _midnight_ms(d)
            if not from_ms <= ms <= to_ms:
                continue
            bar = self.market.daily_bar(ticker, d, adjusted)
            if bar is None:
                continue
            rounded = adjusted and self.market.split_factor(ticker, d) != 1.0
            row = (ms, bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"], bar["n"])
            yield _midnight_ms(_bucket_start(d, timespan, mult)), row, rounded

    def aggs_range(self, request: Request, rid: str) -> dict:
        pp = request.path_params
        ticker = _ticker(pp["ticker"])
        mult_raw, timespan, from_raw, to_raw = pp["multiplier"], pp["timespan"], pp["from"], pp["to"]
        if not re.match(r"^\d{1,7}$", mult_raw) or not 1 <= int(mult_raw) <= 1_000_000:
            raise _bad(
                f"Invalid value for multiplier: {_show(mult_raw)}; expected an integer from 1 to 1000000"
            )
        mult = int(mult_raw)
        if timespan not in TIMESPANS:
            raise _bad(
                f"Invalid value for timespan: {_show(timespan)}; expected one of {', '.join(TIMESPANS)}"
            )
        from_ms, to_ms = _agg_bound(from_raw, "from", end=False), _agg_bound(to_raw, "to", end=True)
        q = self.params(request)
        adjusted = q.bool("adjusted", True)
        sort = q.enum("sort", ("asc", "desc"), "asc")
        limit = q.int("limit", 5000, 1, 50_000)
        assert limit is not None
        desc = sort == "desc"

        stream = self._base_bars(ticker, timespan, mult, adjusted, from_ms, to_ms, desc)
        passthrough = mult == 1 and timespan in ("second", "minute", "day")
        results, consumed, nxt = _page_bars(stream, limit, desc, passthrough)

        p = self.market.profile(ticker)
        otc = p is not None and p.market == "otc"
        bars = [_bar_json(b, otc=otc, adjusted_round=r) for b, r in results]
        body: dict = {
            "ticker": ticker,
            "queryCount": consumed,
            "resultsCount": len(bars),
            "adjusted": adjusted,
        }
        if bars:
            body["results"] = bars
        body.update(status="OK", request_id=rid, count=len(bars))
        if nxt is not None:
            new_from, new_to = (from_raw, str(nxt[1])) if desc else (str(nxt[0]), to_raw)
            path = f"/v2/aggs/ticker/{quote(ticker)}/range/{mult}/{timespan}/{new_from}/{new_to}"
            cursor = f"limit={limit}&sort={sort}" + ("" if adjusted else "&adjusted=false")
            body["next_url"] = self.next_url(request, path, _b64(cursor))
        return body

    def _daily_row(self, ticker: str, d: dt.date, adjusted: bool) -> dict | None:
        bar = self.market.daily_bar(ticker, d, adjusted)
        if bar is None:
            return None
        p = self.market.profile(ticker)
        rounded = adjusted and self.market.split_factor(ticker, d) != 1.0
        row = (_et_ms(d, 16), bar["o"], bar["h"], bar["l"], bar["c"], bar["v"], bar["vw"], bar["n"])
        return _bar_json(row, ticker=ticker, otc=p is not None and p.market == "otc", adjusted_round=rounded)

    def aggs_prev(self, request: Request, rid: str) -> dict:
        ticker = _ticker(request.path_params["ticker"])
        q = self.params(request)
        adjusted = q.bool("adjusted", True)
        today = self.now().astimezone(NY).date()
        prev = cal.previous_trading_day(today)
        if prev is None or prev > self.market.today:
            prev = self.market.today
        row = self._daily_row(ticker, prev, adjusted) if prev >= self.market.config.start else None
        n = 1 if row else 0
        body: dict = {"ticker": ticker, "queryCount": n, "resultsCount": n, "adjusted": adjusted}
        if row:
            body["results"] = [row]
        body.update(status="OK", request_id=rid, count=n)
        return body

    def aggs_grouped(self, request: Request, rid: str) -> dict:
        d = _iso_date(request.path_params["date"], "date")
        q = self.params(request)
        adjusted = q.bool("adjusted", True)
        include_otc = q.bool("include_otc", False)
        rows: list[dict] = []
        if cal.session(d) is not None and self.market.config.start <= d <= self.market.today:
            df = self.market.grouped_daily(d, adjusted, include_otc).sort("T")
            t = _et_ms(d, 16)
            for rec in df.iter_rows(named=True):
                rounded = adjusted and self.market.split_factor(rec["T"], d) != 1.0
                row = (t, rec["o"], rec["h"], rec["l"], rec["c"], rec["v"], rec["vw"], rec["n"])
                rows.append(_bar_json(row, ticker=rec["T"], otc=bool(rec["otc"]), adjusted_round=rounded))
        body: dict = {"queryCount": len(rows), "resultsCount": len(rows), "adjusted": adjusted}
        if rows:
            body["results"] = rows
        body.update(status="OK", request_id=rid, count=len(rows))
        return body

    def open_close(self, request: Request, rid: str) -> dict:
        ticker = _ticker(request.path_params["ticker"])
        d = _iso_date(request.path_params["date"], "date")
        adjusted = self.params(request).bool("adjusted", True)
        sess = cal.session(d)
        p = self.market.profile(ticker)
        bar = self.market.daily_bar(ticker, d, adjusted) if sess and p and d <= self.market.today else None
        if bar is None or sess is None or p is None:
            raise ApiError(404, "Data not found.", "NOT_FOUND")
        rounded = adjusted and self.market.split_factor(ticker, d) != 1.0
        fix = _px if rounded else float
        minute = self._bars(ticker, d, 60, adjusted)
        open_ms = int(sess.market_open.timestamp()) * 1000
        close_ms = int(sess.market_close.timestamp()) * 1000
        pre = [b for b in minute if b[0] < open_ms]
        after = [b for b in minute if b[0] >= close_ms]
        body: dict = {
            "status": "OK",
            "from": d.isoformat(),
            "symbol": ticker,
            "open": fix(bar["o"]),
            "high": fix(bar["h"]),
            "low": fix(bar["l"]),
            "close": fix(bar["c"]),
            "volume": _num(round(bar["v"], 4)),
        }
        if after:
            body["afterHours"] = fix(after[-1][4])
        if pre:
            body["preMarket"] = fix(pre[0][1])
        if p.market == "otc":
            body["otc"] = True
        return body

    # ----------------------------------------------------------------------------- trades and quotes
    def _ts_bounds(self, q: _Params) -> tuple[int, int]:
        lo = _midnight_ns(self.market.config.start)
        hi = _midnight_ns(self.market.config.end + dt.timedelta(days=1)) - 1
        for suffix in ("", ".gte", ".gt", ".lte", ".lt"):
            name = f"timestamp{suffix}"
            v = q.str(name)
            if v is None:
                continue
            s, e = _parse_ts(v, name)
            if suffix == "":
                lo, hi = max(lo, s), min(hi, e)
            elif suffix == ".gte":
                lo = max(lo, s)
            elif suffix == ".gt":
                lo = max(lo, e + 1)
            elif suffix == ".lte":
                hi = min(hi, e)
            else:
                hi = min(hi, s - 1)
        return lo, hi

    def _tick_page(
        self, kind: str, ticker: str, lo: int, hi: int, desc: bool, limit: int, marker: tuple[int, int] | None
    ) -> pl.DataFrame:
        """Up to ``limit + 1`` rows ordered by (sip_timestamp, sequence_number), generated chunk by chunk
        so the cost follows the page, not the day."""
        if marker is not None:
            lo, hi = (lo, min(hi, marker[0])) if desc else (max(lo, marker[0]), hi)
        if self.market.profile(ticker) is None or lo > hi:
            return pl.DataFrame()
        fetch = self.market.trades if kind == "trades" else self.market.quotes
        need = limit + 1
        frames: list[pl.DataFrame] = []
        got = 0
        days = self._sessions(_et_date_ns(lo), _et_date_ns(hi))
        for d in reversed(days) if desc else days:
            if got >= need:
                break
            if self.market.day_plan(ticker, d) is None:
                continue
            sess = cal.session(d)
            assert sess is not None
            a, b = max(lo, sess.ns("pre_open")), min(hi, sess.ns("post_close") - 1)
            chunk = 30 * 60 * NS
            while a <= b and got < need:
                if desc:
                    s, e = max(a, b - chunk + 1), b
                    b = s - 1
                else:
                    s, e = a, min(b, a + chunk - 1)
                    a = e + 1
                chunk *= 2
                df = fetch(ticker, d, s, e)
                if df.is_empty():
                    continue
                df = df.sort("sip_timestamp", "sequence_number", descending=desc)
                if marker is not None:
                    sip, seq = pl.col("sip_timestamp"), pl.col("sequence_number")
                    after = (
                        (sip < marker[0]) | ((sip == marker[0]) & (seq < marker[1]))
                        if desc
                        else ((sip > marker[0]) | ((sip == marker[0]) & (seq > marker[1])))
                    )
                    df = df.filter(after)
                frames.append(df)
                got += df.height
        if not frames:
            return pl.DataFrame()
        return pl.concat(frames).head(need)

    # Rows are built from whole columns (to_list runs in Rust) rather than iter_rows with a cast per
    # cell: tick pages are the simulator's hottest path when a client downloads event windows.
    @staticmethod
    def _trade_rows(df: pl.DataFrame) -> list[dict]:
        c = {name: df.get_column(name).to_list() for name in df.columns}
        out = []
        for cond, corr, ex, tid, pts, price, seq, sip, size, tape, trf_id, trf_ts in zip(
            c["conditions"], c["correction"], c["exchange"], c["id"], c["participant_timestamp"],
            c["price"], c["sequence_number"], c["sip_timestamp"], c["size"], c["tape"], c["trf_id"],
            c["trf_timestamp"], strict=True,
        ):  # fmt: skip
            r: dict = {"conditions": cond} if cond else {}
            if corr:
                r["correction"] = corr
            r["decimal_size"] = repr(float(size))
            r["exchange"] = ex
            r["id"] = tid
            r["participant_timestamp"] = pts
            r["price"] = price
            r["sequence_number"] = seq
            r["sip_timestamp"] = sip
            r["size"] = _num(size)
            r["tape"] = tape
            if trf_id:
                r["trf_id"] = trf_id
            if trf_ts:
                r["trf_timestamp"] = trf_ts
            out.append(r)
        return out

    @staticmethod
    def _quote_rows(df: pl.DataFrame) -> list[dict]:
        c = {name: df.get_column(name).to_list() for name in df.columns}
        out = []
        for ax, ap, asz, bx, bp, bsz, cond, ind, pts, seq, sip, tape in zip(
            c["ask_exchange"], c["ask_price"], c["ask_size"], c["bid_exchange"], c["bid_price"],
            c["bid_size"], c["conditions"], c["indicators"], c["participant_timestamp"],
            c["sequence_number"], c["sip_timestamp"], c["tape"], strict=True,
        ):  # fmt: skip
            r: dict = {
                "ask_exchange": ax,
                "ask_price": ap,
                "ask_size": _num(asz),
                "bid_exchange": bx,
                "bid_price": bp,
                "bid_size": _num(bsz),
            }
            if cond:
                r["conditions"] = cond
            if ind:
                r["indicators"] = ind
            r["participant_timestamp"] = pts
            r["sequence_number"] = seq
            r["sip_timestamp"] = sip
            r["tape"] = tape
            out.append(r)
        return out

    def _ticks(self, request: Request, rid: str, kind: str) -> dict:
        ticker = _ticker(request.path_params["ticker"])
        q = self.params(request)
        order = q.enum("order", ("asc", "desc"), "desc")
        limit = q.int("limit", 1000, 1, 50_000)
        assert limit is not None
        q.enum("sort", ("timestamp",), "timestamp")
        lo, hi = self._ts_bounds(q)
        ap, as_ = q.marker("ap"), q.marker("as")
        marker = (ap, as_) if ap is not None and as_ is not None else None
        df = self._tick_page(kind, ticker, lo, hi, order == "desc", limit, marker)
        more = df.height > limit
        df = df.head(limit)
        if df.height == 0:
            rows: list[dict] = []
        else:
            rows = self._trade_rows(df) if kind == "trades" else self._quote_rows(df)
        body: dict = {"results": rows, "status": "OK", "request_id": rid}
        if more:
            last = rows[-1]
            state = [
                ("limit", limit),
                ("order", order),
                ("sort", "timestamp"),
                ("timestamp.gte", lo),
                ("timestamp.lte", hi),
                ("ap", last["sip_timestamp"]),
                ("as", last["sequence_number"]),
            ]
            body["next_url"] = self.next_url(request, request.url.path, _b64(urlencode(state)))
        return body

    def trades(self, request: Request, rid: str) -> dict:
        return self._ticks(request, rid, "trades")

    def quotes(self, request: Request, rid: str) -> dict:
        return self._ticks(request, rid, "quotes")

    # ----------------------------------------------------------------------------- reference
    def _ticker_row(self, p: reference.TickerProfile, date: dt.date) -> dict:
        gone = self.market.delisted_on(p)
        active = gone is None or date < gone
        row: dict = {"ticker": p.ticker, "name": p.name, "market": p.market, "locale": "us"}
        if p.primary_exchange:
            row["primary_exchange"] = p.primary_exchange
        row.update(type=p.type, active=active, currency_name="usd")
        if p.cik:
            row["cik"] = p.cik
        row.update(
            composite_figi=p.composite_figi,
            share_class_figi=p.share_class_figi,
            last_updated_utc=f"{date.isoformat()}T00:00:00Z",
        )
        if not active and gone is not None:
            row["delisted_utc"] = f"{gone.isoformat()}T00:00:00Z"
        return row

    def tickers(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        date = q.date("date") or self.market.today
        active = q.bool("active", True)
        type_ = q.enum("type", TICKER_TYPES, None)
        market = q.enum("market", ("stocks", "crypto", "fx", "otc", "indices"), None)
        exchange, cik, cusip, search = q.str("exchange"), q.str("cik"), q.str("cusip"), q.str("search")
        order = q.enum("order", ("asc", "desc"), "asc")
        limit = q.int("limit", 100, 1, 1000)
        sort = q.enum("sort", TICKER_SORTS, "ticker")
        assert limit is not None and sort is not None
        filt = _Filter(q, {"ticker": "str"}, any_of=False)
        rows = []
        for p in self.market.tickers_on(date, active):
            if (
                not filt.match("ticker", p.ticker)
                or (type_ and p.type != type_)
                or (market and p.market != market)
            ):
                continue
            if (exchange and p.primary_exchange != exchange) or (cik and p.cik != cik) or cusip:
                continue  # the simulated market has no CUSIPs, so a CUSIP filter matches nothing
            if search and search.lower() not in p.ticker.lower() and search.lower() not in p.name.lower():
                continue
            rows.append(self._ticker_row(p, date))
        rows = _sort_rows(sorted(rows, key=lambda r: r["ticker"]), [(sort, order == "desc")])
        return self._paged(request, rid, q, rows, limit, count=True)

    def ticker_details(self, request: Request, rid: str) -> dict:
        ticker = _ticker(request.path_params["ticker"])
        date = self.params(request).date("date")
        details = self.market.ticker_details(ticker, date)
        if details is None:
            raise ApiError(404, "Ticker not found.", "NOT_FOUND")
        details = _native(details)
        domain = details.get("homepage_url", "").removeprefix("https://").removeprefix("http://").strip("/")
        if domain:
            root = f"{str(request.base_url).rstrip('/')}/v1/reference/company-branding/{_b64(domain)}/images"
            stamp = (date or self.market.today).isoformat()
            details["branding"] = {
                "logo_url": f"{root}/{stamp}_logo.svg",
                "icon_url": f"{root}/{stamp}_icon.png",
            }
        ordered = {
            k: details[k]
            for k in details
            if k not in ("share_class_shares_outstanding", "weighted_shares_outstanding")
        }
        for k in ("share_class_shares_outstanding", "weighted_shares_outstanding"):
            if k in details:
                ordered[k] = details[k]
        return {"results": ordered, "status": "OK", "request_id": rid}

    def ticker_types(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        asset_class = q.enum("asset_class", ("stocks", "options", "crypto", "fx", "indices"), None)
        locale = q.enum("locale", ("us", "global"), None)
        rows = [
            r
            for r in reference.ticker_types()
            if (asset_class is None or r.get("asset_class") == asset_class)
            and (locale is None or r.get("locale") == locale)
        ]
        return {"results": rows, "status": "OK", "request_id": rid, "count": len(rows)}

    def exchanges(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        asset_class = q.enum("asset_class", ("stocks", "options", "crypto", "fx", "futures"), None)
        locale = q.enum("locale", ("us", "global"), None)
        rows = [
            r
            for r in reference.exchanges()
            if (asset_class is None or r.get("asset_class") == asset_class)
            and (locale is None or r.get("locale") == locale)
        ]
        return {"results": rows, "status": "OK", "request_id": rid, "count": len(rows)}

    def conditions(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        asset_class = q.enum("asset_class", ("stocks", "options", "crypto", "fx"), None)
        data_type = q.enum("data_type", ("trade", "bbo", "nbbo"), None)
        cid = q.int("id", None, 0, 10**9)
        sip = q.enum("sip", ("CTA", "UTP", "OPRA"), None)
        order = q.enum("order", ("asc", "desc"), "asc")
        limit = q.int("limit", 10, 1, 1000)
        sort = q.enum("sort", ("asset_class", "id", "type", "name", "data_types", "legacy"), "asset_class")
        assert limit is not None and sort is not None
        rows = []
        for row in conditions.reference_rows():
            if "trade" in row["data_types"] and row["id"] in LEGACY_TRADE_CONDITIONS:
                row = {**row, "legacy": True}
            if asset_class and row["asset_class"] != asset_class:
                continue
            if (data_type and data_type not in row["data_types"]) or (cid is not None and row["id"] != cid):
                continue
            if sip and sip not in row["sip_mapping"]:
                continue
            rows.append(row)

        def key(r: dict) -> Any:
            if sort == "data_types":
                return ",".join(r["data_types"])
            if sort == "legacy":
                return bool(r.get("legacy", False))
            return r[sort]

        rows.sort(key=key, reverse=order == "desc")
        return self._paged(request, rid, q, rows, limit, count=True)

    def _split_id(self, ticker: str, d: dt.date) -> str:
        return "E" + hashlib.blake2b(f"{self.seed}|split|{ticker}|{d}".encode(), digest_size=32).hexdigest()

    def splits_v3(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        filt = _Filter(q, {"ticker": "str", "execution_date": "date"}, any_of=False)
        reverse = q.bool("reverse_split", False) if q.str("reverse_split") is not None else None
        order = q.enum("order", ("asc", "desc"), "desc")
        limit = q.int("limit", 10, 1, 1000)
        sort = q.enum("sort", ("execution_date", "ticker"), "execution_date")
        assert limit is not None and sort is not None
        rows = []
        for s in self.market.all_splits:
            row = {
                "execution_date": s.execution_date.isoformat(),
                "id": self._split_id(s.ticker, s.execution_date),
                "split_from": _num(s.split_from),
                "split_to": _num(s.split_to),
                "ticker": s.ticker,
            }
            if reverse is not None and (s.split_from > s.split_to) != reverse:
                continue
            if filt.match_row(row):
                rows.append(row)
        other = "ticker" if sort == "execution_date" else "execution_date"
        rows.sort(key=lambda r: (r[sort], r[other], r["id"]), reverse=order == "desc")
        return self._paged(request, rid, q, rows, limit, count=False)

    def splits_v1(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        filt = _Filter(q, {"ticker": "str", "execution_date": "date", "adjustment_type": "str"})
        kinds = ("forward_split", "reverse_split", "stock_dividend")
        for name in ("adjustment_type", "adjustment_type.any_of"):
            for part in (q.str(name) or "").split(","):
                if part.strip() and part.strip() not in kinds:
                    raise _bad(f"Invalid value for {name}: {_show(part)}; expected one of {', '.join(kinds)}")
        limit = q.int("limit", 100, 1, 5000)
        assert limit is not None
        cols = (
            "adjustment_type",
            "execution_date",
            "historical_adjustment_factor",
            "id",
            "split_from",
            "split_to",
            "ticker",
        )
        spec = _new_sort(q, cols, "execution_date.desc")
        rows = []
        by_ticker: dict[str, list] = {}
        for s in self.market.all_splits:
            by_ticker.setdefault(s.ticker, []).append(s)
        for s in self.market.all_splits:
            factor = 1.0
            for o in by_ticker[s.ticker]:
                if o.execution_date >= s.execution_date:
                    factor *= o.split_from / o.split_to
            row = {
                "adjustment_type": "forward_split" if s.split_to > s.split_from else "reverse_split",
                "execution_date": s.execution_date.isoformat(),
                "historical_adjustment_factor": round(factor, 10),
                "id": self._split_id(s.ticker, s.execution_date),
                "split_from": _num(s.split_from),
                "split_to": _num(s.split_to),
                "ticker": s.ticker,
            }
            if filt.match_row(row):
                rows.append(row)
        rows = _sort_rows(sorted(rows, key=lambda r: (r["ticker"], r["execution_date"])), spec)
        return self._paged(request, rid, q, rows, limit, count=False)

    def dividends_v3(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        fields = {
            "ticker": "str",
            "ex_dividend_date": "date",
            "record_date": "date",
            "declaration_date": "date",
            "pay_date": "date",
            "cash_amount": "float",
        }
        filt = _Filter(q, fields, any_of=False)
        freq = q.enum("frequency", ("0", "1", "2", "4", "12", "24", "52"), None)
        dtype = q.enum("dividend_type", ("CD", "SC", "LT", "ST"), None)
        order = q.enum("order", ("asc", "desc"), "desc")
        limit = q.int("limit", 10, 1, 1000)
        sorts = ("ex_dividend_date", "pay_date", "declaration_date", "record_date", "cash_amount", "ticker")
        sort = q.enum("sort", sorts, "ex_dividend_date")
        assert limit is not None and sort is not None
        rows = []
        for d in self.market.all_dividends:
            row = {k: d[k] for k in sorted(d)}
            if freq is not None and row["frequency"] != int(freq):
                continue
            if (dtype and row["dividend_type"] != dtype) or not filt.match_row(row):
                continue
            rows.append(_native(row))
        rows.sort(key=lambda r: (r[sort], r["ticker"], r["id"]), reverse=order == "desc")
        return self._paged(request, rid, q, rows, limit, count=False)

    # ----------------------------------------------------------------------------- news (catalyst days)
    def _news_rows(self) -> list[dict]:
        """One article per catalyst day: published 06:00-08:59 ET that morning. Newest first."""
        if self._news is not None:
            return self._news
        rows = []
        publisher = {
            "name": "Simulated Newswire",
            "homepage_url": "https://news.example.com/",
            "logo_url": "https://news.example.com/logo.svg",
            "favicon_url": "https://news.example.com/favicon.ico",
        }
        for p in self.market.profiles():
            sk = self.market.skeleton(p)
            for i in np.nonzero(np.asarray(sk.shape) != prices.NO_CATALYST)[0]:
                d = sk.dates[int(i)]
                h = hashlib.blake2b(f"{self.seed}|news|{p.ticker}|{d}".encode(), digest_size=32).hexdigest()
                # Published a few seconds before the pre-market jump it causes.
                published_ns = prices.news_time_ns(sk, int(i)) - (5 + int(h[:2], 16) % 50) * 1_000_000_000
                ts = dt.datetime.fromtimestamp(published_ns // 1_000_000_000, dt.UTC)
                url = f"https://news.example.com/{d.isoformat()}/{h[:16]}"
                rows.append(
                    {
                        "id": h[:43],
                        "publisher": dict(publisher),
                        "title": f"{p.name} ({p.ticker}) shares in focus after company update",
                        "author": "Simulated Newswire",
                        "published_utc": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "article_url": url,
                        "tickers": [p.ticker],
                        "amp_url": f"{url}/amp",
                        "image_url": f"{url}/image.jpg",
                        "description": f"{p.name} released news before the open on {d.isoformat()}.",
                        "_ns": int(ts.timestamp()) * NS,
                    }
                )
        rows.sort(key=lambda r: (r["_ns"], r["id"]), reverse=True)
        self._news = rows
        return rows

    def news(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        tfilt = _Filter(q, {"ticker": "str"}, any_of=False)
        lo, hi = 0, MAX_NS
        for suffix in ("", ".gte", ".gt", ".lte", ".lt"):
            v = q.str(f"published_utc{suffix}")
            if v is None:
                continue
            s, e = _parse_ts(v, f"published_utc{suffix}")
            if suffix in ("", ".gte"):
                lo = max(lo, s)
            if suffix in ("", ".lte"):
                hi = min(hi, e)
            if suffix == ".gt":
                lo = max(lo, e + 1)
            if suffix == ".lt":
                hi = min(hi, s - 1)
        order = q.enum("order", ("asc", "desc"), "desc")
        limit = q.int("limit", 10, 1, 1000)
        q.enum("sort", ("published_utc",), "published_utc")
        assert limit is not None
        rows = [
            {k: v for k, v in r.items() if k != "_ns"}
            for r in self._news_rows()
            if lo <= r["_ns"] <= hi
            and (not tfilt.has("ticker") or any(tfilt.match("ticker", t) for t in r["tickers"]))
        ]
        if order == "asc":
            rows.reverse()
        return self._paged(request, rid, q, rows, limit, count=True)

    # ----------------------------------------------------------------------------- short interest, volume
    def _short_interest_uncached(self, ticker: str) -> tuple[dict, ...]:
        return tuple(_native(r) for r in self.market.short_interest(ticker))

    def _lazy_sorted(
        self,
        groups: Iterable[Callable[[], list[dict]]],
        filt: _Filter,
        spec: list[tuple[str, bool]],
        need: int,
    ) -> tuple[list[dict], bool]:
        """Rows from groups that arrive already ordered by the primary sort key; stops once ``need`` rows
        are known (the rest of the market is never generated). Returns (rows, exhausted)."""
        out: list[dict] = []
        for make in groups:
            out.extend(_sort_rows([r for r in make() if filt.match_row(r)], spec))
            if len(out) >= need:
                return out, False
        return out, True

    def _stocks_page(
        self,
        request: Request,
        rid: str,
        q: _Params,
        groups: list[Callable[[], list[dict]]],
        filt: _Filter,
        spec: list[tuple[str, bool]],
        limit: int,
        *,
        count: bool,
        lazy: bool,
    ) -> dict:
        offset = max(0, q.marker("offset") or 0)
        if lazy:
            rows, _ = self._lazy_sorted(groups, filt, spec, offset + limit + 1)
        else:
            rows, _ = self._lazy_sorted([lambda: [r for g in groups for r in g()]], filt, spec, 2**62)
        return self._paged(request, rid, q, rows, limit, count=count)

    def _tickers_for(self, filt: _Filter, desc: bool) -> list[str]:
        names = sorted(p.ticker for p in self.market.profiles() if filt.match("ticker", p.ticker))
        return names[::-1] if desc else names

    def short_interest(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        fields = {
            "ticker": "str",
            "days_to_cover": "float",
            "settlement_date": "date",
            "avg_daily_volume": "int",
        }
        filt = _Filter(q, fields)
        limit = q.int("limit", 10, 1, 50_000)
        assert limit is not None
        spec = _new_sort(
            q,
            ("ticker", "settlement_date", "short_interest", "avg_daily_volume", "days_to_cover"),
            "ticker.asc",
        )
        lazy = spec[0][0] == "ticker"
        groups = [
            lambda t=t: list(self._short_interest(t)) for t in self._tickers_for(filt, lazy and spec[0][1])
        ]
        return self._stocks_page(request, rid, q, groups, filt, spec, limit, count=True, lazy=lazy)

    def short_volume(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        fields = {"ticker": "str", "date": "date", "short_volume_ratio": "float", "total_volume": "int"}
        filt = _Filter(q, fields)
        limit = q.int("limit", 10, 1, 50_000)
        assert limit is not None
        cols = (
            "ticker",
            "date",
            "short_volume",
            "exempt_volume",
            "non_exempt_volume",
            "total_volume",
            "short_volume_ratio",
            "nyse_short_volume",
            "nyse_short_volume_exempt",
            "nasdaq_carteret_short_volume",
            "nasdaq_carteret_short_volume_exempt",
            "nasdaq_chicago_short_volume",
            "nasdaq_chicago_short_volume_exempt",
            "adf_short_volume",
            "adf_short_volume_exempt",
        )
        spec = _new_sort(q, cols, "ticker.asc")
        primary, desc = spec[0]
        tickers = self._tickers_for(filt, primary == "ticker" and desc)
        days = [
            d for d in self.market.sessions() if d <= self.market.today and filt.match("date", d.isoformat())
        ]

        def rows_for(ts: list[str], ds: list[dt.date]) -> list[dict]:
            out = []
            for t in ts:
                for d in ds:
                    r = self.market.short_volume(t, d)
                    if r is not None:
                        out.append(_native(dict(sorted(r.items()))))
            return out

        if primary == "ticker":
            groups = [lambda t=t: rows_for([t], days) for t in tickers]
        elif primary == "date":
            ordered = days[::-1] if desc else days
            groups = [lambda d=d: rows_for(tickers, [d]) for d in ordered]
        else:
            groups = [lambda: rows_for(tickers, days)]
        return self._stocks_page(request, rid, q, groups, filt, spec, limit, count=True, lazy=True)

    def free_float(self, request: Request, rid: str) -> dict:
        q = self.params(request)
        filt = _Filter(q, {"ticker": "str", "free_float_percent": "float"})
        limit = q.int("limit", 100, 1, 5000)
        assert limit is not None
        spec = _new_sort(q, ("ticker", "effective_date", "free_float", "free_float_percent"), "ticker.asc")
        lazy = spec[0][0] == "ticker"

        def one(t: str) -> list[dict]:
            r = self.market.free_float(t)
            return [_native(dict(sorted(r.items())))] if r else []

        groups = [lambda t=t: one(t) for t in self._tickers_for(filt, lazy and spec[0][1])]
        return self._stocks_page(request, rid, q, groups, filt, spec, limit, count=False, lazy=lazy)

    # ----------------------------------------------------------------------------- market status
    def market_status_now(self, request: Request, rid: str) -> dict:
        now = self.now().astimezone(dt.UTC)
        et = now.astimezone(NY)
        sess = cal.session(et.date())
        state, early, after = "closed", False, False
        if sess is not None:
            if sess.market_open <= now < sess.market_close:
                state = "open"
            elif sess.pre_open <= now < sess.market_open:
                state, early = "extended-hours", True
            elif sess.market_close <= now < sess.post_close:
                state, after = "extended-hours", True
        wd = et.weekday()
        fx_closed = (wd == 4 and et.hour >= 17) or wd == 5 or (wd == 6 and et.hour < 17)
        index_state = "open" if state == "open" else "closed"
        groups = (
            "s_and_p",
            "societe_generale",
            "msci",
            "ftse_russell",
            "mstar",
            "mstarc",
            "cccy",
            "cgi",
            "nasdaq",
            "dow_jones",
        )
        return {
            "market": state,
            "earlyHours": early,
            "afterHours": after,
            "serverTime": et.replace(microsecond=0).isoformat(),
            "exchanges": {"nyse": state, "nasdaq": state, "otc": state},
            "currencies": {"fx": "closed" if fx_closed else "open", "crypto": "open"},
            "indicesGroups": dict.fromkeys(groups, index_state),
        }

    def market_status_upcoming(self, request: Request, rid: str) -> list[dict]:
        today = self.now().astimezone(NY).date()
        horizon = today + dt.timedelta(days=365)
        names = _holiday_names(today.year)
        events: list[tuple[dt.date, str, cal.Session | None]] = []
        for d in cal.holidays(today, horizon):
            events.append((d, names.get(d, "Market Holiday"), None))
        for d in cal.trading_days(today, horizon):
            sess = cal.session(d)
            if sess is not None and sess.early_close:
                events.append((d, names.get(d, "Early Close"), sess))
        out = []
        for d, name, sess in sorted(events, key=lambda e: e[0]):
            for exchange in ("NYSE", "NASDAQ", "OTC"):
                row = {
                    "exchange": exchange,
                    "name": name,
                    "date": d.isoformat(),
                    "status": "closed" if sess is None else "early-close",
                }
                if sess is not None:
                    row["open"] = _utc_ms_text(sess.market_open)
                    row["close"] = _utc_ms_text(sess.market_close)
                out.append(row)
        return out


_VENDOR_HOLIDAY_NAMES = (
    ("new year", "New Years Day"),
    ("luther king", "Martin Luther King, Jr. Day"),
    ("president", "Washington's Birthday"),
    ("washington", "Washington's Birthday"),
    ("good friday", "Good Friday"),
    ("memorial", "Memorial Day"),
    ("juneteenth", "Juneteenth"),
    ("july 4", "Independence Day"),
    ("independence", "Independence Day"),
    ("labor", "Labor Day"),
    ("thanksgiving", "Thanksgiving"),
    ("black friday", "Thanksgiving"),
    ("christmas", "Christmas"),
)


@lru_cache(maxsize=8)
def _holiday_names(year: int) -> dict[dt.date, str]:
    """Holiday and early-close names from pandas_market_calendars, mapped onto the vendor's wording."""
    names: dict[dt.date, str] = {}
    try:
        import pandas_market_calendars as mcal

        nyse = mcal.get_calendar("NYSE")
        start, end = f"{year}-01-01", f"{year + 2}-12-31"
        calendars = [nyse.regular_holidays] + [c for _, c in getattr(nyse, "special_closes", [])]
        for hc in calendars:
            try:
                series = hc.holidays(start=start, end=end, return_name=True)
            except Exception:
                continue
            for ts, raw in series.items():
                low = str(raw).lower()
                name = next((v for k, v in _VENDOR_HOLIDAY_NAMES if k in low), str(raw))
                names.setdefault(ts.date(), name)
    except Exception:  # the calendar package is optional for names; dates come from smallcaps_assets.calendar
        log.warning("holiday names unavailable", exc_info=True)
    return names


# ---------------------------------------------------------------------------------------------------------
# Gateway: unknown routes, auth, faults
# ---------------------------------------------------------------------------------------------------------


def _api_key(scope: dict) -> str | None:
    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if k == "apiKey" and v:
            return v
    auth = Headers(scope=scope).get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


class _Gateway:
    """ASGI middleware in front of the routes: 404 for unknown paths, 401, then the configured faults."""

    def __init__(self, app: Any, api: _Api, journal: str | None = None):
        self.app = app
        self.api = api
        # O_APPEND + one write per line: lines from several workers or processes never interleave
        self._journal = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if journal else None

    def _log_request(self, scope: dict) -> None:
        qs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        query = urlencode([(k, v) for k, v in qs if k != "apiKey"])  # never a key in the journal
        os.write(self._journal, f"{scope.get('path', '')}?{query}\n".encode("utf-8", "replace"))

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._journal is not None:
            self._log_request(scope)
        api = self.api
        rid = api.request_id(scope)
        scope["sim.request_id"] = rid
        if not api.routed(scope):
            await PlainTextResponse("404 page not found", status_code=404)(scope, receive, send)
            return
        key = _api_key(scope)
        if key is None:
            await api.error_response(ApiError(401, "API Key was not provided"), rid)(scope, receive, send)
            return
        if api.keys is not None and key not in api.keys:
            await api.error_response(ApiError(401, "Unknown API Key"), rid)(scope, receive, send)
            return
        f = api.faults
        if f is None:
            await self.app(scope, receive, send)
            return
        draw = api.draw()
        wait = api.take_token(key)
        if draw.latency_s > 0:
            await asyncio.sleep(draw.latency_s)
        if wait:
            resp = api.error_response(ApiError(429, RATE_LIMIT_MESSAGE), rid, {"Retry-After": str(wait)})
            await resp(scope, receive, send)
            return
        if draw.u429 < f.too_many_requests_rate:
            resp = api.error_response(ApiError(429, RATE_LIMIT_MESSAGE), rid, {"Retry-After": "1"})
            await resp(scope, receive, send)
            return
        if draw.u5xx < f.error_rate:
            await self._server_error(draw.code, rid)(scope, receive, send)
            return
        if draw.utimeout < f.timeout_rate:
            await asyncio.sleep(f.timeout_seconds)
        if draw.utrunc < f.truncate_rate:
            await self._truncated(scope, receive, send, draw.cut)
            return
        await self.app(scope, receive, send)

    def _server_error(self, code: int, rid: str) -> Response:
        if code == 500:
            return self.api.error_response(ApiError(500, "Internal server error"), rid)
        text = {502: "Bad Gateway", 503: "Service Temporarily Unavailable", 504: "Gateway Time-out"}[code]
        html = (
            f"<html>\r\n<head><title>{code} {text}</title></head>\r\n<body>\r\n"
            f"<center><h1>{code} {text}</h1></center>\r\n</body>\r\n</html>\r\n"
        )
        headers = {"Retry-After": "1"} if code == 503 else None
        return Response(html, status_code=code, media_type="text/html", headers=headers)

    async def _truncated(self, scope: dict, receive: Any, send: Any, cut: float) -> None:
        """Run the route, then cut a 200 body short (Content-Length matches the cut body)."""
        messages: list[dict] = []

        async def capture(message: dict) -> None:
            messages.append(message)

        await self.app(scope, receive, capture)
        start = next(m for m in messages if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        if start["status"] == 200 and len(body) > 1:
            body = body[: max(1, min(len(body) - 1, int(len(body) * (0.2 + 0.6 * cut))))]
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            start = {**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await send(start)
        await send({"type": "http.response.body", "body": body, "more_body": False})


def create_app(
    market: SimMarket,
    *,
    api_keys: set[str] | None = None,
    faults: ApiFaults | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    request_log: str | None = None,
) -> Starlette:
    """The vendor REST API over ``market``.

    ``api_keys``: accepted keys (None: any non-empty key). ``faults``: injected API faults (None or the
    defaults: none). ``clock``: the wall clock for market status and ``/prev`` (default: real UTC time).
    ``request_log`` (default: env ``SMALLCAPS_SIM_REQUEST_LOG``): a file that gets one line
    ``path?query`` (``apiKey`` removed) per request received, to audit what a client asked for.
    """
    request_log = request_log or os.environ.get(REQUEST_LOG_ENV) or None
    api = _Api(market, api_keys, faults, clock)
    app = Starlette(
        routes=api.routes,
        middleware=[
            Middleware(
                GZipMiddleware, minimum_size=500, compresslevel=1
            ),  # level 1: ~3x less CPU, ~15% larger
            Middleware(_Gateway, api=api, journal=request_log),
        ],
    )
    app.state.sim_api = api
    return app

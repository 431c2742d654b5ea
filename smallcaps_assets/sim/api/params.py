"""Request input with the vendor's validation: query parameters, cursors, tickers, dates and timestamps.

Every refusal is an ``ApiError`` (400 unless said otherwise) whose text quotes the offending value,
cut short, so hostile input stays harmless in the answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from collections.abc import Iterable
from urllib.parse import urlencode

from .times import MAX_MS, MAX_NS, NS, midnight_ms, midnight_ns

_TICKER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:\-]{0,23}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
INT_RE = re.compile(r"^\d{1,19}$")
SIGNED_INT_RE = re.compile(r"^-?\d{1,19}$")
_RFC3339_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+\- ]\d{2}:\d{2})$"
)
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_\-]{1,8192}={0,2}$")


class ApiError(Exception):
    """An answer other than 200: ``status`` ERROR uses the ``error`` key, the others ``message``."""

    def __init__(self, http_status: int, text: str, status: str = "ERROR"):
        super().__init__(text)
        self.http_status = http_status
        self.text = text
        self.status = status


def bad(text: str) -> ApiError:
    """A 400 answer."""
    return ApiError(400, text)


def show(value: str) -> str:
    """A user value for an error message: quoted and cut short (hostile input stays harmless)."""
    return json.dumps(value[:64] + ("..." if len(value) > 64 else ""))


def b64(text: str) -> str:
    """A cursor: unpadded base64url."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def unb64(text: str) -> str:
    if not _CURSOR_RE.match(text):
        raise bad("Invalid cursor")
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad("Invalid cursor") from exc


def iso_date(text: str, name: str) -> dt.date:
    if not DATE_RE.match(text):
        raise bad(f"Invalid value for {name}: {show(text)}; expected a date formatted as YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise bad(f"Invalid value for {name}: {show(text)}; not a valid calendar date") from exc


def valid_ticker(text: str) -> str:
    """A ticker path segment, or 400."""
    if not _TICKER_RE.match(text):
        raise bad(f"Invalid ticker {show(text)}")
    return text


def parse_ts(text: str, name: str) -> tuple[int, int]:
    """A trades/quotes timestamp as an inclusive ns range: a whole ET day, or a single instant."""
    if DATE_RE.match(text):
        d = iso_date(text, name)
        first, last = _whole_day(d, text, name, midnight_ns)
        if last > MAX_NS:
            raise bad(f"Invalid value for {name}: {show(text)}; out of range")
        return first, last
    if INT_RE.match(text):
        n = int(text)
        if n > MAX_NS:
            raise bad(f"Invalid value for {name}: {show(text)}; out of range")
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
            raise bad(f"Invalid value for {name}: {show(text)}; not a valid date-time") from exc
        n = int(base.timestamp()) * NS + int((frac or "").ljust(9, "0"))
        if not 0 <= n <= MAX_NS:
            raise bad(f"Invalid value for {name}: {show(text)}; out of range")
        return n, n
    raise bad(
        f"Invalid value for {name}: {show(text)}; "
        "expected YYYY-MM-DD, integer nanoseconds or an RFC3339 timestamp"
    )


def _whole_day(d: dt.date, text: str, name: str, midnight) -> tuple[int, int]:
    """The first and last tick of ET day ``d`` in ``midnight``'s unit; 400 past the calendar's end
    (the day after 9999-12-31 does not exist, and its overflow must not become a 500)."""
    try:
        return midnight(d), midnight(d + dt.timedelta(days=1)) - 1
    except OverflowError as exc:
        raise bad(f"Invalid value for {name}: {show(text)}; out of range") from exc


def agg_bound(text: str, name: str, end: bool) -> int:
    """An aggregates ``from``/``to`` path segment as ms: a date (whole ET day) or a ms timestamp."""
    if DATE_RE.match(text):
        d = iso_date(text, name)
        first, last = _whole_day(d, text, name, midnight_ms)
        if last > MAX_MS:
            raise bad(f"Invalid value for {name}: {show(text)}; out of range")
        return last if end else first
    if INT_RE.match(text):
        n = int(text)
        if n > MAX_MS:
            raise bad(f"Invalid value for {name}: {show(text)}; out of range")
        return n
    raise bad(f"Invalid value for {name}: {show(text)}; expected YYYY-MM-DD or a millisecond timestamp")


class Params:
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
        raise bad(f"Invalid value for {name}: {show(v)}; expected true or false")

    def int(self, name: str, default: int | None, lo: int, hi: int) -> int | None:
        v = self.map.get(name)
        if v is None or v == "":
            return default
        if not SIGNED_INT_RE.match(v):
            raise bad(f"Invalid value for {name}: {show(v)}; expected an integer")
        n = int(v)
        if not lo <= n <= hi:
            raise bad(f"Invalid value for {name}: {n}; must be between {lo} and {hi}")
        return n

    def limit(self, default: int, maximum: int) -> int:
        """``limit`` in [1, maximum]."""
        n = self.int("limit", default, 1, maximum)
        assert n is not None
        return n

    def enum(self, name: str, choices: Iterable[str], default: str | None) -> str | None:
        v = self.map.get(name)
        if v is None or v == "":
            return default
        choices = tuple(choices)
        if v not in choices:
            raise bad(f"Invalid value for {name}: {show(v)}; expected one of {', '.join(choices)}")
        return v

    def date(self, name: str) -> dt.date | None:
        v = self.str(name)
        return None if v is None else iso_date(v, name)

    def ns_range(self, name: str, lo: int, hi: int) -> tuple[int, int]:
        """[lo, hi] (inclusive ns) narrowed by ``name`` and ``name.gte|gt|lte|lt`` (see ``parse_ts``)."""
        for suffix in ("", ".gte", ".gt", ".lte", ".lt"):
            key = f"{name}{suffix}"
            v = self.str(key)
            if v is None:
                continue
            s, e = parse_ts(v, key)
            if suffix in ("", ".gte"):
                lo = max(lo, s)
            if suffix in ("", ".lte"):
                hi = min(hi, e)
            if suffix == ".gt":
                lo = max(lo, e + 1)
            if suffix == ".lt":
                hi = min(hi, s - 1)
        return lo, hi

    def marker(self, name: str) -> int | None:
        """An integer page marker; honoured only when it came from our own cursor."""
        if not self.from_cursor or name not in self.map:
            return None
        v = self.map[name]
        if not SIGNED_INT_RE.match(v):
            raise bad("Invalid cursor")
        return int(v)

    def cursor(self, **markers: object) -> str:
        keep = [(k, v) for k, v in self.items if k not in markers]
        return b64(urlencode(keep + [(k, str(v)) for k, v in markers.items()]))

"""Row filters and sorting shared by the reference and ``/stocks`` endpoints."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from .params import SIGNED_INT_RE, Params, bad, iso_date, show


def parse_value(kind: str, text: str, name: str) -> Any:
    """A filter value of ``kind`` (``date``, ``float``, ``int`` or ``str``)."""
    if kind == "date":
        return iso_date(text, name).isoformat()
    if kind == "float":
        try:
            x = float(text)
        except ValueError as exc:
            raise bad(f"Invalid value for {name}: {show(text)}; expected a number") from exc
        if not math.isfinite(x):
            raise bad(f"Invalid value for {name}: {show(text)}; expected a finite number")
        return x
    if kind == "int":
        if not SIGNED_INT_RE.match(text):
            raise bad(f"Invalid value for {name}: {show(text)}; expected an integer")
        return int(text)
    return text


class Filter:
    """``field``, ``field.any_of`` and ``field.gt|gte|lt|lte`` filters over row dicts."""

    def __init__(self, q: Params, fields: dict[str, str], any_of: bool = True):
        self.preds: dict[str, list[Callable[[Any], bool]]] = {}
        for name, kind in fields.items():
            preds: list[Callable[[Any], bool]] = []
            v = q.str(name)
            if v is not None:
                x = parse_value(kind, v, name)
                preds.append(lambda a, x=x: a == x)
            if any_of and (v := q.str(f"{name}.any_of")) is not None:
                xs = {
                    parse_value(kind, part.strip(), f"{name}.any_of") for part in v.split(",") if part.strip()
                }
                preds.append(lambda a, xs=xs: a in xs)
            for op, fn in (("gt", "__gt__"), ("gte", "__ge__"), ("lt", "__lt__"), ("lte", "__le__")):
                if (v := q.str(f"{name}.{op}")) is not None:
                    x = parse_value(kind, v, f"{name}.{op}")
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


def sort_rows(rows: list[dict], spec: list[tuple[str, bool]]) -> list[dict]:
    """Stable multi-key sort; missing values sort last in both directions."""
    out = list(rows)
    for col, desc in reversed(spec):
        present = [r for r in out if r.get(col) is not None]
        missing = [r for r in out if r.get(col) is None]
        present.sort(key=lambda r, c=col: r[c], reverse=desc)
        out = present + missing
    return out


def new_sort(q: Params, columns: Iterable[str], default: str) -> list[tuple[str, bool]]:
    """``sort=col.asc,col2.desc`` as used by the ``/stocks/v1`` and ``/stocks/vX`` endpoints."""
    text = q.str("sort") or default
    cols = set(columns)
    spec: list[tuple[str, bool]] = []
    for part in text.split(","):
        part = part.strip()
        col, _, direction = part.rpartition(".") if part.endswith((".asc", ".desc")) else (part, "", "asc")
        if col not in cols:
            raise bad(f"Invalid value for sort: {show(part)}; sortable columns are {', '.join(sorted(cols))}")
        spec.append((col, direction == "desc"))
    return spec

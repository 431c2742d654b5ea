"""Per-endpoint API usage counters, reported as Dagster-friendly metadata.

Counters are keyed by the endpoint *template* (``/v3/trades/{ticker}``), never by the concrete
path, so a run that fetched 3,000 tickers reports one row per endpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields

__all__ = ["ApiUsage", "EndpointUsage"]


@dataclass
class EndpointUsage:
    """Counters of one endpoint template.

    - ``calls``: logical requests (one client method call, however many pages and retries);
    - ``http_requests``: HTTP attempts sent (retries included; each one took a rate-limit token);
    - ``pages``: successful responses (pages of a paginated call);
    - ``retries``: attempts that failed and were tried again;
    - ``http_429``, ``http_5xx``: responses with those statuses;
    - ``timeouts``: attempts that hit the timeout;
    - ``bad_bodies``: truncated or invalid JSON bodies;
    - ``bytes``: response body bytes received (as sent on the wire, i.e. compressed);
    - ``seconds``: wall-clock seconds spent in calls (rate-limit waits and backoff included).
    """

    calls: int = 0
    http_requests: int = 0
    pages: int = 0
    retries: int = 0
    http_429: int = 0
    http_5xx: int = 0
    timeouts: int = 0
    bad_bodies: int = 0
    bytes: int = 0
    seconds: float = 0.0

    def add(self, other: EndpointUsage) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def as_dict(self) -> dict[str, int | float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


COUNTERS: tuple[str, ...] = tuple(f.name for f in fields(EndpointUsage))
# The totals an asset's metadata carries: metadata key -> counter.
TOTALS: dict[str, str] = {
    "api_calls": "calls",
    "api_requests": "http_requests",
    "api_retries": "retries",
    "api_429": "http_429",
    "api_5xx": "http_5xx",
    "api_bytes": "bytes",
    "api_seconds": "seconds",
}


class ApiUsage:
    """Usage by endpoint template. Safe to share between tasks of a loop and between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: dict[str, EndpointUsage] = {}

    def record(self, endpoint: str, **increments: int | float) -> None:
        """Add ``increments`` (counter name -> amount) to ``endpoint``'s counters."""
        with self._lock:
            row = self._by_endpoint.get(endpoint)
            if row is None:
                row = self._by_endpoint[endpoint] = EndpointUsage()
            for name, amount in increments.items():
                setattr(row, name, getattr(row, name) + amount)

    def endpoints(self) -> dict[str, EndpointUsage]:
        """A snapshot copy, sorted by endpoint."""
        with self._lock:
            return {k: EndpointUsage(**v.as_dict()) for k, v in sorted(self._by_endpoint.items())}

    def __getitem__(self, endpoint: str) -> EndpointUsage:
        """A snapshot of one endpoint's counters (zeros if it was never called)."""
        with self._lock:
            row = self._by_endpoint.get(endpoint)
            return EndpointUsage(**row.as_dict()) if row else EndpointUsage()

    def merge(self, other: ApiUsage) -> ApiUsage:
        """Add ``other``'s counters into this one (in place); returns self."""
        for endpoint, row in other.endpoints().items():
            self.record(endpoint, **row.as_dict())
        return self

    def total(self) -> EndpointUsage:
        out = EndpointUsage()
        for row in self.endpoints().values():
            out.add(row)
        return out

    def as_metadata(self) -> dict[str, int | float]:
        """The run's totals under short keys (``api_calls``, ``api_requests``, ``api_retries``,
        ``api_429``, ``api_5xx``, ``api_bytes``, ``api_seconds``); the per-endpoint counters live
        in :meth:`as_table`. One flat key per endpoint and counter (up to 47 on one asset) buried
        the few figures a reader looks for."""
        t = self.total()
        return {
            key: round(getattr(t, name), 3) if name == "seconds" else getattr(t, name)
            for key, name in TOTALS.items()
        }

    def as_table(self) -> str:
        """A Markdown table, one row per endpoint plus a total (for ``MetadataValue.md``)."""
        header = ["endpoint", *COUNTERS]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        rows = [*self.endpoints().items(), ("**total**", self.total())]
        for endpoint, row in rows:
            cells = [f"`{endpoint}`" if not endpoint.startswith("**") else endpoint]
            for name, value in row.as_dict().items():
                cells.append(f"{value:.3f}" if name == "seconds" else str(value))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.total()
        return (
            f"ApiUsage(endpoints={len(self.endpoints())}, calls={t.calls}, "
            f"http_requests={t.http_requests}, retries={t.retries})"
        )

"""The client's errors: ``PolygonError`` (raised to callers) and ``RetryableError`` (internal: try again)."""

from __future__ import annotations

from typing import Any

__all__ = ["PolygonError", "RetryableError"]


class PolygonError(Exception):
    """A request the vendor refused, or one that kept failing after every retry.

    - ``status``: HTTP status (``None`` when no response came back: timeouts, transport errors);
    - ``vendor_status``: the body's ``status`` (``ERROR``, ``NOT_AUTHORIZED``, ``NOT_FOUND``) if any;
    - ``message``: the body's ``error`` or ``message`` (or the start of a non-JSON body);
    - ``request_id``: the body's ``request_id``, else the ``X-Request-Id`` header;
    - ``endpoint``: the endpoint template (``/v3/trades/{ticker}``); ``path`` the concrete path;
    - ``attempts``: HTTP attempts made for this request.
    """

    def __init__(
        self,
        status: int | None,
        vendor_status: str | None,
        message: str,
        request_id: str | None,
        endpoint: str,
        *,
        path: str | None = None,
        attempts: int = 1,
    ):
        super().__init__(status, vendor_status, message, request_id, endpoint)
        self.status = status
        self.vendor_status = vendor_status
        self.message = message
        self.request_id = request_id
        self.endpoint = endpoint
        self.path = path or endpoint
        self.attempts = attempts

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_error,
            (self.status, self.vendor_status, self.message, self.request_id, self.endpoint, self.path),
        )

    def __str__(self) -> str:
        status = "no response" if self.status is None else f"HTTP {self.status}"
        vendor = f" {self.vendor_status}" if self.vendor_status else ""
        rid = f" (request_id={self.request_id})" if self.request_id else ""
        tries = f" after {self.attempts} attempts" if self.attempts > 1 else ""
        return f"{status}{vendor} on GET {self.path}{tries}: {self.message}{rid}"


def _rebuild_error(*args: Any) -> PolygonError:
    status, vendor_status, message, request_id, endpoint, path = args
    return PolygonError(status, vendor_status, message, request_id, endpoint, path=path)


class RetryableError(Exception):
    """Internal: this attempt failed in a way worth another try."""

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        vendor_status: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.vendor_status = vendor_status
        self.request_id = request_id
        self.retry_after = retry_after

"""A process-wide, asyncio-friendly token bucket, shared per vendor account.

The vendor limits an *account*, not a client object, so every ``PolygonClient`` of the process that
talks to the same ``(base_url, key)`` draws from one bucket. The bucket is a GCRA ("virtual
scheduling") limiter: each ``acquire`` reserves the next free slot under a short ``threading.Lock``
(never held across an ``await``) and then sleeps until that slot. No thread per request, no asyncio
primitive bound to one event loop, so it also works when several threads each run their own loop.

Reservations alone keep the long-run rate but not the short-run one: when the event loop is busy
(parsing a large page) sleepers whose slots passed all wake at once and would leave together,
which a server counting arrivals answers with 429s (seen at 100 req/s on a loaded 2-core box).
So every token also passes a dispatch gate, a classic token bucket evaluated at the moment of
sending, which spaces such late wakers back out to the configured rate and burst.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` available at once.

    ``acquire`` never refuses: it waits. Waiters are served in the order they reserved. A
    ``pause(seconds)`` (used for a 429 with ``Retry-After``) delays every later reservation and drops
    the saved-up burst, so the account resumes at the steady rate rather than with a new burst.
    """

    def __init__(self, rate: float, burst: int = 1, *, clock: Callable[[], float] = time.monotonic):
        if not rate > 0:
            raise ValueError(f"rate must be > 0, got {rate!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next request
        self.rate = float(rate)
        self.burst = int(burst)
        self._tokens = float(burst)  # the dispatch gate's bucket
        self._last = clock()

    @property
    def interval(self) -> float:
        return 1.0 / self.rate

    def configure(self, rate: float, burst: int) -> None:
        """Adopt a new setting; reservations already made keep their slots."""
        if not rate > 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got {rate!r}, {burst!r}")
        with self._lock:
            self.rate = float(rate)
            self.burst = int(burst)

    def reserve(self) -> float:
        """Reserve one token; return how many seconds to wait before using it."""
        with self._lock:
            now = self._clock()
            interval = 1.0 / self.rate
            tau = (self.burst - 1) * interval
            tat = max(self._tat, now)
            ready = max(now, tat - tau)
            self._tat = tat + interval
            return ready - now

    def refund(self) -> None:
        """Give back a reserved token that was never used (the waiter was cancelled)."""
        with self._lock:
            self._tat = max(self._clock(), self._tat - 1.0 / self.rate)

    def pause(self, seconds: float) -> None:
        """No token is granted for ``seconds`` from now, and the burst allowance is spent."""
        with self._lock:
            now = self._clock()
            tau = (self.burst - 1) / self.rate
            self._tat = max(self._tat, now + seconds + tau)
            self._tokens = 0.0
            self._last = max(self._last, now + seconds)

    def _dispatch(self) -> float:
        """Take a token from the dispatch gate: 0 when taken, else the seconds to wait first."""
        with self._lock:
            now = self._clock()
            if now >= self._last:
                self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1.0 - 1e-9:  # float dust must not cost a sleep
                    self._tokens -= 1.0
                    return 0.0
            return max(self._last - now, 0.0) + max(0.0, 1.0 - self._tokens) / self.rate

    async def acquire(self, sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> float:
        """Wait for one token; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            try:
                await sleep(wait)
            except asyncio.CancelledError:
                self.refund()
                raise
        while (extra := self._dispatch()) > 0:
            await sleep(extra)
            wait += extra
        return wait

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self.rate:g}/s, burst={self.burst})"

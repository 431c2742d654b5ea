"""The process-wide token bucket of each vendor account.

The vendor limits an *account*, not a client object, so every ``PolygonClient`` of the process that
talks to the same ``(base_url, key)`` draws from one bucket (``bucket_for``). The bucket itself, a
GCRA limiter with a dispatch gate, is ``token_bucket.TokenBucket``; with ``SHARED_STATE_ENV`` set
the account's bucket lives in PostgreSQL and every process shares it (``ratelimit_pg``).
"""

from __future__ import annotations

import hashlib
import os
import threading

# The bucket lives in its own module so the shared (PostgreSQL) bucket can extend it without an
# import cycle through this registry.
from .token_bucket import TokenBucket

__all__ = ["SHARED_STATE_ENV", "TokenBucket", "bucket_for", "key_fingerprint", "reset_buckets"]

# A PostgreSQL URL: the working state that runs on several machines share (the account's token
# bucket here, the event-window ledger in stages/windows_pg.py). Unset: per-process buckets.
SHARED_STATE_ENV = "SMALLCAPS_SHARED_STATE_URL"

_BUCKETS: dict[tuple[str, str], TokenBucket] = {}
_BUCKETS_LOCK = threading.Lock()


def key_fingerprint(api_key: str) -> str:
    """A short, non-reversible tag of a key (registry key; never the key itself)."""
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def bucket_for(base_url: str, api_key: str, rate: float, burst: int) -> TokenBucket:
    """The process-wide bucket of account ``(base_url, key)``, created on first use.

    With ``SMALLCAPS_SHARED_STATE_URL`` set it is the account's bucket in that PostgreSQL database
    (:class:`ratelimit_pg.SharedTokenBucket`), shared by every process on every machine.

    A later client with a different ``rate``/``burst`` reconfigures the shared bucket (the newest
    setting wins), so one test or job with a special limit does not slow the rest of the process
    for good.
    """
    ident = (base_url.rstrip("/").lower(), key_fingerprint(api_key))
    with _BUCKETS_LOCK:
        bucket = _BUCKETS.get(ident)
        if bucket is None:
            shared = os.environ.get(SHARED_STATE_ENV)
            if shared:
                from .ratelimit_pg import SharedTokenBucket

                bucket = SharedTokenBucket(shared, "|".join(ident), rate, burst)
            else:
                bucket = TokenBucket(rate, burst)
            _BUCKETS[ident] = bucket
        else:
            bucket.configure(rate, burst)
        return bucket


def reset_buckets() -> None:
    """Forget every shared bucket (tests)."""
    with _BUCKETS_LOCK:
        _BUCKETS.clear()

"""The account's token bucket in PostgreSQL: one limit for every process on every machine.

The in-process bucket (:class:`ratelimit.TokenBucket`) is a GCRA limiter whose whole state is one
number, the theoretical arrival time (TAT) of the next request. Here that number is a row of
``smallcaps.rate_buckets``, one per account, and each reservation is one ``UPDATE ... RETURNING``
that moves it on by one interval and answers how long to wait, on the database server's clock.
The row lock serialises the reservations of every process, so the requests of all of them
together are spaced as one process's would be: the account-wide rate is the configured rate
whatever the number of runs, pools or machines. A 429's ``Retry-After`` pauses the whole account.

Each process keeps the local dispatch gate of :class:`TokenBucket` (it only delays), and one
connection, used under the bucket's lock. A reservation costs one round trip to the database
(about 0.3 ms on a local network), far below the interval at the vendor's rates.
"""

from __future__ import annotations

import re

from .token_bucket import TokenBucket

DEFAULT_SCHEMA = "smallcaps"
_NOW = "extract(epoch FROM clock_timestamp())::float8"


class SharedTokenBucket(TokenBucket):
    """``rate`` tokens per second for ``account``, shared through the database at ``url``."""

    def __init__(self, url: str, account: str, rate: float, burst: int = 1, schema: str = DEFAULT_SCHEMA):
        import psycopg2

        super().__init__(rate, burst)
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"rate-limit schema {schema!r} is not a plain lower-case identifier")
        self.account = account
        self.table = f"{schema}.rate_buckets"
        self._db = psycopg2.connect(url, application_name="smallcaps rate limit")
        self._db.autocommit = True
        with self._db.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext('smallcaps.rate_buckets'))")  # concurrent creators
            try:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                cur.execute(
                    f"CREATE TABLE IF NOT EXISTS {self.table}"
                    " (account TEXT PRIMARY KEY, tat DOUBLE PRECISION NOT NULL)"
                )
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext('smallcaps.rate_buckets'))")
            cur.execute(
                f"INSERT INTO {self.table} VALUES (%s, 0) ON CONFLICT (account) DO NOTHING", (account,)
            )

    def _update(self, set_tat: str, returning: str, **args: float) -> float:
        with self._lock, self._db.cursor() as cur:
            cur.execute(
                f"WITH n AS (SELECT {_NOW} AS now) UPDATE {self.table} b SET tat = {set_tat}"
                f" FROM n WHERE b.account = %(account)s RETURNING {returning}",
                {"account": self.account, **args},
            )
            return float(cur.fetchone()[0])

    def reserve(self) -> float:
        """Reserve the account's next slot; the seconds to wait for it (server clock)."""
        interval = 1.0 / self.rate
        return self._update(
            "greatest(b.tat, n.now) + %(interval)s",
            # b.tat is the new TAT here: this request's slot is one interval before it
            "greatest(0, b.tat - %(interval)s - %(tau)s - n.now)",
            interval=interval,
            tau=(self.burst - 1) * interval,
        )

    def refund(self) -> None:
        self._update("greatest(n.now, b.tat - %(interval)s)", "0", interval=1.0 / self.rate)

    def pause(self, seconds: float) -> None:
        self._update(
            "greatest(b.tat, n.now + %(seconds)s + %(tau)s)",
            "0",
            seconds=seconds,
            tau=(self.burst - 1) / self.rate,
        )
        super().pause(seconds)  # and the local dispatch gate: its saved burst is spent

    def close(self) -> None:
        self._db.close()

    def __repr__(self) -> str:
        return f"SharedTokenBucket(rate={self.rate:g}/s, burst={self.burst}, account={self.account!r})"

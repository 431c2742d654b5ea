"""The event-window ledger in PostgreSQL, shared by every run on every machine (no Dagster).

Same rows as the SQLite ledger (:class:`windows.WindowLedger`), in table ``event_windows`` of its
own schema (default ``smallcaps``), so it can live in the Dagster instance's database without
touching Dagster's tables. What sharing adds:

- **A window is fetched once however many runs want it.** Before fetching, a run claims the
  window with a session-level advisory lock on a 64-bit hash of (event_id, request_key)
  (``pg_try_advisory_lock``): a run that cannot get it leaves the window to the holder and waits
  for its row (``windows.download``). After getting it, the run looks again for the row, which a
  holder that has just finished has written.
- **A killed run resumes in the others.** An advisory lock belongs to the database session: when
  a run dies (``kill -9`` included) its connection closes, the server ends the session and its
  claims are free, so a waiting run takes those windows over. Finished windows were committed one
  by one (autocommit), so nothing finished is lost.
- **Deterministic files.** Each day's files are assembled from the rows and sorted
  (``LedgerBase.assemble``), so every run and every machine writes the same bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable

from .windows import ASSEMBLY_COLUMNS, LEDGER_COLUMNS, EventWindow, LedgerBase, WindowResult, ledger_row

DEFAULT_SCHEMA = "smallcaps"


def claim_key(window: EventWindow) -> int:
    """The advisory-lock key of a window: a signed 64-bit hash of what was asked for."""
    digest = hashlib.sha256(f"event_windows|{window.event_id}|{window.request_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PostgresWindowLedger(LedgerBase):
    """The shared ledger at ``url`` (``postgresql://user:password@host:port/db``)."""

    def __init__(self, url: str, schema: str = DEFAULT_SCHEMA):
        import psycopg2

        if not re.fullmatch(r"[a-z_][a-z0-9_]*", schema):
            raise ValueError(f"ledger schema {schema!r} is not a plain lower-case identifier")
        self.table = f"{schema}.event_windows"
        self._db = psycopg2.connect(url, application_name="smallcaps event_windows")
        self._db.autocommit = True  # each record is its own transaction: committed as it finishes
        with self._db.cursor() as cur:
            # Two runs starting at once may both create: the second waits on the first's lock.
            cur.execute("SELECT pg_advisory_lock(hashtext('smallcaps.event_windows'))")
            try:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                cur.execute(
                    f"""CREATE TABLE IF NOT EXISTS {self.table} (
                        event_id TEXT NOT NULL,
                        request_key TEXT NOT NULL,
                        day DATE NOT NULL,
                        symbol TEXT NOT NULL,
                        outcome TEXT NOT NULL,
                        trades BIGINT NOT NULL,
                        quotes BIGINT NOT NULL,
                        raw_quotes BIGINT NOT NULL,
                        manifest_sha256 TEXT NOT NULL,
                        finished_utc TEXT NOT NULL,
                        trades_ipc BYTEA NOT NULL,
                        quotes_ipc BYTEA NOT NULL,
                        PRIMARY KEY (event_id, request_key)
                    )"""
                )
                cur.execute(f"CREATE INDEX IF NOT EXISTS event_windows_day ON {self.table} (day)")
            finally:
                cur.execute("SELECT pg_advisory_unlock(hashtext('smallcaps.event_windows'))")

    def close(self) -> None:
        self._db.close()  # ends the session: any claim still held is freed

    def _query(self, sql: str, args: tuple = ()) -> list[tuple]:
        with self._db.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def _keys(self, days: list[str]) -> Iterable[tuple[str, str]]:
        return self._query(
            f"SELECT event_id, request_key FROM {self.table} WHERE day = ANY(%s::date[])", (days,)
        )

    def _rows(self, days: list[str]) -> Iterable[tuple]:
        return self._query(
            f"SELECT {ASSEMBLY_COLUMNS} FROM {self.table} WHERE day = ANY(%s::date[])", (days,)
        )

    def record(self, result: WindowResult, manifest_sha256: str) -> None:
        import psycopg2

        row = list(ledger_row(result, manifest_sha256))
        row[-2:] = [psycopg2.Binary(row[-2]), psycopg2.Binary(row[-1])]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in LEDGER_COLUMNS.replace(" ", "").split(",")[2:])
        with self._db.cursor() as cur:
            cur.execute(
                f"INSERT INTO {self.table} ({LEDGER_COLUMNS}) VALUES ({','.join(['%s'] * len(row))})"
                f" ON CONFLICT (event_id, request_key) DO UPDATE SET {updates}",
                row,
            )

    def count(self, day: dt.date | None = None) -> int:
        if day is None:
            return self._query(f"SELECT count(*) FROM {self.table}")[0][0]
        return self._query(f"SELECT count(*) FROM {self.table} WHERE day = %s", (day,))[0][0]

    def claim(self, window: EventWindow) -> bool:
        return bool(self._query("SELECT pg_try_advisory_lock(%s)", (claim_key(window),))[0][0])

    def release(self, window: EventWindow) -> None:
        self._query("SELECT pg_advisory_unlock(%s)", (claim_key(window),))

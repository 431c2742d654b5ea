"""Event-window trades and quotes: the resumable, rate-limit-saturating downloader (no Dagster).

For every manifest event, one ``/v3/trades`` and one ``/v3/quotes`` call over the event's window
(``limit=50000``, so a window is one page unless it holds more than 50,000 prints; more pages are
followed through ``next_url``). That is 2 requests per event, the floor.

How it saturates the rate limit: a fixed pool of asyncio workers (no thread per request) pulls
events from a queue; each worker issues its event's two calls concurrently. The client's shared
token bucket paces every HTTP attempt of the process at the configured rate, and its semaphore
bounds the requests in flight. With enough workers to cover the latency (rate x round-trip), the
bucket, not the workers, is the bottleneck, which is the definition of saturating it.

How it resumes: every finished event is committed to a SQLite ledger (one transaction per event:
outcome, counts and the event's rows as Arrow IPC blobs) the moment it finishes. A killed run
loses only the events in flight; a rerun skips every event whose (event_id, request key) is in the
ledger, so an unchanged manifest costs no API call and a manifest with one more event costs that
event's calls. The day's Parquet files are assembled from the ledger and written atomically
(``lake.write_partition``), so they never exist half-written and are byte-identical however many
times the download was interrupted. SQLite (standard library) is used because it gives exactly the
per-event durable commit needed, survives ``kill -9`` in WAL mode, and needs no server. The
ledger is pluggable (:class:`LedgerBase`): ``windows_pg.PostgresWindowLedger`` is the same table
in PostgreSQL, shared by runs on several machines, with claims so a window is fetched once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from .events.schema import UTC_NS

NS = 1_000_000_000
PAGE_LIMIT = 50_000  # the vendor's maximum page size for trades and quotes

TRADE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "sip_timestamp": UTC_NS,
    "participant_timestamp": UTC_NS,
    "trf_timestamp": UTC_NS,
    "sequence_number": pl.Int64(),
    "trade_id": pl.String(),
    "price": pl.Float64(),
    "size": pl.Float64(),
    "exchange": pl.Int32(),
    "trf_id": pl.Int32(),
    "tape": pl.Int32(),
    "conditions": pl.List(pl.Int32()),
    "correction": pl.Int32(),
}
QUOTE_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "second": UTC_NS,
    "sip_timestamp": UTC_NS,
    "participant_timestamp": UTC_NS,
    "sequence_number": pl.Int64(),
    "bid_price": pl.Float64(),
    "bid_size": pl.Float64(),
    "bid_exchange": pl.Int32(),
    "ask_price": pl.Float64(),
    "ask_size": pl.Float64(),
    "ask_exchange": pl.Int32(),
    "tape": pl.Int32(),
    "conditions": pl.List(pl.Int32()),
    "indicators": pl.List(pl.Int32()),
    "quotes_in_second": pl.Int64(),
    "crossed": pl.Boolean(),
    "locked": pl.Boolean(),
}
OUTCOME_SCHEMA: dict[str, pl.DataType] = {
    "event_id": pl.String(),
    "symbol": pl.String(),
    "outcome": pl.String(),
    "trades": pl.Int64(),
    "quotes": pl.Int64(),
    "raw_quotes": pl.Int64(),
    "manifest_sha256": pl.String(),
}


@dataclass(frozen=True, slots=True)
class EventWindow:
    """One event's window, ``[start_ns, end_ns)`` in epoch ns (SIP time)."""

    event_id: str
    symbol: str
    day: dt.date
    start_ns: int
    end_ns: int
    # Which market answered (``PolygonResource.market_source``): "" for the vendor, a config
    # fingerprint for the offline market, so windows of a market with other faults or another
    # seed are fetched again instead of being served from the ledger.
    source: str = ""

    @property
    def request_key(self) -> str:
        """What was asked for, and from which market: a moved window is a different request
        and is fetched again."""
        key = f"{self.symbol}|{self.start_ns}|{self.end_ns}"
        return f"{key}|{self.source}" if self.source else key


def windows_from_manifest(manifest: pl.DataFrame, day: dt.date, source: str = "") -> list[EventWindow]:
    rows = manifest.select(
        "event_id",
        "symbol",
        pl.col("window_start").dt.epoch("ns"),
        pl.col("window_end").dt.epoch("ns"),
    ).iter_rows()
    return [EventWindow(e, s, day, int(a), int(b), source) for e, s, a, b in rows]


# --------------------------------------------------------------------------- frames
_EMPTY_CODES = pl.lit([], dtype=pl.List(pl.Int32))


def trades_frame(window: EventWindow, raw: pl.DataFrame) -> pl.DataFrame:
    """Tick-level trades of one window (``raw``: ``PolygonClient.ticks_frame("trades", ...)``),
    in SIP order."""
    if raw.height == 0:
        return pl.DataFrame(schema=TRADE_SCHEMA)
    return (
        raw.rename({"id": "trade_id"})
        .with_columns(
            pl.col("sip_timestamp", "participant_timestamp", "trf_timestamp").cast(UTC_NS),
            conditions=pl.col("conditions").fill_null(_EMPTY_CODES),
            event_id=pl.lit(window.event_id),
            symbol=pl.lit(window.symbol),
        )
        .select([pl.col(c).cast(t) for c, t in TRADE_SCHEMA.items()])
        .sort("sip_timestamp", "sequence_number")
    )


def quotes_1hz(window: EventWindow, raw: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """NBBO quotes downsampled to 1 Hz: for each second of SIP time that has at least one quote,
    the *last* quote of that second (by SIP time, then sequence number), with how many quotes the
    second held. Seconds without a quote get no row: the NBBO standing in such a second is the
    previous row's (an as-of join recovers it), and nothing is invented. ``crossed`` flags
    bid > ask with both sides present, ``locked`` bid == ask. ``raw``:
    ``PolygonClient.ticks_frame("quotes", ...)``. Returns (frame, raw quote count)."""
    if raw.height == 0:
        return pl.DataFrame(schema=QUOTE_SCHEMA), 0
    # numpy rather than a polars group_by: windows hold hundreds of quotes, where polars' fixed
    # per-query cost dominated the downloader's CPU time.
    sip = raw.get_column("sip_timestamp").to_numpy()
    seq = raw.get_column("sequence_number").fill_null(0).to_numpy()
    order = np.lexsort((seq, sip))
    seconds = sip[order] // NS
    last = np.flatnonzero(np.r_[seconds[1:] != seconds[:-1], True])
    counts = np.diff(np.r_[-1, last])
    both = (pl.col("bid_price") > 0) & (pl.col("ask_price") > 0)
    frame = raw[order[last]].with_columns(
        pl.col("sip_timestamp", "participant_timestamp").cast(UTC_NS),
        conditions=pl.col("conditions").fill_null(_EMPTY_CODES),
        indicators=pl.col("indicators").fill_null(_EMPTY_CODES),
        quotes_in_second=pl.Series(counts, dtype=pl.Int64),
        second=pl.Series(seconds[last] * NS, dtype=pl.Int64).cast(UTC_NS),
        event_id=pl.lit(window.event_id),
        symbol=pl.lit(window.symbol),
        crossed=both & (pl.col("bid_price") > pl.col("ask_price")),
        locked=both & (pl.col("bid_price") == pl.col("ask_price")),
    )
    return frame.select([pl.col(c).cast(t) for c, t in QUOTE_SCHEMA.items()]), raw.height


# --------------------------------------------------------------------------- ledger
def _ipc(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_ipc(buf, compression="lz4")
    return buf.getvalue()


def _from_ipc(blob: bytes, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.read_ipc(io.BytesIO(blob)).select([pl.col(c).cast(t) for c, t in schema.items()])


@dataclass(frozen=True, slots=True)
class WindowResult:
    window: EventWindow
    trades: pl.DataFrame
    quotes: pl.DataFrame
    raw_quotes: int

    @property
    def outcome(self) -> str:
        return "data" if self.trades.height else "no_trades"


# The ledger's file name inside the state folder (lake.state_dir()).
LEDGER_FILE = "event_windows.sqlite"


LEDGER_COLUMNS = (
    "event_id, request_key, day, symbol, outcome, trades, quotes, raw_quotes, manifest_sha256,"
    " finished_utc, trades_ipc, quotes_ipc"
)


def ledger_row(result: WindowResult, manifest_sha256: str) -> tuple:
    """One finished window as a ledger row (the columns of :data:`LEDGER_COLUMNS`)."""
    w = result.window
    return (
        w.event_id,
        w.request_key,
        w.day.isoformat(),
        w.symbol,
        result.outcome,
        result.trades.height,
        result.quotes.height,
        result.raw_quotes,
        manifest_sha256,
        dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        _ipc(result.trades),
        _ipc(result.quotes),
    )


class LedgerBase:
    """What the downloader needs of a ledger; backends supply the storage.

    A backend implements ``_keys(days)`` (the recorded (event_id, request_key) pairs of those
    days), ``_rows(days)`` (the assembly columns of those days), ``record``, ``count`` and
    ``close``. One shared by several runs also overrides ``claim``/``release``, so a window that
    another run is fetching is left to it (:class:`PostgresWindowLedger`)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    def _keys(self, days: list[str]) -> Iterable[tuple[str, str]]:
        raise NotImplementedError

    def _rows(self, days: list[str]) -> Iterable[tuple]:
        raise NotImplementedError

    def record(self, result: WindowResult, manifest_sha256: str) -> None:
        raise NotImplementedError

    def count(self, day: dt.date | None = None) -> int:
        raise NotImplementedError

    def claim(self, window: EventWindow) -> bool:
        """Take the right to fetch ``window``; False while another run holds it. A ledger used by
        one run at a time needs no claim."""
        return True

    def release(self, window: EventWindow) -> None:
        """Give back a claim (after recording the window, or failing to fetch it)."""

    def completed(self, windows: Iterable[EventWindow]) -> set[tuple[str, str]]:
        """The (event_id, request_key) pairs of ``windows`` already recorded."""
        windows = list(windows)
        wanted = {(w.event_id, w.request_key) for w in windows}
        if not wanted:
            return set()
        return wanted & set(self._keys(sorted({w.day.isoformat() for w in windows})))

    def assemble(self, windows: Sequence[EventWindow]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
        """(trades, quotes, outcomes) of ``windows`` from the ledger, sorted by (symbol, time).
        Events not in the ledger are absent from all three (the coverage gate counts them)."""
        wanted = {(w.event_id, w.request_key) for w in windows}
        trades, quotes, outcomes = [], [], []
        days = sorted({w.day.isoformat() for w in windows})
        for eid, key, sym, outcome, nt, nq, nraw, sha, tblob, qblob in self._rows(days):
            if (eid, key) not in wanted:
                continue
            outcomes.append((eid, sym, outcome, nt, nq, nraw, sha))
            if nt:
                trades.append(_from_ipc(bytes(tblob), TRADE_SCHEMA))
            if nq:
                quotes.append(_from_ipc(bytes(qblob), QUOTE_SCHEMA))
        t = pl.concat(trades) if trades else pl.DataFrame(schema=TRADE_SCHEMA)
        q = pl.concat(quotes) if quotes else pl.DataFrame(schema=QUOTE_SCHEMA)
        o = pl.DataFrame(outcomes, schema=OUTCOME_SCHEMA, orient="row")
        return (
            t.sort("symbol", "sip_timestamp", "sequence_number", "event_id"),
            q.sort("symbol", "second", "event_id"),
            o.sort("symbol", "event_id"),
        )


ASSEMBLY_COLUMNS = "event_id, request_key, symbol, outcome, trades, quotes, raw_quotes, manifest_sha256, trades_ipc, quotes_ipc"


class WindowLedger(LedgerBase):
    """Durable record of finished event windows (SQLite, WAL): one machine, one run at a time.

    One row per (event_id, request_key), committed per event. ``synchronous=NORMAL`` in WAL mode
    is durable against a killed process (the OS keeps the WAL); ``durable_power_loss=True`` adds
    an fsync per commit for power loss too."""

    def __init__(self, path: str | Path, durable_power_loss: bool = False):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if durable_power_loss else 'NORMAL'}")
        self._db.execute(
            """CREATE TABLE IF NOT EXISTS event_windows (
                event_id TEXT NOT NULL,
                request_key TEXT NOT NULL,
                day TEXT NOT NULL,
                symbol TEXT NOT NULL,
                outcome TEXT NOT NULL,
                trades INTEGER NOT NULL,
                quotes INTEGER NOT NULL,
                raw_quotes INTEGER NOT NULL,
                manifest_sha256 TEXT NOT NULL,
                finished_utc TEXT NOT NULL,
                trades_ipc BLOB NOT NULL,
                quotes_ipc BLOB NOT NULL,
                PRIMARY KEY (event_id, request_key)
            )"""
        )

    def close(self) -> None:
        self._db.close()

    def _keys(self, days: list[str]) -> Iterable[tuple[str, str]]:
        marks = ",".join("?" * len(days))
        return self._db.execute(
            f"SELECT event_id, request_key FROM event_windows WHERE day IN ({marks})", days
        ).fetchall()

    def _rows(self, days: list[str]) -> Iterable[tuple]:
        marks = ",".join("?" * len(days))
        return self._db.execute(f"SELECT {ASSEMBLY_COLUMNS} FROM event_windows WHERE day IN ({marks})", days)

    def record(self, result: WindowResult, manifest_sha256: str) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO event_windows ({LEDGER_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ledger_row(result, manifest_sha256),
        )

    def count(self, day: dt.date | None = None) -> int:
        if day is None:
            return self._db.execute("SELECT count(*) FROM event_windows").fetchone()[0]
        return self._db.execute(
            "SELECT count(*) FROM event_windows WHERE day = ?", (day.isoformat(),)
        ).fetchone()[0]

    def forget(self, day: dt.date, event_id: str | None = None) -> int:
        """Delete the day's rows (or one event's), so the next run of that day fetches them again;
        returns how many rows went. The Parquet files are rebuilt from the ledger, so deleting them
        alone would refetch nothing."""
        where, args = "day = ?", [day.isoformat()]
        if event_id is not None:
            where, args = where + " AND event_id = ?", [*args, event_id]
        return self._db.execute(f"DELETE FROM event_windows WHERE {where}", args).rowcount

    def versions(self, day: dt.date) -> list[tuple[str, int, str, str]]:
        """(manifest_sha256, events, first and last finish time) per manifest version of the day."""
        return self._db.execute(
            "SELECT manifest_sha256, count(*), min(finished_utc), max(finished_utc) FROM event_windows"
            " WHERE day = ? GROUP BY manifest_sha256 ORDER BY 3",
            (day.isoformat(),),
        ).fetchall()


# --------------------------------------------------------------------------- downloader
@dataclass
class DownloadReport:
    """What one download pass did."""

    windows: int = 0
    already_done: int = 0
    fetched: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # event_id -> reason
    seconds: float = 0.0

    def as_metadata(self) -> dict[str, int | float]:
        return {
            "windows": self.windows,
            "windows_already_done": self.already_done,
            "windows_fetched": self.fetched,
            "windows_failed": len(self.failed),
            "download_seconds": round(self.seconds, 3),
        }


async def fetch_window(client, window: EventWindow) -> WindowResult:
    """One event: its trades and its quotes, requested concurrently, as frames."""
    lte = window.end_ns - 1  # the vendor's bounds are inclusive; windows are half-open
    # return_exceptions: a failed call must not leave its sibling running unobserved
    trades, quotes = await asyncio.gather(
        client.ticks_frame("trades", window.symbol, gte_ns=window.start_ns, lte_ns=lte, limit=PAGE_LIMIT),
        client.ticks_frame("quotes", window.symbol, gte_ns=window.start_ns, lte_ns=lte, limit=PAGE_LIMIT),
        return_exceptions=True,
    )
    for outcome in (trades, quotes):
        if isinstance(outcome, BaseException):
            raise outcome
    q, raw = quotes_1hz(window, quotes)
    return WindowResult(window, trades_frame(window, trades), q, raw)


async def download(
    client,
    windows: Sequence[EventWindow],
    ledger: LedgerBase,
    *,
    manifest_sha256: str | Mapping[dt.date, str] = "",
    workers: int | None = None,
    poll_s: float = 0.5,
) -> DownloadReport:
    """Fetch every window not yet in ``ledger`` and record each as it finishes.

    A window whose calls fail for good (after the client's retries) is reported in
    ``failed`` and left out of the ledger, so the next run tries it again; the other windows
    carry on. ``workers`` defaults to the client's ``max_concurrency``: each worker keeps up to
    two requests in flight and the client's semaphore caps the total. ``manifest_sha256`` is the
    manifest version recorded with each window, one string or one per day (range runs).

    On a ledger shared by several runs, a worker first claims its window: one that another run
    holds is set aside, and once this run's own windows are done it waits (polling every
    ``poll_s``) until each set-aside window is recorded by its holder, or takes it over when the
    holder is gone (its claim dies with it). So a window is fetched once however many runs want it."""
    from ..polygon import PolygonError

    report = DownloadReport(windows=len(windows))
    started = time.monotonic()
    done = ledger.completed(windows)
    report.already_done = len(done)
    pending = [w for w in windows if (w.event_id, w.request_key) not in done]
    n = max(1, min(len(pending), workers or getattr(client, "max_concurrency", 16)))

    async def worker(queue: asyncio.Queue[EventWindow], held_elsewhere: list[EventWindow]) -> None:
        while True:
            try:
                w = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            if not ledger.claim(w):
                held_elsewhere.append(w)
                continue
            try:
                if ledger.completed([w]):  # recorded by another run since we looked
                    report.already_done += 1
                    continue
                try:
                    result = await fetch_window(client, w)
                except PolygonError as err:
                    report.failed[w.event_id] = str(err)
                    continue
                sha = manifest_sha256 if isinstance(manifest_sha256, str) else manifest_sha256.get(w.day, "")
                ledger.record(result, sha)
                report.fetched += 1
            finally:
                ledger.release(w)

    while pending:
        queue: asyncio.Queue[EventWindow] = asyncio.Queue()
        for w in pending:
            queue.put_nowait(w)
        held: list[EventWindow] = []
        async with asyncio.TaskGroup() as group:  # a bug in one worker cancels the others
            for _ in range(min(n, queue.qsize())):
                group.create_task(worker(queue, held))
        if held:
            await asyncio.sleep(poll_s)
            finished = ledger.completed(held)
            report.already_done += len(finished)
            held = [w for w in held if (w.event_id, w.request_key) not in finished]
        pending = held
    report.seconds = time.monotonic() - started
    return report

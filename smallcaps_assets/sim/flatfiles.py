"""The vendor's S3 flat files (``us_stocks_sip/*``), written from a ``SimMarket``, and a reader for them.

Layout (``out_dir`` plays the bucket ``flatfiles``; docs/simulated_market.md §4.14)::

    <out_dir>/us_stocks_sip/<dataset>/YYYY/MM/YYYY-MM-DD.csv.gz

Choices, where the vendor's behaviour is unconfirmed or the brief had to decide:

* **One file per trading day** of the simulated span (``market.sessions()`` intersected with
  ``[start, end]``); none on weekends, holidays or outside the simulated span. A trading day with no
  rows (e.g. a ``symbols`` filter naming only unlisted tickers) still gets a header-only file.
* **Universe**: tickers of the ``stocks`` market listed on the day (``is_listed``). OTC names are
  excluded: the flat files are the consolidated SIP tape, and OTC quotes/trades are not on it. An
  OTC symbol passed in ``symbols`` is excluded too. Symbol-days the market reports as missing (data
  fault) simply have no rows.
* **Row order**: ticker (code-point order, as Python sorts strings), then time. The vendor does not
  document its order; tests and the ingestion code should not rely on it either.
* **day_aggs_v1** ``window_start`` = ns of 00:00 America/New_York of the session date. The vendor does
  not document the anchor (00:00 or 16:00 ET); 00:00 ET matches the official options
  sample and REST range bars with ``timespan=day``. Readers should derive the session from the file
  name. OHLC/volume/transactions are ``market.daily_bar`` (consolidated daily rules), unadjusted.
* **minute_aggs_v1** rows are ``market.minute_bars`` (unadjusted), ``window_start`` = the bar's ``t``
  in ns. A duplicated-bar data fault, when configured, shows up here as it does over REST.
* **Numbers**: prices are printed in shortest round-trip form (``129.79``, ``0.0``); sizes and
  volumes are printed as integers when every value of the ticker's chunk is whole (the sim never
  makes fractional shares), otherwise as floats. Timestamps are integer ns. ``trf_id`` and
  ``trf_timestamp`` are ``0`` on exchange prints; quotes carry ``trf_timestamp`` ``0``.
* **Condition lists** (trades ``conditions``, quotes ``conditions``/``indicators``) are comma
  separated, quoted when there is more than one (``"12,37"``) and empty when there are none.

Writes are atomic (temp file in the same folder, then ``os.replace``) and gzip output is
deterministic (mtime 0, no file name in the header), so one seed gives byte-identical files. gzip level
1 by default (``compresslevel=``): on the default 600-ticker market one day of all four datasets takes
~16 s at level 1 against ~32 s at level 6, for files ~25% larger; compression runs on a background
thread per file. Memory is bounded by one ticker-day: each ticker's rows are formatted with polars
``write_csv`` and streamed into the gzip writer (~440 MB peak RSS for a full default-market day).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import os
import queue
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import polars as pl

from .. import calendar as cal

if TYPE_CHECKING:
    from .market import SimMarket
    from .reference import TickerProfile

PREFIX = "us_stocks_sip"
DATASETS = ("day_aggs_v1", "minute_aggs_v1", "trades_v1", "quotes_v1")
# gzip level 1: on a 600-ticker day of quotes level 6 takes ~5x longer for files ~20% smaller.
COMPRESS_LEVEL = 1

_AGG_SCHEMA = {
    "ticker": pl.String,
    "volume": pl.Float64,
    "open": pl.Float64,
    "close": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "window_start": pl.Int64,
    "transactions": pl.Int64,
}
_TRADE_SCHEMA = {
    "ticker": pl.String,
    "conditions": pl.List(pl.Int32),
    "correction": pl.Int32,
    "exchange": pl.Int32,
    "id": pl.String,
    "participant_timestamp": pl.Int64,
    "price": pl.Float64,
    "sequence_number": pl.Int64,
    "sip_timestamp": pl.Int64,
    "size": pl.Float64,
    "tape": pl.Int32,
    "trf_id": pl.Int32,
    "trf_timestamp": pl.Int64,
}
_QUOTE_SCHEMA = {
    "ticker": pl.String,
    "ask_exchange": pl.Int32,
    "ask_price": pl.Float64,
    "ask_size": pl.Float64,
    "bid_exchange": pl.Int32,
    "bid_price": pl.Float64,
    "bid_size": pl.Float64,
    "conditions": pl.List(pl.Int32),
    "indicators": pl.List(pl.Int32),
    "participant_timestamp": pl.Int64,
    "sequence_number": pl.Int64,
    "sip_timestamp": pl.Int64,
    "tape": pl.Int32,
    "trf_timestamp": pl.Int64,
}
#: Column names and dtypes of each dataset, in the files' exact header order.
SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "day_aggs_v1": _AGG_SCHEMA,
    "minute_aggs_v1": _AGG_SCHEMA,
    "trades_v1": _TRADE_SCHEMA,
    "quotes_v1": _QUOTE_SCHEMA,
}
HEADERS: dict[str, str] = {name: ",".join(schema) for name, schema in SCHEMAS.items()}


def flatfile_key(dataset: str, day: dt.date) -> str:
    """The object key of one dataset's file for one session.

    e.g. ``us_stocks_sip/trades_v1/2024/04/2024-04-05.csv.gz``
    """
    _check_datasets((dataset,))
    return f"{PREFIX}/{dataset}/{day:%Y}/{day:%m}/{day.isoformat()}.csv.gz"


def _check_datasets(datasets: Iterable[str]) -> None:
    unknown = sorted(set(datasets) - set(DATASETS))
    if unknown:
        raise ValueError(f"unknown flat-file datasets {unknown}; known: {list(DATASETS)}")


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def write_flatfiles(
    market: SimMarket,
    out_dir: Path,
    start: dt.date,
    end: dt.date,
    datasets: tuple[str, ...] = DATASETS,
    symbols: list[str] | None = None,
    *,
    compresslevel: int = COMPRESS_LEVEL,
) -> list[Path]:
    """Write ``datasets`` for every session in [start, end]; returns the paths written (day, then dataset).

    ``symbols`` restricts the files to those tickers (the real files hold the whole SIP; the filter
    keeps tests and local runs small). Each file is complete or absent: an error mid-way leaves no
    partial file for the day being written (earlier days stay written).
    """
    datasets = tuple(dict.fromkeys(datasets))
    _check_datasets(datasets)
    out_dir = Path(out_dir)
    wanted = None if symbols is None else set(symbols)
    universe = sorted(
        (p for p in market.profiles() if p.market == "stocks" and (wanted is None or p.ticker in wanted)),
        key=lambda p: p.ticker,
    )
    written: list[Path] = []
    for day in market.sessions():
        if start <= day <= end:
            written.extend(_write_day(market, out_dir, day, datasets, universe, compresslevel))
    return written


def _write_day(
    market: SimMarket,
    out_dir: Path,
    day: dt.date,
    datasets: tuple[str, ...],
    universe: list[TickerProfile],
    compresslevel: int,
) -> list[Path]:
    """All datasets of one session, written side by side so each ticker-day's trades are made once."""
    paths = {name: out_dir / flatfile_key(name, day) for name in datasets}
    midnight_ns = int(dt.datetime.combine(day, dt.time(0), tzinfo=cal.NY).timestamp()) * 1_000_000_000
    with contextlib.ExitStack() as stack:
        writers = {
            name: stack.enter_context(_AtomicGzip(path, compresslevel)) for name, path in paths.items()
        }
        for name, w in writers.items():
            w.write_text(HEADERS[name] + "\n")
        day_rows: list[dict] = []
        for p in universe:
            if not market.is_listed(p, day):
                continue
            t = p.ticker
            if "trades_v1" in writers:
                _write_frame(writers["trades_v1"], _trade_rows(t, market.trades(t, day)))
            if "quotes_v1" in writers:
                _write_frame(writers["quotes_v1"], _quote_rows(t, market.quotes(t, day)))
            if "minute_aggs_v1" in writers:
                _write_frame(writers["minute_aggs_v1"], _minute_rows(t, market.minute_bars(t, day)))
            if "day_aggs_v1" in writers:
                bar = market.daily_bar(t, day)
                if bar is not None:
                    row = (t, bar["v"], bar["o"], bar["c"], bar["h"], bar["l"], midnight_ns, bar["n"])
                    day_rows.append(dict(zip(_AGG_SCHEMA, row, strict=True)))
        if "day_aggs_v1" in writers and day_rows:
            frame = pl.DataFrame(day_rows, schema=_AGG_SCHEMA)
            _write_frame(writers["day_aggs_v1"], frame.with_columns(_whole("volume", frame)))
        for w in writers.values():
            w.commit()
    return list(paths.values())


class _AtomicGzip:
    """A deterministic gzip stream into a temp file next to ``path``; ``commit`` renames it into place.

    Compression runs on a background thread fed through a small bounded queue (zlib releases the
    GIL), so it overlaps with generating and formatting the next ticker; the byte stream is the same
    as a synchronous write. Leaving the context without ``commit`` (an exception) deletes the temp
    file.
    """

    _QUEUE_CHUNKS = 4

    def __init__(self, path: Path, compresslevel: int = COMPRESS_LEVEL):
        self.path = path
        self.compresslevel = compresslevel
        self._tmp: str | None = None
        self._raw: IO[bytes] | None = None
        self._gz: gzip.GzipFile | None = None
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=self._QUEUE_CHUNKS)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def __enter__(self) -> _AtomicGzip:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
        self._raw = os.fdopen(fd, "wb")
        # filename="" keeps the name out of the header; mtime=0 makes the bytes reproducible.
        self._gz = gzip.GzipFile(
            filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=self.compresslevel
        )
        self._thread = threading.Thread(target=self._drain, name=f"gzip {self.path.name}", daemon=True)
        self._thread.start()
        return self

    def _drain(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._gz.write(data)  # type: ignore[union-attr]
                except BaseException as exc:  # surfaced to the caller on the next write or commit
                    self._error = exc

    def _stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def write_bytes(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def write_text(self, text: str) -> None:
        self.write_bytes(text.encode())

    def commit(self) -> None:
        assert self._gz is not None and self._raw is not None and self._tmp is not None
        self._stop()
        if self._error is not None:
            raise self._error
        self._gz.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self._tmp, self.path)
        self._tmp = None

    def __exit__(self, *exc: object) -> None:
        self._stop()
        if self._tmp is None:
            return
        with contextlib.suppress(Exception):
            self._gz.close()  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            self._raw.close()  # type: ignore[union-attr]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp)
        self._tmp = None


def _write_frame(w: _AtomicGzip, frame: pl.DataFrame) -> None:
    if frame.height:
        w.write_bytes(frame.write_csv(include_header=False, quote_style="necessary").encode())


def _codes(col: str, frame: pl.DataFrame) -> pl.Expr:
    """A list column as ``12,37`` (write_csv quotes it because of the comma); null (empty) when none.

    Lists hold a few ids; joining fixed positions is faster than ``list.join`` on millions of rows.
    """
    c = pl.col(col)
    width = int(frame.get_column(col).list.len().max() or 0)
    if width == 0:
        return pl.lit(None, dtype=pl.String).alias(col)
    parts = [c.list.get(j, null_on_oob=True).cast(pl.String) for j in range(width)]
    return pl.when(c.list.len() > 0).then(pl.concat_str(parts, separator=",", ignore_nulls=True)).alias(col)


def _whole(col: str, frame: pl.DataFrame) -> pl.Expr:
    """Print a size/volume column as integers when all its values are whole numbers."""
    s = frame.get_column(col)
    if s.len() and bool((s == s.floor()).all()):
        return pl.col(col).cast(pl.Int64)
    return pl.col(col)


def _trade_rows(ticker: str, tr: pl.DataFrame) -> pl.DataFrame:
    return tr.select(
        pl.lit(ticker).alias("ticker"),
        _codes("conditions", tr),
        "correction",
        "exchange",
        "id",
        "participant_timestamp",
        "price",
        "sequence_number",
        "sip_timestamp",
        _whole("size", tr),
        "tape",
        pl.col("trf_id").fill_null(0),
        pl.col("trf_timestamp").fill_null(0),
    )


def _quote_rows(ticker: str, q: pl.DataFrame) -> pl.DataFrame:
    return q.select(
        pl.lit(ticker).alias("ticker"),
        "ask_exchange",
        "ask_price",
        _whole("ask_size", q),
        "bid_exchange",
        "bid_price",
        _whole("bid_size", q),
        _codes("conditions", q),
        _codes("indicators", q),
        "participant_timestamp",
        "sequence_number",
        "sip_timestamp",
        "tape",
        pl.lit(0, dtype=pl.Int64).alias("trf_timestamp"),
    )


def _minute_rows(ticker: str, bars: pl.DataFrame) -> pl.DataFrame:
    return bars.select(
        pl.lit(ticker).alias("ticker"),
        _whole("v", bars).alias("volume"),
        pl.col("o").alias("open"),
        pl.col("c").alias("close"),
        pl.col("h").alias("high"),
        pl.col("l").alias("low"),
        (pl.col("t") * 1_000_000).alias("window_start"),
        pl.col("n").alias("transactions"),
    )


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def read_flatfile(source: str | os.PathLike | bytes | IO[bytes], dataset: str) -> pl.DataFrame:
    """One flat file (path, bytes or binary file object; gzip or plain CSV) as a typed DataFrame.

    Columns keep the file's names and order (``SCHEMAS[dataset]``); condition/indicator lists come
    back as ``list[int32]`` (empty list when the field is empty). The header must match exactly.
    """
    _check_datasets((dataset,))
    if isinstance(source, bytes | bytearray | memoryview):
        raw = bytes(source)
    elif hasattr(source, "read"):
        raw = source.read()  # type: ignore[union-attr]
    else:
        raw = Path(source).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    schema = SCHEMAS[dataset]
    header = raw.split(b"\n", 1)[0].rstrip(b"\r").decode()
    if header != HEADERS[dataset]:
        raise ValueError(f"unexpected {dataset} header {header!r}; expected {HEADERS[dataset]!r}")
    list_cols = [c for c, t in schema.items() if t == pl.List(pl.Int32)]
    read_schema = {c: (pl.String if c in list_cols else t) for c, t in schema.items()}
    df = pl.read_csv(io.BytesIO(raw), schema=read_schema, has_header=True)
    empty = pl.lit([], dtype=pl.List(pl.Int32))
    return df.with_columns(
        [
            pl.when(pl.col(c).is_null() | (pl.col(c) == ""))
            .then(empty)
            .otherwise(pl.col(c).str.split(",").cast(pl.List(pl.Int32)))
            .alias(c)
            for c in list_cols
        ]
    )

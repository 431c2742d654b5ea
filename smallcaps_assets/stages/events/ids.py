"""Event ids: a stable 64-bit hash of (symbol, ts, event_type), one at a time or vectorised."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

_M64 = (1 << 64) - 1


def mix64(x: int) -> int:
    """The splitmix64 finaliser (a bijection on 64-bit integers)."""
    x &= _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def h64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def h64_many(texts: list[str]) -> np.ndarray:
    """``h64`` of each text, as uint64 (the digests read little-endian in one go)."""
    blake = hashlib.blake2b
    return np.frombuffer(b"".join([blake(t.encode(), digest_size=8).digest() for t in texts]), dtype="<u8")


def event_id(symbol: str, ts_ns: int, event_type: str) -> str:
    """The stable id of an event: 16 hex digits of
    ``mix64(h(symbol) ^ mix64(ts_ns ^ h(event_type)))``, where ``h`` is blake2b with an 8-byte
    digest read little-endian, ``mix64`` the splitmix64 finaliser and ``ts_ns`` the event's ``ts``
    in integer nanoseconds since the epoch (UTC). Independent of the process, the run and the
    library versions; ``detect_intraday`` computes the same value vectorised."""
    return f"{mix64(h64(symbol) ^ mix64(ts_ns ^ h64(event_type))):016x}"


def mix64_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def event_ids(sym_hash: np.ndarray, ts_ns: np.ndarray, type_hash: np.ndarray) -> pl.Series:
    with np.errstate(over="ignore"):
        x = mix64_np(sym_hash ^ mix64_np(ts_ns.astype(np.uint64) ^ type_hash))
    hexes = x.astype(">u8").tobytes().hex().encode()
    return pl.Series("event_id", np.frombuffer(hexes, dtype="S16")).cast(pl.String)

"""Deterministic randomness keyed by (seed, symbol, date, stream).

Two generators, both pure functions of their key:

* ``generator(key...)`` gives a numpy ``Generator`` for sequential draws (a symbol's static
  profile, a day's path).
* ``uniforms(key, counters)`` is counter-based (splitmix64 over ``key + counter``): element ``i``
  depends only on ``(key, i)``. Ticks use it so that a 10-minute window can be generated without
  generating the rest of the day, and still equals the same minutes of a full-day request.

Keys are hashed with blake2b rather than Python's ``hash`` because the latter is salted per process.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_INV_2_53 = 1.0 / float(1 << 53)


def stable_key(*parts: object) -> int:
    """A 64-bit key stable across processes, platforms and Python versions."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def generator(*parts: object) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stable_key(*parts)))


def _mix(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (x ^ (x >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def bits64(key: int, counters: np.ndarray) -> np.ndarray:
    """64 random bits (uint64) per counter, each a pure function of (key, counter). One call can feed
    several fields (e.g. four 16-bit draws), which is much cheaper than one ``uniforms`` per field."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix(np.uint64(key) + (c + np.uint64(1)) * _GOLDEN)


def uniforms(key: int, counters: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) floats, one per counter, each a pure function of (key, counter)."""
    c = np.asarray(counters, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = np.uint64(key) + (c + np.uint64(1)) * _GOLDEN
    return (_mix(x) >> np.uint64(11)).astype(np.float64) * _INV_2_53


def normals(key: int, counters: np.ndarray) -> np.ndarray:
    """Standard normals via Box-Muller on two independent counter streams."""
    c = np.asarray(counters, dtype=np.uint64)
    u1 = uniforms(key, c * np.uint64(2))
    u2 = uniforms(key, c * np.uint64(2) + np.uint64(1))
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

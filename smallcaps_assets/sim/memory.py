"""The served simulator's allocator policy: keep freed memory for the next request.

A tick window of a busy symbol-day builds a few dozen numpy arrays of tens of thousands of rows each
(about 18 MB in all for the benchmark's busiest window). With glibc's defaults the freed top of the
heap goes back to the kernel after every request (the trim threshold follows the largest recent
block, a few hundred KB), so the next request faults every page in again: about 3,000 minor page
faults a window, a third of its CPU time, and far more wall time on a loaded machine. Keeping up to
``trim_bytes`` of freed heap in the process removes them; a long-running server pays that memory
once instead of the faults on every request.

``keep_freed_memory`` is called by ``sim/server.py`` before the port answers, and by ``smallcaps
bench sim``, which models that server. It changes the whole process's allocator, so the library never
calls it on import. Only glibc on Linux has these knobs; elsewhere it does nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

_M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
_M_MMAP_THRESHOLD = -3
TRIM_BYTES = 64 << 20  # freed heap kept: above a busy window's working set, small for a server
MMAP_BYTES = 32 << 20  # blocks above this still get their own mapping (glibc's maximum)


def keep_freed_memory(trim_bytes: int = TRIM_BYTES, mmap_bytes: int = MMAP_BYTES) -> bool:
    """Ask glibc to keep up to ``trim_bytes`` of freed heap and to serve blocks up to ``mmap_bytes``
    from the heap. Returns whether the policy is in force (False off glibc)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    # mmap first: setting it fixes the trim threshold too, which the second call then sets.
    return (
        libc.mallopt(_M_MMAP_THRESHOLD, mmap_bytes) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, trim_bytes) == 1
    )

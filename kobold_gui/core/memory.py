"""Give memory the process freed back to the system (glibc's malloc keeps it otherwise).

Why: streaming a long reply frees a lot (Qt's layouts of recycled paragraphs, the story's
streamed chunks once joined), but glibc returns free heap pages to the system only from the
top of the heap, and only past a threshold that grows with the big blocks it has seen
(up to 64 MB). After a 10 MB story ~30 MB lies free inside the heap, counted in the resident
size of the window (bench/bench_memory.py). `malloc_trim(0)` hands those pages back; on that
heap it takes ~1.5 ms, so it is called where a lot was just freed, not per token.

Linux with glibc only: elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable


@functools.cache
def _load() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None when this is not glibc (ctypes is imported only here:
    it is not needed to start the window)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return None
    try:
        import ctypes
        libc = ctypes.CDLL("libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def release_freed_memory() -> bool:
    """Return free heap pages to the system; True when something was given back."""
    trim = _load()
    return trim is not None and bool(trim(0))

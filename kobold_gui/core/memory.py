"""Give memory the process freed back to the system (glibc's malloc keeps it otherwise).

Why: streaming a long reply frees a lot (Qt's layouts of recycled paragraphs, the story's
streamed chunks once joined), but glibc returns free heap pages to the system only from the
top of the heap, and only past a threshold that grows with the big blocks it has seen
(up to 64 MB). After a 10 MB story ~30 MB lies free inside the heap, counted in the resident
size of the window (bench/bench_memory.py). `malloc_trim(0)` hands those pages back; on that
heap it takes ~1.5 ms, so it is called where a lot was just freed, not per token.

Fewer malloc arenas: glibc gives every thread that allocates its own arena (up to 8 per CPU),
each a heap of its own that keeps its freed pages just the same. The window's few threads (the
session's writer, Qt's pool, asyncio's executor for file work) allocate little, so
`limit_malloc_arenas` caps them at start: they share, and nothing lies free in heaps of theirs.

Linux with glibc only: elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

#: glibc's `M_ARENA_MAX` parameter of mallopt (malloc.h)
M_ARENA_MAX = -8
#: arenas at most: the main one and one more that the other threads share (measured:
#: bench/bench_startup.py, bench_throughput.py and bench_latency.py, see the commit)
ARENAS = 2


def _glibc() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        return bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):  # not glibc (musl has no such name)
        return False


@functools.cache
def _libc() -> Any | None:
    """glibc itself, or None when this is not glibc (ctypes is imported only here)."""
    if not _glibc():
        return None
    try:
        import ctypes
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


@functools.cache
def _load() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None when this is not glibc."""
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is None:
        return None
    import ctypes
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Let glibc's malloc make at most `arenas` arenas; True when that was set. Call it before
    any thread starts: an arena a thread already has stays its own."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is None:
        return False
    import ctypes
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_ARENA_MAX, arenas))


def release_freed_memory() -> bool:
    """Return free heap pages to the system; True when something was given back."""
    trim = _load()
    return trim is not None and bool(trim(0))


def settle_after_start() -> bool:
    """Once the start is over (the window built, the first connect answered): drop the source
    lines read while importing (PySide's import hook reads every module it sees before the app
    removes it: enum.py alone is 2 000 lines) and give the freed heap back. True when the heap
    gave something back."""
    import linecache

    linecache.clearcache()
    return release_freed_memory()

"""Memory the program freed goes back to the system, so the window's size shrinks with it."""

from __future__ import annotations

import os
import sys

import pytest

from kobold_gui.core.memory import release_freed_memory


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError):
        return False


@pytest.mark.skipif(not glibc(), reason="glibc keeps freed heap memory; others return nothing")
def test_freed_heap_memory_leaves_the_resident_size() -> None:
    blocks = [bytes(3000) + str(i).encode() for i in range(20_000)]  # 60 MB of malloc blocks
    pin = bytes(3000) + b"pin"  # above them: the heap cannot shrink from the top by itself
    grown = resident_mb()
    del blocks
    assert resident_mb() > grown - 20  # freed, but still held by malloc
    assert release_freed_memory()
    assert resident_mb() < grown - 40
    del pin


def test_releasing_with_nothing_freed_is_harmless() -> None:
    release_freed_memory()
    assert isinstance(release_freed_memory(), bool)

"""Memory the program freed goes back to the system, so the window's size shrinks with it."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from kobold_gui.core import memory
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


@pytest.fixture
def fresh_libc() -> Iterator[None]:
    """The module's look-up of glibc forgotten before and after (it is cached)."""
    memory._libc.cache_clear()
    memory._load.cache_clear()
    yield
    memory._libc.cache_clear()
    memory._load.cache_clear()


@pytest.mark.skipif(not glibc(), reason="mallopt is glibc's")
def test_the_arena_limit_is_set_on_glibc(fresh_libc: None) -> None:
    assert memory.limit_malloc_arenas()


@pytest.mark.skipif(not glibc(), reason="mallopt is glibc's")
def test_the_arena_limit_asks_glibc_for_its_arena_parameter(
        fresh_libc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []

    class FakeMallopt:
        argtypes: object = None
        restype: object = None

        def __call__(self, param: int, value: int) -> int:
            calls.append((param, value))
            return 1

    class FakeLibc:
        mallopt = FakeMallopt()

    monkeypatch.setattr(memory, "_libc", lambda: FakeLibc())
    assert memory.limit_malloc_arenas(3)
    assert calls == [(memory.M_ARENA_MAX, 3)]


@pytest.mark.parametrize("platform", ["darwin", "win32"])
def test_without_linux_nothing_is_done(fresh_libc: None, monkeypatch: pytest.MonkeyPatch,
                                       platform: str) -> None:
    monkeypatch.setattr(sys, "platform", platform)
    assert not memory.limit_malloc_arenas()
    assert not memory.release_freed_memory()


def test_without_glibc_nothing_is_done(fresh_libc: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(name: str) -> str:
        raise ValueError(name)  # musl: CS_GNU_LIBC_VERSION is unknown

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "confstr", no_such_name)
    assert not memory.limit_malloc_arenas()
    assert not memory.release_freed_memory()


def test_settling_after_the_start_drops_cached_source_lines(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path) -> None:
    import linecache

    trims: list[bool] = []
    monkeypatch.setattr(memory, "release_freed_memory", lambda: trims.append(True) or True)
    source = tmp_path / "module.py"
    source.write_text("x = 1\n")
    assert linecache.getline(str(source), 1) == "x = 1\n"
    assert memory.settle_after_start()
    assert str(source) not in linecache.cache
    assert trims == [True]

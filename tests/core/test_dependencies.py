"""What the HTTP stack needs installed to run at its normal cost."""

from __future__ import annotations

import asyncio
import sys


def test_httpcore_finds_sniffio_instead_of_searching_for_it_on_every_lock() -> None:
    """httpcore imports sniffio in every lock it takes; a missing sniffio is a search of
    sys.path each time (a dependency of ours since anyio stopped bringing it)."""
    from httpcore._synchronization import current_async_library

    async def library() -> str:
        return current_async_library()

    assert asyncio.run(library()) == "asyncio"
    assert "sniffio" in sys.modules

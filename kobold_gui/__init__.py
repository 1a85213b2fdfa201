"""kobold_gui: a desktop client and a terminal streamer for KoboldCPP, and a test server."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str


def _version() -> str:
    """The installed distribution's version; a source tree that is not installed says so."""
    from importlib import metadata

    try:
        return metadata.version("kobold_gui")
    except metadata.PackageNotFoundError:
        return "0.1.0+unknown"


def __getattr__(name: str) -> str:
    """`__version__` is looked up when first asked for (PEP 562), not at import: importing
    importlib.metadata and scanning the installed distributions costs ~30 ms of start-up."""
    if name == "__version__":
        version = _version()
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

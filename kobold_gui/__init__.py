"""kobold_gui: a desktop client and a terminal streamer for KoboldCPP, and a test server."""

from __future__ import annotations

from importlib import metadata


def _version() -> str:
    """The installed distribution's version; a source tree that is not installed says so."""
    try:
        return metadata.version("kobold_gui")
    except metadata.PackageNotFoundError:
        return "0.1.0+unknown"


__version__ = _version()

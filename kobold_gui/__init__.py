"""kobold_gui: a desktop client and a terminal streamer for KoboldCPP, and a test server."""

from __future__ import annotations

#: the one place the version is written: pyproject.toml reads it from here (a literal, not
#: importlib.metadata: asking that at run time imports email, zipfile and csv, ~1 MB and
#: ~30 ms, and scans every installed distribution)
__version__ = "0.1.0"

"""What the app knows about a server without talking to it: the answers' types, and (from
core/addresses.py) its address and the password header.

Apart from `protocol` (which needs httpx) so that the window and the preferences can use them
before the first frame without importing httpx (~30 ms) and building TLS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .addresses import (  # noqa: F401 (kept importable from here)
    DEFAULT_URL,
    authorization_header,
    normalize_url,
)


@dataclass(frozen=True)
class ServerVersion:
    name: str
    version: str
    protected: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def is_koboldcpp(self) -> bool:
        return self.name == "KoboldCpp"


@dataclass(frozen=True)
class ServerInfo:
    """What the status bar shows after connecting."""

    url: str
    version: ServerVersion
    model: str
    max_context_length: int


@dataclass(frozen=True)
class Perf:
    idle: bool
    queue: int
    last_token_count: int = 0
    stop_reason: int = -1
    total_gens: int = 0
    #: milliseconds per generated token of the last generation
    last_eval: float = 0.0
    #: milliseconds per prompt token of the last generation
    last_process: float = 0.0
    raw: dict[str, Any] = field(default_factory=dict)

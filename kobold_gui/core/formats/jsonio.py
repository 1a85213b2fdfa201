"""JSON decoding with messages a person can act on, shared by every format."""

from __future__ import annotations

import json
from typing import Any

from kobold_gui.core.formats.model import FormatError


def decode_text(data: bytes) -> str:
    """Decode UTF-8 (a BOM is tolerated: Windows editors add one)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(
            f"not a story file: it is not UTF-8 text (byte {exc.start} cannot be read)"
        ) from None


def parse_json(text: str, what: str = "not a story file") -> Any:
    """json.loads, with the failure told as a line/column and a reason."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(text.rstrip()):
            raise FormatError(f"{what}: the JSON ends early at line {exc.lineno}") from None
        raise FormatError(
            f"{what}: broken JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})"
        ) from None
    except RecursionError:
        raise FormatError(f"{what}: the JSON is nested too deeply") from None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, non-ASCII kept as is (Lite writes JSON.stringify output)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

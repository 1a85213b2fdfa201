"""Lite-style loose values: numbers that come back as strings, comma-separated key lists.

Lite writes numbers edited in its dialogs as strings ("160") and fresh ones as numbers; keys
are one comma-separated string split on "," and trimmed. Readers accept every form; writers
give back the raw value they read when its meaning is unchanged, so a round trip is exact.
"""

from __future__ import annotations

from typing import Any


def as_int(value: Any, default: int) -> int:
    """An integer from a number or a numeric string; `default` for anything else."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value == value and abs(value) != float("inf") else default
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return default
    return default


def int_like(raw: Any, value: int) -> Any:
    """`raw` if it still means `value`; else `value`, as a string when `raw` was one."""
    if raw is not None and not isinstance(raw, bool) and as_int(raw, value + 1) == value:
        return raw
    return str(value) if isinstance(raw, str) else value


def split_keys(value: Any) -> tuple[str, ...]:
    """Lite's "a, b" or United's ["a", "b"] as a tuple of trimmed, non-empty keys."""
    if isinstance(value, str):
        parts: list[Any] = value.split(",")
    elif isinstance(value, list):
        parts = [p for item in value if isinstance(item, str) for p in item.split(",")]
    else:
        return ()
    return tuple(p.strip() for p in parts if isinstance(p, str) and p.strip())


def keys_like(raw: Any, keys: tuple[str, ...]) -> Any:
    """The raw Lite key string if it still splits to `keys`; else keys joined by ","."""
    if isinstance(raw, str) and split_keys(raw) == keys:
        return raw
    return ",".join(keys)


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def text_like(raw: Any, value: str) -> Any:
    return raw if as_text(raw) == value and (raw is None or isinstance(raw, str)) else value


def as_bool(value: Any) -> bool:
    """JavaScript truthiness, which is how Lite tests these flags."""
    return js_truthy(value)


def bool_like(raw: Any, value: bool) -> Any:
    return raw if raw is not None and js_truthy(raw) == value else value


def js_truthy(value: Any) -> bool:
    """Truthiness as JavaScript sees it: [] and {} are true, "" and 0 are false."""
    if isinstance(value, list | dict):
        return True
    return bool(value)

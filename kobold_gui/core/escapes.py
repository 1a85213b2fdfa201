"""One rule for writing special characters in a one-line entry (a stop sequence, a breaker).

Both faces use it: `kobold-stream --set stop_sequence='\\nUser:'` and the settings panel's list
fields. Only these escapes mean something: \\n \\r \\t \\\\ \\" and \\uXXXX (four hex digits).
Every other character, including non-ASCII text such as 世界 and an unknown escape such as \\x,
is kept exactly as typed.
"""

from __future__ import annotations

_SIMPLE = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"'}
_HEX = frozenset("0123456789abcdefABCDEF")


def unescape(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            nxt = text[i + 1]
            if nxt in _SIMPLE:
                out.append(_SIMPLE[nxt])
                i += 2
                continue
            digits = text[i + 2:i + 6]
            if nxt == "u" and len(digits) == 4 and set(digits) <= _HEX:
                out.append(chr(int(digits, 16)))
                i += 6
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape(text: str) -> str:
    """The inverse of `unescape` for what a single line cannot show (line breaks, tabs)."""
    return (text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            .replace("\t", "\\t"))

"""Foreign story files: detect the format from content, read to StoryData, write back.

Formats: "kobold_gui" (our own JSON, parsed by the story model, only recognised here),
"lite" (Lite's save), "lite_share" (Lite's old share object), "lite_share_text" (Lite's
compressed share text), "kai_united" (KoboldAI United v2), "sillytavern" (chat JSONL),
"text". Writable: "lite", "lite_share_text", "markdown", "text".
"""

from __future__ import annotations

from typing import Any

from kobold_gui.core.formats import lite, sillytavern, text
from kobold_gui.core.formats.jsonio import decode_text, dumps, parse_json
from kobold_gui.core.formats.model import FormatError, StoryData, WorldInfoEntry

__all__ = ["FormatError", "StoryData", "WorldInfoEntry", "detect", "dump", "load",
           "WRITABLE"]

OWN_FORMAT = "kobold_gui.story"
WRITABLE = ("lite", "lite_share_text", "markdown", "text")


def detect(data: bytes) -> str:
    """The format name, from the bytes alone; FormatError when it is none we know."""
    return _classify(data)[0]


def load(data: bytes) -> StoryData:
    fmt, parsed = _classify(data)
    if fmt == "kobold_gui":
        raise FormatError("this is a kobold_gui story: it is opened by the story model")
    if fmt in ("lite", "lite_share", "kai_united", "lite_share_text"):
        return lite.load(parsed)
    if fmt == "sillytavern":
        return sillytavern.load(parsed)
    return text.load_plain(parsed)


def dump(story: StoryData, fmt: str) -> bytes:
    if fmt == "lite":
        return dumps(lite.dump(story))
    if fmt == "lite_share_text":
        return lite.encode_share_text(story)
    if fmt == "markdown":
        return text.dump_markdown(story)
    if fmt == "text":
        return text.dump_plain(story)
    raise FormatError(f"cannot write {fmt!r}: choose one of {', '.join(WRITABLE)}")


def _classify(data: bytes) -> tuple[str, Any]:
    """(format, parsed content): the JSON object, the JSONL lines or the text."""
    if b"\x00" in data[:4096]:
        raise FormatError("not a story file: it is binary data, not text")
    body = decode_text(data)
    stripped = body.strip()
    if not stripped:
        raise FormatError("not a story file: the file is empty")
    if stripped[0] not in "{[":
        shared = lite.decode_share_text(stripped)
        if shared is not None and lite.is_lite_story(shared):
            return "lite_share_text", shared
        return "text", body
    try:
        obj = parse_json(body)
    except FormatError as whole_error:
        first = body.lstrip().split("\n", 1)[0]
        if sillytavern.is_header(_json_or_none(first)):
            return "sillytavern", sillytavern.parse_lines(body)  # reports the broken line
        lines = _try_lines(body)
        if lines is not None and sillytavern.is_chat(lines):
            return "sillytavern", lines
        raise whole_error from None
    fmt = _classify_json(obj)
    return fmt, ([obj] if fmt == "sillytavern" else obj)


def _json_or_none(line: str) -> Any:
    try:
        return parse_json(line)
    except FormatError:
        return None


def _try_lines(body: str) -> list[Any] | None:
    if "\n" not in body.strip():
        return None
    try:
        return sillytavern.parse_lines(body)
    except FormatError:
        return None


def _classify_json(obj: Any) -> str:
    if isinstance(obj, dict) and obj.get("format") == OWN_FORMAT:
        return "kobold_gui"
    if lite.is_lite_story(obj):
        return lite.shape(obj)
    if sillytavern.is_header(obj):
        return "sillytavern"
    kind = "a list" if isinstance(obj, list) else "an object" if isinstance(obj, dict) \
        else "a single value"
    raise FormatError(f"not a story file: the JSON is {kind} without a story "
                      "(no Lite prompt, no chat metadata, no kobold_gui format mark)")

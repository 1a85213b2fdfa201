"""SillyTavern chat files (JSONL): read them to continue the chat here.

Line 1 is the chat's metadata (`user_name`, `character_name`, `create_date`, `chat_metadata`);
every further line is a message with `name`, `is_user`, `mes`, `send_date`, maybe `swipes`.
Like Lite's `load_tavern_jsonl`, messages with an empty `mes` are skipped and each message
becomes "Name: text" on its own line.
"""

from __future__ import annotations

from typing import Any

from kobold_gui.core.formats.jsonio import parse_json
from kobold_gui.core.formats.model import FormatError, StoryData
from kobold_gui.core.formats.values import as_text


def parse_lines(text: str) -> list[Any]:
    """Each non-blank line as JSON; a broken line is reported by its line number."""
    objs = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                objs.append(parse_json(line, "not a chat file"))
            except FormatError as exc:
                raise FormatError(f"not a chat file: line {n} is not complete JSON "
                                  f"({exc.message.split(': ', 1)[-1]})") from None
    return objs


def is_header(obj: Any) -> bool:
    return isinstance(obj, dict) and ("user_name" in obj or "character_name" in obj) \
        and "mes" not in obj


def is_chat(objs: list[Any]) -> bool:
    """A metadata line first, or (as Lite tests it) a last line with `mes` and `name`."""
    if not objs or not all(isinstance(o, dict) for o in objs):
        return False
    last = objs[-1]
    return is_header(objs[0]) or ("mes" in last and "name" in last)


def load(objs: list[Any]) -> StoryData:
    if not is_chat(objs):
        raise FormatError("not a SillyTavern chat: no chat metadata or messages found")
    header = objs[0] if is_header(objs[0]) else {}
    messages = objs[1:] if header else objs
    segments: list[tuple[str, str]] = []
    for message in messages:
        text = as_text(message.get("mes"))
        if not text:
            continue
        name = as_text(message.get("name"))
        line = f"{name}: {text}" if name else text
        author = "user" if message.get("is_user") is True else "model"
        segments.append((author, line if not segments else "\n" + line))
    extra: dict[str, Any] = {
        "user_name": as_text(header.get("user_name")),
        "character_name": as_text(header.get("character_name")),
        # Everything else verbatim: swipes, dates, per-message extras, chat metadata.
        "sillytavern": {"metadata": header, "messages": messages},
    }
    return StoryData(segments=segments, mode="chat", extra=extra)

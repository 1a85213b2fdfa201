"""KoboldAI Lite story files: its own save, its share shapes, and KoboldAI United v2 saves.

The rules mirror Lite's `kai_json_load` (index.html, v339): a file is a story when `prompt`
is not null or `savedsettings` is present; with no `actions` it is the old share format
(`ga`, `ca`/`ct`, `cm`, `cwi`, `ess`); without `file_version` it is a Lite (v1) save; with
one it is a United v2 save. We always write the Lite v1 save, which v180 and v339 both open.
"""

from __future__ import annotations

import base64
import binascii
import lzma
import re
from typing import Any

from kobold_gui.core.formats.jsonio import dumps, parse_json
from kobold_gui.core.formats.lite_options import (
    dump_options,
    load_mode_options,
    load_wi_options,
)
from kobold_gui.core.formats.model import FormatError, StoryData, WorldInfoEntry
from kobold_gui.core.formats.values import (
    as_bool,
    as_int,
    as_text,
    bool_like,
    int_like,
    js_truthy,
    keys_like,
    split_keys,
    text_like,
)

# Lite's anote_strength default (medium: 320 characters before the end).
DEFAULT_AN_DEPTH = 320
DEFAULT_AN_TEMPLATE = "[Author's note: <|>]"
# savedsettings.opmode: 1 story, 2 adventure, 3 chat, 4 instruct.
_OPMODES = {1: "story", 2: "adventure", 3: "chat", 4: "instruct"}
_MODE_OPS = {mode: op for op, mode in _OPMODES.items()}
# Keys of a Lite save whose whole content lives in StoryData fields.
_CARRIED = ("prompt", "actions", "memory", "authorsnote", "anotetemplate",
            "worldinfo")
_SHARE_CARRIED = ("ga", "ca", "ct", "cm", "cwi")
_UNITED_CARRIED = ("prompt", "memory", "authornote", "authornotetemplate", "actions",
                   "worldinfo_v2", "file_version")
# Compressed share text: LZMA ("alone" format, as LZMA-JS writes it) then base64url. Lite's
# LZMA-JS decoder takes an all-ff size field as "unknown, read to the end marker", which is
# what Python writes. Share links carry the same text in the `s` query parameter.
_SHARE_TEXT = re.compile(r"[A-Za-z0-9_-]{16,}")
_SHARE_LINK = re.compile(r"https?://\S*?[?&]s=([A-Za-z0-9_-]{16,})(?:[&#]\S*)?")


def is_lite_story(obj: Any) -> bool:
    """Lite's file test (`is_kai_json`), minus NovelAI files that also carry a prompt, plus
    the bare share object (`ga` …) that Lite loads from share links without that test."""
    if not isinstance(obj, dict) or obj.get("scenarioVersion"):
        return False
    if obj.get("prompt") is not None or obj.get("savedsettings") is not None:
        return True
    return "ga" in obj and not js_truthy(obj.get("actions"))


def shape(obj: dict[str, Any]) -> str:
    """"lite_share", "lite" or "kai_united", decided exactly as Lite decides it."""
    if not js_truthy(obj.get("actions")):
        return "lite_share"
    return "lite" if obj.get("file_version") is None else "kai_united"


def load(obj: Any) -> StoryData:
    if not is_lite_story(obj):
        raise FormatError("not a KoboldAI story: it has neither a prompt nor saved settings")
    kind = shape(obj)
    if kind == "lite_share":
        return _load_share(obj)
    if kind == "kai_united":
        return _load_united(obj)
    return _load_v1(obj)


def _chunks_to_segments(chunks: list[str]) -> list[tuple[str, str]]:
    # Lite does not record who wrote a chunk; the first is usually the user's prompt.
    return [("user" if i == 0 else "model", c) for i, c in enumerate(chunks)]


def _mode(obj: dict[str, Any]) -> str:
    settings = obj.get("savedsettings")
    if isinstance(settings, dict):
        return _OPMODES.get(as_int(settings.get("opmode"), 1), "story")
    return "story"


def _texts(value: Any, what: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(f"not a KoboldAI story: {what} is not a list")
    return [as_text(item) for item in value]


def _load_v1(obj: dict[str, Any]) -> StoryData:
    prompt = as_text(obj.get("prompt"))
    actions = _texts(obj.get("actions"), "actions")
    segments = [("user", prompt)] if prompt != "" else []
    replies: list[int | None] = [None] * len(segments)
    segments += [("model", c) for c in actions]
    # one chunk = one reply (Lite's Retry replaces the last chunk); reply number = action + 1
    replies += list(range(1, len(actions) + 1))
    extra = {k: v for k, v in obj.items() if k not in _CARRIED}
    alternatives, metadata = _load_alternatives(extra.get("actions_metadata"), len(actions))
    if metadata is not None:
        extra["actions_metadata"] = metadata
    branches = _load_branches(extra.get("altbranches"))
    if branches:
        del extra["altbranches"]
    return StoryData(
        segments=segments,
        memory=as_text(obj.get("memory")),
        authors_note=as_text(obj.get("authorsnote")),
        an_template=as_text(obj.get("anotetemplate")),
        an_depth=as_int(obj.get("anotestr"), DEFAULT_AN_DEPTH),
        world_info=_lite_world_info(obj.get("worldinfo")),
        mode=_mode(obj),
        extra=extra,
        replies=replies, alternatives=alternatives, branches=branches,
        mode_options=load_mode_options(obj.get("savedsettings")),
        wi_options=load_wi_options(obj),
    )


#: an "Alternative Text" entry as KoboldAI writes it (Lite writes the list, always empty)
_ALT_FLAGS = {"Pinned": False, "Previous Selection": False, "Edited": False}
#: where the shown version sits among the alternatives, when not last (our own key)
_SHOWN_AT = "kobold_gui_shown_at"


def _load_alternatives(raw: Any, count: int) -> tuple[dict[int, list[str | None]],
                                                      dict[str, Any] | None]:
    """Reply versions from `actions_metadata[i]["Alternative Text"]` (KoboldAI's field, which
    Lite writes and never reads), and the metadata without the ones taken (None: unchanged).
    An entry we cannot read is left as it is."""
    if not isinstance(raw, dict):
        return {}, None
    out: dict[int, list[str | None]] = {}
    kept = dict(raw)
    for key, entry in raw.items():
        if not (isinstance(key, str) and key.isdigit() and int(key) < count
                and isinstance(entry, dict)):
            continue
        alts = entry.get("Alternative Text")
        if not isinstance(alts, list) or not alts:
            continue
        texts = [a.get("Text") if isinstance(a, dict) else a for a in alts]
        if not all(isinstance(t, str) for t in texts):
            continue
        shown = entry.get(_SHOWN_AT)
        at = shown if isinstance(shown, int) and 0 <= shown <= len(texts) else len(texts)
        versions: list[str | None] = list(texts)
        versions.insert(at, None)
        out[int(key) + 1] = versions
        kept[key] = {k: v for k, v in entry.items() if k != _SHOWN_AT} | {"Alternative Text": []}
    return out, (kept if out else None)


def _load_branches(raw: Any) -> list[list[str] | None]:
    """Lite's `altbranches` (each other branch's chunks, null = the one shown); [] when it
    is absent or not that shape (then it stays in `extra`, unchanged)."""
    if not isinstance(raw, list) or raw.count(None) != 1:
        return []
    if not all(b is None or (isinstance(b, list) and all(isinstance(c, str) for c in b))
               for b in raw):
        return []
    return [None if b is None else list(b) for b in raw]


def _load_share(obj: dict[str, Any]) -> StoryData:
    return StoryData(
        segments=_chunks_to_segments(_texts(obj.get("ga"), "ga")),
        memory=as_text(obj.get("cm")),
        authors_note=as_text(obj.get("ca")),
        an_template=as_text(obj.get("ct")),
        an_depth=as_int(obj.get("anotestr"), DEFAULT_AN_DEPTH),
        world_info=_lite_world_info(obj.get("cwi")),
        mode=_mode(obj),
        extra={k: v for k, v in obj.items() if k not in _SHARE_CARRIED and k != "actions"},
    )


def _shared_entry_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The world-info fields Lite and KoboldAI United spell the same way."""
    return {
        "keys": split_keys(raw.get("key")),
        "secondary_keys": split_keys(raw.get("keysecondary")),
        "anti_keys": split_keys(raw.get("keyanti")),
        "content": as_text(raw.get("content")),
        "comment": as_text(raw.get("comment")),
        "selective": as_bool(raw.get("selective")),
        "constant": as_bool(raw.get("constant")),
    }


def _lite_world_info(value: Any) -> list[WorldInfoEntry]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError("not a KoboldAI story: its world info is not a list")
    entries = []
    for n, raw in enumerate(value, 1):
        if not isinstance(raw, dict):
            raise FormatError(f"not a KoboldAI story: world-info entry {n} is not an object")
        entries.append(WorldInfoEntry(
            **_shared_entry_fields(raw),
            probability=as_int(raw.get("probability"), 100),
            group=as_text(raw.get("wigroup")),
            disabled=as_bool(raw.get("widisabled")),
            extra=dict(raw),
        ))
    return entries


def _load_united(obj: dict[str, Any]) -> StoryData:
    actions = obj.get("actions")
    chunks: list[str] = []
    if isinstance(actions, dict) and isinstance(actions.get("actions"), dict):
        # JavaScript's for-in visits integer-like keys in numeric order.
        items = sorted(actions["actions"].items(), key=lambda kv: _index_key(kv[0]))
        chunks = [as_text(a.get("Selected Text")) if isinstance(a, dict) else "" for _, a in items]
    prompt = as_text(obj.get("prompt"))
    segments = ([("user", prompt)] if prompt != "" else []) + [("model", c) for c in chunks]
    wi_raw = obj.get("worldinfo_v2")
    entries_raw = wi_raw.get("entries") if isinstance(wi_raw, dict) else None
    world_info = []
    if isinstance(entries_raw, dict):
        for _, raw in sorted(entries_raw.items(), key=lambda kv: _index_key(kv[0])):
            if not isinstance(raw, dict) or raw.get("content") is None:
                continue
            world_info.append(WorldInfoEntry(
                **_shared_entry_fields(raw),
                extra={k: v for k, v in raw.items()
                       if k not in ("key", "keysecondary", "keyanti")},
            ))
    extra = {k: v for k, v in obj.items() if k not in _UNITED_CARRIED}
    # United's own structures are kept whole, under one key Lite ignores.
    extra["kai_united"] = {k: obj[k] for k in ("file_version", "actions", "worldinfo_v2")
                           if k in obj}
    return StoryData(
        segments=segments,
        memory=as_text(obj.get("memory")),
        authors_note=as_text(obj.get("authornote")),
        an_template=as_text(obj.get("authornotetemplate")),
        world_info=world_info,
        mode=_mode(obj),
        extra=extra,
    )


def _index_key(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def chunks_of(segments: list[tuple[str, str]],
              replies: list[int | None]) -> list[tuple[str, str, int | None]]:
    """Lite's chunks: the segments of one reply (and text typed between them) as one chunk,
    as Lite has one per generation; (author of its first segment, text, reply number)."""
    if len(replies) != len(segments):
        return [(author, text, None) for author, text in segments]
    group: list[int | None] = []
    for i, reply in enumerate(replies):
        if reply is None:
            before = next((r for r in reversed(replies[:i]) if r is not None), None)
            after = next((r for r in replies[i + 1:] if r is not None), None)
            reply = before if before == after else None
        group.append(reply)
    out: list[tuple[str, str, int | None]] = []
    for (author, text), reply in zip(segments, group, strict=True):
        if out and reply is not None and out[-1][2] == reply:
            out[-1] = (out[-1][0], out[-1][1] + text, reply)
        else:
            out.append((author, text, reply))
    return out


def dump(story: StoryData) -> dict[str, Any]:
    """The Lite v1 save: Lite's base keys first, then every foreign key as it was read."""
    extra = story.extra
    merged = chunks_of(story.segments, story.replies)
    chunks = [text for _, text, _ in merged]
    # Lite concatenates prompt and actions; an empty prompt is skipped on load, so a story
    # that does not start with the user's text keeps every chunk in `actions`.
    starts_with_user = bool(merged) and merged[0][0] == "user" and chunks[0]
    prompt, actions = (chunks[0], chunks[1:]) if starts_with_user else ("", chunks)
    action_replies = [r for _, _, r in merged][1 if starts_with_user else 0:]
    out: dict[str, Any] = {
        "gamestarted": extra.get("gamestarted", True),
        "prompt": prompt,
        "memory": story.memory,
        "authorsnote": story.authors_note,
        "anotetemplate": story.an_template,
        "actions": actions,
        "actions_metadata": _metadata(extra.get("actions_metadata"), actions,
                                      [story.alternatives.get(r) if r is not None else None
                                       for r in action_replies]),
        "worldinfo": [_dump_wi(e) for e in story.world_info],
        "wifolders_d": extra.get("wifolders_d", {}),
        "wifolders_l": extra.get("wifolders_l", []),
        "anotestr": int_like(extra.get("anotestr"), story.an_depth),
        "wisearchdepth": extra.get("wisearchdepth", 0),
        "wiinsertlocation": extra.get("wiinsertlocation", 0),
    }
    for key, value in extra.items():
        if key not in out and key not in _CARRIED and key not in _UNITED_CARRIED:
            out[key] = value
    if story.branches:
        out["altbranches"] = story.branches
    dump_options(out, story.mode_options, story.wi_options)
    if "ess" in extra and "extrastopseq" not in extra:
        # The share format's stop sequences; a v1 save keeps them as `extrastopseq`.
        out["extrastopseq"] = extra["ess"]
    out.setdefault("savedsettings", None)
    out.setdefault("savedaestheticsettings", None)
    settings = out["savedsettings"]
    if isinstance(settings, dict) and _mode(out) != story.mode and story.mode in _MODE_OPS:
        out["savedsettings"] = {
            **settings, "opmode": int_like(settings.get("opmode"), _MODE_OPS[story.mode])}
    return out


def _metadata(raw: Any, actions: list[str],
              versions: list[list[str | None] | None]) -> dict[str, Any]:
    """One entry per action. Lite never reads it back; v180 copies the action into
    "Selected Text", v339 writes "": an entry is kept while its copy is not stale. A reply's
    other versions go in "Alternative Text", KoboldAI's field for them."""
    old = raw if isinstance(raw, dict) else {}
    out: dict[str, Any] = {}
    for i, action in enumerate(actions):
        entry = old.get(str(i))
        if not isinstance(entry, dict):
            entry = {"Selected Text": "", "Alternative Text": []}
        elif entry.get("Selected Text") not in ("", action):
            entry = {**entry, "Selected Text": ""}
        these = versions[i] if i < len(versions) else None
        if these and None in these:
            others = [v for v in these if v is not None]
            entry = {**entry, "Alternative Text": [{"Text": t, **_ALT_FLAGS} for t in others]}
            if these.index(None) != len(others):
                entry[_SHOWN_AT] = these.index(None)
        out[str(i)] = entry
    return out


def _dump_wi(entry: WorldInfoEntry) -> dict[str, Any]:
    raw = entry.extra
    out = {
        "key": keys_like(raw.get("key"), entry.keys),
        "keysecondary": keys_like(raw.get("keysecondary"), entry.secondary_keys),
        "keyanti": keys_like(raw.get("keyanti"), entry.anti_keys),
        "content": text_like(raw.get("content", ""), entry.content),
        "comment": text_like(raw.get("comment", ""), entry.comment),
        "folder": raw.get("folder"),
        "selective": bool_like(raw.get("selective"), entry.selective),
        "constant": bool_like(raw.get("constant"), entry.constant),
        "probability": int_like(raw.get("probability"), entry.probability),
        "wigroup": text_like(raw.get("wigroup", ""), entry.group),
        "widisabled": bool_like(raw.get("widisabled"), entry.disabled),
    }
    # Keys an older Lite (v180) never wrote stay absent while they hold Lite's defaults.
    at_default = {"folder": True, "probability": entry.probability == 100,
                  "wigroup": entry.group == "", "widisabled": not entry.disabled}
    if raw:
        for key, default in at_default.items():
            if key not in raw and default:
                del out[key]
    return {**out, **{k: v for k, v in raw.items() if k not in out}}


def decode_share_text(text: str) -> Any:
    """The story object inside Lite's compressed share text, or None if it is not one."""
    text = text.strip()
    link = _SHARE_LINK.fullmatch(text)
    if link:
        text = link.group(1)
    if not _SHARE_TEXT.fullmatch(text):
        return None
    try:
        packed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        story_json = lzma.decompress(packed, format=lzma.FORMAT_ALONE).decode("utf-8")
    except (binascii.Error, lzma.LZMAError, EOFError, UnicodeDecodeError, ValueError):
        return None
    return parse_json(story_json, "not a Lite share text")


def encode_share_text(story: StoryData) -> bytes:
    """Lite's share text: the save JSON, LZMA "alone" compressed, base64url, no padding."""
    filters = [{"id": lzma.FILTER_LZMA1, "dict_size": 1 << 16}]
    packed = lzma.compress(dumps(dump(story)), format=lzma.FORMAT_ALONE, filters=filters)
    return base64.urlsafe_b64encode(packed).rstrip(b"=")

"""A story's instruct/chat and world-info options <-> where a Lite save keeps them.

Lite keeps the instruct tags, system prompt, chat names, thinking and world-info case in
`savedsettings` (its whole `localsettings`), and the world-info search depth and insert place
at the top level (`wisearchdepth`, `wiinsertlocation`). Reading maps them onto ModeOptions /
WorldInfoOptions; writing changes a key only when our value means something else than what
the file holds, so a file read and written back is unchanged, and every other key is kept.
"""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Any

from ..story import ModeOptions, WorldInfoOptions
from .values import as_bool, as_int, as_text, bool_like, int_like

#: our tag name -> Lite's localsettings key
TAG_KEYS = {"system_start": "instruct_systag", "system_end": "instruct_systag_end",
            "user_start": "instruct_starttag", "user_end": "instruct_starttag_end",
            "assistant_start": "instruct_endtag", "assistant_end": "instruct_endtag_end"}
CUSTOM = "Custom"
AUTOMATIC = "KoboldCppAutomatic"
#: Lite's own defaults (localsettings, v339): the automatic placeholders, no end tags
_LITE_DEFAULT_TAGS = {"system_start": "{{[SYSTEM]}}", "user_start": "{{[INPUT]}}",
                      "assistant_start": "{{[OUTPUT]}}", "system_end": "", "user_end": "",
                      "assistant_end": ""}


def _unescape(text: str) -> str:
    """Lite stores tags with a literal backslash-n (and replaces only that)."""
    return text.replace("\\n", "\n")


def _escape(text: str) -> str:
    return text.replace("\n", "\\n")


@cache
def templates() -> dict[str, dict[str, str]]:
    """Lite's instruct templates by name: their six tags, unescaped."""
    data = json.loads(resources.files("kobold_gui").joinpath("data/lite-presets.json")
                      .read_text(encoding="utf-8"))
    return {t["name"]: {tag: _unescape(str(t.get(tag, ""))) for tag in TAG_KEYS}
            for t in data["instruct_templates"]}


def _tags_of(options: ModeOptions) -> dict[str, str]:
    if options.instruct_template == CUSTOM:
        return {tag: options.custom_template.get(tag, "") for tag in TAG_KEYS}
    return templates().get(options.instruct_template, templates()[AUTOMATIC])


def _template_for(tags: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(template name, custom tags): a built-in whose tags are exactly these, else Custom."""
    if tags == _LITE_DEFAULT_TAGS:
        return AUTOMATIC, {}
    for name, known in templates().items():
        if known == tags:
            return name, {}
    return CUSTOM, dict(tags)


def load_mode_options(settings: Any) -> ModeOptions | None:
    """ModeOptions from a Lite `savedsettings` object; None when the file has none."""
    if not isinstance(settings, dict):
        return None
    options = ModeOptions()
    if any(key in settings for key in TAG_KEYS.values()):
        tags = {tag: _unescape(as_text(settings.get(key, _LITE_DEFAULT_TAGS[tag])))
                for tag, key in TAG_KEYS.items()}
        name, custom = _template_for(tags)
        options = replace(options, instruct_template=name, custom_template=custom)
    if "instruct_sysprompt" in settings:
        options = replace(options, system_prompt=as_text(settings["instruct_sysprompt"]))
    if isinstance(settings.get("chatname"), str):
        options = replace(options, user_name=settings["chatname"])
    if isinstance(settings.get("chatopponent"), str):
        options = replace(options, bot_name=settings["chatopponent"])
    if "strip_thinking_mode" in settings:
        options = replace(options,
                          keep_thinking=as_int(settings["strip_thinking_mode"], 1) == 0)
    return options


def load_wi_options(obj: dict[str, Any]) -> WorldInfoOptions | None:
    settings = obj.get("savedsettings")
    case = settings.get("case_sensitive_wi") if isinstance(settings, dict) else None
    if "wisearchdepth" not in obj and "wiinsertlocation" not in obj and case is None:
        return None
    return WorldInfoOptions(
        search_depth=max(0, as_int(obj.get("wisearchdepth"), 0)),
        insert_location="before_note" if as_int(obj.get("wiinsertlocation"), 0) == 1
        else "after_memory",
        case_sensitive=as_bool(case))


def dump_options(out: dict[str, Any], mode: ModeOptions | None,
                 wi: WorldInfoOptions | None) -> None:
    """Write the options into a Lite save being built (`out`), changing only what differs."""
    settings = out.get("savedsettings")
    had = isinstance(settings, dict)
    new: dict[str, Any] = dict(settings) if isinstance(settings, dict) else {}
    if mode is not None:
        read = load_mode_options(new) or ModeOptions()
        if _tags_of(read) != _tags_of(mode):
            for tag, key in TAG_KEYS.items():
                new[key] = _escape(_tags_of(mode)[tag])
        for ours, key, default in (("system_prompt", "instruct_sysprompt", ""),
                                   ("user_name", "chatname", "User"),
                                   ("bot_name", "chatopponent", "KoboldAI")):
            value = getattr(mode, ours)
            if getattr(read, ours) != value and (had or value != default):
                new[key] = value
        if read.keep_thinking != mode.keep_thinking:
            new["strip_thinking_mode"] = 0 if mode.keep_thinking else 1
    if wi is not None:
        out["wisearchdepth"] = int_like(out.get("wisearchdepth"), wi.search_depth)
        out["wiinsertlocation"] = int_like(out.get("wiinsertlocation"),
                                           1 if wi.insert_location == "before_note" else 0)
        if as_bool(new.get("case_sensitive_wi")) != wi.case_sensitive:
            new["case_sensitive_wi"] = bool_like(new.get("case_sensitive_wi"),
                                                 wi.case_sensitive)
    if had or new:
        out["savedsettings"] = new

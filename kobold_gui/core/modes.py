"""Story, instruct and chat: how the story's turns are shown to the model.

The story keeps every turn WITHOUT tags (what the user typed, what the model wrote); the tags
or names are added only here, when a request is built, so switching template or mode never
rewrites the story.

- story (and adventure): the text as it stands;
- instruct: each turn wrapped in the template's tags (user_start…user_end,
  assistant_start…assistant_end), the system prompt in the system tags before memory, and the
  prompt ends with the assistant's start tag so the model answers;
- chat: "Name: text" turns on their own lines, the prompt ends with "\\nBotName:".

Who a turn belongs to: "user" segments are the user's, "model" and "recovered" the model's. An
"edited" segment (text typed into the story view) belongs to the turn it sits in: it takes the
role of the segment before it (an edit inside or after a reply is part of that reply), and the
user's when it opens the story. A new user turn is what the prompt box sends.

When the last turn is the model's (Continue), its end tag is left off and no suffix is added, so
the model carries on with the same answer.

Placeholders: KoboldCppAutomatic's tags are `{{[INPUT]}}`-style placeholders that KoboldCpp 1.88+
replaces with the loaded model's own tags. They are sent as they are only to such a server (and
only while the story's option says "auto"); otherwise they become the literal tags Lite falls
back to (Lite L5896-5967): Alpaca-style `### Instruction:` / `### Response:` / `### System:` and
empty end tags.

Thinking (core/thinking.py): blocks in the model's earlier turns are left out of the prompt
unless the story's `keep_thinking` is set; the turn being continued is always sent whole.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from typing import Literal

from . import thinking
from .prompt_layout import PromptLayout
from .serverinfo import ServerVersion
from .story import ModeOptions, Story

Role = Literal["user", "assistant"]

AUTOMATIC = "KoboldCppAutomatic"
CUSTOM = "Custom"
#: KoboldCpp fills the {{[INPUT]}}-style placeholders from this version on (Lite's
#: is_using_kcpp_with_autotags)
PLACEHOLDER_VERSION = (1, 88)
#: what Lite sends instead of each placeholder when the server cannot fill it in
LITERAL_FALLBACK = {
    "{{[INPUT]}}": "\n### Instruction:\n",
    "{{[OUTPUT]}}": "\n### Response:\n",
    "{{[SYSTEM]}}": "\n### System:\n",
    "{{[INPUT_END]}}": "",
    "{{[OUTPUT_END]}}": "",
    "{{[SYSTEM_END]}}": "",
}
_PLACEHOLDER = re.compile(r"\{\{\[(?:INPUT|OUTPUT|SYSTEM)(?:_END)?\]\}\}")
#: Lite never stops on gpt-oss's assistant header: the model writes it before its final answer
_NEVER_STOP = "<|start|>assistant"
TAG_FIELDS = ("system_start", "system_end", "user_start", "user_end",
              "assistant_start", "assistant_end")


@dataclass(frozen=True)
class InstructTemplate:
    """One instruct format: the six tags (real newlines, not Lite's escaped `\\n`), plus the
    optional start tag used only where the model is asked to answer (`assistant_gen`)."""

    name: str
    system_start: str = ""
    system_end: str = ""
    user_start: str = ""
    user_end: str = ""
    assistant_start: str = ""
    assistant_end: str = ""
    assistant_gen: str = ""

    @property
    def has_placeholders(self) -> bool:
        return any(_PLACEHOLDER.search(getattr(self, f)) for f in TAG_FIELDS + ("assistant_gen",))

    def tags(self) -> dict[str, str]:
        """The six tags by field name (what the Custom template stores)."""
        return {f: getattr(self, f) for f in TAG_FIELDS}

    def literal(self) -> InstructTemplate:
        """Placeholders replaced by Lite's literal fallback tags."""
        values = {f.name: _PLACEHOLDER.sub(lambda m: LITERAL_FALLBACK[m.group(0)],
                                           getattr(self, f.name))
                  for f in fields(self) if f.name != "name"}
        return InstructTemplate(self.name, **values)


def _lite_unescape(text: str) -> str:
    """Lite stores tags with a literal backslash-n and replaces only that (replaceAll)."""
    return text.replace("\\n", "\n")


@cache
def templates() -> tuple[InstructTemplate, ...]:
    """Lite v339's 28 instruct templates, in Lite's order (KoboldCppAutomatic first)."""
    data = json.loads(resources.files("kobold_gui").joinpath("data/lite-presets.json")
                      .read_text(encoding="utf-8"))
    out = []
    for entry in data["instruct_templates"]:
        out.append(InstructTemplate(
            entry["name"], **{f: _lite_unescape(str(entry.get(f, "")))
                              for f in TAG_FIELDS + ("assistant_gen",)}))
    return tuple(out)


def template_names() -> list[str]:
    """Every name the template picker offers: Lite's 28, then "Custom"."""
    return [t.name for t in templates()] + [CUSTOM]


def template_for(options: ModeOptions) -> InstructTemplate:
    """The story's template; "Custom" from its own tags. A name this version does not know
    (a file from a newer Lite) falls back to KoboldCppAutomatic, which any model can use."""
    if options.instruct_template == CUSTOM:
        tags = {f: str(options.custom_template.get(f, "")) for f in TAG_FIELDS}
        return InstructTemplate(CUSTOM, **tags)
    by_name = {t.name: t for t in templates()}
    return by_name.get(options.instruct_template, by_name[AUTOMATIC])


def parse_version(text: str) -> tuple[int, ...] | None:
    """"1.100.1" -> (1, 100, 1); None when it does not start with a number."""
    parts = []
    for piece in text.strip().split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group(0)))
        if digits.group(0) != piece:
            break
    return tuple(parts) or None


def server_fills_placeholders(server: ServerVersion | None) -> bool:
    """True for KoboldCpp 1.88 or newer: it replaces {{[INPUT]}}… with the model's tags."""
    if server is None or not server.is_koboldcpp:
        return False
    version = parse_version(server.version)
    return version is not None and version >= PLACEHOLDER_VERSION


def effective_template(options: ModeOptions,
                       server: ServerVersion | None) -> InstructTemplate:
    """The template as it will be sent: placeholders kept only for a server that fills them
    in and while the story's option is "auto"."""
    template = template_for(options)
    if template.has_placeholders and not (options.placeholders == "auto"
                                          and server_fills_placeholders(server)):
        return template.literal()
    return template


# ---------------------------------------------------------------------------- turns

def segment_roles(story: Story) -> list[Role]:
    """Whose turn each segment (all of them, empty ones too) belongs to; see the module doc."""
    roles: list[Role] = []
    previous: Role = "user"
    for seg in story.segments:
        if seg.author == "user":
            previous = "user"
        elif seg.author in ("model", "recovered"):
            previous = "assistant"
        roles.append(previous)
    return roles


@dataclass(frozen=True)
class Turn:
    role: Role
    #: the non-empty segments' texts of this turn, in order
    texts: tuple[str, ...]


#: what separates turns in the story text in instruct and chat mode: each turn starts a
#: paragraph of its own in the view; never sent (the tags or names separate turns there)
TURN_BREAK = "\n\n"


def turn_break(story: Story, role: Role) -> str:
    """The newlines to put before a new `role` turn at the end of `story` ("" in story mode,
    at the very start, or when it carries on the last turn)."""
    if story.mode not in ("instruct", "chat"):
        return ""
    roles = segment_roles(story)
    last = next((r for seg, r in zip(reversed(story.segments), reversed(roles), strict=True)
                 if seg.text), None)
    if last is None or last == role:
        return ""
    text = story.segments[-1].text if story.segments else ""
    trailing = len(text) - len(text.rstrip("\n"))
    return "\n" * max(0, len(TURN_BREAK) - trailing)


def turns(story: Story, *, drop_breaks: bool = False) -> list[Turn]:
    """Consecutive non-empty segments of the same role, as turns; `drop_breaks`: without the
    line breaks that open a turn (TURN_BREAK), which only lay turns out in the view."""
    out: list[tuple[Role, list[str]]] = []
    for seg, role in zip(story.segments, segment_roles(story), strict=True):
        if not seg.text:
            continue
        if out and out[-1][0] == role:
            out[-1][1].append(seg.text)
        else:
            text = seg.text.lstrip("\n") if drop_breaks else seg.text
            out.append((role, [text] if text else []))
    return [Turn(role, tuple(texts)) for role, texts in out if texts]


def _visible_texts(turn: Turn, keep: bool) -> list[str]:
    """The turn's texts as sent: thinking left out of a model turn unless kept."""
    if keep or turn.role != "assistant":
        return list(turn.texts)
    return thinking.strip_thinking_pieces(list(turn.texts))


# ---------------------------------------------------------------------------- layouts

def layout_for(story: Story, server: ServerVersion | None = None) -> PromptLayout:
    """The story as the model sees it in the story's mode, for this server (None: unknown)."""
    if story.mode == "instruct":
        return instruct_layout(story, server)
    if story.mode == "chat":
        return chat_layout(story)
    return plain_layout(story)


def plain_layout(story: Story) -> PromptLayout:
    """Story (and adventure) mode: the text as it stands, earlier thinking left out."""
    options = story.mode_options
    all_turns = turns(story)
    pieces: list[str] = []
    for index, turn in enumerate(all_turns):
        keep = options.keep_thinking or index == len(all_turns) - 1
        pieces.extend(_visible_texts(turn, keep))
    return PromptLayout(tuple(pieces))


def instruct_layout(story: Story, server: ServerVersion | None = None) -> PromptLayout:
    options = story.mode_options
    template = effective_template(options, server)
    all_turns = turns(story, drop_breaks=True)
    pieces: list[str] = []
    for index, turn in enumerate(all_turns):
        last = index == len(all_turns) - 1
        if turn.role == "user":
            start, end = template.user_start, template.user_end
        else:
            start, end = template.assistant_start, template.assistant_end
            if last:
                end = ""  # the model carries on with this answer (Continue)
        texts = _visible_texts(turn, options.keep_thinking or last)
        for k, text in enumerate(texts):
            pieces.append((start if k == 0 else "") + text
                          + (end if k == len(texts) - 1 else ""))
    suffix = ""
    if not all_turns or all_turns[-1].role == "user":
        suffix = template.assistant_gen or template.assistant_start
    system = ""
    if options.system_prompt:
        system = template.system_start + options.system_prompt + template.system_end
        if not system.endswith("\n"):
            system += "\n"  # Lite always ends the system block with a newline
    return PromptLayout(tuple(pieces), system, suffix, instruct_stops(template))


def instruct_stops(template: InstructTemplate) -> tuple[str, ...]:
    """Lite's instruct stops (get_stop_sequences, opmode 4, separate end tags): the user's and
    the assistant's start tags and the end tags, trimmed; never gpt-oss's assistant header."""
    candidates = [template.user_start, template.assistant_start, template.assistant_end,
                  template.user_end]
    stops: list[str] = []
    for tag in candidates:
        tag = tag.strip()
        if tag and _NEVER_STOP not in tag and tag not in stops:
            stops.append(tag)
    return tuple(stops)


def chat_layout(story: Story) -> PromptLayout:
    options = story.mode_options
    user, bot = options.user_name.strip() or "User", options.bot_name.strip() or "KoboldAI"
    all_turns = turns(story, drop_breaks=True)
    pieces: list[str] = []
    for index, turn in enumerate(all_turns):
        last = index == len(all_turns) - 1
        name = user if turn.role == "user" else bot
        texts = _visible_texts(turn, options.keep_thinking or last)
        for k, text in enumerate(texts):
            if k == 0:
                lead = "" if not pieces or pieces[-1].endswith("\n") else "\n"
                gap = "" if text[:1].isspace() else " "
                text = f"{lead}{name}:{gap}{text}"
            pieces.append(text)
    suffix = ""
    if not all_turns or all_turns[-1].role == "user":
        lead = "" if not pieces or pieces[-1].endswith("\n") else "\n"
        suffix = f"{lead}{bot}:"
    system = options.system_prompt + "\n" if options.system_prompt else ""
    return PromptLayout(tuple(pieces), system, suffix, chat_stops(user, bot))


def chat_stops(user: str, bot: str) -> tuple[str, ...]:
    """Lite's chat stops (opmode 3): the user's name wherever it starts a line or follows a
    line break, and a new line opened by the bot's own name."""
    return (f"{user}:", f"\n{user} ", f"\n{bot}: ")


def prompt_text(layout: PromptLayout, memory: str = "") -> str:
    """Everything a layout sends, in order, with nothing cut (for tests and previews)."""
    return layout.system + memory + "".join(layout.pieces) + layout.suffix


__all__ = [
    "AUTOMATIC", "CUSTOM", "LITERAL_FALLBACK", "InstructTemplate", "Role", "TAG_FIELDS", "Turn",
    "chat_layout", "effective_template", "instruct_layout", "layout_for", "parse_version",
    "plain_layout", "prompt_text", "segment_roles", "server_fills_placeholders",
    "template_for", "template_names", "templates", "turns",
]

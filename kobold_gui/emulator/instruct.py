"""What newer KoboldCpp servers (1.88+) do with instruct prompts, for the emulator.

- `{{[INPUT]}}`, `{{[OUTPUT]}}`, `{{[SYSTEM]}}` and their `_END` forms in `prompt`, `memory` and
  `stop_sequence` are replaced with the loaded model's chat adapter's tags, unless the request
  says `"replace_instruct_placeholders": false` (koboldcpp-api §12). 1.76 knows nothing of them
  and sends them to the model as text.
- Thinking models: the emulated model can start each fresh reply with a `<think>…</think>`
  block (`EmulatorConfig.think_block`), so clients can be tested against one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from .textgen import STOP_SEQUENCE, Step, TextModel, pieces

#: ChatML, the emulator's default adapter (what AutoGuess picks for many GGUFs)
CHATML_ADAPTER: dict[str, str] = {
    "system_start": "<|im_start|>system\n", "system_end": "<|im_end|>\n",
    "user_start": "<|im_start|>user\n", "user_end": "<|im_end|>\n",
    "assistant_start": "<|im_start|>assistant\n", "assistant_end": "<|im_end|>\n",
}
#: the thoughts of `kobold-emulator --think`
DEMO_THOUGHTS = ("<think>\nThe reader wants the story to go on. Keep the tone, add one "
                 "surprise.\n</think>\n")
PLACEHOLDERS: dict[str, str] = {
    "{{[SYSTEM]}}": "system_start", "{{[SYSTEM_END]}}": "system_end",
    "{{[INPUT]}}": "user_start", "{{[INPUT_END]}}": "user_end",
    "{{[OUTPUT]}}": "assistant_start", "{{[OUTPUT_END]}}": "assistant_end",
}
#: KoboldCpp fills placeholders from this version on
PLACEHOLDER_VERSION = (1, 88)
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS))
#: a chat turn the model is asked to answer: "\nName:" at the very end
_CHAT_CUE = re.compile(r"(?:^|\n)[^\n:]{1,40}:$")


def version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        parts.append(int(digits.group(0)))
    return tuple(parts)


def fills_placeholders(version: str) -> bool:
    return version_tuple(version) >= PLACEHOLDER_VERSION


def replace_placeholders(text: str, adapter: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: adapter.get(PLACEHOLDERS[m.group(0)], ""), text)


def starts_reply(context: str, adapter: dict[str, str]) -> bool:
    """Whether `context` asks the model for a fresh reply (ends with an assistant tag or a chat
    name cue), as opposed to continuing text: only a fresh reply begins with thoughts."""
    cues = [adapter.get("assistant_start", ""), "\n### Response:\n"]
    if any(cue and context.endswith(cue) for cue in cues):
        return True
    return bool(_CHAT_CUE.search(context))


def reply_steps(model: TextModel, context: str, max_length: int, stop_sequence: Sequence[str],
                ban_eos: bool, prefix: str = "",
                adapter: dict[str, str] | None = None) -> Iterator[Step]:
    """The model's steps for `context`; a fresh reply first spells out `prefix` (a thinking
    model's thoughts), token by token, stop sequences checked as for any generated text."""
    opening: list[str] = []
    if prefix and starts_reply(context, adapter or CHATML_ADAPTER):
        opening = list(pieces(prefix))[:max(0, max_length)]
    longest = max((len(s) for s in stop_sequence), default=0)
    text = ""
    for token in opening:
        text += token
        if stop_sequence and any(s in text[-(len(token) + longest):] for s in stop_sequence):
            yield Step(token, STOP_SEQUENCE)
            return
        yield Step(token)
    yield from model.steps(context + text, max_length - len(opening), stop_sequence, ban_eos)


__all__ = ["CHATML_ADAPTER", "DEMO_THOUGHTS", "PLACEHOLDERS", "fills_placeholders",
           "replace_placeholders", "reply_steps", "starts_reply", "version_tuple"]

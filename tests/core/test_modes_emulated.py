"""Each mode's request as a KoboldCpp 1.76 and a 1.100 server receive it (the emulator records
it), the mode's stop sequence trimmed from the reply, a thinking model's block split off."""

from __future__ import annotations

import pytest

from kobold_gui.core import settings as S
from kobold_gui.core.events import Finished
from kobold_gui.core.generation import Generation
from kobold_gui.core.modes import layout_for
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.story import ModeOptions, Segment, Story
from kobold_gui.core.thinking import split_reply
from kobold_gui.emulator import Emulator

pytestmark = pytest.mark.asyncio

CHATML_TURNS = ("<|im_start|>system\nBe kind.<|im_end|>\n"
                "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
                "<|im_start|>user\nA tale, please<|im_end|>\n<|im_start|>assistant\n")


def instruct_story(template: str, **options: object) -> Story:
    return Story([Segment("user", "Hi"), Segment("model", "Hello"),
                  Segment("user", "A tale, please")], mode="instruct",
                 mode_options=ModeOptions(instruct_template=template,  # type: ignore[arg-type]
                                          system_prompt="Be kind.", **options))


async def send(emu: Emulator, story: Story, max_length: int = 12) -> Finished:
    """What the window will send for `story` (system prompt + memory in `memory`, the mode's
    stops added), through the client's generation."""
    client = KoboldClient(emu.url)
    try:
        layout = layout_for(story, await client.version())
        values = S.defaults()
        values.update(max_length=max_length, stop_sequence=list(layout.stop_sequences),
                      memory=layout.system + story.memory)
        outcome = await Generation(client, "".join(layout.pieces) + layout.suffix, values,
                                   lambda _e: None).run()
    finally:
        await client.aclose()
    assert isinstance(outcome, Finished)
    return outcome


@pytest.mark.parametrize("version", ["1.76", "1.100"])
@pytest.mark.parametrize(("template", "received_old", "received_new", "seen_new"), [
    ("ChatML", CHATML_TURNS, CHATML_TURNS, CHATML_TURNS),
    ("Alpaca",
     "Be kind.\n\n### Instruction:\nHi\n### Response:\nHello\n### Instruction:\nA tale, please"
     "\n### Response:\n", None, None),
    ("KoboldCppAutomatic",
     "\n### System:\nBe kind.\n\n### Instruction:\nHi\n### Response:\nHello"
     "\n### Instruction:\nA tale, please\n### Response:\n",
     "{{[SYSTEM]}}Be kind.{{[SYSTEM_END]}}\n{{[INPUT]}}Hi{{[INPUT_END]}}{{[OUTPUT]}}Hello"
     "{{[OUTPUT_END]}}{{[INPUT]}}A tale, please{{[INPUT_END]}}{{[OUTPUT]}}",
     # the 1.100 server fills in its model's tags (the emulator's adapter is ChatML)
     "<|im_start|>system\nBe kind.<|im_end|>\n\n<|im_start|>user\nHi<|im_end|>\n"
     "<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nA tale, please<|im_end|>\n"
     "<|im_start|>assistant\n"),
])
async def test_instruct_request_per_template_and_server(
        make_emulator, version: str, template: str, received_old: str,
        received_new: str | None, seen_new: str | None) -> None:
    emu = make_emulator(version=version)
    await send(emu, instruct_story(template))
    record = emu.last_generation
    assert record is not None
    received = record.received_memory + record.received_prompt
    expected = received_old if version == "1.76" else (received_new or received_old)
    assert received == expected
    seen = record.memory + record.prompt
    assert seen == (expected if version == "1.76" else (seen_new or expected))
    assert record.received_prompt.endswith(expected[-12:])  # the model is asked to answer


async def test_literal_option_sends_fallback_tags_to_a_new_server(make_emulator) -> None:
    emu = make_emulator(version="1.100")
    await send(emu, instruct_story("KoboldCppAutomatic", placeholders="literal"))
    record = emu.last_generation
    assert record is not None and "{{[" not in record.received_prompt
    assert "### Instruction:\nHi" in record.received_prompt


async def test_chat_request_and_stops(make_emulator) -> None:
    emu = make_emulator(version="1.76")
    story = Story([Segment("user", "Hi"), Segment("model", " Hello."),
                   Segment("user", "Story?")], mode="chat",
                  mode_options=ModeOptions(user_name="Ann", bot_name="Bob"))
    await send(emu, story)
    record = emu.last_generation
    assert record is not None
    assert record.received_prompt == "Ann: Hi\nBob: Hello.\nAnn: Story?\nBob:"
    assert record.received_stop_sequence == ["Ann:", "\nAnn ", "\nBob: "]


@pytest.mark.parametrize("version", ["1.76", "1.100"])
async def test_the_modes_stop_sequence_is_trimmed_from_the_reply(make_emulator,
                                                                 version: str) -> None:
    # the model answers, ends its turn and would go on to write the user's next one
    emu = make_emulator(version=version,
                        reply_prefix="Once upon a time.<|im_end|>\n<|im_start|>user\nMore")
    outcome = await send(emu, instruct_story("ChatML"), max_length=40)
    record = emu.last_generation
    assert record is not None and record.text.endswith("<|im_end|>")  # the model wrote it
    assert outcome.text == "Once upon a time."


async def test_automatic_template_stops_on_the_servers_tags(make_emulator) -> None:
    emu = make_emulator(version="1.100",
                        reply_prefix="The end.<|im_end|>\n<|im_start|>user\nMore")
    outcome = await send(emu, instruct_story("KoboldCppAutomatic"), max_length=40)
    record = emu.last_generation
    assert record is not None
    assert "<|im_start|>user\n" in record.stop_sequence  # filled in by the server
    assert "<|im_start|>user" not in outcome.text and outcome.text.startswith("The end.")


async def test_thinking_reply_is_split_and_left_out_next_time(make_emulator) -> None:
    emu = make_emulator(version="1.100", reply_prefix="<think>\nPlan it.\n</think>\n")
    story = instruct_story("ChatML")
    outcome = await send(emu, story)
    split = split_reply(outcome.text)
    assert split.thinking == "Plan it." and split.done
    story.append_segment("model", outcome.text)
    story.append_segment("user", "Again")
    await send(emu, story)
    record = emu.last_generation
    assert record is not None and "Plan it." not in record.received_prompt
    assert split.answer.strip() in record.received_prompt

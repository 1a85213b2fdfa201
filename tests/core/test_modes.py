"""Instruct and chat layouts: what the model is sent for each mode, template and server."""

from __future__ import annotations

import pytest

from kobold_gui.core import modes
from kobold_gui.core.modes import layout_for, prompt_text
from kobold_gui.core.protocol import ServerVersion
from kobold_gui.core.story import ModeOptions, Segment, Story

OLD = ServerVersion("KoboldCpp", "1.76")
NEW = ServerVersion("KoboldCpp", "1.100")


def story(mode: str, *segments: tuple[str, str], **options: object) -> Story:
    return Story([Segment(a, t) for a, t in segments], mode=mode,  # type: ignore[arg-type]
                 mode_options=ModeOptions(**options))  # type: ignore[arg-type]


def test_all_28_lite_templates_and_custom_are_offered() -> None:
    names = modes.template_names()
    assert len(names) == 29 and names[0] == "KoboldCppAutomatic" and names[-1] == "Custom"
    assert {"Alpaca", "ChatML", "Llama 3 Chat", "OpenAI Harmony", "Gemma 4 Thinking"} <= set(names)
    chatml = modes.template_for(ModeOptions(instruct_template="ChatML"))
    assert chatml.user_start == "<|im_start|>user\n"  # Lite's escaped \n became a newline


def test_story_mode_is_the_text_as_it_stands() -> None:
    s = story("story", ("user", "Once"), ("model", " upon a time"))
    layout = layout_for(s)
    assert layout.pieces == ("Once", " upon a time")
    assert (layout.system, layout.suffix, layout.stop_sequences) == ("", "", ())


def test_chatml_turns_system_and_answer_tag() -> None:
    s = story("instruct", ("user", "Hi"), ("model", "Hello!"), ("user", "Tell a joke"),
              instruct_template="ChatML", system_prompt="Be brief.")
    layout = layout_for(s, OLD)
    assert layout.system == "<|im_start|>system\nBe brief.<|im_end|>\n"
    assert prompt_text(layout) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"
        "<|im_start|>user\nTell a joke<|im_end|>\n"
        "<|im_start|>assistant\n")
    assert len(layout.pieces) == 3  # one piece per segment
    assert layout.stop_sequences == ("<|im_start|>user", "<|im_start|>assistant", "<|im_end|>")


def test_continue_leaves_the_last_answer_open() -> None:
    s = story("instruct", ("user", "Hi"), ("model", "Hello"), instruct_template="ChatML")
    layout = layout_for(s)
    assert layout.suffix == ""
    assert layout.pieces[-1] == "<|im_start|>assistant\nHello"


def test_edited_text_belongs_to_the_turn_it_sits_in() -> None:
    s = story("instruct", ("edited", "Write"), ("user", "a poem"), ("model", "Roses"),
              ("edited", " are"), ("model", " red"), ("user", "More"),
              instruct_template="Alpaca")
    assert modes.segment_roles(s) == ["user", "user", "assistant", "assistant", "assistant",
                                      "user"]
    assert prompt_text(layout_for(s)) == (
        "\n### Instruction:\nWritea poem\n### Response:\nRoses are red"
        "\n### Instruction:\nMore\n### Response:\n")


def test_alpaca_stops_and_system_without_tags() -> None:
    s = story("instruct", ("user", "Hi"), instruct_template="Alpaca", system_prompt="Sys")
    layout = layout_for(s)
    assert layout.system == "Sys\n"
    assert layout.stop_sequences == ("### Instruction:", "### Response:")


@pytest.mark.parametrize(("server", "placeholders", "sent_as_is"), [
    (NEW, "auto", True),
    (ServerVersion("KoboldCpp", "1.88"), "auto", True),
    (OLD, "auto", False),
    (None, "auto", False),
    (ServerVersion("Something", "2.0"), "auto", False),
    (NEW, "literal", False),
])
def test_placeholders_only_for_a_server_that_fills_them(
        server: ServerVersion | None, placeholders: str, sent_as_is: bool) -> None:
    s = story("instruct", ("user", "Hi"), system_prompt="Sys", placeholders=placeholders)
    text = prompt_text(layout_for(s, server))
    if sent_as_is:
        assert text == "{{[SYSTEM]}}Sys{{[SYSTEM_END]}}\n{{[INPUT]}}Hi{{[INPUT_END]}}{{[OUTPUT]}}"
        assert layout_for(s, server).stop_sequences == (
            "{{[INPUT]}}", "{{[OUTPUT]}}", "{{[OUTPUT_END]}}", "{{[INPUT_END]}}")
    else:  # Lite's literal fallback
        assert text == "\n### System:\nSys\n\n### Instruction:\nHi\n### Response:\n"
        assert "{{[" not in " ".join(layout_for(s, server).stop_sequences)


def test_custom_template() -> None:
    tags = {"user_start": "<U>", "user_end": "</U>", "assistant_start": "<A>",
            "assistant_end": "</A>", "system_start": "<S>", "system_end": "</S>\n"}
    s = story("instruct", ("user", "Hi"), ("model", "Yo"), ("user", "Bye"),
              instruct_template="Custom", custom_template=tags, system_prompt="x")
    assert prompt_text(layout_for(s)) == "<S>x</S>\n<U>Hi</U><A>Yo</A><U>Bye</U><A>"


def test_unknown_template_falls_back_to_automatic() -> None:
    assert modes.template_for(ModeOptions(instruct_template="Nope")).name == "KoboldCppAutomatic"


def test_harmony_never_stops_on_its_assistant_header() -> None:
    s = story("instruct", ("user", "Hi"), instruct_template="OpenAI Harmony")
    assert all("<|start|>assistant" not in stop for stop in layout_for(s).stop_sequences)


def test_gemma4_thinking_asks_with_its_generation_tag() -> None:
    s = story("instruct", ("user", "Hi"), instruct_template="Gemma 4 Thinking")
    assert layout_for(s).suffix == "<|turn>model\n<|think|><|channel>thought"


def test_chat_names_on_their_own_lines() -> None:
    s = story("chat", ("user", "Hi there"), ("model", " Hello."), ("user", "How are you?"),
              user_name="Ann", bot_name="Bob", system_prompt="A friendly chat.")
    layout = layout_for(s)
    assert prompt_text(layout) == ("A friendly chat.\nAnn: Hi there\nBob: Hello.\n"
                                   "Ann: How are you?\nBob:")
    assert layout.suffix == "\nBob:"
    assert layout.stop_sequences == ("Ann:", "\nAnn ", "\nBob: ")


def test_chat_continue_has_no_suffix() -> None:
    s = story("chat", ("user", "Hi"), ("model", " Hel"))
    assert layout_for(s).suffix == ""
    assert prompt_text(layout_for(s)) == "User: Hi\nKoboldAI: Hel"


def test_earlier_thinking_left_out_unless_kept() -> None:
    segs = [("user", "Q1"), ("model", "<think>hmm\nyes</think>\nA1"), ("user", "Q2"),
            ("model", "<think>still")]
    s = story("instruct", *segs, instruct_template="ChatML")
    text = prompt_text(layout_for(s))
    assert "hmm" not in text and "A1<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n<think>still")  # the one being continued
    kept = story("instruct", *segs, instruct_template="ChatML", keep_thinking=True)
    assert "<think>hmm\nyes</think>\nA1" in prompt_text(layout_for(kept))
    plain = story("story", *segs)
    assert "hmm" not in prompt_text(layout_for(plain))


def test_version_parsing() -> None:
    assert modes.parse_version("1.100.1") == (1, 100, 1)
    assert modes.parse_version("1.88-rc") == (1, 88)
    assert modes.parse_version("dev") is None


def test_turns_are_paragraphs_in_the_story_but_not_in_the_prompt() -> None:
    from kobold_gui.core.modes import turn_break
    from kobold_gui.core.reply import ReplyWriter
    from kobold_gui.core.request import user_turn

    story = Story(mode="chat", mode_options=ModeOptions(user_name="Wren", bot_name="Osric"))
    assert user_turn(story, "Hello") == "Hello"  # the first turn needs no break
    story.append_segment("user", user_turn(story, "Hello"))
    writer = ReplyWriter(story)
    writer.append("model", "\n")  # a model's own leading line break is not doubled
    writer.append("model", " Hi there.")
    assert story.text == "Hello\n\n Hi there."
    assert turn_break(story, "assistant") == ""  # Continue carries the same turn on
    story.append_segment("user", user_turn(story, "Bye"))
    assert story.text == "Hello\n\n Hi there.\n\nBye"
    layout = layout_for(story)
    assert "".join(layout.pieces) == "Wren: Hello\nOsric: Hi there.\nWren: Bye"
    plain = Story(story.segments)  # story mode sends the text as it stands
    assert "".join(layout_for(plain).pieces) == story.text
    assert turn_break(plain, "user") == ""

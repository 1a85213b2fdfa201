"""Instruct mode in the window against the emulator: the request carries the template's tags,
the mode's stop is trimmed from the stored reply, a think block is collapsed in the view, kept
in the story and left out of the next prompt."""

from __future__ import annotations

from PySide6.QtCore import Qt

from kobold_gui.core.story import ModeOptions

from .conftest import WAIT_MS, wait_connected


def generate(qtbot, window, text: str) -> None:
    window.editor.setFocus()
    qtbot.keyClicks(window.editor, text)
    qtbot.keyClick(window.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.controller.busy, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)


def test_thinking_reply_in_instruct_mode(qtbot, make_emulator, make_window) -> None:
    thoughts = "<think>\nThe user wants a tale.\nKeep it short.\n</think>\n"
    emu = make_emulator(version="1.100", reply_prefix=thoughts + "Once upon a time.<|im_end|>")
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.story.set_fields(mode="instruct",
                            mode_options=ModeOptions(instruct_template="ChatML"))
    window.settings_panel.set_values({**window.settings_values(), "max_length": 60})
    generate(qtbot, window, "Tell me a tale")
    record = emu.last_generation
    assert record is not None
    assert record.received_prompt.endswith(
        "<|im_start|>user\nTell me a tale<|im_end|>\n<|im_start|>assistant\n")
    reply = window.story.segments[-1].text
    # kept, the stop trimmed; the turn opens a paragraph of its own in the story (not sent)
    assert reply == "\n\n" + thoughts + "Once upon a time."
    decor = window.output.decor
    qtbot.waitUntil(lambda: decor.summaries() == ["Thought for 8 words"], timeout=WAIT_MS)
    hidden = []
    block = window.output.document().firstBlock()
    while block.isValid():
        if not block.isVisible():
            hidden.append(block.text())
        block = block.next()
    assert hidden == ["The user wants a tale.", "Keep it short.", "</think>"]
    assert [label for _p, label in decor.labels][0] == "You"
    generate(qtbot, window, "Another")
    second = emu.last_generation
    assert second is not None and second is not record
    assert "The user wants a tale" not in second.received_prompt
    assert "Once upon a time.<|im_end|>" in second.received_prompt
    # the story keeps the turns apart with a blank line; the prompt has only the tags
    assert window.story.text == ("Tell me a tale\n\n" + thoughts + "Once upon a time."
                                 "\n\nAnother" + window.story.segments[-1].text)
    assert "<|im_start|>assistant\n<think>" in second.received_prompt or \
        "<|im_start|>assistant\nOnce upon a time." in second.received_prompt
    assert "<|im_start|>user\nAnother<|im_end|>" in second.received_prompt

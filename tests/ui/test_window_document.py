"""The story is the document (issue 7 points 2 and 3, window side): what the server is sent is
the story, edits included, with memory in its own field; the reply streams into the story, edits
elsewhere stay possible while it does, and undo, redo and Delete Last Reply act on whole replies.
"""

from __future__ import annotations

import asyncio
import threading

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor

from kobold_gui.core.errors import ConnectionFailed
from kobold_gui.core.story import Segment, Story
from kobold_gui.emulator import Faults
from kobold_gui.emulator.textgen import tokenize

from .conftest import WAIT_MS, wait_connected
from .test_faults_window import FAST, recovered_spans

PROMPT = "Once upon a time"
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def generate(qtbot, window, text: str | None = None, *, continues: bool = False):
    """Type `text` (if any) and press Ctrl+Enter (Ctrl+Shift+Enter to continue); the outcome."""
    if text is not None:
        window.editor.set_prompt(text)
    mods = CTRL | SHIFT if continues else CTRL
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        qtbot.keyClick(window.editor, Qt.Key.Key_Return, mods)
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    return done.args[0]


def type_into_view(qtbot, window, position: int, text: str) -> None:
    """Put the view's cursor at `position` (ASCII story positions) and type `text` there."""
    view = window.output
    view.setFocus()
    cursor = view.textCursor()
    if position < 0:
        cursor.movePosition(QTextCursor.MoveOperation.End)
    else:
        cursor.setPosition(position)
    view.setTextCursor(cursor)
    qtbot.keyClicks(view, text)


def type_memory(qtbot, window, text: str) -> None:
    """Type `text` at the end of the memory field."""
    window.settings_panel.reveal("memory")
    field = window.settings_panel.widget_for("memory")
    field.moveCursor(QTextCursor.MoveOperation.End)
    qtbot.keyClicks(field, text)


def hold_the_last_token(emu) -> threading.Event:
    """The emulator's generations keep their last token until the returned event is set, so
    a test can act while the reply is still streaming however slowly this machine runs."""
    release = threading.Event()
    model = emu.engine.model
    original = model.steps

    def held(*args, **kwargs):
        previous = None
        for step in original(*args, **kwargs):
            if previous is not None:
                yield previous
            previous = step
        release.wait(WAIT_MS / 1000)
        if previous is not None:
            yield previous

    model.steps = held
    return release


# ---------------------------------------------------------------------------------- the context
def test_the_request_is_the_story_with_its_edits_and_the_memory_once(
        qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 10})
    type_memory(qtbot, window, "[Setting: a quiet harbour town.]")
    assert window.story.memory == "[Setting: a quiet harbour town.]"
    first = generate(qtbot, window, PROMPT)
    assert window.editor.prompt() == ""  # it went into the story
    assert window.story.text == PROMPT + first.text

    # The user rewrites the opening in the view, then generates more with new input.
    type_into_view(qtbot, window, 0, "Long ago. ")
    assert window.story.text == "Long ago. " + PROMPT + first.text
    assert [s.author for s in window.story.segments] == ["edited", "user", "model"]
    generate(qtbot, window, " And then")

    story = "Long ago. " + PROMPT + first.text + " And then"
    record = emulator.last_generation
    assert record.prompt == story  # the edit is part of what the model sees
    assert record.memory == "[Setting: a quiet harbour town.]"  # in its own field ...
    assert "harbour" not in record.prompt  # ... and only there
    assert window.last_reply() == record.text == emulator.expected_text(
        story, 10, memory=record.memory)
    # The status bar says how much of the context the request used.
    used = len(tokenize(record.memory + record.prompt))
    assert window.status.context.text() == f"context {used:,}/{4096 - 10:,}"


def test_an_empty_prompt_box_continues_the_story_without_copies(
        qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 8})
    first = generate(qtbot, window, PROMPT).text
    second = generate(qtbot, window).text  # Ctrl+Enter, nothing typed
    third = generate(qtbot, window, continues=True).text
    assert [g.prompt for g in emulator.generations] == [
        PROMPT, PROMPT + first, PROMPT + first + second]
    assert window.story.text == PROMPT + first + second + third
    assert [s.author for s in window.story.segments] == ["user", "model", "model", "model"]


def test_an_overflowing_story_loses_its_oldest_text_not_memory_or_the_newest(
        qtbot, window, emulator) -> None:
    opening = "The oldest words of the story. "
    middle = "".join(f"Sentence {i} of a long middle part. " for i in range(200))
    window.set_story(Story([Segment("user", opening + middle)], memory="MEMORY TEXT. "))
    assert window.settings_panel.values()["memory"] == "MEMORY TEXT. "  # shown for the story
    window.settings_panel.set_values({"max_context_length": 256, "max_length": 16})
    generate(qtbot, window, "The newest line.")

    record = emulator.last_generation
    assert record.memory == "MEMORY TEXT. "
    assert record.prompt.endswith("of a long middle part. The newest line.")
    assert "oldest" not in record.prompt
    assert len(tokenize(record.memory + record.prompt)) <= 256 - 16
    assert "/240" in window.status.context.text()
    # Nothing was cut from the document itself.
    assert window.story.text.startswith(opening)


def test_memory_that_leaves_no_room_sends_nothing_and_gives_the_text_back(
        qtbot, window, emulator) -> None:
    window.set_story(Story([Segment("user", "Before. ")]))
    window.settings_panel.set_values({"max_context_length": 64, "max_length": 16})
    window.settings_panel.widget_for("memory").setPlainText("word " * 200)  # pasted
    assert window.story.memory == "word " * 200
    before = window.story.segments
    window.editor.set_prompt("My new line")
    with qtbot.waitSignal(window.controller.not_sent, timeout=WAIT_MS):
        assert window.generate()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    assert "Not sent" in window.status_message() and "memory" in window.status_message()
    assert window.status.message.property("error") is True
    assert window.editor.prompt() == "My new line"
    assert window.story.segments == before
    assert emulator.generations == []
    assert window.generate_action.isEnabled()


def test_the_reply_records_how_it_was_made(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 12, "temperature": 0.5})
    finished = generate(qtbot, window, PROMPT)
    reply = window.story.segments[-1]
    assert reply.author == "model" and reply.text == finished.text
    meta = reply.meta
    assert meta is not None
    assert meta.server_url == emulator.url and meta.model == window.controller.server.model
    assert meta.settings["max_length"] == 12 and meta.settings["temperature"] == 0.5
    assert "prompt" not in meta.settings and "memory" not in meta.settings
    assert meta.finish_reason == finished.finish_reason
    assert meta.started_at is not None and meta.finished_at is not None
    assert meta.started_at <= meta.finished_at


# ---------------------------------------------------------------------------------- editing
def test_an_edit_during_the_stream_lands_and_the_reply_completes_intact(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=100.0)
    edits_done = hold_the_last_token(emu)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 40})
    refused: list[str] = []
    window.output.edit_refused.connect(refused.append)
    window.editor.set_prompt(PROMPT)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        assert window.generate()
        qtbot.waitUntil(lambda: len(window.last_reply()) > 3, timeout=WAIT_MS)
        assert window.controller.busy
        assert not window.undo_action.isEnabled()  # undo would drop streamed text
        assert not window.delete_reply_action.isEnabled()
        # Before the reply: the edit is applied at once.
        type_into_view(qtbot, window, 0, "Hi. ")
        assert window.story.text.startswith("Hi. " + PROMPT)
        assert window.output.locked_from() == len("Hi. " + PROMPT)  # the reply moved along
        # The growing reply itself cannot be edited.
        streaming = window.story.text
        type_into_view(qtbot, window, -1, "X")
        assert refused, "typing into the growing reply must be refused with a reason"
        assert "X" not in window.story.text[len(streaming) - 1:]
        edits_done.set()
    record = emu.last_generation
    assert done.args[0].text == record.text
    assert window.story.text == "Hi. " + PROMPT + record.text
    assert window.last_reply() == record.text
    assert window.output.locked_from() is None  # all of it editable again
    # Undo takes back the edit (a step per keystroke), with the whole reply kept; then the
    # reply.
    for _ in "Hi. ":
        window.undo_action.trigger()
    assert window.story.text == PROMPT + record.text
    window.undo_action.trigger()
    assert window.story.text == PROMPT


def test_undo_takes_back_a_whole_reply_and_redo_brings_it_back(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 30})
    finished = generate(qtbot, window, PROMPT)
    assert len(finished.text) > 20
    assert window.story.text == PROMPT + finished.text

    window.output.setFocus()
    qtbot.keyClick(window.output, Qt.Key.Key_Z, CTRL)  # the whole reply, not a batch of it
    assert window.story.text == PROMPT
    assert window.redo_action.isEnabled()
    qtbot.keyClick(window.output, Qt.Key.Key_Z, CTRL | SHIFT)
    assert window.story.text == PROMPT + finished.text
    window.undo_action.trigger()
    qtbot.keyClick(window.output, Qt.Key.Key_Y, CTRL)
    assert window.story.text == PROMPT + finished.text
    assert window.output.plain_text() == window.story.text


def test_delete_last_reply(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 8})
    first = generate(qtbot, window, PROMPT).text
    generate(qtbot, window, " Next")
    window.delete_reply_action.trigger()
    assert window.story.text == PROMPT + first + " Next"
    assert window.output.plain_text() == window.story.text
    window.delete_reply_action.trigger()
    assert window.story.text == PROMPT + " Next"
    window.undo_action.trigger()
    assert window.story.text == PROMPT + first + " Next"


def test_a_recovered_reply_is_kept_whole_and_undone_as_one_step(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=100.0, faults=Faults(drop_after_events=4))
    window = make_window(emu.url, config=FAST)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 40})
    finished = generate(qtbot, window, PROMPT)
    assert window.story.text == PROMPT + finished.text
    assert recovered_spans(window.story), "the text fetched after the break is marked"
    assert sum(len(r.tokens) for r in emu.generations) == 40
    window.undo_action.trigger()
    assert window.story.text == PROMPT


def test_a_replaced_story_is_what_the_view_memory_and_next_request_use(
        qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 8})
    generate(qtbot, window, PROMPT)
    replaced: list[Story] = []
    window.story_replaced.connect(replaced.append)
    story = Story([Segment("user", "A different tale. ")], memory="Other memory. ")
    window.set_story(story)
    assert replaced == [story] and window.story is story
    assert window.output.plain_text() == "A different tale. "
    assert window.settings_panel.values()["memory"] == "Other memory. "
    type_memory(qtbot, window, "More.")
    assert story.memory == "Other memory. More."
    generate(qtbot, window, continues=True)
    record = emulator.last_generation
    assert record.prompt == "A different tale. " and record.memory == "Other memory. More."
    assert story.text == "A different tale. " + record.text


def test_without_the_servers_token_count_the_context_is_estimated_and_said_so(
        qtbot, window, emulator) -> None:
    async def cannot_count(text: str, special: bool = True) -> int:
        raise ConnectionFailed("tokencount is not available")

    window.controller.client.tokencount = cannot_count
    window.settings_panel.set_values({"max_length": 8})
    generate(qtbot, window, PROMPT)
    assert emulator.last_generation.prompt == PROMPT
    assert window.status.context.text().endswith("(estimated)")


def test_stop_while_the_request_is_built_sends_nothing_and_gives_the_text_back(
        qtbot, window, emulator) -> None:
    counting = asyncio.Event()

    async def slow_count(text: str, special: bool = True) -> int:
        counting.set()
        await asyncio.sleep(60)
        return 0

    window.controller.client.tokencount = slow_count
    window.editor.set_prompt(PROMPT)
    assert window.generate()
    qtbot.waitUntil(counting.is_set, timeout=WAIT_MS)
    assert window.editor.prompt() == ""
    with qtbot.waitSignal(window.controller.not_sent, timeout=WAIT_MS):
        qtbot.keyClick(window.editor, Qt.Key.Key_Escape)
    assert window.editor.prompt() == PROMPT
    assert window.story.text == "" and emulator.generations == []
    assert window.generate_action.isEnabled() and not window.stop_action.isEnabled()


def test_replacing_the_story_mid_stream_stops_it_and_leaves_the_new_story_alone(
        qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=30.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 200})
    window.editor.set_prompt(PROMPT)
    old = window.story
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS) as done:
        assert window.generate()
        qtbot.waitUntil(lambda: len(window.last_reply()) > 3, timeout=WAIT_MS)
        new = Story([Segment("user", "Fresh page. ")])
        window.set_story(new)
        assert window.output.locked_from() is None
    assert done.args[0].stopped
    assert new.text == "Fresh page. " and window.output.plain_text() == "Fresh page. "
    assert old.text == PROMPT + done.args[0].text  # the stopped reply stayed where it began
    assert old.segments[-1].meta.finish_reason == "stopped"


def test_undo_takes_back_a_typed_sentence_at_once_then_the_reply(qtbot, window, emulator) -> None:
    generate(qtbot, window, PROMPT)
    with_reply = window.story.text
    type_into_view(qtbot, window, -1, " She smiled")
    qtbot.keyClick(window.output, Qt.Key.Key_Backspace)
    assert window.story.text == with_reply + " She smile"
    window.undo_action.trigger()  # the Backspace
    assert window.story.text == with_reply + " She smiled"
    window.undo_action.trigger()  # the whole typed run, not its last letter
    assert window.story.text == with_reply
    assert window.output.plain_text() == with_reply
    window.undo_action.trigger()  # the reply
    assert window.story.text == PROMPT
    window.redo_action.trigger()
    window.redo_action.trigger()
    assert window.story.text == with_reply + " She smiled"

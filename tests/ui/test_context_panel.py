"""The Context panel, meter and Show Request, driven like a user against the emulator
(issue 8 points 2 and 3)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt

from kobold_gui.core.story import AuthorsNote, Segment, Story, WorldInfoEntry
from kobold_gui.emulator.textgen import tokenize
from kobold_gui.ui.plain import tooltip_text

from .conftest import WAIT_MS, wait_connected
from .test_window_document import generate

OPENING = "The oldest words of the story. "
MIDDLE = "".join(f"Sentence {i} of a long middle part. " for i in range(200))


def settle(qtbot, window):
    """Wait for the meter's next preview; its plan."""
    with qtbot.waitSignal(window.context.preview_done, timeout=WAIT_MS) as done:
        window.context.schedule()
    return done.args[0]


def test_an_overflow_cuts_the_oldest_text_keeps_memory_and_the_meter_is_the_servers_count(
        qtbot, window, emulator) -> None:
    window.set_story(Story([Segment("user", OPENING + MIDDLE)]))
    panel = window.context.panel
    panel.memory.setFocus()
    qtbot.keyClicks(panel.memory, "MEMORY TEXT.")
    assert window.story.memory == "MEMORY TEXT." and window.story.dirty
    window.settings_panel.set_values({"max_context_length": 256, "max_length": 16})
    preview = settle(qtbot, window)
    assert preview.cut_chars > 0 and preview.memory == "MEMORY TEXT."
    generate(qtbot, window, "The newest line.")

    record = emulator.last_generation
    assert record.memory == "MEMORY TEXT."
    assert record.prompt.endswith("of a long middle part. The newest line.")
    assert "oldest" not in record.prompt and window.story.text.startswith(OPENING)
    meter = panel.meter
    used = len(tokenize(record.memory + record.prompt))
    assert meter.plan is not None and meter.plan.used_tokens == used <= 240
    assert meter.numbers.text() == f"context {used:,} / 240 tokens".replace(",", "\u2009")
    cut = len(OPENING + MIDDLE + "The newest line.") - len(record.prompt)
    assert meter.cut.text().startswith(f"{cut:,} chars of the oldest text left out".replace(
        ",", "\u2009"))
    assert "memory: " in tooltip_text(meter) and "story: " in tooltip_text(meter)


def test_two_turns_of_a_long_story_start_at_the_same_character(qtbot, window, emulator):
    window.set_story(Story([Segment("user", OPENING + MIDDLE)]))
    window.settings_panel.set_values({"max_context_length": 512, "max_length": 8})
    generate(qtbot, window)
    generate(qtbot, window)
    first, second = emulator.generations[-2:]
    assert not first.prompt.startswith("The oldest")
    assert second.prompt.startswith(first.prompt)  # the server reuses its cache for it


def test_world_info_added_in_the_panel_is_sent_only_when_its_key_is_in_the_story(
        qtbot, window, emulator) -> None:
    window.set_story(Story([Segment("user", "Ann rode to the mill. ")]))
    panel = window.context.panel
    for keys, content in (("ann, anna", "Ann is a knight."), ("dragon", "Dragons sleep.")):
        qtbot.mouseClick(panel.add_button, Qt.MouseButton.LeftButton)
        qtbot.keyClicks(panel.editor.keys, keys)
        panel.editor.content.setFocus()
        qtbot.keyClicks(panel.editor.content, content)
    assert [e.keys for e in window.story.world_info] == [("ann", "anna"), ("dragon",)]
    assert panel.entries.count() == 2 and panel.entries.item(0).text() == "ann, anna"
    generate(qtbot, window, "She sang.")
    record = emulator.last_generation
    assert record.memory == "Ann is a knight.\n"
    assert "Dragons" not in record.memory + record.prompt
    meter_tip = tooltip_text(window.context.panel.meter)
    assert "world info (1 entry)" in meter_tip

    # switched off, or its group switched off: not sent
    panel.entries.setCurrentRow(0)
    panel.editor.enabled.click()
    assert window.story.world_info[0].disabled
    generate(qtbot, window, "Again.")
    assert "Ann is a knight." not in (emulator.last_generation.memory or "")
    assert panel.group_button.text() == "Group off"
    panel.group_button.click()  # Lite's "toggle entire group": all of General off ...
    assert all(e.disabled for e in window.story.world_info)
    assert panel.group_button.text() == "Group on"
    panel.group_button.click()  # ... and on again
    assert not any(e.disabled for e in window.story.world_info)


def test_the_author_note_strength_sets_its_distance_from_the_end(qtbot, window, emulator):
    window.set_story(Story([Segment("user", MIDDLE[:2000])]))
    panel = window.context.panel
    qtbot.keyClicks(panel.note, "rain")
    panel.strength.setCurrentIndex(2)
    panel.strength.activated.emit(2)  # "Strong (160)", as a user's choice sends it
    assert window.story.authors_note == AuthorsNote("rain", depth=160)
    panel.note_depth.setValue(200)
    assert panel.strength.currentText() == "Custom"
    generate(qtbot, window)
    prompt = emulator.last_generation.prompt
    after = prompt.split("[Author's note: rain]")[1]
    assert 200 <= len(after) <= 230


def test_show_request_is_exactly_what_the_next_generate_sends(
        qtbot, make_window, emulator) -> None:
    window = make_window(emulator.url, password="s3cret-pw")
    wait_connected(qtbot, window)
    window.set_story(Story([Segment("user", OPENING + MIDDLE)], memory="MEM.",
                           world_info=[WorldInfoEntry(keys=("sentence",), content="Lore.",
                                                      probability=50)]))
    window.settings_panel.set_values({"max_context_length": 300, "max_length": 12,
                                      "temperature": 0.5, "stop_sequence": ["\nYou:"]})
    window.editor.set_prompt("Next line.")
    shown = []
    for _ in range(3):  # the world-info roll shown is the one the next Generate makes
        window.context.show_request_action.trigger()
        qtbot.waitUntil(lambda: window.context.dialog.body is not None, timeout=WAIT_MS)
        shown.append({k: v for k, v in window.context.dialog.body.items() if k != "genkey"})
    assert shown[0] == shown[1] == shown[2]
    dialog = window.context.dialog
    assert "s3cret-pw" not in dialog.text.toPlainText()
    assert json.loads(dialog.text.toPlainText()) == dialog.body
    generate(qtbot, window)
    sent = dict(window.controller.generation.requests[0].body)
    assert sent.pop("genkey") != dialog.body["genkey"]  # fresh for every request
    assert shown[0] == sent
    record = emulator.last_generation
    assert (record.prompt, record.memory, record.stop_sequence) == (
        shown[0]["prompt"], shown[0]["memory"], ["\nYou:"])


def test_while_typing_no_segment_is_counted_again_only_the_request(qtbot, window, emulator):
    window.set_story(Story([Segment("user", f"Part {i}. " * 20) for i in range(30)]))
    settle(qtbot, window)
    client = window.controller.client
    counted: list[str] = []
    real = client.tokencount

    async def counting(text: str, special: bool = True) -> int:
        counted.append(text)
        return await real(text, special)

    client.tokencount = counting  # type: ignore[method-assign]
    settle(qtbot, window)
    assert len(counted) == 1  # nothing changed: only the assembled request is checked
    counted.clear()
    window.story.append_segment("model", "A new reply. ")
    plan = settle(qtbot, window)
    # the story only grew and still fits from where it started: one count, of the request
    assert counted == [plan.memory + plan.prompt]

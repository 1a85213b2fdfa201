"""Live statistics (issue 8 #7): while a reply streams the status bar shows tokens so far,
tokens/s, time to first token and elapsed time; afterwards how it ended, in words. The reply
keeps the figures (saved with the story) and shows them again when the cursor is in it."""

from __future__ import annotations

from PySide6.QtGui import QTextCursor

from kobold_gui.core.stats import LiveStats
from kobold_gui.core.story import Story

from .conftest import WAIT_MS, wait_connected

PROMPT = "The dragon said: "


def generate(qtbot, window, prompt: str = PROMPT) -> None:
    window.editor.set_prompt(prompt)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        assert window.generate()


def test_streaming_shows_tokens_speed_first_token_and_time(qtbot, make_emulator,
                                                          make_window) -> None:
    emu = make_emulator(token_rate=150.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 40})
    seen: list[LiveStats] = []
    window.controller.stats_changed.connect(seen.append)
    generate(qtbot, window)

    running = [s for s in seen if s.running and s.tokens >= 2]
    assert running, "the figures should be shown while the reply streams"
    live = running[-1]
    assert live.tokens_per_second is not None and live.tokens_per_second > 0
    assert live.time_to_first_token is not None and live.time_to_first_token <= live.elapsed
    counts = [s.tokens for s in seen if s.running]
    assert counts == sorted(counts)  # tokens so far only grow

    final = seen[-1]
    assert not final.running and final.finish_reason == "length" and final.tokens == 40
    shown = window.status.stats_text()
    assert shown.startswith("40 tokens · ") and "tok/s" in shown and "first token" in shown
    assert shown.endswith("length limit")
    assert "reached the length limit" in window.status_message()


def test_the_reply_keeps_its_figures_across_save_and_reopen(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 24})
    generate(qtbot, window)
    meta = window.story.segments[-1].meta
    assert meta is not None
    assert meta.tokens == 24 and meta.finish_reason == "length"
    assert meta.elapsed is not None and meta.time_to_first_token is not None
    assert 0 <= meta.time_to_first_token <= meta.elapsed
    assert meta.tokens_per_second is not None and meta.tokens_per_second > 0
    again = Story.from_json(window.story.to_json()).segments[-1].meta
    assert again == meta


def test_a_stop_sequence_ending_is_named(qtbot, window, emulator) -> None:
    expected = emulator.expected_text(PROMPT, 80)
    stop = expected[30:36]
    assert stop.strip() and expected.find(stop) == 30
    window.settings_panel.set_values({"max_length": 80, "stop_sequence": [stop]})
    generate(qtbot, window)
    assert window.story.segments[-1].meta.finish_reason == "stop_sequence"
    assert window.status.stats_text().endswith("stop sequence")
    assert "a stop sequence ended it" in window.status_message()


def test_stopped_is_named_and_counted(qtbot, make_emulator, make_window) -> None:
    emu = make_emulator(token_rate=40.0)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 400})
    window.editor.set_prompt(PROMPT)
    with qtbot.waitSignal(window.controller.generation_finished, timeout=WAIT_MS):
        assert window.generate()
        qtbot.waitUntil(lambda: window.controller.live_stats() is not None
                        and window.controller.live_stats().tokens >= 3, timeout=WAIT_MS)
        window.stop()
    meta = window.story.segments[-1].meta
    assert meta.finish_reason == "stopped" and meta.tokens and meta.tokens >= 3
    assert window.status.stats_text().endswith("stopped")


def test_the_reply_under_the_cursor_shows_its_figures(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_length": 12})
    generate(qtbot, window, "First.")
    window.settings_panel.set_values({"max_length": 20})
    generate(qtbot, window, " Second.")
    assert window.status.stats_text().startswith("20 tokens")
    first_reply = window.story.segment_start(1) + 2
    cursor = window.output.textCursor()
    cursor.setPosition(first_reply)
    window.output.setTextCursor(cursor)
    assert window.status.stats_text().startswith("reply: 12 tokens")
    assert "This reply: 12 tokens" in window.status.stats.toolTip()
    cursor.movePosition(QTextCursor.MoveOperation.End)
    window.output.setTextCursor(cursor)
    assert window.status.stats_text().startswith("reply: 20 tokens")


def test_nothing_sent_leaves_no_figures(qtbot, window, emulator) -> None:
    window.settings_panel.set_values({"max_context_length": 64, "max_length": 16})
    window.settings_panel.widget_for("memory").setPlainText("word " * 200)  # cannot fit
    window.editor.set_prompt("My new line")
    with qtbot.waitSignal(window.controller.not_sent, timeout=WAIT_MS):
        assert window.generate()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)
    assert window.status.stats_text() == ""
    assert "Not sent" in window.status_message()
    assert not emulator.generations


def test_a_flood_counts_every_stream_event_not_every_append(qtbot, make_emulator,
                                                           make_window) -> None:
    # Flat out, a network read's events arrive as one Tokens: the figures still count tokens.
    emu = make_emulator(token_rate=4000, first_poll_delay=0.0, poll_interval=0.001)
    window = make_window(emu.url)
    wait_connected(qtbot, window)
    window.settings_panel.set_values({"max_length": 300})
    seen: list[LiveStats] = []
    window.controller.stats_changed.connect(seen.append)
    appends: list[str] = []
    window.controller.text_appended.connect(appends.append)
    generate(qtbot, window)
    running = [s.tokens for s in seen if s.running]
    generation = window.controller.generation
    assert generation is not None
    events = sum(r.events for r in generation.requests)
    # the case this test is about: reads that carried several events each, shown as one
    # append (how many depends on the machine's load, so only that some did)
    assert len(appends) < events
    assert max(running) == events

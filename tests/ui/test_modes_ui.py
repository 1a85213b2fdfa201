"""The Mode panel and what the story view shows in instruct and chat mode: turn labels outside
the story, thinking collapsed while it streams and kept in the story."""

from __future__ import annotations

import pytest

from kobold_gui.core.protocol import ServerVersion
from kobold_gui.core.story import GenerationMeta, ModeOptions, Segment, Story
from kobold_gui.ui.mode_panel import ModePanel
from kobold_gui.ui.story_view import StoryView


@pytest.fixture
def view(qtbot) -> StoryView:
    v = StoryView()
    qtbot.addWidget(v)
    v.resize(700, 500)
    v.show()
    qtbot.waitExposed(v)
    return v


def hidden_lines(view: StoryView) -> list[str]:
    out, block = [], view.document().firstBlock()
    while block.isValid():
        if not block.isVisible():
            out.append(block.text())
        block = block.next()
    return out


def test_turn_labels_outside_the_story(qtbot, view: StoryView) -> None:
    story = Story([Segment("user", "Hi\n"),
                   Segment("model", "Hello\n", GenerationMeta(model="koboldcpp/tiny-7B")),
                   Segment("user", "Bye\n")], mode="instruct")
    view.set_story(story)
    qtbot.waitUntil(lambda: bool(view.decor.labels))
    assert [label for _p, label in view.decor.labels] == ["You", "tiny-7B", "You"]
    assert view.decor.gutter.isVisible() and view.viewportMargins().left() >= 100
    assert view.plain_text() == story.text  # the labels are not text
    story.set_fields(mode="chat", mode_options=ModeOptions(user_name="Ann", bot_name="Bob"))
    qtbot.waitUntil(lambda: [lb for _p, lb in view.decor.labels] == ["Ann", "Bob", "Ann"])
    story.set_fields(mode="story")
    qtbot.waitUntil(lambda: not view.decor.labels)
    assert not view.decor.gutter.isVisible()


def test_thinking_collapsed_while_it_streams_and_kept(qtbot, view: StoryView) -> None:
    story = Story([Segment("user", "Question\n")], mode="instruct")
    view.set_story(story)
    index = story.append_segment("model")
    for token in ["<think>", "\n", "First", " idea", "\n", "second", " idea", "\n",
                  "third"]:
        story.append_text(index, token)
    assert view.decor.summaries() == ["Thinking… (5 words)"]
    assert hidden_lines(view) == ["First idea", "second idea", "third"]
    for token in ["</think>", "\n", "The", " answer."]:
        story.append_text(index, token)
    story.finish_segment(index, GenerationMeta(model="m"))
    qtbot.waitUntil(lambda: view.decor.summaries() == ["Thought for 5 words"])
    assert "The answer." not in hidden_lines(view)
    assert "third</think>" in hidden_lines(view)
    assert view.plain_text() == story.text  # kept in the story, as the model wrote it
    assert "<think>\nFirst idea" in story.text
    view.set_thinking_shown(True)
    assert hidden_lines(view) == []
    view.set_thinking_shown(False)
    assert len(hidden_lines(view)) == 3


def test_a_loaded_story_shows_its_thinking_collapsed(qtbot, view: StoryView) -> None:
    story = Story([Segment("user", "Q\n"),
                   Segment("model", "<think>\nhmm\nyes\n</think>\nA\n")], mode="chat")
    view.set_story(story)
    qtbot.waitUntil(lambda: bool(view.decor.spans))
    assert hidden_lines(view) == ["hmm", "yes", "</think>"]
    assert view.plain_text() == story.text


def test_mode_panel_writes_to_the_story(qtbot) -> None:
    story = Story()
    panel = ModePanel(story)
    qtbot.addWidget(panel)
    panel.show()
    panel.mode_box.setCurrentIndex(panel.mode_box.findData("instruct"))
    assert story.mode == "instruct" and panel.instruct_group.isVisible()
    panel.template_box.setCurrentText("ChatML")
    assert story.mode_options.instruct_template == "ChatML"
    assert panel.tag_edits["user_start"].text() == "<|im_start|>user\\n"
    qtbot.keyClicks(panel.tag_edits["user_end"], "!")
    assert story.mode_options.instruct_template == "Custom"
    assert story.mode_options.custom_template["user_end"] == "<|im_end|>\n!"
    panel.system_edit.setPlainText("Be brief.")
    assert story.mode_options.system_prompt == "Be brief."
    panel.mode_box.setCurrentIndex(panel.mode_box.findData("chat"))
    assert panel.chat_group.isVisible() and not panel.instruct_group.isVisible()
    panel.user_edit.clear()
    qtbot.keyClicks(panel.user_edit, "Ann")
    assert story.mode_options.user_name == "Ann"
    story.set_fields(mode="story")  # changed elsewhere (a loaded file): the panel follows
    assert panel.mode_box.currentData() == "story"


def test_placeholder_note_follows_the_server(qtbot) -> None:
    panel = ModePanel(Story(mode="instruct"))
    qtbot.addWidget(panel)
    panel.set_server(ServerVersion("KoboldCpp", "1.76"))
    assert "needs KoboldCpp 1.88" in panel.placeholder_note.text()
    panel.set_server(ServerVersion("KoboldCpp", "1.100"))
    assert "fills in" in panel.placeholder_note.text()


def test_mode_shortcuts_and_thinking_action_in_the_window(qtbot, make_window) -> None:
    window = make_window()
    assert [a.shortcut().toString() for a in window.mode_actions.values()] == [
        "Ctrl+Alt+1", "Ctrl+Alt+2", "Ctrl+Alt+3"]
    window.mode_actions["instruct"].trigger()
    assert window.story.mode == "instruct"
    assert window.mode_actions["instruct"].isChecked()
    window.mode_actions["chat"].trigger()
    assert window.story.mode == "chat" and window.mode_panel.chat_group.isVisibleTo(
        window.mode_panel)
    window.show_thinking_action.trigger()
    assert window.output.decor.thinking_shown


def test_a_long_story_gets_its_labels_once_shown_without_asking_on_every_turn(
        qtbot, view: StoryView, monkeypatch) -> None:
    """While a long story is shown over several turns, the turn labels wait for the end (asked
    on every turn, a 0 ms timer kept the window's loop spinning the whole time)."""
    story = Story([Segment("user", "Hi\n"),
                   Segment("model", ("Long reply. " * 40 + "\n") * 5_000,
                           GenerationMeta(model="koboldcpp/tiny-7B")),
                   Segment("user", "Bye\n")], mode="instruct")
    asked: list[bool] = []
    rendering = view.rendering
    monkeypatch.setattr(view, "rendering", lambda: asked.append(True) or rendering())
    view.set_story(story)
    assert rendering()
    qtbot.waitUntil(lambda: not rendering(), timeout=20_000)
    qtbot.waitUntil(lambda: bool(view.decor.labels))
    assert [label for _p, label in view.decor.labels] == ["You", "tiny-7B", "You"]
    assert len(asked) < 20  # once or twice, not on every turn of the loop

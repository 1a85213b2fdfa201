"""StoryView: renders a Story, follows its events, and turns user edits into story edits."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QEvent, QMimeData, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeyEvent, QKeySequence, QTextCursor
from PySide6.QtWidgets import QApplication, QMainWindow, QPlainTextEdit

from kobold_gui.core.story import GenerationMeta, Segment, Story
from kobold_gui.ui.story_view import HARD_BLOCK, PositionMap, StoryView, plan_breaks


@pytest.fixture
def view(qtbot) -> StoryView:
    v = StoryView()
    qtbot.addWidget(v)
    v.resize(600, 400)
    v.show()
    qtbot.waitExposed(v)
    return v


def fmt_at(view: StoryView, story_pos: int):
    """The character format of story character `story_pos`."""
    c = QTextCursor(view.document())
    c.setPosition(view._map.view_hi(story_pos) + 1)
    return c.charFormat()


def place_cursor(view: StoryView, start: int, end: int | None = None) -> None:
    """Put the user's cursor (selection) at story positions."""
    c = view.textCursor()
    c.setPosition(view._map.view_hi(start))
    if end is not None:
        c.setPosition(view._map.view_lo(end), QTextCursor.MoveMode.KeepAnchor)
    view.setTextCursor(c)


def settle(qtbot, view: StoryView) -> None:
    """Let the deferred put-back/format pass run."""
    qtbot.waitUntil(lambda: not view._fixes and not view._formats_pending
                    and not view._flush_timer.isActive(), timeout=5000)


def type_text(view: StoryView, text: str) -> None:
    """Type `text` as key presses carrying it (QTest's keyClicks cannot type an emoji)."""
    for ch in text:
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(view, QKeyEvent(kind, Qt.Key.Key_unknown,
                                                   Qt.KeyboardModifier.NoModifier, ch))


def assert_in_step(view: StoryView) -> None:
    assert view.plain_text() == view.story().text


def test_segments_render_by_author_with_tooltips(view: StoryView) -> None:
    story = Story([Segment("user", "Once 🙂 upon "), Segment("model", "a time, "),
                   Segment("recovered", "there was "), Segment("edited", "a keeper.")])
    view.set_story(story)
    assert view.plain_text() == story.text
    starts = [0, 12, 20, 30]
    user, model, recovered, edited = (fmt_at(view, p) for p in starts)
    colors = {f.foreground().color().name() for f in (user, model, edited)}
    assert len(colors) == 3  # user, model and edited text all look different
    assert recovered.background().color().alpha() > 0
    assert model.background().style() == Qt.BrushStyle.NoBrush
    tips = [f.toolTip() for f in (user, model, recovered, edited)]
    assert len(set(tips)) == 4 and all(tips)


def test_model_tooltip_names_the_model_and_unusual_finish(view: StoryView) -> None:
    story = Story([Segment("user", "Hi. ")])
    view.set_story(story)
    index = story.append_segment("model")
    story.append_text(index, "Hello there")
    story.finish_segment(index, GenerationMeta(model="koboldcpp/tiny", finish_reason="length"))
    tip = fmt_at(view, 6).toolTip()
    assert "koboldcpp/tiny" in tip and "length" in tip


def test_streaming_appends_leave_the_users_selection_alone(view: StoryView, qtbot) -> None:
    story = Story([Segment("user", "The lighthouse keeper 🙂 woke. ")])
    view.set_story(story)
    place_cursor(view, 4, 14)
    selected = view.textCursor().selectedText()
    assert selected == "lighthouse"
    index = story.append_segment("model")
    for token in [" The", " sea", " was", " 😀", " calm", ".\n", "東京"] * 50:
        story.append_text(index, token)
    assert view.textCursor().selectedText() == selected
    assert_in_step(view)


def test_typing_anywhere_lands_in_the_story_with_emoji_and_cjk(view: StoryView, qtbot) -> None:
    story = Story([Segment("user", "a🙂b"), Segment("model", "東京😀c")])
    view.set_story(story)
    place_cursor(view, 2)  # after the emoji: view position 3
    type_text(view, "X😎")
    assert story.text == "a🙂X😎b東京😀c"
    place_cursor(view, len(story.text) - 1)  # before "c", after 😀
    qtbot.keyClick(view, Qt.Key.Key_Backspace)
    assert story.text == "a🙂X😎b東京c"
    place_cursor(view, 5, 7)  # select 東京
    qtbot.keyClicks(view, "Z")
    assert story.text == "a🙂X😎bZc"
    settle(qtbot, view)
    assert_in_step(view)
    assert [s.author for s in story.segments] == ["user", "edited", "user", "edited", "model"]
    # typed text looks edited, not like the model text around it
    edited = fmt_at(view, 2).foreground().color().name()
    assert edited == view.edited_format.foreground().color().name()
    assert edited != fmt_at(view, 6).foreground().color().name()


def test_paste_of_rich_text_inserts_plain_text(view: StoryView, qtbot) -> None:
    story = Story([Segment("model", "ab")])
    view.set_story(story)
    place_cursor(view, 1)
    data = QMimeData()
    data.setHtml("<b>bold</b> <i>x</i>")
    data.setText("bold x")
    view.insertFromMimeData(data)
    assert story.text == "abold xb"
    settle(qtbot, view)
    assert not fmt_at(view, 1).font().bold()
    assert_in_step(view)


def test_cut_and_copy_give_story_text(view: StoryView, qtbot) -> None:
    story = Story([Segment("model", "one 🙂 two three")])
    view.set_story(story)
    place_cursor(view, 4, 9)
    view.copy()
    assert QGuiApplication.clipboard().text() == "🙂 two"
    assert QGuiApplication.clipboard().mimeData().formats() == ["text/plain"]  # no rich text
    assert view.textCursor().selectedText() == "🙂 two"  # the selection is left as it was
    view.cut()
    assert story.text == "one  three"
    assert QGuiApplication.clipboard().text() == "🙂 two"
    assert_in_step(view)


def test_locked_reply_refuses_edits_but_earlier_text_stays_editable(view: StoryView,
                                                                   qtbot) -> None:
    story = Story([Segment("user", "Prompt 🙂. ")])
    view.set_story(story)
    refused: list[str] = []
    view.edit_refused.connect(refused.append)
    index = story.append_segment("model")
    view.set_locked_from(story.segment_start(index))
    story.append_text(index, "The reply")
    place_cursor(view, len(story.text) - 2)  # inside the reply
    qtbot.keyClicks(view, "Q")
    assert refused and "reply" in refused[0]
    assert story.text == "Prompt 🙂. The reply"
    story.append_text(index, " grows")  # the put-back is done before the stream goes on
    settle(qtbot, view)
    assert_in_step(view)
    place_cursor(view, 0)  # before the reply: allowed, and the lock moves with it
    qtbot.keyClicks(view, "My ")
    assert story.text == "My Prompt 🙂. The reply grows"
    assert view.locked_from() == len("My Prompt 🙂. ")
    story.append_text(-1, " on.")
    assert story.text == "My Prompt 🙂. The reply grows on."
    assert_in_step(view)
    # selecting from the prompt into the reply and deleting is refused as a whole
    refused.clear()
    place_cursor(view, 3, 16)
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert refused and story.text == "My Prompt 🙂. The reply grows on."
    settle(qtbot, view)
    assert_in_step(view)
    view.set_locked_from(None)
    place_cursor(view, len(story.text))
    qtbot.keyClicks(view, "!")
    assert story.text.endswith("on.!")


def test_reset_after_undo_redo_rerenders_only_the_changed_middle(view: StoryView, qtbot,
                                                                 monkeypatch) -> None:
    story = Story([Segment("user", "Start. " * 200), Segment("user", "Go on.")])
    view.set_story(story)
    index = story.append_segment("model")
    story.append_text(index, "The generated reply 🙂.")
    story.edit(1400, 1402, "Carry")
    story.append_segment("user", " More.")
    written: list[str] = []
    real_write = view._write

    def recording(start, pieces, breaks=None, **kw):
        written.append("".join(t for t, _f in pieces))
        return real_write(start, pieces, breaks, **kw)

    monkeypatch.setattr(view, "_write", recording)
    assert story.undo()  # drops " More."
    assert view.plain_text() == story.text and not story.text.endswith("More.")
    assert story.undo()  # the edit
    assert view.plain_text() == story.text and story.text.endswith("Go on.The generated reply 🙂.")
    assert story.undo()  # the generation
    assert view.plain_text() == "Start. " * 200 + "Go on."
    assert story.redo() and story.redo()
    assert view.plain_text() == story.text and "Carry on.The" in story.text
    assert story.redo()
    assert view.plain_text().endswith("🙂. More.")
    # the long untouched prefix was never rendered again
    assert all(len(w) < 100 for w in written), [len(w) for w in written]


def test_undoing_an_edit_in_a_long_segment_rerenders_only_the_edit(view: StoryView,
                                                                   monkeypatch) -> None:
    story = Story([Segment("model", "Long 🙂 reply. " * 2000)])
    view.set_story(story)
    story.edit(14000, 14005, "😀 x")
    assert view.plain_text() == story.text
    written: list[str] = []
    real_write = view._write

    def recording(start, pieces, breaks=None, **kw):
        written.append("".join(t for t, _f in pieces))
        return real_write(start, pieces, breaks, **kw)

    monkeypatch.setattr(view, "_write", recording)
    story.undo()
    assert view.plain_text() == story.text == "Long 🙂 reply. " * 2000
    assert written == [("Long 🙂 reply. " * 2000)[14000:14005]]
    assert fmt_at(view, 14001).toolTip() == view.model_format.toolTip()
    story.redo()
    assert view.plain_text() == story.text
    assert max(map(len, written)) <= 5
    assert fmt_at(view, 14001).toolTip() == view.edited_format.toolTip()


def test_marks_stay_outside_the_story(view: StoryView, qtbot) -> None:
    story = Story([Segment("user", "Hello")])
    view.set_story(story)
    refused: list[str] = []
    view.edit_refused.connect(refused.append)
    view.add_mark("[generation failed: timeout]")
    assert view.marks() == ["[generation failed: timeout]"]
    assert view.plain_text() == "Hello" == story.text
    assert view.shown_text() == "Hello\n[generation failed: timeout]"
    story.append_text(-1, " world")  # the story goes on before the mark
    assert view.shown_text() == "Hello world\n[generation failed: timeout]"
    c = view.textCursor()
    c.movePosition(QTextCursor.MoveOperation.End)
    c.movePosition(QTextCursor.MoveOperation.Left)
    view.setTextCursor(c)
    qtbot.keyClicks(view, "x")
    assert refused and story.text == "Hello world"
    settle(qtbot, view)
    assert view.shown_text() == "Hello world\n[generation failed: timeout]"
    view.clear_marks()
    assert view.marks() == [] and view.shown_text() == "Hello world"


def test_select_all_and_delete_clears_story_and_marks(view: StoryView, qtbot) -> None:
    story = Story([Segment("user", "Hello 🙂")])
    view.set_story(story)
    view.add_mark("[stopped]")
    view.selectAll()
    qtbot.keyClick(view, Qt.Key.Key_Delete)
    assert story.text == "" and view.marks() == [] and view.shown_text() == ""


def test_long_paragraph_gets_view_only_breaks(view: StoryView, qtbot) -> None:
    words = " ".join(f"w{i}🙂" for i in range(6000))  # ~36 KB, no newline
    story = Story([Segment("user", "Title\n")])
    view.set_story(story)
    index = story.append_segment("model")
    for i in range(0, len(words), 7):
        story.append_text(index, words[i:i + 7])
    blocks = view.document().blockCount()
    assert blocks > len(words) // HARD_BLOCK
    longest = max(view.document().findBlockByNumber(n).length() for n in range(blocks))
    assert longest <= HARD_BLOCK * 2 + 2  # UTF-16 units: emoji count 2
    assert_in_step(view)
    # copy across a view-only break gives the story text
    b = view._map.breaks[0]
    place_cursor(view, b - 5, b + 5)
    assert view.createMimeDataFromSelection().text() == story.text[b - 5:b + 5]
    # deleting across a break edits the story exactly
    view.textCursor().removeSelectedText()
    expected = (" Title\n" + words)[1:]
    expected = expected[:b - 5] + expected[b + 5:]
    assert story.text == expected
    assert_in_step(view)
    # typing right before and right after a break
    b = view._map.breaks[1]
    c = view.textCursor()
    c.setPosition(view._map.view_lo(b))  # end of the block before the break
    view.setTextCursor(c)
    qtbot.keyClicks(view, "[")
    c = view.textCursor()
    c.setPosition(view._map.view_hi(b + 1))  # start of the block after it
    view.setTextCursor(c)
    qtbot.keyClicks(view, "]")
    assert story.text[b:b + 2] == "[]"
    assert_in_step(view)
    # backspace at the start of a block removes the break only: the story is unchanged
    before = story.text
    c.setPosition(view._map.view_hi(view._map.breaks[3]))
    view.setTextCursor(c)
    qtbot.keyClick(view, Qt.Key.Key_Backspace)
    assert story.text == before
    assert_in_step(view)
    story.append_text(-1, " end")
    assert_in_step(view)


def test_window_undo_shortcuts_are_not_swallowed(qtbot) -> None:
    window = QMainWindow()
    view = StoryView(story=Story([Segment("user", "text")]))
    window.setCentralWidget(view)
    qtbot.addWidget(window)
    fired: list[str] = []
    for name, keys in [("undo", QKeySequence.StandardKey.Undo),
                       ("redo", QKeySequence("Ctrl+Shift+Z")), ("redo-y", QKeySequence("Ctrl+Y"))]:
        action = QAction(name, window)
        action.setShortcut(keys)
        action.triggered.connect(lambda _c=False, n=name: fired.append(n))
        window.addAction(action)
    window.show()
    qtbot.waitExposed(window)
    view.setFocus()
    qtbot.waitUntil(view.hasFocus)
    ctrl = Qt.KeyboardModifier.ControlModifier
    qtbot.keyClick(view, Qt.Key.Key_Z, ctrl)
    qtbot.keyClick(view, Qt.Key.Key_Z, ctrl | Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(view, Qt.Key.Key_Y, ctrl)
    assert fired == ["undo", "redo", "redo-y"]
    assert view.story().text == "text"


def test_palette_change_updates_formats(view: StoryView) -> None:
    view.set_story(Story([Segment("model", "dark or light")]))
    palette = view.palette()
    palette.setColor(palette.ColorRole.Text, Qt.GlobalColor.red)
    view.setPalette(palette)
    assert fmt_at(view, 2).foreground().color().name() == "#ff0000"


def test_position_map_round_trips_with_breaks_and_emoji() -> None:
    text = "ab🙂c d😀 e"
    m = PositionMap()
    m.replaced(0, 0, text, [5, 9])
    views = [m.view_hi(p) for p in range(len(text) + 1)]
    assert views == [0, 1, 2, 4, 5, 7, 8, 10, 11, 13]
    for p in range(len(text) + 1):
        assert m.story_of(m.view_hi(p), len(text)) == (p, True)
        assert m.story_of(m.view_lo(p), len(text)) == (p, True)
    assert m.story_of(3, len(text)) == (2, False)  # inside the 🙂 surrogate pair
    assert [m.break_view_position(i) for i in range(2)] == [6, 12]
    assert m.story_of(6, len(text)) == (5, True)  # just before the break: the same place


def test_plan_breaks_bounds_paragraphs_and_prefers_spaces() -> None:
    text = ("word " * 2000) + "x" * 9000 + "\n" + "short"
    breaks = plan_breaks(text, 0, soft=100, hard=200)
    pieces = [text[a:b] for a, b in zip([0, *breaks], [*breaks, len(text)], strict=True)]
    for piece in pieces:
        assert all(len(line) <= 200 for line in piece.split("\n"))
    assert all(text[b - 1] == " " for b in breaks if b <= 10000)
    assert plan_breaks("a b c", 0, soft=100, hard=200) == []
    assert plan_breaks(" next", 150, soft=100, hard=200) == [1]


def expected_document(view: StoryView) -> str:
    """What the document must hold: story text with the view-only breaks, then the marks."""
    text, out, last = view.story().text, [], 0
    for b in view._map.breaks:
        out.append(text[last:b])
        last = b
    out.append(text[last:])
    return "\n".join(out) + "".join("\n" + m for m in view.marks())


@pytest.mark.parametrize("seed", range(int(__import__("os").environ.get("FUZZ_SEEDS", "8"))))
def test_random_edits_streams_and_undo_keep_view_and_story_in_step(view: StoryView, qtbot,
                                                                   monkeypatch, seed) -> None:
    import random

    import kobold_gui.ui.story_view as sv
    monkeypatch.setattr(sv, "SOFT_BLOCK", 12)
    monkeypatch.setattr(sv, "HARD_BLOCK", 24)
    if seed % 2:  # a long story shown over several event-loop turns while all this happens
        monkeypatch.setattr(sv, "RENDER_CHUNK", 7)
    if seed % 4 < 2:  # lines wrap every few characters: breaks go where they wrap
        view.resize(130, 300)
    if seed % 3 == 0:  # old layouts recycled all the time
        monkeypatch.setattr(sv, "RECYCLE_CHARS", 25)
        monkeypatch.setattr(sv, "RECYCLE_KEEP", 10)
    rng = random.Random(seed)
    alphabet = ["a", "b", " ", " ", "\n", "🙂", "東", "é", "\r", "\r\n"]
    story = Story([Segment("user", "Start 🙂 here. ")])
    view.set_story(story)
    refused: list[str] = []
    view.edit_refused.connect(refused.append)
    seen_breaks = False
    streaming = -1
    for _step in range(300):
        op = rng.random()
        length = len(story.text)
        if op < 0.3:
            if streaming < 0:
                streaming = story.append_segment(rng.choice(["model", "recovered", "user"]))
                if rng.random() < 0.5:
                    view.set_locked_from(story.segment_start(streaming))
            story.append_text(-1, "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))))
        elif op < 0.55:  # the user types or deletes somewhere
            # document positions, as a user's click gives (a put-back may be pending)
            a = rng.randint(0, view._doc_end())
            b = min(view._doc_end(), a + rng.choice([0, 0, 1, 3, 20]))
            cursor = view.textCursor()
            cursor.setPosition(a)
            cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
            if rng.random() < 0.5 or b == a:
                cursor.insertText("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))))
            else:
                cursor.removeSelectedText()
        elif op < 0.65:  # deleting across one view-only break, or just the break
            if view._map.breaks and not view._fixes:  # (the map is ahead of a pending put-back)
                i = rng.randrange(len(view._map.breaks))
                vb = view._map.break_view_position(i)
                c = view.textCursor()
                c.setPosition(max(0, vb - rng.randint(0, 2)))
                c.setPosition(min(view._doc_end(), vb + 1 + rng.randint(0, 2)),
                              QTextCursor.MoveMode.KeepAnchor)
                view.setTextCursor(c)
                c.removeSelectedText()
        elif op < 0.72:
            story.edit(*sorted((rng.randint(0, length), rng.randint(0, length))), "E🙂")
        elif op < 0.8:
            (story.undo if rng.random() < 0.6 else story.redo)()
            streaming = -1
            view.set_locked_from(None)
        elif op < 0.82:
            view.set_story(story)
        elif op < 0.87:
            view.add_mark(f"[mark {_step}]")
        elif op < 0.9:
            view.clear_marks()
        elif op < 0.95 and streaming >= 0:
            story.finish_segment(len(story.segments) - 1, GenerationMeta(finish_reason="stop"))
            streaming = -1
            view.set_locked_from(None)
        if rng.random() < 0.3:
            settle(qtbot, view)
        if rng.random() < 0.3:  # (reading the text finishes pending put-backs: not every step)
            assert view.plain_text() == story.text
            assert _from_view_doc(view) == expected_document(view)
        seen_breaks = seen_breaks or bool(view._map.breaks)
    assert view.plain_text() == story.text
    assert _from_view_doc(view) == expected_document(view)
    assert seen_breaks and refused


def _from_view_doc(view: StoryView) -> str:
    return view.document().toRawText().replace("\u2029", "\n").replace("\u240d", "\r")


def test_a_long_story_is_shown_over_several_turns_and_stays_exact(view: StoryView, qtbot,
                                                                  monkeypatch) -> None:
    import kobold_gui.ui.story_view as sv
    monkeypatch.setattr(sv, "RENDER_CHUNK", 1000)
    text = "".join(f"Line {i} of the story 🙂.\n" for i in range(2000))  # ~50 K characters
    story = Story([Segment("user", text)])
    view.set_story(story)
    assert view.document().characterCount() < len(text)  # not all at once
    index = story.append_segment("model")
    story.append_text(index, "Streaming while it renders.")  # lands at the end, in order
    place_cursor(view, 0)
    qtbot.keyClicks(view, ">")  # editing the part already shown
    assert story.text.startswith(">Line 0")
    qtbot.waitUntil(lambda: not view.rendering(), timeout=10_000)
    assert_in_step(view)
    assert _from_view_doc(view) == expected_document(view)
    story.append_text(-1, " More.")  # (the edit at 0 moved the reply to index 2)
    assert view.plain_text().endswith("renders. More.")


def test_drop_from_another_app_inserts_plain_text_at_the_drop_point(view: StoryView,
                                                                    qtbot) -> None:
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    story = Story([Segment("model", "ab🙂cd")])
    view.set_story(story)
    target = QTextCursor(view.document())
    target.setPosition(view._map.view_hi(3))  # after the emoji
    point = view.cursorRect(target).center()
    data = QMimeData()
    data.setHtml("<b>X</b>")
    data.setText("X")
    action = Qt.DropAction.CopyAction
    buttons, mods = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    for event in (QDragEnterEvent(point, action, data, buttons, mods),
                  QDragMoveEvent(point, action, data, buttons, mods),
                  QDropEvent(point.toPointF(), action, data, buttons, mods)):
        QApplication.sendEvent(view.viewport(), event)
    assert story.text == "ab🙂Xcd"
    assert_in_step(view)


def test_a_new_story_drops_the_old_marks_and_lock(view: StoryView) -> None:
    view.set_story(Story([Segment("user", "old")]))
    view.add_mark("[stopped]")
    view.set_locked_from(1)
    view.set_story(Story([Segment("user", "new")]))
    assert view.marks() == [] and view.locked_from() is None and view.shown_text() == "new"


def test_follows_the_stream_only_while_the_reader_is_at_the_bottom(view: StoryView) -> None:
    story = Story([Segment("user", "".join(f"line {i}\n" for i in range(300)))])
    view.set_story(story)
    view.finish_rendering()
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())
    index = story.append_segment("model")
    for _ in range(40):
        story.append_text(index, "more\n")
    assert bar.value() == bar.maximum()  # followed
    bar.setValue(bar.maximum() // 3)  # the reader scrolls up to read
    kept = bar.value()
    for _ in range(40):
        story.append_text(index, "and more\n")
    assert bar.value() == kept


def test_input_method_and_shift_enter_land_in_the_story(view: StoryView, qtbot) -> None:
    from PySide6.QtGui import QInputMethodEvent
    story = Story([Segment("model", "ab")])
    view.set_story(story)
    place_cursor(view, 1)
    preedit = QInputMethodEvent("にほ", [])  # composing: not text yet
    QApplication.sendEvent(view, preedit)
    assert story.text == "ab"
    commit = QInputMethodEvent()
    commit.setCommitString("日本")
    QApplication.sendEvent(view, commit)
    assert story.text == "a日本b"
    qtbot.keyClick(view, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    assert story.text == "a日本\nb"  # a newline, not Qt's U+2028 line separator
    assert_in_step(view)


def test_paste_and_select_all_typing_into_a_streaming_reply_are_refused(view: StoryView,
                                                                       qtbot) -> None:
    story = Story([Segment("user", "Prompt. ")])
    view.set_story(story)
    refused: list[str] = []
    view.edit_refused.connect(refused.append)
    index = story.append_segment("model")
    view.set_locked_from(story.segment_start(index))
    story.append_text(index, "Reply 🙂")
    view.selectAll()
    qtbot.keyClicks(view, "x")
    assert story.text == "Prompt. Reply 🙂" and refused
    settle(qtbot, view)
    assert view.shown_text() == "Prompt. Reply 🙂"
    place_cursor(view, len(story.text))
    data = QMimeData()
    data.setText("pasted")
    view.insertFromMimeData(data)
    assert story.text == "Prompt. Reply 🙂" and len(refused) == 2
    story.append_text(index, " goes on")
    assert view.plain_text() == "Prompt. Reply 🙂 goes on"


def line_starts(edit: QPlainTextEdit, to_story=lambda v: v) -> list[int]:
    """Where each shown line starts (story positions via `to_story`), over all blocks."""
    layout = edit.document().documentLayout()
    starts, block = [], edit.document().firstBlock()
    while block.isValid():
        layout.blockBoundingRect(block)  # lay it out
        lines = block.layout()
        starts += [to_story(block.position() + lines.lineAt(i).textStart())
                   for i in range(lines.lineCount())]
        block = block.next()
    return starts


def test_breaks_in_a_streamed_paragraph_fall_where_lines_wrap_anyway(view: StoryView,
                                                                    qtbot) -> None:
    words = " ".join(f"word{i % 97}" for i in range(3000))  # ~20 K characters, one paragraph
    story = Story()
    view.set_story(story)
    index = story.append_segment("model")
    for i in range(0, len(words), 6):
        story.append_text(index, words[i:i + 6])
    assert len(view._map.breaks) >= len(words) // HARD_BLOCK
    # the same paragraph in one block of a plain editor of the same size, font and margins
    plain = QPlainTextEdit()
    qtbot.addWidget(plain)
    plain.setFont(view.font())
    plain.document().setDocumentMargin(view.document().documentMargin())
    plain.setFrameShape(view.frameShape())
    plain.resize(view.size())
    plain.setViewportMargins(view.viewportMargins())
    plain.show()
    qtbot.waitExposed(plain)
    plain.setPlainText(words)
    assert plain.viewport().width() == view.viewport().width()
    ours = line_starts(view, lambda v: view._map.story_of(v, len(story.text))[0])
    assert ours == line_starts(plain)  # every line starts where it would without the breaks


def test_recycling_old_layouts_leaves_text_selection_and_reading_place(view: StoryView,
                                                                       monkeypatch) -> None:
    import kobold_gui.ui.story_view as sv
    monkeypatch.setattr(sv, "RECYCLE_CHARS", 3000)
    monkeypatch.setattr(sv, "RECYCLE_KEEP", 500)
    recycled: list[int] = []
    real = view._put_back
    monkeypatch.setattr(view, "_put_back", lambda fix: (recycled.append(1), real(fix)))
    story = Story()
    view.set_story(story)
    index = story.append_segment("model")
    words = " ".join(f"word{i % 89}" for i in range(2000))  # wraps into several lines
    for n in range(30):  # paragraphs of ~12 K characters, streamed
        for i in range(0, len(words), 50):
            story.append_text(index, words[i:i + 50])
        story.append_text(index, f"\nParagraph {n} ends.\n")
        if n == 3:
            place_cursor(view, 100, 200)  # a selection in text that will be recycled
            selected = view.textCursor().selectedText()
            view.verticalScrollBar().setValue(view.verticalScrollBar().maximum())  # follow
    assert recycled
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()  # still following
    assert view.textCursor().selectedText() == selected
    assert_in_step(view)
    assert _from_view_doc(view) == expected_document(view)
    # a reader scrolled up (below the recycled text) keeps their place
    bar.setValue(bar.maximum() - 30)
    top = view.firstVisibleBlock().text()
    count = len(recycled)
    for _n in range(3):
        for i in range(0, len(words), 50):
            story.append_text(index, words[i:i + 50])
    assert len(recycled) > count
    assert view.firstVisibleBlock().text() == top
    assert_in_step(view)


def test_replacing_a_big_story_shows_the_new_one_and_empties_the_old_document_later(view, qtbot):
    from kobold_gui.ui import story_view

    big = Story([Segment("model", "old words here. " * (story_view.RETIRE_ABOVE // 8))])
    view.set_story(big)
    view.finish_rendering()
    old_doc = view.document()
    new = Story([Segment("user", "A new story. "), Segment("model", "It begins 🙂.")])
    view.set_story(new)
    assert view.document() is not old_doc
    assert view.plain_text() == new.text
    # the old document is emptied piece by piece on later turns, then deleted
    qtbot.waitUntil(lambda: not view._retired, timeout=10_000)
    assert view.plain_text() == new.text
    # the fresh document is followed: typing lands in the story
    place_cursor(view, len(new))
    qtbot.keyClicks(view, "!")
    assert new.text.endswith("🙂.!")


def test_font_choice(view) -> None:
    view.set_font_kind("mono")
    assert view.font().styleHint().name == "Monospace"
    view.set_font_kind("serif")
    assert view.font().pointSizeF() >= 11


def test_wide_views_keep_a_reading_column(qtbot, view) -> None:
    from kobold_gui.ui.reading import READING_WIDTH

    view.resize(READING_WIDTH + 400, 300)
    qtbot.waitUntil(lambda: view.viewportMargins().left() == 200)
    assert view.viewportMargins().right() == 200
    view.resize(500, 300)
    qtbot.waitUntil(lambda: view.viewportMargins().left() == 0)


def prose(chars: int, seed: int = 3) -> str:
    """Model-like prose: lines of ~80 characters, accents, CJK and emoji."""
    import random
    rng = random.Random(seed)
    words = ["the", "lighthouse", "keeper", "São", "über", "sea", "storm", "café", "東京", "🙂"]
    out, n, line = [], 0, 0
    while n < chars:
        word = rng.choice(words)
        out.append(word)
        n, line = n + len(word) + 1, line + len(word) + 1
        out.append("\n" if line > 80 else " ")
        line = 0 if line > 80 else line
    return "".join(out)


def laid_out_above(view: StoryView, story_position: int) -> list[int]:
    """Positions of the blocks before `story_position` that hold a layout (Qt's lines and
    shaped glyphs, a few KB a paragraph)."""
    limit, found = view._map.view_hi(story_position), []
    block = view.document().firstBlock()
    while block.isValid() and block.position() < limit:
        if block.layout().lineCount():
            found.append(block.position())
        block = block.next()
    return found


def assert_screen_shows_the_story(view: StoryView) -> int:
    """The blocks on screen are laid out, every character on a line, and read as the story;
    how many there are."""
    block, height = view.firstVisibleBlock(), view.viewport().height()
    start = view._map.story_of(block.position(), len(view.story()))[0]
    shown: list[str] = []
    while block.isValid() and view.blockBoundingGeometry(block).translated(
            view.contentOffset()).top() < height:
        layout = block.layout()
        assert layout.lineCount() > 0
        assert sum(layout.lineAt(i).textLength() for i in range(layout.lineCount())) \
            == block.length() - 1
        shown.append(block.text())
        block = block.next()
    text = "\n".join(shown)
    assert len(shown) > 5 and text == view.story().text[start:start + len(text)]
    return len(shown)


def test_paragraphs_far_above_a_long_stream_hold_no_layout_until_shown_again(
        view: StoryView) -> None:
    """Qt keeps the layout of every paragraph it has shown (~3 KB each, ~40 bytes a
    character) for as long as the paragraph exists, and clearing a layout frees none of it:
    the view writes older streamed text afresh (RECYCLE_CHARS), so paragraphs the reader has
    scrolled past while following the stream hold no layout. Shown again, they are laid out
    again and read as before."""
    from kobold_gui.ui.story_view import RECYCLE_CHARS, RECYCLE_KEEP

    story = Story()
    view.set_story(story)
    index = story.append_segment("model")
    text = prose(5 * RECYCLE_CHARS)
    early: int | None = None  # a paragraph seen laid out on screen while it streamed
    for n, i in enumerate(range(0, len(text), 40)):
        story.append_text(index, text[i:i + 40])
        if n % 8 == 7:
            view.viewport().repaint()  # the reader watches the reply come in
            top = view.firstVisibleBlock()
            if early is None and top.position() > 2000:
                assert top.layout().lineCount() > 0
                early = view._map.story_of(top.position(), len(story))[0]
    bar = view.verticalScrollBar()
    assert bar.value() == bar.maximum()  # followed to the end
    view.viewport().repaint()
    assert early is not None and early < len(story) - RECYCLE_CHARS - RECYCLE_KEEP
    assert laid_out_above(view, len(story) - RECYCLE_CHARS - RECYCLE_KEEP) == []
    assert_screen_shows_the_story(view)
    bar.setValue(0)  # back to the beginning: laid out again, the same text
    view.viewport().repaint()
    assert_screen_shows_the_story(view)
    assert view.firstVisibleBlock().position() == 0
    assert_in_step(view)


def test_opening_a_long_story_lays_out_only_what_is_shown(view: StoryView, qtbot) -> None:
    """Shown over several event-loop turns, a long story is not laid out where each turn
    ended (Qt lays out the last screenful to size the scroll bar, and keeps it): only the
    screen the reader looks at is, and the scroll bar still reaches the end."""
    story = Story([Segment("user", prose(1_500_000))])
    view.set_story(story)
    assert view.rendering()
    qtbot.waitUntil(lambda: not view.rendering(), timeout=20_000)
    view.viewport().repaint()
    screen = assert_screen_shows_the_story(view)  # the reader sees the beginning
    assert view.firstVisibleBlock().position() == 0
    bar = view.verticalScrollBar()
    bar.setValue(bar.maximum())
    view.viewport().repaint()
    far = laid_out_above(view, len(story) - 20_000)
    # the first screen, and a few where the scroll bar appeared (the width changed); the end
    # of every turn was ~450 blocks for this story, and 10 000 (30 MB) for a 10 MB one
    assert screen <= len(far) < view.document().blockCount() // 100
    assert_screen_shows_the_story(view)
    last = view.document().lastBlock()
    assert view.blockBoundingGeometry(last).translated(view.contentOffset()).bottom() \
        <= view.viewport().height()  # the end of the story is on screen
    assert_in_step(view)


def test_paragraphs_a_reader_scrolled_past_are_let_go_and_read_the_same_again(
        view: StoryView, qtbot) -> None:
    """Reading through a long story lays out every paragraph shown, and Qt would keep all of
    it (~3 KB a paragraph): once enough was shown, paragraphs far from the screen are written
    afresh, leaving the reader's place and selection as they were."""
    from kobold_gui.ui.story_view import READ_KEEP, READ_RELEASE_CHARS

    story = Story([Segment("user", "A beginning.\n"), Segment("model", prose(700_000))])
    view.set_story(story)
    view.finish_rendering()
    place_cursor(view, 300_000, 300_050)
    selected = view.textCursor().selectedText()
    bar = view.verticalScrollBar()
    bar.setValue(0)
    while bar.value() < bar.maximum() // 2:  # the reader pages through half the story
        bar.setValue(bar.value() + bar.pageStep())
        view.viewport().repaint()
    qtbot.waitUntil(lambda: view._sweep is None, timeout=20_000)
    view.viewport().repaint()
    top = view.firstVisibleBlock()
    place = top.text()
    here = view._map.story_of(top.position(), len(story))[0]
    assert here > READ_RELEASE_CHARS + READ_KEEP
    assert laid_out_above(view, here - READ_KEEP - 5000) == []
    assert view.firstVisibleBlock().text() == place  # still reading the same line
    assert_screen_shows_the_story(view)
    assert view.textCursor().selectedText() == selected
    bar.setValue(0)  # back to the beginning: laid out again, the same text
    view.viewport().repaint()
    assert_screen_shows_the_story(view)
    assert_in_step(view)

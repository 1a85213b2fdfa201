"""Text from a server is shown as the characters it is, never rendered as HTML (issue 6 #9).

A model name or an error message holding `<img src="file:///…">` must not make Qt load a local
file: labels are plain text, and tooltips carry the text escaped inside our own wrapper.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QWidget

from kobold_gui.core.generation import ResilienceConfig
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults, http_handler
from kobold_gui.ui.plain import plain_tooltip, tooltip_text

from .conftest import WAIT_MS, wait_connected

SLOW_RETRY = ResilienceConfig(stall_after=0.3, poll_interval=0.1,
                              retry=RetryPolicy(base_delay=30.0, min_delay=30.0, max_delay=30.0,
                                                max_attempts=3))


def markup(tmp_path) -> str:
    return f'<img src="file://{tmp_path}/probe.png"> <b>bold</b> &amp; co'


def rendered(tooltip: str) -> str:
    """What a rich-text renderer would show for this tooltip."""
    doc = QTextDocument()
    doc.setHtml(tooltip)
    return doc.toPlainText()


def assert_shown_literally(widget: QWidget, text: str) -> None:
    tip = widget.toolTip()
    assert "<img" not in tip and "<b>" not in tip, tip
    assert text in rendered(tip), (tip, rendered(tip))
    assert text in tooltip_text(widget)


def assert_plain_label(label: QLabel, text: str) -> None:
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert text in label.text()


def test_plain_tooltip_escapes_every_markup() -> None:
    text = '<img src="file:///etc/x.png">\n<b>x</b> & <qt>'
    tip = plain_tooltip(text)
    assert "<img" not in tip and "<qt>" not in tip
    assert rendered(tip) == text
    assert plain_tooltip("") == ""


def test_model_name_and_server_error_show_their_markup_literally(
        qtbot, make_emulator, make_window, monkeypatch, tmp_path) -> None:
    hostile = markup(tmp_path)
    monkeypatch.setitem(http_handler.BUSY_BODY["detail"], "msg", f"rate limited {hostile}")
    emu = make_emulator(model=f"koboldcpp/{hostile}", faults=Faults(busy_first=5))
    window = make_window(emu.url, config=SLOW_RETRY)
    wait_connected(qtbot, window)
    qtbot.waitUntil(lambda: window.state_text() == "connected", timeout=WAIT_MS)
    bar = window.status

    model = f"koboldcpp/{hostile}"
    assert_plain_label(bar.model, model)
    assert bar.model.text() == model
    assert_shown_literally(bar.model, model)
    assert_shown_literally(bar.indicator, model)  # the state's detail names the model
    assert_plain_label(bar.indicator.word, "connected")

    # The server's own words in an error (a 503 with a message of its own).
    window.settings_panel.set_values({"max_length": 20})
    window.editor.set_prompt("Hello")
    assert window.generate()
    qtbot.waitUntil(lambda: hostile in window.status_message(), timeout=WAIT_MS)
    assert_plain_label(bar.message, "rate limited <img")
    assert_shown_literally(bar.message, f"rate limited {hostile}")
    assert_plain_label(bar.countdown, "retrying")
    window.stop()
    qtbot.waitUntil(lambda: not window.controller.busy, timeout=WAIT_MS)


def test_typed_settings_values_in_problems_are_not_rendered(qtbot, make_window) -> None:
    window = make_window(connect=False)
    panel = window.settings_panel
    panel.reveal("sampler_seed")
    qtbot.keyClicks(panel.widget_for("sampler_seed"), "<b>x</b>")
    label = panel.error_labels["sampler_seed"]
    assert label.textFormat() == Qt.TextFormat.PlainText and "<b>x</b>" in label.text()
    assert "<b>" not in panel.widget_for("sampler_seed").toolTip()
    assert "<b>x</b>" in tooltip_text(panel.widget_for("sampler_seed"))

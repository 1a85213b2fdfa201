"""The Server side panel (issue 8 #7): address, password, Test, and what the server says.

Why a panel beside the toolbar's fields: the toolbar keeps connecting one keystroke away, the
panel has room for the rest — a Test that checks an address without leaving the current server,
the answer inline (never a dialog), the server's model, version, true context size and feature
flags from /api/extra/version, and the recent servers to pick again. Its address and password
fields are the toolbar's, mirrored both ways, so there is one address and one password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core.serverinfo import DEFAULT_URL, ServerInfo
from .plain import plain_label, set_plain_tooltip

if TYPE_CHECKING:
    from .main_window import MainWindow

#: /api/extra/version flags, in words (unknown ones are shown by their own name)
FEATURE_WORDS: dict[str, str] = {
    "txt2img": "image generation",
    "vision": "vision (images in prompts)",
    "audio": "audio input",
    "transcribe": "speech to text",
    "multiplayer": "multiplayer",
    "websearch": "web search",
    "tts": "text to speech",
    "embeddings": "embeddings",
    "savedata": "saving on the server",
    "admin": "admin",
    "guidance": "classifier-free guidance",
    "jinja": "chat templates (jinja)",
    "mcp": "tools (MCP)",
    "music": "music generation",
}
#: keys of /api/extra/version that are not feature flags
NOT_FEATURES = frozenset({"result", "version", "protected"})


def feature_flags(raw: dict[str, object]) -> list[str]:
    """The features a server reports as on, in words, in the order it lists them."""
    return [FEATURE_WORDS.get(key, key) for key, value in raw.items()
            if key not in NOT_FEATURES and value is True]


def describe_server(info: ServerInfo) -> str:
    version = f"{info.version.name} {info.version.version}".strip()
    return f"{version} · {info.model} · {info.max_context_length:,} tokens of context"


class ServerPanel(QWidget):
    """Address, password (masked, with a Show toggle), Test and Connect, and the facts."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__()
        self.main = window
        self.setObjectName("serverPanel")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(12, 10, 12, 10)
        outer.setSpacing(10)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("serverPanelUrl")
        self.url_edit.setPlaceholderText(DEFAULT_URL)
        self.url_edit.setAccessibleName("Server address")
        self.url_edit.setToolTip("KoboldCPP server address; Enter connects")
        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("serverPanelPassword")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("only if the server has one")
        self.password_edit.setAccessibleName("Server password")
        self.show_password = QToolButton()
        self.show_password.setObjectName("showPasswordButton")
        self.show_password.setText("Show")
        self.show_password.setCheckable(True)
        self.show_password.setAccessibleName("Show password")
        self.show_password.setToolTip("Show the password as you type it")
        self.show_password.toggled.connect(self._toggle_password)
        password_row = QHBoxLayout()
        password_row.setSpacing(4)
        password_row.addWidget(self.password_edit, 1)
        password_row.addWidget(self.show_password)
        url_label = plain_label("&Address")
        url_label.setBuddy(self.url_edit)
        password_label = plain_label("Pass&word")
        password_label.setBuddy(self.password_edit)
        form.addRow(url_label, self.url_edit)
        form.addRow(password_label, password_row)
        outer.addLayout(form)

        buttons = QHBoxLayout()
        self.test_button = QPushButton("&Test")
        self.test_button.setObjectName("testServerButton")
        self.test_button.setToolTip("Check this address and password without switching to it")
        self.test_button.clicked.connect(self.test)
        self.connect_button = QPushButton("&Connect")
        self.connect_button.setObjectName("panelConnectButton")
        self.connect_button.setToolTip("Connect to this address")
        self.connect_button.clicked.connect(self.connect_now)
        buttons.addWidget(self.test_button)
        buttons.addWidget(self.connect_button)
        buttons.addStretch(1)
        outer.addLayout(buttons)
        #: the Test's answer (or "Testing…"), inline
        self.result = plain_label()
        self.result.setObjectName("testResult")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.result.hide()
        outer.addWidget(self.result)

        outer.addWidget(self._title("Connected server"))
        facts = QFormLayout()
        facts.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.model_value = self._value("serverModel")
        self.version_value = self._value("serverVersion")
        self.context_value = self._value("serverContext")
        self.features_value = self._value("serverFeatures")
        for label, value in (("Model", self.model_value), ("Server", self.version_value),
                             ("Context", self.context_value),
                             ("Features", self.features_value)):
            facts.addRow(plain_label(label), value)
        outer.addLayout(facts)

        outer.addWidget(self._title("Recent servers"))
        self.recent_list = QListWidget()
        self.recent_list.setObjectName("recentServers")
        self.recent_list.setAccessibleName("Recent servers")
        self.recent_list.setToolTip("Enter or double-click connects to that server")
        self.recent_list.itemActivated.connect(self._recent_chosen)
        self.recent_list.setMaximumHeight(140)
        self.recent_list.hide()
        self.no_recent = plain_label("Servers you connect to are listed here.")
        self.no_recent.setObjectName("noRecentServers")
        self.no_recent.setWordWrap(True)
        outer.addWidget(self.recent_list)
        outer.addWidget(self.no_recent)
        outer.addStretch(1)

        self._testing: str | None = None
        self.show_server(window.controller.server)
        self._mirror(window.url_edit, self.url_edit)
        self._mirror(window.password_edit, self.password_edit)
        self.url_edit.returnPressed.connect(self.connect_now)
        self.password_edit.returnPressed.connect(self.connect_now)

    # ------------------------------------------------------------------ building
    @staticmethod
    def _title(text: str) -> QLabel:
        label = plain_label(text.upper())
        label.setObjectName("sectionTitle")
        return label

    @staticmethod
    def _value(name: str) -> QLabel:
        label = plain_label("—")
        label.setObjectName(name)
        label.setWordWrap(True)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        return label

    @staticmethod
    def _mirror(toolbar: QLineEdit, panel: QLineEdit) -> None:
        """One value in two fields: typing in either shows in the other."""
        panel.setText(toolbar.text())
        panel.textEdited.connect(lambda text: toolbar.setText(text)
                                 if toolbar.text() != text else None)
        toolbar.textChanged.connect(lambda text: panel.setText(text)
                                    if panel.text() != text else None)

    def _toggle_password(self, shown: bool) -> None:
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Normal if shown
                                       else QLineEdit.EchoMode.Password)
        self.show_password.setText("Hide" if shown else "Show")
        self.show_password.setAccessibleName("Hide password" if shown else "Show password")

    # ------------------------------------------------------------------ actions
    def connect_now(self) -> None:
        self.main.connect_to_server()

    def test(self) -> None:
        """Check the address and password in the fields; the answer appears below."""
        url = self.url_edit.text().strip() or DEFAULT_URL
        self._testing = url
        self._show_result(f"Testing {url}…", error=False)
        self.test_button.setEnabled(False)
        self.main.controller.test_server(url, self.password_edit.text() or None,
                                           lambda info, why: self._tested(url, info, why))

    def _tested(self, url: str, info: ServerInfo | None, why: str) -> None:
        if not shiboken6.isValid(self) or self._testing != url:
            return
        self._testing = None
        self.test_button.setEnabled(True)
        if info is None:
            self._show_result(f"✗ {why}", error=True)
            return
        flags = feature_flags(info.version.raw)
        extra = f"\nFeatures: {', '.join(flags)}" if flags else ""
        locked = "\nPassword accepted" if info.version.protected else ""
        self._show_result(f"✓ {describe_server(info)}{locked}{extra}", error=False)

    def _show_result(self, text: str, *, error: bool) -> None:
        self.result.setText(text)
        self.result.setProperty("error", error)
        self.result.style().unpolish(self.result)
        self.result.style().polish(self.result)
        self.result.setAccessibleName(f"Test result: {text}")
        self.result.show()

    def result_text(self) -> str:
        return self.result.text() if self.result.isVisibleTo(self) else ""

    def _recent_chosen(self, item: QListWidgetItem) -> None:
        self.main.url_edit.setText(item.text())
        self.connect_now()

    # ------------------------------------------------------------------ facts
    def show_server(self, info: ServerInfo | None) -> None:
        """The connected server's facts (dashes when there is none)."""
        if info is None:
            for value in (self.model_value, self.version_value, self.context_value,
                          self.features_value):
                value.setText("—")
            self.version_value.setText("not connected")
            return
        self.model_value.setText(info.model)
        set_plain_tooltip(self.model_value, info.model)
        version = f"{info.version.name} {info.version.version}".strip()
        self.version_value.setText(version)
        self.context_value.setText(f"{info.max_context_length:,} tokens")
        set_plain_tooltip(self.context_value,
                          "The context the server really has (true_max_context_length); "
                          "the sampler panel's context size follows it")
        words = feature_flags(info.version.raw)
        if info.version.protected:
            words.insert(0, "password protected")
        self.features_value.setText(", ".join(words) if words else "none reported")

    def set_recent_urls(self, urls: list[str]) -> None:
        self.recent_list.clear()
        for url in urls:
            self.recent_list.addItem(url)
        self.recent_list.setVisible(bool(urls))
        self.no_recent.setVisible(not urls)


def install_server_panel(window: MainWindow) -> None:
    """The Server tab beside the other side panels, and Server > Test Server. The panel is
    built when first shown or asked for (window.server_panel); the recent addresses given
    before reach it then (window.set_recent_urls), and it shows the server of that moment."""

    def build() -> QWidget:
        panel = ServerPanel(window)
        window._server_panel = panel
        if window.recent_urls is not None:
            panel.set_recent_urls(window.recent_urls)
        window.controller.server_changed.connect(panel.show_server)
        return panel

    window.server_dock = window.add_side_panel("Server", build, "serverDock")
    test = QAction("Test Server", window)
    test.setObjectName("testServerAction")
    test.setToolTip("Check the address in the Server panel without switching to it")

    def run_test() -> None:
        window.focus_panel(window.server_dock)
        window.server_panel.test()

    test.triggered.connect(lambda _c=False: run_test())
    window.menu("&Server").addAction(test)
    window.test_server_action = test

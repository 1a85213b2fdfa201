"""The window's side of the app settings: restore them at start, collect them at quit.

What is kept (core/prefs.py writes the file): the server address and the recent servers (offered
again by the address field's drop-down), the sampler values, the window's geometry, docks and
toolbars, the splitter, the story's font (kind, family, size) and the theme. The server
password goes to the system keyring (core/secrets.py) once the server has accepted it, and is
forgotten when the user clears the field and connects; without a keyring the window keeps it
for the session and says so.

Precedence: `--url`/KOBOLD_URL beat the saved address; a password from the command line or the
environment beats the keyring for the session and is not stored; `--demo`'s emulator address is
never saved nor listed.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QObject, QStringListModel, Qt
from PySide6.QtWidgets import QCompleter, QLineEdit, QStyle

from ..core.errors import InvalidURL
from ..core.prefs import Prefs, clean_samplers, load_prefs, prefs_path, save_prefs
from ..core.secrets import NO_KEYRING_NOTE, PasswordStore
from ..core.serverinfo import DEFAULT_URL, ServerInfo, normalize_url
from .first_event import on_first_event

if TYPE_CHECKING:
    from .main_window import MainWindow

log = logging.getLogger(__name__)

#: QMainWindow.saveState/restoreState version: bump when docks or toolbars change meaning
WINDOW_STATE_VERSION = 1

KEYRING_HELP = ("Only for servers started with --password. Once the server accepts it, it is "
                "kept in the system keyring for this address (never in a file); clear the "
                "field and connect to forget it.")
SESSION_HELP = (f"Only for servers started with --password. {NO_KEYRING_NOTE}; it is never "
                "written to disk.")


def _encode(data: QByteArray) -> str:
    return base64.b64encode(bytes(data.data())).decode("ascii")


def _decode(text: str | None) -> QByteArray | None:
    if not text:
        return None
    try:
        return QByteArray(base64.b64decode(text.encode("ascii"), validate=True))
    except (ValueError, binascii.Error):
        return None


class AppSettings(QObject):
    """The saved settings of one window, and its keyring-backed passwords."""

    def __init__(self, prefs: Prefs | None = None, *, path: Path | None = None,
                 store: PasswordStore | None = None) -> None:
        super().__init__()
        self.prefs = prefs or Prefs()
        self.path = prefs_path() if path is None else path
        self.store = store or PasswordStore()
        self.window: MainWindow | None = None
        #: a password given on the command line / in the environment: used, never stored
        self._session_password: str | None = None
        #: the `--demo` emulator's address: never saved, never in the recent list
        self._transient_url: str | None = None
        #: the password the field shows because we filled it in from the keyring
        self._filled: str = ""
        #: the connection attempt last looked at (Controller.client changes on every connect)
        self._seen_client: object = None
        #: keyring answers of this session, so typing an address does not query it per key
        self._known: dict[str, str | None] = {}
        self.completer_model = QStringListModel(self)

    @classmethod
    def load(cls, path: Path | None = None, store: PasswordStore | None = None) -> AppSettings:
        path = prefs_path() if path is None else path
        return cls(load_prefs(path), path=path, store=store)

    # ------------------------------------------------------------------ before the window
    def start_url(self, given_url: str | None) -> str:
        """The address to start with: the one given for this run (command line, environment),
        else the saved one, else the default. Reads no keyring (see `connect_at_start`)."""
        return given_url or self.prefs.url or DEFAULT_URL

    def connection_for(self, given_url: str | None,
                       given_password: str | None) -> tuple[str, str | None]:
        """The address and password to start with: what was given for this run (command line,
        environment), else the saved address and the keyring's password for it."""
        url = self.start_url(given_url)
        return url, given_password or self.password_for(url)

    def password_for(self, url: str) -> str | None:
        """The keyring's password for `url` (None without a keyring or an entry). The keyring
        is not even loaded for an address this app never put a password in it for."""
        if url not in self._known:
            index = self.prefs.keyring_urls
            self._known[url] = (None if index is not None and url not in index
                                else self.store.get(url))
        return self._known[url]

    def _kept(self, url: str, kept: bool) -> None:
        """Note that the keyring now holds (or no longer holds) a password for `url`; the
        list is written at once (a crash must not lose where a password is)."""
        index = self.prefs.keyring_urls
        if index is None or (url in index) == kept:
            return
        self.prefs.keyring_urls = [*index, url] if kept else [u for u in index if u != url]
        save_prefs(self.prefs, self.path)

    def _index_keyring(self, url: str) -> None:
        """A settings file from before the keyring list: which of its addresses have a
        password in the keyring, asked once (the keyring is loaded for `url` anyway), then
        kept in the file so later starts load it only where it is needed."""
        if self.prefs.keyring_urls is not None or not self.store.available:
            return
        addresses = dict.fromkeys([url, *self.prefs.recent_urls])
        self.prefs.keyring_urls = [u for u in addresses if self.password_for(u)]
        save_prefs(self.prefs, self.path)

    # ------------------------------------------------------------------ the window
    def attach(self, window: MainWindow, *, session_password: str | None = None,
               transient_url: str | None = None) -> None:
        """Show the saved settings in `window` and follow its connections from now on.

        Call it before `window.show()`, then `connect_at_start()` after the first frame; call
        `save()` once the window has closed.
        """
        self.window = window
        self._session_password = session_password or None
        self._transient_url = transient_url
        self._restore_layout(window)
        if self.prefs.samplers:
            window.settings_panel.set_values(self.prefs.samplers)
        self._add_recent_drop_down(window.url_edit)
        window.set_recent_urls(self.prefs.recent_urls)
        controller = window.controller
        password = controller.password or ""
        self._filled = password if password and password != self._session_password else ""
        window.url_edit.textChanged.connect(self._address_typed)
        controller.server_changed.connect(self._server_changed)
        controller.state_changed.connect(self._state_changed)

    def connect_at_start(self, url: str, given_password: str | None, *,
                         saved: bool = True) -> None:
        """The start's connection, run once the window's first frame is on screen.

        The keyring is imported and asked only now, not before the window appears (its import
        alone costs 25–45 ms, a Secret Service lookup more): the password field's tooltip says
        where a password will be kept, the keyring's password for `url` fills the field (unless
        one was given for this run, or `saved` is False: `--demo`'s emulator), and only then
        does the controller connect, with that password.
        """
        window = self.window
        if window is None:
            raise RuntimeError("connect_at_start() before attach()")
        password = given_password or None
        if password is None and saved:
            password = self.password_for(url)
            self._index_keyring(url)
            if password and not window.password_edit.text():
                self._filled = password
                window.password_edit.setText(password)
        if "keyring" in sys.modules:  # loaded for this address: say where passwords go now
            self.explain_password_field()
        else:  # when the password field is first pointed at or entered
            on_first_event(window.password_edit, (QEvent.Type.ToolTip, QEvent.Type.FocusIn),
                           self.explain_password_field)
        window.controller.connect_to(url, password)

    def explain_password_field(self) -> None:
        """The password field's tooltip says where a password will be kept: asking whether
        there is a keyring loads it."""
        if self.window is not None:
            self.window.set_password_help(KEYRING_HELP if self.store.available
                                          else SESSION_HELP)

    def _restore_layout(self, window: MainWindow) -> None:
        geometry = _decode(self.prefs.geometry)
        # inside kobold-gui's window frame, the frame was given it before its first frame
        if (geometry is not None and window.isWindow()
                and not window.restoreGeometry(geometry)):
            log.warning("settings: the saved window geometry was not usable")
        state = _decode(self.prefs.window_state)
        if state is not None and not window.restoreState(state, WINDOW_STATE_VERSION):
            log.warning("settings: the saved dock and toolbar layout was not usable")
        sizes = self.prefs.splitter_sizes
        if sizes and len(sizes) == window.splitter.count() and any(sizes):
            window.splitter.setSizes(sizes)
        action = window.font_actions.get(self.prefs.font_kind)
        if action is not None and not action.isChecked():
            action.trigger()  # the same path as the View menu: checks it and sets the font
        look = window.appearance
        if self.prefs.font_family or self.prefs.font_size != look.size:
            look.family = self.prefs.font_family
            look.size = self.prefs.font_size
            look.apply_font()
        if self.prefs.theme != look.theme:
            look.set_theme(self.prefs.theme)

    def _add_recent_drop_down(self, field: QLineEdit) -> None:
        self.completer_model.setStringList(self.prefs.recent_urls)
        completer = QCompleter(self.completer_model, field)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchContains)
        completer.setCompletionMode(QCompleter.CompletionMode.PopupCompletion)
        field.setCompleter(completer)
        icon = field.style().standardIcon(QStyle.StandardPixmap.SP_ArrowDown)
        self.recent_action = field.addAction(icon, QLineEdit.ActionPosition.TrailingPosition)
        self.recent_action.setObjectName("recentServersAction")
        self.recent_action.setToolTip("Recent servers")
        self.recent_action.triggered.connect(self.show_recent)
        self.recent_action.setVisible(bool(self.prefs.recent_urls))

    def show_recent(self) -> None:
        """Drop the list of recent servers down under the address field."""
        if self.window is None:
            return
        completer = self.window.url_edit.completer()
        completer.setCompletionPrefix("")
        completer.complete()

    def recent_urls(self) -> list[str]:
        return list(self.completer_model.stringList())

    # ------------------------------------------------------------------ following the window
    def _address_typed(self, text: str) -> None:
        """Show the keyring's password for the address in the field, unless the user typed one."""
        window = self.window
        if window is None or window.password_edit.text() != self._filled:
            return
        try:
            url = normalize_url(text.strip() or DEFAULT_URL)
        except InvalidURL:
            return
        if url not in self.prefs.recent_urls and url not in self._known:
            found = None  # never connected there: nothing can be stored for it
        else:
            found = self.password_for(url)
        self._filled = found or ""
        window.password_edit.setText(self._filled)

    def _new_attempt(self) -> bool:
        client = self.window.controller.client if self.window is not None else None
        if client is None or client is self._seen_client:
            return False
        self._seen_client = client
        return True

    def _state_changed(self, _state: str, _detail: str) -> None:
        window = self.window
        if window is None or not self._new_attempt():
            return
        controller = window.controller
        if not controller.password and self.password_for(controller.url):
            # The user emptied the password field and connected: forget it here too.
            self.store.forget(controller.url)
            self._known[controller.url] = None
            self._kept(controller.url, False)

    def _server_changed(self, info: ServerInfo | None) -> None:
        window = self.window
        if window is None or info is None:
            return
        self._state_changed("", "")
        if info.url != self._transient_url:
            self.prefs.remember_url(info.url)
            self.completer_model.setStringList(self.prefs.recent_urls)
            self.recent_action.setVisible(True)
            window.set_recent_urls(self.prefs.recent_urls)
        password = window.controller.password
        if not password or not info.version.protected or password == self._session_password:
            return
        if self._known.get(info.url) == password:
            return
        if self.store.put(info.url, password):
            self._known[info.url] = password
            self._kept(info.url, True)
        else:
            window.status.show_info(f"Connected to {info.url} · {NO_KEYRING_NOTE}")

    # ------------------------------------------------------------------ at quit
    def collect(self) -> Prefs:
        """The window's current settings (the password never among them)."""
        window = self.window
        prefs = self.prefs
        if window is None:
            return prefs
        url = window.controller.url
        if url != self._transient_url:
            prefs.url = url
        prefs.samplers = clean_samplers(window.settings_panel.values(), warn=False)
        prefs.geometry = _encode(window.window().saveGeometry())  # the frame, when in one
        prefs.window_state = _encode(window.saveState(WINDOW_STATE_VERSION))
        prefs.splitter_sizes = list(window.splitter.sizes())
        prefs.font_kind = next((kind for kind, action in window.font_actions.items()
                                if action.isChecked()), prefs.font_kind)
        prefs.font_family = window.appearance.family
        prefs.font_size = window.appearance.size
        prefs.theme = window.appearance.theme
        return prefs

    def save(self) -> bool:
        """Write the settings file; False when it could not be written (logged). Never raises:
        it runs while the app shuts down, which must go on."""
        try:
            return save_prefs(self.collect(), self.path)
        except Exception:
            log.exception("settings: not saved")
            return False

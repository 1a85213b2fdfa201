"""MainWindow: puts the pieces together and wires them to the controller.

Why it stays thin: every widget lives in its own module and all server work happens in the
controller, so this file only lays things out, owns the actions (Generate Ctrl+Enter, Stop Esc,
Connect, Continue, Undo/Redo, Delete Last Reply) and translates controller signals into status
updates. The story is the one document: the view renders it, the controller generates into it,
the sampler panel's memory field edits its memory; all three are rebound on `story_replaced`.
It never opens a modal dialog for an error (a nested event loop inside the running qasync loop
deadlocks — stack-notes pitfall 3); errors go to the status bar.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QFontMetrics, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..core import settings
from ..core.context import ContextPlan
from ..core.errors import InvalidSettings, InvalidURL, KoboldError
from ..core.events import ConnectionState, Failed, Finished, Retrying, finish_words
from ..core.memory import settle_after_start
from ..core.serverinfo import DEFAULT_URL, ServerInfo
from ..core.story import FieldsChanged, Reset, Story, StoryEvent
from .accessibility import chain_after, focus_block, name_from_hints, takes_focus
from .appearance import Appearance
from .context_panel import install_context
from .controller import Controller
from .file_actions import install_file_actions
from .first_event import on_first_paint
from .keyboard import KeyboardPath
from .mode_panel import ModePanel, install_modes
from .plain import plain_label, set_plain_tooltip
from .presets_ui import install_presets
from .prompt_editor import PromptEditor
from .retry_actions import install_retry
from .server_panel import ServerPanel, install_server_panel
from .settings_panel import SettingsPanel
from .status import StatusBar
from .story_view import StoryView
from .style import app_icon, style_sheet

#: Below this the toolbar, the buttons and the sampler panel no longer fit their words.
MINIMUM_SIZE = QSize(860, 520)
#: widest the toolbar's field message may get (px) before it is cut with "…"
FIELD_ERROR_WIDTH = 320
#: the menu bar, in this order (`MainWindow.menu` finds them by title)
MENU_TITLES = ("&File", "&Edit", "&Generate", "&View", "&Server", "&Help")
#: side panel title -> the digit of its Ctrl+Shift shortcut (contract of issue 8)
PANEL_SHORTCUTS = {"Samplers": 1, "Context": 2, "Mode": 3, "Server": 4}
URL_HELP = "KoboldCPP server address; Enter connects"
PASSWORD_HELP = "Only for servers started with --password. It is never written to disk."


#: a window that is never painted (started minimized) finishes its start after this long
FINISH_FALLBACK_MS = 1500
#: after finish_start, once: what the start freed goes back to the system (core/memory.py);
#: by then the first connect has been answered
SETTLE_AFTER_START_MS = 1500


def _fit_widgets(body: QWidget) -> None:
    """Long labels wrap, drop-downs size to a short text (side panels scroll only up and
    down)."""
    for label in body.findChildren(QLabel):
        if len(label.text()) > 40:
            label.setWordWrap(True)
    for combo in body.findChildren(QComboBox):
        combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        combo.setMinimumContentsLength(12)


def _menu_key(title: str) -> str:
    return title.replace("&", "").strip().lower()


#: the side panels' width at start, and what a panel's content gets beside it (scroll bar, frame)
SIDE_PANEL_WIDTH = 370
SIDE_PANEL_MARGIN = 24


def app_version() -> str:
    """One version for every face: the package's own."""
    from .. import __version__

    return __version__


class MainWindow(QMainWindow):
    #: the window now shows another Story object (New, Open, a restored session)
    story_replaced = Signal(object)

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        if parent is not None:
            # inside `kobold-gui`'s window frame (ui/window_frame.py): a child from the start,
            # before any of its widgets exist (moving them in later costs ~75 ms of restyling)
            self.setWindowFlags(Qt.WindowType.Widget)
        self.controller = controller
        #: the document: the one source of the text the view shows and the model is sent
        self.story = Story()
        self._unsubscribe_story: Callable[[], None] | None = None
        self.setObjectName("mainWindow")
        self.setWindowTitle("Kobold GUI")
        self.setWindowIcon(app_icon())
        self.resize(1100, 720)
        self.setMinimumSize(MINIMUM_SIZE)
        #: the "Connecting to …" note shown until the connection's outcome replaces it
        self._connecting_note: str | None = None
        #: the password field's tooltip: where the password is kept (ui/app_settings.py says)
        self._password_help = PASSWORD_HELP
        self.setDockOptions(QMainWindow.DockOption.AnimatedDocks)
        #: set by install_server_panel (the panel itself is built after the first frame:
        #: `server_panel` builds it when asked for sooner)
        self._server_panel: ServerPanel | None = None
        self.server_dock: QDockWidget
        #: set by install_modes, built like the Server panel (`mode_panel`)
        self._mode_panel: ModePanel | None = None
        self.mode_dock: QDockWidget
        #: docks whose panel is still to be built (add_side_panel with a builder) -> builder
        self._pending_panels: dict[QDockWidget, Callable[[], QWidget]] = {}
        #: every dock whose panel was left for later (built or not)
        self._late_docks: list[QDockWidget] = []
        #: the recent addresses the Server panel lists (None: none given yet)
        self.recent_urls: list[str] | None = None
        #: True once `finish_start` ran (just after the first frame)
        self.start_finished = False
        self.test_server_action: QAction
        self.appearance: Appearance
        self.keyboard: KeyboardPath
        #: the context size the window set to follow a server (or the default): while the
        #: field still shows it, the next server's true context replaces it
        self._followed_context = int(settings.BY_NAME["max_context_length"].default)

        #: the story, editable (but for the growing reply), with marks outside it
        self.output = StoryView()
        self.editor = PromptEditor()
        self.settings_panel = SettingsPanel()
        self.status = StatusBar(self)
        self.output.setAccessibleName("Story")
        self.output.setAccessibleDescription(
            "The story: type anywhere; the model's replies appear at the end")
        self.editor.setAccessibleName("Prompt")
        self.editor.setAccessibleDescription(
            "Your next input; Ctrl+Enter adds it to the story and generates")
        self.setStatusBar(self.status)

        self._make_actions()
        self._make_toolbar()
        self._make_central()
        self._make_dock()
        self._make_menus()
        self.preset_bar = install_presets(self)
        install_modes(self)  # H2: Mode panel, mode actions, Show Thinking
        self.setStyleSheet(style_sheet(self))
        self._wire()
        install_retry(self)

        self.url_edit.setText(controller.url)
        if controller.password:  # from --password / KOBOLD_PASSWORD; kept in memory only
            self.password_edit.setText(controller.password)
        self.status.set_state(controller.state)
        self.status.set_server(controller.server)
        self._busy_changed(controller.busy)
        self._bind_story(self.story)
        # ---- the parts of issue 8 plug in here: one install_<part>(self) line each ----
        self.context = install_context(self)  # H1: Context panel, meter, Show Request
        install_server_panel(self)
        # ---- end of the parts ----
        self._finish_menus()
        self.editor.setFocus()
        on_first_paint(self, lambda: QTimer.singleShot(0, self, self.finish_start))
        QTimer.singleShot(FINISH_FALLBACK_MS, self, self.finish_start)  # never painted

    # ------------------------------------------------------------------ building
    def _make_actions(self) -> None:
        self.generate_action = QAction("Generate", self)
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"),
                                           QKeySequence("Ctrl+Enter")])
        self.generate_action.setToolTip(
            "Add the prompt to the story and generate from the story; with an empty prompt, "
            "carry the story on (Ctrl+Enter)")
        self.generate_action.triggered.connect(self.generate)

        self.stop_action = QAction("Stop", self)
        self.stop_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.stop_action.setToolTip("Stop the generation; the text so far is kept (Esc)")
        self.stop_action.triggered.connect(self.stop)

        self.continue_action = QAction("Continue", self)
        self.continue_action.setShortcuts([QKeySequence("Ctrl+Shift+Return"),
                                           QKeySequence("Ctrl+Shift+Enter")])
        self.continue_action.setToolTip(
            "Generate more from the end of the story, without new input (Ctrl+Shift+Enter)")
        self.continue_action.triggered.connect(self.continue_generation)

        self.undo_action = QAction("Undo", self)
        self.undo_action.setShortcut(QKeySequence("Ctrl+Z"))
        self.undo_action.setToolTip("Undo the last edit or the whole last reply (Ctrl+Z)")
        self.undo_action.triggered.connect(self.undo)

        self.redo_action = QAction("Redo", self)
        self.redo_action.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        self.redo_action.setToolTip("Redo what Undo took back (Ctrl+Shift+Z)")
        self.redo_action.triggered.connect(self.redo)

        self.delete_reply_action = QAction("Delete Last Reply", self)
        self.delete_reply_action.setToolTip("Remove the model's newest reply from the story")
        self.delete_reply_action.triggered.connect(self.delete_last_reply)

        self.connect_action = QAction("Connect", self)
        self.connect_action.setToolTip("Connect to the server at this address")
        self.connect_action.triggered.connect(self.connect_to_server)

        self.reconnect_action = QAction("Reconnect Now", self)
        self.reconnect_action.setShortcut(QKeySequence("Ctrl+R"))
        self.reconnect_action.setToolTip("Try the server again without waiting")
        self.reconnect_action.triggered.connect(self.reconnect_now)

        self.focus_url_action = QAction("Server Address…", self)
        self.focus_url_action.setShortcut(QKeySequence("Ctrl+L"))
        self.focus_url_action.triggered.connect(self._focus_url)

        self.reset_settings_action = QAction("Reset Samplers to Defaults", self)
        self.reset_settings_action.triggered.connect(self.reset_samplers)

        self.quit_action = QAction("Quit", self)
        self.quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        self.quit_action.triggered.connect(self.close_window)

        self.about_action = QAction("About Kobold GUI", self)
        self.about_action.triggered.connect(self.show_about)

        for action in (self.generate_action, self.stop_action, self.continue_action,
                       self.undo_action, self.redo_action, self.delete_reply_action,
                       self.focus_url_action, self.reconnect_action, self.quit_action):
            self.addAction(action)  # shortcuts work even with the menu bar hidden

    def _focus_url(self) -> None:
        self.url_edit.setFocus()
        self.url_edit.selectAll()

    def _make_toolbar(self) -> None:
        bar = QToolBar("Server", self)
        bar.setObjectName("mainToolBar")
        bar.setMovable(False)
        bar.setFloatable(False)
        bar.setIconSize(QSize(18, 18))
        bar.toggleViewAction().setEnabled(False)

        server_label = plain_label("Server")
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("urlEdit")
        self.url_edit.setPlaceholderText(DEFAULT_URL)
        self.url_edit.setToolTip(URL_HELP)
        self.url_edit.setAccessibleName("Server address")
        self.url_edit.setMinimumWidth(260)
        self.url_edit.setMaximumWidth(420)
        self.url_edit.returnPressed.connect(self.connect_to_server)
        self.url_edit.textEdited.connect(lambda _t: self._mark_field(self.url_edit, None))

        self.password_edit = QLineEdit()
        self.password_edit.setObjectName("passwordEdit")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText("Password (if any)")
        self.password_edit.setToolTip(PASSWORD_HELP)
        self.password_edit.setAccessibleName("Server password")
        self.password_edit.setFixedWidth(150)
        self.password_edit.returnPressed.connect(self.connect_to_server)
        self.password_edit.textEdited.connect(lambda _t: self._mark_password(False))

        self.connect_button = QPushButton("Connect")
        self.connect_button.setObjectName("connectButton")
        self.connect_button.setToolTip(self.connect_action.toolTip())
        self.connect_button.clicked.connect(self.connect_action.trigger)

        bar.addWidget(server_label)
        bar.addWidget(self.url_edit)
        bar.addWidget(self.password_edit)
        bar.addWidget(self.connect_button)
        #: why the address or password was refused, next to the fields
        self.field_error = plain_label()
        self.field_error.setObjectName("serverFieldError")
        self.field_error_action = bar.addWidget(self.field_error)
        self.field_error_action.setVisible(False)
        spacer = QWidget()
        spacer.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(spacer)
        self.toolbar = bar
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _make_central(self) -> None:
        prompt_area = QWidget()
        prompt_area.setObjectName("promptArea")
        box = QVBoxLayout(prompt_area)
        box.setContentsMargins(14, 10, 14, 10)
        box.setSpacing(8)
        box.addWidget(self.editor, 1)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.hint_label = plain_label("Ctrl+Enter  generate    ·    Esc  stop    ·    "
                                      "Ctrl+Shift+Enter  continue")
        self.hint_label.setObjectName("hintLabel")
        row.addWidget(self.hint_label, 1)
        self.continue_button = self._button(self.continue_action, "continueButton")
        self.stop_button = self._button(self.stop_action, "stopButton")
        self.generate_button = self._button(self.generate_action, "generateButton")
        row.addWidget(self.continue_button)
        row.addWidget(self.stop_button)
        row.addWidget(self.generate_button)
        box.addLayout(row)

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.splitter.addWidget(self.output)
        self.splitter.addWidget(prompt_area)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([470, 190])
        self.setCentralWidget(self.splitter)

    def _button(self, action: QAction, name: str) -> QToolButton:
        b = QToolButton()
        b.setObjectName(name)
        b.setDefaultAction(action)
        b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        b.setCursor(Qt.CursorShape.PointingHandCursor)
        return b

    def _make_dock(self) -> None:
        self.settings_scroll = QScrollArea()
        self.settings_scroll.setObjectName("settingsScroll")
        self.settings_scroll.setWidgetResizable(True)
        self.settings_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_scroll.setWidget(self.settings_panel)
        self.settings_scroll.setAccessibleName("Sampler settings")

        body = QWidget()
        body.setObjectName("dockBody")
        box = QVBoxLayout(body)
        box.setContentsMargins(0, 0, 0, 8)
        box.setSpacing(6)
        box.addWidget(self.settings_scroll, 1)
        reset = QPushButton("Reset to defaults")
        reset.setObjectName("resetButton")
        reset.clicked.connect(self.reset_samplers)
        row = QHBoxLayout()
        row.setContentsMargins(12, 0, 12, 0)
        row.addStretch(1)
        row.addWidget(reset)
        box.addLayout(row)

        self.settings_dock = QDockWidget("Samplers", self)
        self.settings_dock.setObjectName("settingsDock")
        self.settings_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                                       | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.settings_dock.setAllowedAreas(Qt.DockWidgetArea.LeftDockWidgetArea
                                           | Qt.DockWidgetArea.RightDockWidgetArea)
        self.settings_dock.setWidget(body)
        self.settings_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.settings_dock)
        self.resizeDocks([self.settings_dock], [330], Qt.Orientation.Horizontal)

    def add_side_panel(self, title: str, widget: QWidget | Callable[[], QWidget],
                       object_name: str) -> QDockWidget:
        """Another tab beside the sampler panel (context, mode, server…): one dock area, so
        the story keeps its width however many panels there are.

        `widget` may be a function that builds the panel: a hidden tab is then built when
        it is first shown (its tab clicked, `focus_panel`, a saved layout that shows it) or
        asked for (`build_panel`); until then the dock holds an empty placeholder (nothing of
        it is seen or reachable before). A panel never opened costs nothing: not its build,
        nor the memory of its widgets (Qt's style sheet keeps ~10 KB for each)."""
        dock = QDockWidget(title, self)
        dock.setObjectName(object_name)
        dock.setFeatures(self.settings_dock.features())
        dock.setAllowedAreas(self.settings_dock.allowedAreas())
        if isinstance(widget, QWidget):
            dock.setWidget(widget)
        else:
            dock.setWidget(QWidget())
            self._pending_panels[dock] = widget
            self._late_docks.append(dock)
            dock.visibilityChanged.connect(
                lambda visible, d=dock: self.build_panel(d) if visible else None)
        dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.tabifyDockWidget(self.settings_dock, dock)
        self.settings_dock.raise_()
        self._add_panel_action(dock, title)
        return dock

    def _make_menus(self) -> None:
        """The six menus, in their fixed order, with the window's own actions. The parts of
        issue 8 add theirs through `menu(title)` (see the install lines in `__init__`);
        `_finish_menus` then puts Quit and About back at the end of their menus."""
        bar = self.menuBar()
        #: "file" / "edit" / … -> its QMenu (`menu()` looks them up)
        self._menus: dict[str, QMenu] = {}
        for title in MENU_TITLES:
            menu = bar.addMenu(title)
            key = _menu_key(title)
            menu.setObjectName(f"{key}Menu")
            self._menus[key] = menu
        self.file_actions = install_file_actions(self, self.menu("&File"))

        edit_menu = self.menu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        edit_menu.addAction(self.delete_reply_action)
        edit_menu.addSeparator()
        #: Cut / Copy / Paste / Select All for the text field with the focus (the field
        #: itself takes the keys first; the menu items work on it too)
        self.text_actions: dict[str, QAction] = {}
        keys = QKeySequence.StandardKey
        commands: list[tuple[str, str, QKeySequence.StandardKey]] = [
            ("cut", "Cu&t", keys.Cut), ("copy", "&Copy", keys.Copy),
            ("paste", "&Paste", keys.Paste), ("selectAll", "Select &All", keys.SelectAll)]
        for name, label, standard in commands:
            action = QAction(label, self)
            action.setShortcut(standard)
            action.triggered.connect(lambda _c=False, n=name: self._text_command(n))
            edit_menu.addAction(action)
            self.text_actions[name] = action

        gen_menu = self.menu("&Generate")
        for action in (self.generate_action, self.continue_action, self.stop_action):
            gen_menu.addAction(action)

        view_menu = self.menu("&View")
        #: View > Panels: one action per side panel (Samplers first), with its shortcut
        self.panels_menu = view_menu.addMenu("&Panels")
        self.panels_menu.setObjectName("panelsMenu")
        #: dock object name -> the action that shows and focuses that panel
        self.panel_actions: dict[str, QAction] = {}
        self._add_panel_action(self.settings_dock, "Samplers")
        settings_toggle = self.settings_dock.toggleViewAction()
        settings_toggle.setText("Sampler Settings")
        settings_toggle.setShortcut(QKeySequence("Ctrl+,"))
        view_menu.addAction(settings_toggle)
        view_menu.addAction(self.reset_settings_action)
        view_menu.addSeparator()
        fonts = QActionGroup(self)
        #: "serif" / "mono" -> its View menu action (app settings read and restore the choice)
        self.font_actions: dict[str, QAction] = {}
        for kind, label in (("serif", "Output in Serif Font"), ("mono", "Output in Monospace")):
            action = QAction(label, self, checkable=True)
            action.setChecked(kind == "serif")
            action.triggered.connect(lambda _c=False, k=kind: self.appearance.set_kind(k))
            fonts.addAction(action)
            view_menu.addAction(action)
            self.font_actions[kind] = action
        #: View > Theme, Font…, Bigger / Smaller / Normal Size
        self.appearance = Appearance(self, view_menu)
        view_menu.addSeparator()

        server_menu = self.menu("&Server")
        server_menu.addAction(self.connect_action)
        server_menu.addAction(self.reconnect_action)
        server_menu.addAction(self.focus_url_action)

        help_menu = self.menu("&Help")
        #: View > Go To (story, prompt, F6 areas) and Help > Keyboard Shortcuts (F1)
        self.keyboard = KeyboardPath(self, view_menu, help_menu)
        help_menu.addAction(self.about_action)

    def _text_command(self, name: str) -> None:
        """Cut, copy, paste or select all in the focused text field (the story copies
        the story's text, never the view-only breaks: its own copy() does that)."""
        target = self.focusWidget()
        if isinstance(target, QLineEdit | QPlainTextEdit):
            getattr(target, name)()

    def menu(self, title: str) -> QMenu:
        """The menu bar's menu called `title` ("&File", "File" or "file" all work), for the
        parts that add their actions to it. Unknown titles are an error, not a new menu: the
        menu layout is fixed here."""
        key = _menu_key(title)
        if key not in self._menus:
            raise KeyError(f"no menu {title!r}; there are {', '.join(MENU_TITLES)}")
        return self._menus[key]

    def _finish_menus(self) -> None:
        """Once every part has added its actions: Quit last in File, About last in Help."""
        self._fit_side_panels()
        for title, action in (("&File", self.quit_action), ("&Help", self.about_action)):
            menu = self.menu(title)
            menu.removeAction(action)
            actions = menu.actions()
            if actions and not actions[-1].isSeparator():
                menu.addSeparator()
            menu.addAction(action)

    def finish_start(self) -> None:
        """What waits until the first frame is on screen (it costs ~20 ms of the start and
        nothing in it is seen): every control a part left without an accessible name gets
        one from its hints (a side panel built later gets its names as it is built). Runs
        once, on the turn of the event loop after the first paint, before the window has
        handled any input (or FINISH_FALLBACK_MS after it was built, for a window that is
        never painted)."""
        if self.start_finished or not shiboken6.isValid(self):
            return
        self.start_finished = True
        name_from_hints(self)
        QTimer.singleShot(SETTLE_AFTER_START_MS, settle_after_start)  # once, not per event

    def build_panel(self, dock: QDockWidget) -> None:
        """Build the panel of `dock` now if it was left for later (add_side_panel)."""
        build = self._pending_panels.pop(dock, None)
        if build is None:
            return
        placeholder = dock.widget()
        #: what the panel follows in the focus chain (the dock's last title button)
        anchor = (placeholder.previousInFocusChain() if placeholder is not None else None) or dock
        body = build()
        dock.setWidget(body)
        if placeholder is not None:
            placeholder.setParent(None)
            placeholder.deleteLater()
        self._chain_after(anchor, body)
        self._fit_late_panel(body)
        if self.start_finished:
            name_from_hints(dock)  # the body too: a scroll area is named by its tab

    def _chain_after(self, anchor: QWidget, body: QWidget) -> None:
        """Tab goes through `body` where it went had it been built with the window: right
        after `anchor`, the last widget of its dock. Qt puts a panel built later at the end
        of the focus chain, which is the same place unless controls that are not in a late
        panel came after the dock (the Mode panel: the dock's tab bar, the Retry buttons)."""
        def in_late_panel(widget: QWidget) -> bool:
            return any(dock.isAncestorOf(widget) for dock in self._late_docks)

        follower = anchor.nextInFocusChain()
        while follower is not None and follower is not self and (
                not takes_focus(follower) or in_late_panel(follower)):
            follower = follower.nextInFocusChain()
        if follower is None or follower is self:
            return  # nothing else follows: the end of the chain is the place
        chain_after(anchor, focus_block(body))

    def build_panels(self) -> None:
        """Every side panel still to be built (tests that need them all)."""
        for dock in list(self._pending_panels):
            self.build_panel(dock)

    def set_recent_urls(self, urls: list[str]) -> None:
        """The Server panel's recent addresses (kept for it if it is not built yet)."""
        self.recent_urls = list(urls)
        if self._server_panel is not None:
            self._server_panel.set_recent_urls(self.recent_urls)

    @property
    def mode_panel(self) -> ModePanel:
        """The Mode panel (built now if it was not yet)."""
        if self._mode_panel is None:
            self.build_panel(self.mode_dock)
        assert self._mode_panel is not None
        return self._mode_panel

    @property
    def server_panel(self) -> ServerPanel:
        """The Server panel (built now if it was not yet)."""
        if self._server_panel is None:
            self.build_panel(self.server_dock)
        assert self._server_panel is not None
        return self._server_panel

    def _fit_body(self, body: QWidget) -> int:
        """Long labels wrap, drop-downs size to a short text; the width `body` still needs."""
        _fit_widgets(body)
        scroll = body if isinstance(body, QScrollArea) else body.findChild(QScrollArea)
        inner = scroll.widget() if scroll is not None else None
        return (inner or body).minimumSizeHint().width() + SIDE_PANEL_MARGIN

    def _section_built(self, body: QWidget) -> None:
        """A sampler section made when first opened: fitted like the rest of its panel, and
        named like every control once the start is finished."""
        _fit_widgets(body)
        if self.start_finished:
            name_from_hints(body)

    def _fit_late_panel(self, body: QWidget) -> None:
        """A panel built after the others were fitted: fitted the same way; the docks widen
        only if it needs more than they have (a width the user or the saved layout chose
        stays)."""
        needed = self._fit_body(body)
        docks = self.findChildren(QDockWidget)
        if all(dock.minimumWidth() >= needed for dock in docks):
            return
        for dock in docks:
            dock.setMinimumWidth(max(needed, dock.minimumWidth()))
        if self.settings_dock.width() < needed:
            self.resizeDocks([self.settings_dock], [needed], Qt.Orientation.Horizontal)

    def _fit_side_panels(self) -> None:
        """Side panels scroll only up and down, so nothing in them may insist on more width
        than the dock has: long labels wrap, drop-downs size to a short text, and the dock is
        at least as wide as the widest panel still needs."""
        docks = self.findChildren(QDockWidget)
        needed = 300
        for dock in docks:
            body = dock.widget()
            if body is None or dock in self._pending_panels:
                continue
            needed = max(needed, self._fit_body(body))
        for dock in docks:
            dock.setMinimumWidth(needed)
        self.resizeDocks([self.settings_dock], [max(needed, SIDE_PANEL_WIDTH)],
                         Qt.Orientation.Horizontal)

    def _add_panel_action(self, dock: QDockWidget, title: str) -> QAction:
        """View > Panels > `title`: shows the panel, brings its tab forward and puts the
        keyboard focus in it (the keyboard path to every side panel)."""
        action = QAction(f"{title} Panel", self)
        action.setObjectName(f"show{dock.objectName()[:1].upper()}{dock.objectName()[1:]}")
        number = PANEL_SHORTCUTS.get(title)
        if number is not None:
            action.setShortcut(QKeySequence(f"Ctrl+Shift+{number}"))
        action.setToolTip(f"Show the {title} panel and move the keyboard focus into it")
        action.triggered.connect(lambda _c=False, d=dock: self.focus_panel(d))
        self.addAction(action)
        self.panels_menu.addAction(action)
        self.panel_actions[dock.objectName()] = action
        return action

    def focus_panel(self, dock: QDockWidget) -> None:
        """Show `dock`, raise its tab, focus its first control that takes the keyboard."""
        self.build_panel(dock)
        dock.show()
        dock.raise_()
        body = dock.widget()
        if body is None:
            return
        target = body if body.focusPolicy() & Qt.FocusPolicy.TabFocus else None
        if target is None:
            for child in body.findChildren(QWidget):
                if (child.focusPolicy() & Qt.FocusPolicy.TabFocus and child.isEnabled()
                        and child.isVisibleTo(body)):
                    target = child
                    break
        (target or body).setFocus(Qt.FocusReason.ShortcutFocusReason)

    def _wire(self) -> None:
        c = self.controller
        c.state_changed.connect(self._state_changed)
        c.server_changed.connect(self._server_changed)
        c.error.connect(self._error)
        c.generation_started.connect(self._generation_started)
        c.not_sent.connect(self._not_sent)
        c.context_planned.connect(self._context_planned)
        c.reply_start_changed.connect(self.output.set_locked_from)
        c.text_recovered.connect(self._text_recovered)
        c.retrying.connect(self._retrying)
        c.generation_finished.connect(self._generation_finished)
        c.generation_failed.connect(self._generation_failed)
        c.busy_changed.connect(self._busy_changed)
        c.input_rejected.connect(self._input_rejected)
        c.speed_changed.connect(self.status.set_speed)
        c.stats_changed.connect(self.status.set_stats)
        self.output.cursorPositionChanged.connect(self._cursor_moved)
        self.status.reconnect_button.clicked.connect(self.reconnect_now)
        self.editor.submit_requested.connect(self.generate_action.trigger)
        self.editor.stop_requested.connect(self.stop_action.trigger)
        self.output.edit_refused.connect(self.status.show_error)
        memory = self.settings_panel.widget_for("memory")
        assert isinstance(memory, QPlainTextEdit)
        memory.textChanged.connect(self._memory_typed)  # only the user's typing: set() blocks it
        # After the slot above: a change the user typed has reached the story by then, so
        # what still differs was set by code (reset, a preset) and is undone.
        self.settings_panel.changed.connect(
            lambda: QTimer.singleShot(0, self, self._show_story_memory))
        self.settings_panel.section_built.connect(self._section_built)

    # ------------------------------------------------------------------ user actions
    def connect_to_server(self) -> None:
        """Connect to the address in the toolbar, with the password field's value."""
        if self.controller.busy:
            self.status.show_error("Stop the running generation before changing servers")
            return
        url = self.url_edit.text().strip() or DEFAULT_URL
        password = self.password_edit.text() or None
        self.status.clear_error()
        self._mark_password(False)
        self._mark_field(self.url_edit, None)
        self._show_connecting(url)
        self.controller.connect_to(url, password)

    def _show_connecting(self, url: str) -> None:
        self._connecting_note = f"Connecting to {url}…"
        self.status.show_info(self._connecting_note)

    def set_story(self, story: Story) -> None:
        """Show `story` instead of the current one (the caller has asked about unsaved work)."""
        self._bind_story(story)
        self.story_replaced.emit(story)

    def _bind_story(self, story: Story) -> None:
        """The view, the controller and the memory field all work on `story` from now on."""
        if self._unsubscribe_story is not None:
            self._unsubscribe_story()
        self.story = story
        self.controller.set_story(story)
        self.output.clear_marks()
        self.output.set_story(story)
        self._unsubscribe_story = story.subscribe(self._story_changed)
        self._show_story_memory()
        self._update_edit_actions()

    def _story_changed(self, event: StoryEvent) -> None:
        if not shiboken6.isValid(self):  # a generation may end after the window is gone
            return
        if isinstance(event, FieldsChanged | Reset):
            self._show_story_memory()
        self._update_edit_actions()

    def _memory_typed(self) -> None:
        """The memory field is the story's memory (not a sampler value)."""
        value = self.settings_panel.editors["memory"].get()
        memory = value if isinstance(value, str) else ""
        if memory != self.story.memory:
            self.story.set_fields(memory=memory)

    def _show_story_memory(self) -> None:
        """Whatever set the panel's values (reset, a preset), it shows the story's memory."""
        editor = self.settings_panel.editors["memory"]
        value = editor.get()
        if (value if isinstance(value, str) else "") != self.story.memory:
            editor.set(self.story.memory or None)

    def reset_samplers(self) -> None:
        """Reset the samplers; the memory stays the story's."""
        self.settings_panel.reset_defaults()
        self._show_story_memory()

    def undo(self) -> None:
        if not self.controller.busy and self.story.undo():
            self.status.show_info("Undone")

    def redo(self) -> None:
        if not self.controller.busy and self.story.redo():
            self.status.show_info("Redone")

    def delete_last_reply(self) -> None:
        if self.controller.busy:
            return
        if self.story.delete_last_reply():
            self.status.show_info("Deleted the last reply (Ctrl+Z brings it back)")
        else:
            self.status.show_error("There is no reply to delete")

    def _update_edit_actions(self) -> None:
        idle = not self.controller.busy
        self.undo_action.setEnabled(idle and self.story.can_undo)
        self.redo_action.setEnabled(idle and self.story.can_redo)
        self.delete_reply_action.setEnabled(idle)

    def reconnect_now(self) -> None:
        """Try the server again now instead of waiting for the next automatic attempt."""
        if not self.controller.busy:
            self._show_connecting(self.controller.url)
            self.controller.reconnect_now()

    def generate(self) -> bool:
        """Send the story, with what the prompt box holds appended; an empty box continues
        the story. False if nothing was sent."""
        text = self.editor.prompt()
        return self._start(text if text.strip() else "")

    def continue_generation(self) -> bool:
        """Generate more from the end of the story, with no new input and no copy of it."""
        if not self.controller.busy and not len(self.story):
            self.status.show_error("There is no story to continue yet: write a prompt first")
            self.editor.setFocus()
            return False
        return self._start("")

    def _start(self, text: str) -> bool:
        """Check the settings, then start a generation with `text` as the user's input."""
        if self.controller.busy:
            return False
        values = self.settings_panel.values()
        if not text and not len(self.story) and not self.story.memory:
            self.status.show_error("Write a prompt first")
            self.editor.setFocus()
            return False
        if not self.settings_ready(values):
            return False
        if not self.controller.generate(text, values):
            return False
        if text:
            self.editor.set_prompt("")  # it is in the story now (or comes back if not sent)
        return True

    def settings_ready(self, values: dict[str, Any]) -> bool:
        """Whether a request may go out with `values` (Generate, Continue, Retry): a bad value
        is named at its field, and nothing is sent; a password typed since connecting is
        taken up first."""
        bad = self.settings_panel.problems()
        try:
            settings.validate(values)
            if bad:  # e.g. more context than the connected server has
                raise InvalidSettings(list(bad.values()))
        except InvalidSettings as err:
            self.status.show_error(f"Not sent: {err.message}")
            if bad:
                self.settings_panel.reveal(next(iter(bad)))
            return False
        if self.password_edit.text() and self.controller.password != self.password_edit.text():
            # A password typed after connecting counts too.
            self.connect_to_server()
        self.status.clear_error()
        return True

    def stop(self) -> None:
        if self.controller.busy:
            self.status.show_info("Stopping…")
            self.controller.stop()

    def last_reply(self) -> str:
        """The newest generation's text: the trailing model and recovered segments that
        share its record (streaming ones have none yet)."""
        segments = self.story.segments
        reply: list[str] = []
        meta = segments[-1].meta if segments else None
        for seg in reversed(segments):
            if seg.author not in ("model", "recovered") or seg.meta != meta:
                break
            reply.append(seg.text)
        return "".join(reversed(reply))

    def about_text(self) -> str:
        return (f"<b>Kobold GUI</b> {html.escape(app_version())}<br>"
                "A desktop client for KoboldCPP that never loses generated text.")

    def show_about(self) -> None:
        box = QMessageBox(QMessageBox.Icon.NoIcon, "About Kobold GUI", self.about_text(),
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("aboutBox")
        box.setTextFormat(Qt.TextFormat.RichText)  # our own words only
        box.setIconPixmap(self.windowIcon().pixmap(64, 64))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()  # non-modal to the event loop: no nested exec()

    # ------------------------------------------------------------------ controller signals
    def _state_changed(self, value: str, detail: str) -> None:
        state = ConnectionState(value)
        self.status.set_state(state, detail)
        if (state is ConnectionState.CONNECTED and self._connecting_note is not None
                and self.status.message_text() == self._connecting_note):
            self.status.show_info(f"Connected to {self.controller.url}")
        if state is not ConnectionState.CONNECTING:
            self._connecting_note = None

    def _server_changed(self, info: ServerInfo | None) -> None:
        self.status.set_server(info)
        self.status.set_speed(None)  # the speed was the old server's
        before = self.settings_panel.editors["max_context_length"].get()
        self.settings_panel.set_context_limit(info.max_context_length if info else None)
        followed = info is not None and self._follow_context(before, info.max_context_length)
        if info is not None:
            self.status.clear_error()
            note = (f" · context size set to the server's {info.max_context_length:,} tokens"
                    if followed else "")
            self.status.show_info(f"Connected to {info.url}{note}")

    def _follow_context(self, value: object, true_context: int) -> bool:
        """The context size follows the server's true context, unless the user chose
        another value than the one we set (that is only capped at the server's, by
        set_context_limit). `value`: the field's value before the cap."""
        follow = value == self._followed_context and value != true_context
        if follow:
            self.settings_panel.set_values({"max_context_length": true_context})
        self._followed_context = true_context if follow or value == true_context \
            else self._followed_context
        return follow

    def _input_rejected(self, err: KoboldError) -> None:
        """The core refused the address or password before sending: say so at that field."""
        self._connecting_note = None
        if isinstance(err, InvalidURL):
            self._mark_field(self.url_edit, err.message)
        else:
            self._mark_field(self.password_edit, err.message)

    def _mark_field(self, field: QLineEdit, problem: str | None) -> None:
        bad = problem is not None
        if bool(field.property("invalid")) != bad:
            field.setProperty("invalid", bad)
            field.style().unpolish(field)
            field.style().polish(field)
        help_text = URL_HELP if field is self.url_edit else self._password_help
        set_plain_tooltip(field, f"{problem}\n\n{help_text}" if bad else help_text)
        # A long reason would push the label into the toolbar's overflow menu: show what fits,
        # all of it in the tooltip (and in the field's own tooltip).
        metrics = QFontMetrics(self.field_error.font())
        shown = metrics.elidedText(problem or "", Qt.TextElideMode.ElideRight, FIELD_ERROR_WIDTH)
        self.field_error.setText(shown)
        set_plain_tooltip(self.field_error, problem or "")
        self.field_error_action.setVisible(bad)
        if bad:
            field.setFocus()

    def set_password_help(self, text: str) -> None:
        """Say in the password field's tooltip where a password is kept (keyring or session)."""
        self._password_help = text
        if not self.password_edit.property("invalid"):
            set_plain_tooltip(self.password_edit, text)

    def _error(self, message: str) -> None:
        self.status.show_error(message)
        if "password" in message.lower():
            self._mark_password(True)
            self.status.show_error(f"{message}: type it in the password field and press Enter")

    def _mark_password(self, bad: bool) -> None:
        w = self.password_edit
        if bool(w.property("invalid")) != bad:
            w.setProperty("invalid", bad)
            w.style().unpolish(w)
            w.style().polish(w)
        if not bad and self.field_error.text():
            self._mark_field(w, None)
        if bad:
            w.setFocus()

    def _generation_started(self, _text: str, _continues: bool) -> None:
        self.output.clear_marks()
        self.status.set_speed(None)
        self.status.show_info("Generating…")

    def _not_sent(self, message: str, text: str) -> None:
        """The request could not be built (it does not fit, or Stop came first): the story
        is as it was, and the user's text goes back into the prompt box."""
        if text:
            self.editor.set_prompt(text + self.editor.prompt())
        self.status.set_stats(None)  # nothing was generated: no figures
        self.status.show_error(message)

    def _context_planned(self, plan: ContextPlan) -> None:
        estimated = " (estimated)" if plan.estimated else ""
        label = self.status.context
        label.setText(f"context {plan.used_tokens:,}/{plan.available_tokens:,}{estimated}")
        cut = (f"\nThe oldest {plan.cut_chars:,} characters of the story did not fit."
               if plan.cut_chars else "")
        set_plain_tooltip(label, f"Memory and story sent: {plan.used_tokens:,} of the "
                                 f"{plan.available_tokens:,} tokens the context leaves beside "
                                 f"the reply{estimated}.{cut}")
        label.show()

    def _cursor_moved(self) -> None:
        """Between generations, the status bar shows the figures of the reply under the
        cursor (tokens, speed, time to first token, time, how it ended)."""
        if self.controller.busy or not len(self.story):
            return
        index, _ = self.story.segment_at(min(self.output.cursor_story_position(),
                                             len(self.story)))
        self.status.show_reply_stats(self.story.segment(index).meta)

    def _text_recovered(self, text: str) -> None:
        self.status.show_info(f"Recovered {len(text)} characters from the server")

    def _retrying(self, event: Retrying) -> None:
        self.status.show_retry(event, during_generation=self.controller.busy)

    def _generation_finished(self, finished: Finished) -> None:
        reason = "stopped" if finished.stopped else finished.finish_reason
        words = finish_words(reason)
        warning = f" · warning: {finished.warnings[0]}" if finished.warnings else ""
        self.status.show_info(f"Done — {words} · {len(finished.text):,} characters{warning}")
        if finished.stopped and not finished.text:
            self.output.add_mark("[stopped before any text]")

    def _generation_failed(self, failed: Failed) -> None:
        message = failed.error.message.rstrip(".")
        kept = " The text received so far is kept." if failed.text else ""
        self.status.show_error(f"{message}.{kept}")
        self.output.add_mark(f"[generation failed: {message}]")

    def _busy_changed(self, busy: bool) -> None:
        self._update_edit_actions()
        self.generate_action.setEnabled(not busy)
        self.continue_action.setEnabled(not busy)
        self.stop_action.setEnabled(busy)
        self.connect_action.setEnabled(not busy)
        self.connect_button.setEnabled(not busy)
        self.reconnect_action.setEnabled(not busy)

    # ------------------------------------------------------------------ test/inspection helpers
    def state_text(self) -> str:
        """The state word the status bar shows."""
        return self.status.indicator.text()

    def status_message(self) -> str:
        return self.status.message_text()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        """Light, dark or the system's: the style sheet is rebuilt from the new palette."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange:
            sheet = style_sheet(self)
            if sheet != self.styleSheet():
                self.setStyleSheet(sheet)

    def close_window(self) -> bool:
        """Close the top-level window: this one, or kobold-gui's frame around it (which asks
        this one first, see ui/window_frame.py). False when the close was refused."""
        return self.window().close()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt override)
        """Unsaved changes are asked about first (a non-modal box that closes the window
        again once answered); only then does the generation stop."""
        if not self.file_actions.confirm_close():
            event.ignore()
            return
        self.controller.stop()
        self.file_actions.window_closing()
        super().closeEvent(event)

    def settings_values(self) -> dict[str, Any]:
        return self.settings_panel.values()

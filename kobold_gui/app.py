"""`kobold-gui`: the QApplication, the qasync loop, command-line options, clean shutdown."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from .argparsing import Parser
from .core.errors import InvalidPassword
from .core.memory import limit_malloc_arenas
from .display import INSTALL_HINT, display_problem
from .options import OptionError, add_common_options, resilience_config, resolve_password

if TYPE_CHECKING:
    import asyncio

    from PySide6.QtWidgets import QApplication, QWidget

    from .ui.main_window import MainWindow
    from .ui.session import Session
    from .ui.window_frame import WindowFrame

#: What `--demo` puts in the prompt editor, so a new user only has to press Ctrl+Enter.
DEMO_PROMPT = "The kobold opened the old book of spells and read aloud: "
SELF_TEST_PROMPT = "Self-test. The kobold said: "
SELF_TEST_TIMEOUT = 40.0
#: Closing the window must never hang the process: cleanup gets this long.
SHUTDOWN_TIMEOUT = 8.0
#: bench/bench_startup.py sets this: the first paint of the window prints
#: "first-frame <time.monotonic()>" on stdout (CLOCK_MONOTONIC is shared with the parent).
FIRST_FRAME_ENV = "KOBOLD_GUI_FIRST_FRAME"
#: a window that is never painted (minimized) still connects after this long
FIRST_FRAME_FALLBACK_MS = 1500


def parse_args(argv: list[str] | None = None,
               namespace: argparse.Namespace | None = None) -> argparse.Namespace:
    p = Parser(prog="kobold-gui", description="Desktop client for KoboldCPP.")
    add_common_options(p)
    p.add_argument("--demo", action="store_true",
                   help="start a built-in emulated KoboldCPP server and connect to it")
    # End-to-end check for tests and packagers: connect, generate once through the window,
    # print the length of the text, exit 0 (non-zero on failure or timeout).
    p.add_argument("--self-test", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv, namespace)


def url_given(argv: list[str] | None, env: Mapping[str, str]) -> bool:
    """--url on the command line or KOBOLD_URL: either beats the saved server address."""
    # argparse fills in a default only for names the namespace lacks: None means "not given".
    return bool(env.get("KOBOLD_URL")) or parse_args(
        argv, argparse.Namespace(url=None)).url is not None


def usage_error(message: str) -> int:
    print(f"kobold-gui: error: {message}", file=sys.stderr, flush=True)
    return 2


def main(argv: list[str] | None = None) -> int:
    limit_malloc_arenas()  # before any thread starts (core/memory.py)
    args = parse_args(argv)
    try:
        password = resolve_password(args, prog="kobold-gui")
    except OptionError as exc:
        return usage_error(str(exc))
    except InvalidPassword as err:
        return usage_error(err.message)
    problem = display_problem(os.environ)
    if problem is not None:
        return usage_error(problem)
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        return usage_error(f"Qt cannot start ({exc}); install the system libraries: "
                           f"{INSTALL_HINT}")

    # PySide's `__feature__` import hook would read the source of every module imported from
    # here on (~130 ms and ~11 MB of cached lines at start); the app selects no features.
    from .ui.qtimports import drop_feature_import_hook

    drop_feature_import_hook()
    from .ui.style import app_icon
    from .ui.window_frame import WindowFrame

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("kobold_gui")
    app.setApplicationDisplayName("Kobold GUI")
    app.setOrganizationName("kobold_gui")
    app.setDesktopFileName("kobold-gui")
    app.setWindowIcon(app_icon())
    app.setQuitOnLastWindowClosed(False)  # we quit after async cleanup (pitfall 8)

    # The window first: on screen before asyncio, the client and the panels are imported
    # (ui/window_frame.py says why); the main window is then built into it.
    frame = WindowFrame()
    restore_look(frame)
    if os.environ.get(FIRST_FRAME_ENV):
        after_first_paint(frame, lambda: print(f"first-frame {time.monotonic():.6f}",
                                               flush=True))
    show_first_frame(frame)
    return run_window(args, argv, password, app, frame)


def restore_look(frame: QWidget) -> None:
    """The saved theme and window geometry, on the frame before it is first shown: it opens
    where and as it was left, dark from the first frame if it was dark."""
    from .core.prefs_file import read_window_look

    geometry, theme = read_window_look()
    if theme != "system":
        from .ui.theme import apply_theme

        apply_theme(theme)
    if geometry is not None:
        import base64

        from PySide6.QtCore import QByteArray

        frame.restoreGeometry(QByteArray(base64.b64decode(geometry)))


def show_first_frame(frame: QWidget, timeout_ms: int = FIRST_FRAME_FALLBACK_MS) -> None:
    """Show `frame` and return once its first frame is painted (and flushed: the return is a
    turn later), or after `timeout_ms` for a window that is not painted (started minimized)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    after_first_paint(frame, lambda: QTimer.singleShot(0, loop.quit))
    QTimer.singleShot(timeout_ms, loop.quit)
    frame.show()
    loop.exec()


def run_window(args: argparse.Namespace, argv: list[str] | None, password: str | None,
               app: QApplication, frame: WindowFrame) -> int:
    """The rest of the start, with the frame on screen: the log file, the asyncio loop, the
    controller, the main window inside the frame, the session; then run until the window
    closes."""
    import asyncio
    import logging

    from .core.logs import setup_logging

    setup_logging(args.log_level)  # after the frame: logging.handlers and the file cost ~10 ms

    from .ui.controller import Controller
    from .ui.main_window import MainWindow
    from .ui.qtloop import install_loop

    loop = install_loop(app)
    emulator = None
    url = args.url
    if args.demo:
        from .emulator import Emulator, EmulatorConfig

        emulator = Emulator(EmulatorConfig(model="koboldcpp/Demo-Emulated-7B", token_rate=30.0))
        emulator.start()
        url = emulator.url

    # App settings: the saved address (unless given for this run), the window as it was;
    # saved again after the window closed. The keyring's password (unless one was given for
    # this run) is looked up after the first frame, just before connecting with it.
    from .ui.app_settings import AppSettings

    app_settings = AppSettings.load()
    if not args.demo:
        url = app_settings.start_url(url if url_given(argv, os.environ) else None)

    controller = Controller(url, password, config=resilience_config(args))
    window = MainWindow(controller, frame)
    frame.set_content(window)
    app_settings.attach(window, session_password=password,
                        transient_url=emulator.url if emulator is not None else None)
    from .ui.session import install_session

    # journal, the story kept from the last run, the offer to restore a crashed session
    session = install_session(window, fresh=args.self_test)
    if args.demo:
        window.editor.set_prompt(DEMO_PROMPT)
    window.editor.setFocus()
    if os.environ.get(FIRST_FRAME_ENV):
        after_first_paint(window, lambda: print(f"window-ready {time.monotonic():.6f}",
                                                flush=True))

    def start_connection() -> None:
        """After the main window's first frame: its last names, the app's version, the
        keyring, then the connection."""
        window.finish_start()
        from . import __version__

        app.setApplicationVersion(__version__)
        app_settings.connect_at_start(url, password, saved=not args.demo)

    connect_after_first_frame(window, start_connection)

    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)

    async def run() -> int:
        code = 0
        if args.self_test:
            code = await self_test(window)
            window.close_window()
        else:
            await closed.wait()
            app_settings.save()  # not after --self-test: it must not change the user's settings
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT) as deadline:
                await controller.aclose()
            hung = deadline.expired()  # the cancellation may have been swallowed on the way
        except TimeoutError:
            hung = True
        if hung:
            logging.getLogger(__name__).error("shutdown: cleanup took over %g s; quitting",
                                              SHUTDOWN_TIMEOUT)
            if args.self_test:
                print(f"self-test: shutdown did not finish in {SHUTDOWN_TIMEOUT:g} s",
                      file=sys.stderr)
                code = code or 3
        return code

    try:
        with loop:
            code = loop.run_until_complete(run())
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        wait_for_session(session)
        if emulator is not None:
            emulator.stop()
    logging.getLogger(__name__).info("kobold-gui exited (%s)", code)
    return code


def wait_for_session(session: Session) -> None:
    """The story kept at quit is written by the session's writer thread while the window is
    already gone and the controller closes: the process must not exit before it is on disk
    (the journal would offer a restore instead). A failure is logged, never raised here."""
    try:
        session.wait_written()
    except Exception:
        import logging

        logging.getLogger(__name__).exception("keeping the session at quit failed")


def connect_after_first_frame(window: QWidget, connect: Callable[[], None],
                              fallback_ms: int = FIRST_FRAME_FALLBACK_MS) -> None:
    """Run `connect` once the window's first frame is on screen, not before.

    Building the client (an SSL context) and the first request cost more than the window's
    own first frame: done before it, the user looks at nothing for that long. A 0 ms timer
    after the first paint lets that frame reach the screen first; the fallback connects a
    window that is never painted (started minimized, on another desktop) anyway.
    """
    from PySide6.QtCore import QTimer

    done = False

    def once() -> None:
        nonlocal done
        if not done:
            done = True
            connect()

    after_first_paint(window, lambda: QTimer.singleShot(0, once))
    QTimer.singleShot(fallback_ms, once)


def after_first_paint(widget: QWidget, callback: Callable[[], None]) -> None:
    """Call `callback` once, as `widget` is first painted (before its paint handler runs).
    (A name of its own here: tests watch the start through it.)"""
    from .ui.first_event import on_first_paint

    on_first_paint(widget, callback)


async def self_test(window: MainWindow, timeout: float = SELF_TEST_TIMEOUT) -> int:
    """Drive the real window once: wait for the server, generate, report on stdout."""
    import asyncio

    from .core.events import Failed

    controller = window.controller
    outcome: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def settle(result: object) -> None:
        if not outcome.done():
            outcome.set_result(result)

    controller.generation_finished.connect(settle)
    controller.generation_failed.connect(settle)
    not_sent: list[str] = []  # why the request could not be built (it did not fit)

    def refused(message: str, _text: str) -> None:
        not_sent.append(message)
        settle(None)

    controller.not_sent.connect(refused)
    try:
        async with asyncio.timeout(timeout):
            while controller.server is None:
                await asyncio.sleep(0.05)
            window.editor.set_prompt(SELF_TEST_PROMPT)
            window.settings_panel.set_values({"max_length": 24})
            if not window.generate():
                print(f"self-test: not started: {window.status_message()}", file=sys.stderr)
                return 1
            result = await outcome
    except TimeoutError:
        print(f"self-test: timed out after {timeout:g} s ({window.state_text()}: "
              f"{window.status_message()})", file=sys.stderr)
        return 2
    if not_sent:
        print(f"self-test: not sent: {not_sent[0]}", file=sys.stderr)
        return 1
    if isinstance(result, Failed):
        print(f"self-test: failed: {result.error.message}", file=sys.stderr)
        return 1
    text = getattr(result, "text", "")
    shown = window.last_reply()
    if not text or shown != text:
        print(f"self-test: the window shows {len(shown)} of {len(text)} characters",
              file=sys.stderr)
        return 1
    print(f"self-test: generated {len(text)} characters", flush=True)
    return 0

"""`kobold-gui`: the QApplication, the qasync loop, command-line options, clean shutdown."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from .core.protocol import DEFAULT_URL


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kobold-gui", description="Desktop client for KoboldCPP.")
    p.add_argument("--url", default=None, help=f"server address (default {DEFAULT_URL})")
    p.add_argument("--password", default=None,
                   help="server password (or set KOBOLD_PASSWORD; never stored in clear text)")
    p.add_argument("--demo", action="store_true",
                   help="start a built-in emulated KoboldCPP server and connect to it")
    p.add_argument("--log-level", default="INFO", help="log level for the log file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from .core.logs import setup_logging

    setup_logging(args.log_level)
    from PySide6.QtWidgets import QApplication

    from .ui.controller import Controller
    from .ui.main_window import MainWindow
    from .ui.qtloop import install_loop

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("kobold_gui")
    app.setApplicationDisplayName("Kobold GUI")
    app.setOrganizationName("kobold_gui")
    app.setQuitOnLastWindowClosed(False)  # we quit after async cleanup (pitfall 8)
    loop = install_loop(app)

    emulator = None
    url = args.url or DEFAULT_URL
    if args.demo:
        from .emulator import Emulator, EmulatorConfig

        emulator = Emulator(EmulatorConfig(model="koboldcpp/Demo-Emulated-7B", token_rate=30.0))
        emulator.start()
        url = emulator.url
    password = args.password or os.environ.get("KOBOLD_PASSWORD") or None

    controller = Controller(url, password)
    window = MainWindow(controller)
    window.show()
    controller.connect_to(url, password)

    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)

    async def run() -> None:
        await closed.wait()
        await controller.aclose()

    try:
        with loop:
            loop.run_until_complete(run())
            loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        if emulator is not None:
            emulator.stop()
    logging.getLogger(__name__).info("kobold-gui exited")
    return 0

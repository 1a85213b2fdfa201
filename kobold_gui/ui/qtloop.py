"""The qasync event loop, with asyncio's async-generator hooks installed.

qasync replaces `run_forever` and never installs the hooks, so an abandoned httpx stream would be
finalised outside the loop (stack-notes pitfall 2). This subclass installs them.
"""

from __future__ import annotations

import asyncio
import sys

import qasync
from PySide6.QtWidgets import QApplication


class HookedQEventLoop(qasync.QEventLoop):
    def run_forever(self) -> None:
        old = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        try:
            super().run_forever()
        finally:
            sys.set_asyncgen_hooks(*old)


def install_loop(app: QApplication) -> HookedQEventLoop:
    loop = HookedQEventLoop(app)
    asyncio.set_event_loop(loop)
    return loop

"""The emulator in its own process, telling on every tokencount request it receives.

Benchmarks start it with `subprocess.Popen([python, "counting_emulator.py"])`: it prints
`url http://127.0.0.1:PORT` once, then `tokencount CHARS` (the length of the text asked about)
for every /api/extra/tokencount request, flushed at once, and stops when its stdin closes.
Its own process: the server's tokenizing never takes the window's GIL, so a heartbeat gap
measured in the window is the window's.
"""

from __future__ import annotations

import json
import sys
import threading

from kobold_gui.emulator import Emulator, EmulatorConfig
from kobold_gui.emulator.http_handler import KoboldHandler

_original = KoboldHandler._tokencount
_printing = threading.Lock()  # handler threads answer at once: one whole line each


def _telling(self: KoboldHandler, body: bytes | None) -> None:
    try:
        chars = len(json.loads(body or b"").get("prompt", ""))
    except (ValueError, AttributeError):
        chars = -1
    with _printing:
        print(f"tokencount {chars}", flush=True)
    _original(self, body)


def main() -> int:
    KoboldHandler._tokencount = _telling  # type: ignore[method-assign]
    emulator = Emulator(EmulatorConfig(token_rate=2000.0, first_poll_delay=0.0))
    emulator.start()
    print(f"url {emulator.url}", flush=True)
    try:
        sys.stdin.read()  # until the benchmark closes our stdin (or dies)
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Log file in the user's log directory; the password never reaches it."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

_SECRETS: set[str] = set()


def _spellings(secret: str) -> set[str]:
    """How a secret can appear in a log line: as typed, and escaped by repr() or JSON (a line
    break then reads `\\r\\n`), also inside a bytes repr such as `b'Bearer ...'`."""
    forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1],
             json.dumps(secret, ensure_ascii=False)[1:-1]}
    for encoding in ("utf-8", "latin-1"):
        with contextlib.suppress(UnicodeEncodeError):  # not every secret fits Latin-1
            forms.add(repr(secret.encode(encoding, "surrogateescape"))[2:-1])
    return {f for f in forms if f}


def register_secret(secret: str | None) -> None:
    """Anything registered here is replaced by *** in every log record (tracebacks too)."""
    if secret:
        _SECRETS.update(_spellings(secret))


def redact(text: str) -> str:
    # Longest first: a shorter spelling must not cut a longer one in half.
    for s in sorted(_SECRETS, key=len, reverse=True):
        text = text.replace(s, "***")
    return text


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg, record.args = redact(record.getMessage()), None
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            if record.exc_text:
                record.exc_text = redact(record.exc_text)
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        return True


def log_dir() -> Path:
    """`KOBOLD_GUI_LOG_DIR` overrides the platform's user log directory."""
    override = os.environ.get("KOBOLD_GUI_LOG_DIR")
    return Path(override) if override else Path(
        platformdirs.user_log_dir("kobold_gui", appauthor=False))


def setup_logging(level: str = "INFO", directory: Path | None = None) -> Path | None:
    """Rotating file log; returns its path (None when the directory cannot be written)."""
    root = logging.getLogger()
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    root.addHandler(logging.NullHandler())  # never fall back to printing on stderr
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    target = (directory or log_dir()) / "kobold_gui.log"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    except OSError:
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_RedactSecrets())
    root.addHandler(handler)
    return target

"""Log file in the user's log directory; the password never reaches it."""

from __future__ import annotations

import logging
import logging.handlers
import os
from pathlib import Path

import platformdirs

_SECRETS: set[str] = set()


def register_secret(secret: str | None) -> None:
    """Anything registered here is replaced by *** in every log record."""
    if secret:
        _SECRETS.add(secret)


class _RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            message = record.getMessage()
            for s in _SECRETS:
                message = message.replace(s, "***")
            record.msg, record.args = message, None
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

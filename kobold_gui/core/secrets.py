"""Server passwords in the operating system's keyring, never in a file of ours.

One entry per server address under the service "kobold_gui". Without a usable keyring (no
backend, the fail/null backend, a locked or broken one) the store says so and keeps nothing: the
window then holds the password for the session only. Any keyring error counts as "no keyring"
from then on, so a broken backend costs one log line, not one per keystroke, and never a crash.
The password itself is never logged.
"""

from __future__ import annotations

import logging
from typing import Any

from .logs import register_secret

log = logging.getLogger(__name__)

SERVICE = "kobold_gui"
#: what the window says when there is nowhere safe to keep a password
NO_KEYRING_NOTE = "No system keyring: the password is kept until you quit"

def _backend_name(backend: object) -> str:
    cls = type(backend)
    return f"{cls.__module__}.{cls.__qualname__}"


def usable_backend(backend: Any) -> bool:
    """A real keyring: not the fail/null stand-ins, not a chain of nothing."""
    from keyring.backends import chainer, fail, null

    if isinstance(backend, fail.Keyring | null.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(usable_backend(b) for b in backend.backends)
    return True


class PasswordStore:
    """get/put/forget a server's password; every failure degrades to "no keyring"."""

    def __init__(self, service: str = SERVICE) -> None:
        self.service = service
        self._broken = False

    def _keyring(self) -> Any | None:
        """The keyring module when a usable backend is configured, else None."""
        if self._broken:
            return None
        try:
            import keyring

            usable = usable_backend(keyring.get_keyring())
        except Exception as exc:  # import problems, a bad PYTHON_KEYRING_BACKEND, …
            self._give_up("cannot load the keyring", exc)
            return None
        return keyring if usable else None

    def _give_up(self, what: str, exc: BaseException) -> None:
        if not self._broken:
            log.warning("%s (%s); passwords are kept for this session only",
                        what, type(exc).__name__)
        self._broken = True

    @property
    def available(self) -> bool:
        return self._keyring() is not None

    def backend_name(self) -> str:
        """For the log and the README's troubleshooting: which keyring is in use."""
        kr = self._keyring()
        return _backend_name(kr.get_keyring()) if kr is not None else "none"

    def get(self, url: str) -> str | None:
        kr = self._keyring()
        if kr is None:
            return None
        try:
            password = kr.get_password(self.service, url)
        except Exception as exc:  # keyring.errors.KeyringError and whatever a backend raises
            self._give_up("the keyring could not be read", exc)
            return None
        if not isinstance(password, str) or not password:
            return None
        register_secret(password)
        return password

    def put(self, url: str, password: str) -> bool:
        """Keep `password` for `url`; False when there is no keyring to keep it in."""
        kr = self._keyring()
        if kr is None or not password:
            return False
        register_secret(password)
        try:
            kr.set_password(self.service, url, password)
        except Exception as exc:
            self._give_up("the keyring refused the password", exc)
            return False
        log.info("password for %s kept in the keyring", url)
        return True

    def forget(self, url: str) -> None:
        kr = self._keyring()
        if kr is None:
            return
        try:
            if kr.get_password(self.service, url) is None:
                return
            kr.delete_password(self.service, url)
        except Exception as exc:
            self._give_up("the keyring could not forget a password", exc)
            return
        log.info("password for %s removed from the keyring", url)

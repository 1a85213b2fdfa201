"""The password store: the keyring when there is a usable one, nothing at all otherwise."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import KeyringLocked

from kobold_gui.core.secrets import SERVICE, PasswordStore, usable_backend

URL = "http://127.0.0.1:5001"


def test_tests_never_reach_the_real_keyring() -> None:
    """This process and every process it starts see only the fail backend."""
    assert not usable_backend(keyring.get_keyring())
    code = "import keyring; print(type(keyring.get_keyring()).__module__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, check=True, env=dict(os.environ)).stdout.strip()
    assert out == "keyring.backends.fail"


def test_without_a_keyring_nothing_is_kept() -> None:
    store = PasswordStore()
    assert not store.available and store.backend_name() == "none"
    assert store.put(URL, "pw") is False
    assert store.get(URL) is None
    store.forget(URL)  # no error


def test_null_backend_and_empty_chain_count_as_none() -> None:
    from keyring.backends import chainer, null

    assert not usable_backend(null.Keyring())
    class EmptyChain(chainer.ChainerBackend):
        backends = []  # type: ignore[assignment]  # what the chain finds on a bare system

    assert not usable_backend(EmptyChain())


def test_put_get_forget_per_server(memory_keyring) -> None:
    store = PasswordStore()
    assert store.available
    assert store.put(URL, "s3cret") and store.put("http://other:1", "two")
    assert memory_keyring.entries[(SERVICE, URL)] == "s3cret"
    assert PasswordStore().get(URL) == "s3cret"
    assert store.get("http://other:1") == "two"
    store.forget(URL)
    assert store.get(URL) is None and store.get("http://other:1") == "two"
    store.forget(URL)  # forgetting twice is fine


class LockedKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    def get_password(self, service: str, username: str) -> str | None:
        raise KeyringLocked("locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise KeyringLocked(f"locked, would have stored {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise KeyringLocked("locked")


@pytest.fixture
def locked_keyring():
    previous = keyring.get_keyring()
    keyring.set_keyring(LockedKeyring())
    yield
    keyring.set_keyring(previous)


def test_a_keyring_error_means_no_keyring_for_the_session(locked_keyring, caplog) -> None:
    store = PasswordStore()
    assert store.available
    with caplog.at_level(logging.WARNING):
        assert store.put(URL, "never-logged-pw") is False
        assert store.get(URL) is None
    assert not store.available  # one failure is enough: no second warning, no retry per key
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "session only" in warnings[0].getMessage()
    assert "never-logged-pw" not in caplog.text

"""The log file has the context of every failure, and never the password."""

import logging

import pytest

from kobold_gui.core import settings as S
from kobold_gui.core.events import Finished
from kobold_gui.core.generation import Generation, ResilienceConfig
from kobold_gui.core.logs import register_secret, setup_logging
from kobold_gui.core.protocol import KoboldClient
from kobold_gui.core.retry import RetryPolicy
from kobold_gui.emulator import Faults

pytestmark = pytest.mark.asyncio
PASSWORD = "hunter2-very-secret"


@pytest.fixture
def log_file(tmp_path):
    path = setup_logging("INFO", tmp_path)
    yield path
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "baseFilename", "").startswith(str(tmp_path)):
            root.removeHandler(handler)
            handler.close()


async def test_failures_are_logged_with_context_and_without_password(make_emulator, log_file):
    emu = make_emulator(password=PASSWORD, token_rate=200.0)
    emu.faults = Faults(busy_first=1, drop_after_events=2)
    register_secret(PASSWORD)
    client = KoboldClient(emu.url, PASSWORD)
    config = ResilienceConfig(retry=RetryPolicy(base_delay=0.05, max_attempts=5),
                              stall_after=0.3, poll_interval=0.1)
    values = S.defaults() | {"max_length": 20}
    try:
        gen = Generation(client, "log me", values, lambda e: None, config=config)
        outcome = await gen.run()
        # Something that includes the password in its text must still not leak it.
        logging.getLogger("test").warning("user typed %s", PASSWORD)
    finally:
        await client.aclose()
    assert isinstance(outcome, Finished)
    text = log_file.read_text(encoding="utf-8")
    assert gen.genkey in text
    assert "'status': 503" in text and "/api/extra/generate/stream" in text
    assert "attempt=" in text and "elapsed=" in text
    assert "without finishing" in text  # the dropped stream
    assert PASSWORD not in text
    assert "user typed ***" in text


@pytest.mark.parametrize("secret", ["line\r\nbreak-secret", "tab\tsecret-pässwort"])
async def test_a_password_with_line_breaks_is_redacted_in_every_spelling(log_file, secret):
    import json

    register_secret(secret)
    log = logging.getLogger("test.redact")
    log.warning("raw %s", secret)
    log.warning("repr %r", secret)
    log.warning("json %s", json.dumps({"password": secret}))
    log.warning("header %r", b"Bearer " + secret.encode("utf-8"))
    try:
        raise ValueError(f"bad header {secret!r}")
    except ValueError:
        log.exception("with a traceback")
    text = log_file.read_text(encoding="utf-8")
    for leak in ("break-secret", "secret-p", "line\\r\\n", "tab\\t"):
        assert leak not in text, text
    assert text.count("***") >= 5

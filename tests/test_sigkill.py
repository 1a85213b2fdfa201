"""A real `kobold-gui` killed mid-stream loses at most the last second (issue 7 #6, "Done when").

The window runs as its own process (offscreen, its own XDG dirs) in `--self-test` mode against
a slow emulator in this process; once the session journal on disk holds streamed text, the
process gets SIGKILL (no cleanup of any kind). Then:
(a) `kobold-story recover` prints the story, the reply cut where the journal was last flushed,
    and that text is exactly the start of what the emulator streamed;
(b) a window started on the same state directory offers the session, and Restore puts the
    text in `window.story` with the reply marked "interrupted".
And the server password given on the command line is in no file the app wrote.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from kobold_gui.core import storage

pytest.importorskip("PySide6")

from ui.test_file_actions import app_window_fixture  # noqa: E402,F401  (used by name)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "hunter2-Zq9-never-on-disk"
WAIT_S = 60.0


def app_dirs(base: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(base / "config"), "XDG_DATA_HOME": str(base / "data"),
            "XDG_STATE_HOME": str(base / "state"), "XDG_CACHE_HOME": str(base / "cache"),
            "KOBOLD_GUI_LOG_DIR": str(base / "log")}


def start_gui(base: Path, url: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", **app_dirs(base))
    env.pop("KOBOLD_PASSWORD", None)
    return subprocess.Popen(
        [sys.executable, "-m", "kobold_gui", "--self-test", "--url", url, *extra],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def journal_in(base: Path) -> Path:
    return base / "state" / "kobold_gui" / "session.journal"


def replayed_reply(path: Path) -> str:
    """The text of the model reply a restore would bring back now ("" while there is none)."""
    try:
        story = storage.replay(path)
    except (OSError, storage.JournalCorrupt):
        return ""
    last = story.segments[-1] if story.segments else None
    return last.text if last is not None and last.author == "model" else ""


def wait_for(predicate: Callable[[], bool], proc: subprocess.Popen[str], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            out, err = proc.communicate()
            pytest.fail(f"kobold-gui exited ({proc.returncode}) before {what}:\n{out}\n{err}")
        time.sleep(0.05)
    proc.kill()
    out, err = proc.communicate()
    pytest.fail(f"timed out waiting for {what}:\n{out}\n{err}")


def files_holding(base: Path, secret: bytes) -> list[str]:
    return [str(p) for p in base.rglob("*") if p.is_file() and secret in p.read_bytes()]


def run_story_cli(base: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, **app_dirs(base))
    return subprocess.run([sys.executable, "-m", "kobold_gui.story_cli", *args], env=env,
                          cwd=ROOT, capture_output=True, timeout=60)


def test_sigkill_mid_stream_then_recover_and_restore(
        make_emulator, tmp_path, qtbot, app_window, monkeypatch) -> None:
    emu = make_emulator(token_rate=4.0, password=PASSWORD)  # 24 tokens: about 6 s of streaming
    proc = start_gui(tmp_path, emu.url, "--password", PASSWORD)
    journal = journal_in(tmp_path)
    try:
        # a few tokens are on disk while the reply is still streaming
        wait_for(lambda: len(replayed_reply(journal)) >= 12, proc, "streamed text in the journal")
        seen = replayed_reply(journal)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    records = [r for r in emu.generations if r.endpoint == "stream"]
    assert records, "the window never asked the emulator to generate"
    record = records[-1]
    expected = emu.expected_text(record.prompt, record.max_length)

    # (a) kobold-story recover prints the session with the text up to the last flush
    printed = run_story_cli(tmp_path, "recover")
    assert printed.returncode == 0, printed.stderr
    story_text = printed.stdout.decode("utf-8")
    recovered = run_story_cli(tmp_path, "recover", "--out", str(tmp_path / "r.kstory"))
    assert recovered.returncode == 0, recovered.stderr
    story = storage.load_story(tmp_path / "r.kstory")
    assert story.text == story_text
    reply = story.segments[-1]
    assert reply.author == "model"
    assert reply.meta is not None and reply.meta.finish_reason == "interrupted"
    assert reply.text.startswith(seen)  # nothing on disk before the kill was lost
    assert expected.startswith(reply.text)  # exactly what the server sent, in order
    assert len(reply.text) < len(expected)  # killed mid-stream, not after the end
    assert story_text.endswith(reply.text)

    # the password reached no file: not the journal, not the logs, not the settings
    assert files_holding(tmp_path, PASSWORD.encode()) == []

    # (b) the next start offers exactly that session
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    window = app_window(session=True)
    session = window.file_actions.session
    assert session is not None and session.offer is not None
    assert "did not quit normally" in session.offer.text()
    session.offer.answer("restore")
    assert window.story.text == story_text
    last = window.story.segments[-1]
    assert last.author == "model" and last.text == reply.text
    assert last.meta is not None and last.meta.finish_reason == "interrupted"
    assert window.isWindowModified()


def test_a_password_on_the_command_line_reaches_no_file(make_emulator, tmp_path) -> None:
    emu = make_emulator(password=PASSWORD)
    proc = start_gui(tmp_path, emu.url, "--password", PASSWORD, "--log-level", "debug")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, f"{out}\n{err}"
    assert "self-test: generated" in out
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "session.json" for p in written)  # the session was kept ...
    assert any(p.suffix == ".log" or "log" in p.parts for p in written)  # ... and logged
    assert files_holding(tmp_path, PASSWORD.encode()) == []

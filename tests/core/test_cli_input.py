"""kobold-stream meets odd input, foreign servers and passwords kept out of `ps` (issue 6)."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from foreign_servers import redirecting_server, static_file_server, tls_server

from kobold_gui import __version__


def kobold_stream(*args, input=None, timeout=60, env=None):
    environment = clean_env() | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "kobold_gui.cli", *args], input=input, capture_output=True,
        timeout=timeout, env=environment, stdin=None if input is not None else subprocess.DEVNULL,
    )


def clean_env() -> dict[str, str]:
    """The test's environment without a password that the person running tests may have set."""
    return {k: v for k, v in os.environ.items() if k not in ("KOBOLD_PASSWORD", "KOBOLD_URL")}


def one_error_line(r) -> str:
    text = r.stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if "error" in line]
    assert len(lines) == 1, text
    return lines[0]


# ----------------------------------------------------------------------------- bad input (5)
def test_a_non_ascii_password_works_end_to_end(make_emulator):
    emu = make_emulator(password="pässwort")
    r = kobold_stream("--url", emu.url, "--max-length", "6", "p",
                      env={"KOBOLD_PASSWORD": "pässwort"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == emu.expected_text("p", 6)


@pytest.mark.parametrize("args, env, words", [
    ([], {"KOBOLD_PASSWORD": "pw\r\nX-Injected: 1"}, "line break"),
    ([], {"KOBOLD_PASSWORD": "世界"}, "Latin-1"),
    (["--url", "http://127.0.0.1:5001/\x01"], {}, "cannot contain"),
    (["--url", "http://127.0.0.1:99999"], {}, "Port out of range"),
    (["--retries", "-1"], {}, "--retries"),
    (["--retries", "many"], {}, "--retries"),
    (["--retry-max-delay", "-3"], {}, "--retry-max-delay"),
    (["--stall-after", "nan"], {}, "--stall-after"),
    (["--log-level", "nonsense"], {}, "not a log level"),
    (["--password-file", "/nonexistent/pw"], {}, "cannot read the password file"),
], ids=["crlf-password", "cjk-password", "url-control", "url-port", "retries-negative",
        "retries-word", "delay-negative", "stall-nan", "log-level", "password-file-missing"])
def test_bad_input_is_one_line_and_exit_2(emulator, args, env, words):
    r = kobold_stream(*(["--url", emulator.url] if "--url" not in args else []), *args, "p",
                      env=env)
    assert r.returncode == 2, r.stderr
    assert words in one_error_line(r)
    assert r.stdout == b""
    assert emulator.generations == []


def test_invalid_utf8_on_stdin_is_one_line(emulator):
    r = kobold_stream("--url", emulator.url, "-", input=b"caf\xe9 au lait")
    assert r.returncode == 2
    assert "standard input is not UTF-8" in one_error_line(r)
    assert emulator.generations == []


def test_invalid_utf8_in_argv_is_one_line(emulator):
    r = subprocess.run([sys.executable, "-m", "kobold_gui.cli", "--url", emulator.url,
                        b"caf\xe9"], capture_output=True, timeout=60)
    assert r.returncode == 2
    assert "not valid UTF-8" in one_error_line(r)
    assert emulator.generations == []


def test_set_stop_sequence_keeps_non_ascii(emulator):
    r = kobold_stream("--url", emulator.url, "--max-length", "8", "--set",
                      "stop_sequence=世界", "--set", "dry_sequence_breakers=\\nä", "p")
    assert r.returncode == 0, r.stderr
    assert emulator.last_generation.stop_sequence == ["世界"]


# ----------------------------------------------------------------------------- not KoboldCPP (6)
def test_a_static_file_server_exits_7_at_once_without_retrying(tmp_path: Path):
    with static_file_server(tmp_path) as (url, seen):
        r = kobold_stream("--url", url, "--retry-max-delay", "60", "p")
    assert r.returncode == 7, r.stderr
    assert "not a KoboldCPP server" in one_error_line(r)
    assert b"retry" not in r.stderr
    assert sum(line.startswith("POST") for line in seen) == 1  # asked once, never again


def test_a_redirect_says_which_address_to_use(tmp_path: Path):
    with static_file_server(tmp_path) as (target, reached), \
            redirecting_server(target + "/") as (url, _seen):
        r = kobold_stream("--url", url, "p", env={"KOBOLD_PASSWORD": "secret"})
    assert r.returncode == 7, r.stderr
    assert f"redirects to {target}/: use that address" in one_error_line(r)
    assert reached == []


def test_a_tls_failure_is_told_and_not_retried(tmp_path: Path):
    with tls_server(tmp_path) as (url, _seen):
        r = kobold_stream("--url", url, "--retry-max-delay", "60", "p")
    assert r.returncode == 3, r.stderr
    line = one_error_line(r)
    assert "TLS/certificate problem" in line and "certificate" in line.split("problem", 1)[1]
    assert b"retry" not in r.stderr


# ----------------------------------------------------------------------------- passwords (10)
def test_password_file_first_line_is_used(make_emulator, tmp_path: Path):
    emu = make_emulator(password="from-file")
    secret = tmp_path / "pw"
    secret.write_text("from-file\nsecond line ignored\n", encoding="utf-8")
    r = kobold_stream("--url", emu.url, "--max-length", "5", "--password-file", str(secret),
                      "p")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == emu.expected_text("p", 5)
    assert r.stderr == b""


def test_password_on_the_command_line_still_works_with_a_warning(make_emulator):
    emu = make_emulator(password="visible")
    r = kobold_stream("--url", emu.url, "--max-length", "5", "--password", "visible", "p")
    assert r.returncode == 0, r.stderr
    assert b"visible to other users" in r.stderr and b"--password-file" in r.stderr


def run_on_a_terminal(args: list[str], answer: bytes, timeout: float = 60.0) -> tuple[int, bytes]:
    """Run kobold-stream with a pseudo-terminal as its controlling terminal; type `answer`
    when it asks for the password; return (exit code, everything it wrote to the terminal)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: stdin, stdout, stderr and /dev/tty are the terminal
        os.execve(sys.executable, [sys.executable, "-m", "kobold_gui.cli", *args], clean_env())
    seen = b""
    answered = False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    break  # the child closed the terminal
                if not chunk:
                    break
                seen += chunk
                if not answered and b"Password for " in seen:
                    os.write(fd, answer + b"\n")
                    answered = True
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
        else:
            raise AssertionError(f"no exit; terminal shows {seen!r}")
        _, status = os.waitpid(pid, 0) if not done else (done, status)
    finally:
        os.close(fd)
    return os.waitstatus_to_exitcode(status), seen


def test_ask_password_prompts_without_echo(make_emulator):
    emu = make_emulator(password="typed-secret")
    code, screen = run_on_a_terminal(
        ["--url", emu.url, "--max-length", "5", "--ask-password", "p"], b"typed-secret")
    assert code == 0, screen
    assert f"Password for {emu.url}: ".encode() in screen
    assert b"typed-secret" not in screen  # not echoed
    assert emu.expected_text("p", 5).encode() in screen


def test_a_terminal_user_is_asked_when_the_server_needs_a_password(make_emulator):
    emu = make_emulator(password="late")
    code, screen = run_on_a_terminal(["--url", emu.url, "--max-length", "5", "p"], b"late")
    assert code == 0, screen
    assert b"needs a password" in screen and b"Password for" in screen
    assert emu.generations[-1].text == emu.expected_text("p", 5)


# ----------------------------------------------------------------------------- --version (12)
def test_version():
    r = kobold_stream("--version")
    assert r.returncode == 0 and r.stdout.decode() == f"kobold-stream {__version__}\n"

"""kobold-stream as a user runs it: a subprocess, stdout = exactly the generated text."""

import os
import signal
import socket
import subprocess
import sys
import time

import pytest


def kobold_stream(*args, input=None, timeout=30, env=None):
    return subprocess.run(
        [sys.executable, "-m", "kobold_gui.cli", *args], input=input, capture_output=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def test_stdout_is_exactly_the_generated_text(emulator):
    r = kobold_stream("--url", emulator.url, "--max-length", "50", "Once upon a time")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8") == emulator.expected_text("Once upon a time", 50)
    assert r.stderr == b""


def test_prompt_from_stdin_and_settings(emulator):
    r = kobold_stream("--url", emulator.url, "--set", "max_length=20", "--set",
                      "temperature=0.5", "-", input=b"From stdin")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == emulator.expected_text("From stdin", 20)
    assert emulator.last_generation.prompt == "From stdin"


@pytest.mark.parametrize("args, code, message", [
    (["--set", "temperature=9"], 2, b"Temperature must be between"),
    (["--set", "nope=1"], 2, b"Unknown setting"),
    (["--url", "ftp://x"], 2, b"only http"),
])
def test_bad_input_exits_with_usage_code(emulator, args, code, message):
    r = kobold_stream("--url", emulator.url, *args, "p")
    assert r.returncode == code
    assert message in r.stderr and r.stdout == b""


def test_server_down_and_password_exit_codes(make_emulator):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = kobold_stream("--url", f"http://127.0.0.1:{port}", "--retries", "0", "p")
    assert r.returncode == 3 and b"Cannot reach the server" in r.stderr
    emu = make_emulator(password="pw")
    r = kobold_stream("--url", emu.url, "--max-length", "5", "p")
    assert r.returncode == 5 and b"needs a password" in r.stderr
    r = kobold_stream("--url", emu.url, "--max-length", "5", "p", env={"KOBOLD_PASSWORD": "pw"})
    assert r.returncode == 0 and r.stdout.decode() == emu.expected_text("p", 5)


def test_ctrl_c_aborts_on_the_server_and_keeps_the_text(make_emulator):
    emu = make_emulator(token_rate=30.0)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kobold_gui.cli", "--url", emu.url, "--max-length", "500", "go"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        rec = emu.last_generation
        if rec is not None and len(rec.tokens) >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert emu.wait_idle(5.0)
    rec = emu.last_generation
    assert rec.aborted_by == "abort"
    assert out.decode() == rec.text and len(rec.tokens) < 500


def test_a_dropped_stream_still_gives_the_complete_text(make_emulator):
    from kobold_gui.emulator import Faults

    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(drop_after_events=3)
    r = kobold_stream("--url", emu.url, "--max-length", "30", "Drop me")
    assert r.returncode == 0, r.stderr
    records = emu.generations
    assert len(records) > 1
    assert r.stdout.decode() == "".join(rec.text for rec in records)
    assert records[-1].text == emu.expected_text(records[-1].prompt, records[-1].max_length)
    assert sum(len(rec.tokens) for rec in records) == 30
    assert b"recovered" in r.stderr


def test_busy_server_retries_are_reported_on_stderr(make_emulator):
    from kobold_gui.emulator import Faults

    emu = make_emulator()
    emu.faults = Faults(busy_first=2)
    r = kobold_stream("--url", emu.url, "--max-length", "10", "--retry-max-delay", "0.3", "p")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode() == emu.expected_text("p", 10)
    assert r.stderr.count(b"is busy") == 2
    assert b"retry 1/5" in r.stderr and b"retry 2/5" in r.stderr


def test_closed_pipe_stops_the_generation_quietly(make_emulator):
    emu = make_emulator(token_rate=100.0)
    cmd = (f"{sys.executable} -m kobold_gui.cli --url {emu.url} --max-length 400 story"
           " | head -c 20")
    r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert len(r.stdout) == 20 and b"Traceback" not in r.stderr
    assert emu.wait_idle(5.0)
    assert emu.last_generation.aborted_by in ("abort", "disconnect")
    assert len(emu.last_generation.tokens) < 400

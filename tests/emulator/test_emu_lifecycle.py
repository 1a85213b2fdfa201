"""Start/stop, context manager, ground-truth accessors, the CLI, and the no-Qt rule."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time

import pytest
from emu_wire import get, open_request, post, read_response, stream_events, wait_for

from kobold_gui.emulator import Emulator, EmulatorConfig, Faults, GenerationRecord
from kobold_gui.emulator.__main__ import parse_faults


def test_context_manager_and_port_zero():
    with Emulator(EmulatorConfig(token_rate=0, first_poll_delay=0.01)) as emu:
        assert emu.port > 0 and emu.url == f"http://127.0.0.1:{emu.port}"
        assert get(emu.port, "/api/v1/model").json() == {"result": "koboldcpp/emulated-7B"}
    with pytest.raises(OSError):
        get(emu.port, "/api/v1/model")


def test_two_emulators_side_by_side(start_emulator):
    a, b = start_emulator(seed=1), start_emulator(seed=2)
    assert a.port != b.port
    ta = post(a.port, "/api/v1/generate", {"prompt": "p", "max_length": 8}).json()
    tb = post(b.port, "/api/v1/generate", {"prompt": "p", "max_length": 8}).json()
    assert ta != tb and len(a.generations) == len(b.generations) == 1


def test_records_and_accessors(start_emulator):
    emu = start_emulator(token_rate=100.0)
    assert emu.last_generation is None and emu.generation("x") is None and emu.is_idle
    sock = open_request(emu.port, "POST", "/api/extra/generate/stream",
                        {"prompt": "rec", "max_length": 40, "genkey": "R1",
                         "stop_sequence": ["zzz"], "trim_stop": True})
    try:
        assert wait_for(lambda: emu.generation("R1") is not None
                        and emu.generation("R1").state == "running")
        assert not emu.is_idle
        read_response(sock)
    finally:
        sock.close()
    assert emu.wait_idle(5.0)
    rec = emu.last_generation
    assert isinstance(rec, GenerationRecord) and rec is emu.generation("R1")
    assert (rec.genkey, rec.prompt, rec.endpoint, rec.max_length) == ("R1", "rec", "stream", 40)
    assert rec.stop_sequence == ["zzz"] and rec.trim_stop
    assert rec.tokens == emu.expected_tokens("rec", 40) and rec.finish_reason == "length"
    assert rec.state == "done" and rec.aborted_by is None and rec.error is None
    assert rec.queued_at <= rec.started_at <= rec.ended_at
    assert rec.streamed_text == rec.text == rec.trimmed_text


def test_stop_closes_open_streams_and_joins(start_emulator):
    emu = start_emulator(token_rate=20.0)
    sock = open_request(emu.port, "POST", "/api/extra/generate/stream",
                        {"prompt": "long", "max_length": 500, "genkey": "L"})
    assert wait_for(lambda: emu.generation("L") is not None)
    queued = open_request(emu.port, "POST", "/api/v1/generate", {"prompt": "q"})
    try:
        read_response(sock, until=b"data: ")
        assert wait_for(lambda: emu.engine.lock.queue == 1)
        t0 = time.monotonic()
        emu.stop()
        assert time.monotonic() - t0 < 3.0
        rest = read_response(sock, timeout=3)
        assert rest.eof or rest.error is not None
        assert b'"finish_reason": "length"' not in rest.raw
        assert read_response(queued, timeout=3).raw == b""
    finally:
        sock.close()
        queued.close()
    assert emu.generation("L").aborted_by == "shutdown"
    assert emu.generations[-1].error == "shutdown"
    emu.stop()  # idempotent


def test_restart_method(start_emulator):
    emu = start_emulator()
    post(emu.port, "/api/v1/generate", {"prompt": "x", "max_length": 2})
    port = emu.port
    emu.restart(0.1)
    assert emu.port == port and emu.restarts == 1
    assert get(port, "/api/extra/perf").json()["total_gens"] == 0
    assert len(emu.generations) == 1  # records survive


def test_config_overrides_and_model_prefix():
    emu = Emulator(EmulatorConfig(model="tiny"), seed=9)
    assert emu.config.seed == 9 and emu.config.model_name == "koboldcpp/tiny"


def test_parse_faults():
    faults = parse_faults(["drop_after_events=3", "crlf", "stall_seconds=0.5",
                           "check_text_override=hi", "garbage-events=false",
                           "restart_after_events=none"])
    assert faults == Faults(drop_after_events=3, crlf=True, stall_seconds=0.5,
                            check_text_override="hi", garbage_events=False)
    with pytest.raises(Exception, match="unknown fault"):
        parse_faults(["nope=1"])


def test_cli_serves_until_interrupted(tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kobold_gui.emulator", "--port", "0", "--model", "cli-model",
         "--token-rate", "0", "--first-poll-delay", "0.01", "--password", "pw",
         "--fault", "crlf", "--fault", "comments=1"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env)
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 20)
        assert ready, "no startup line"
        line = proc.stderr.readline().decode()
        m = re.fullmatch(r"kobold-emulator serving koboldcpp/cli-model on "
                         r"http://127\.0\.0\.1:(\d+)\n", line)
        assert m, line
        port = int(m.group(1))
        assert get(port, "/api/extra/version").json()["protected"] is True
        r = post(port, "/api/extra/generate/stream", {"prompt": "c", "max_length": 4},
                 {"Authorization": "Bearer pw"})
        assert b": keep-alive\r\n\r\n" in r.body
        assert stream_events(r.body)[-1]["finish_reason"] == "length"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


def test_emulator_never_imports_qt():
    code = (
        "import sys\n"
        "from kobold_gui.emulator import Emulator, EmulatorConfig\n"
        "import kobold_gui.emulator.__main__\n"
        "import urllib.request\n"
        "with Emulator(EmulatorConfig(token_rate=0, first_poll_delay=0.01)) as e:\n"
        "    urllib.request.urlopen(e.url + '/api/v1/model').read()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'qasync', 'shiboken6')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_cli_stops_on_sigint_even_when_started_with_sigint_ignored():
    """A parent that ignores SIGINT (`cmd &` in a shell, some CI) hands that on across exec."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kobold_gui.emulator", "--port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, preexec_fn=_ignore_sigint,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        ready, _, _ = select.select([proc.stderr], [], [], 20)
        assert ready, "no startup line"
        assert b"kobold-emulator serving" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()


@pytest.mark.parametrize("args, words", [
    (["--port", "99999"], "99999 is not a port number"),
    (["--port", "-1"], "not a port number"),
    (["--token-rate", "-5"], "must be 0 or more"),
    (["--contextsize", "lots"], "is not a number"),
])
def test_cli_rejects_impossible_numbers_in_one_line(args, words):
    r = subprocess.run([sys.executable, "-m", "kobold_gui.emulator", *args],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and words in r.stderr, r.stderr
    assert "Traceback" not in r.stderr


def test_cli_version():
    from kobold_gui import __version__

    r = subprocess.run([sys.executable, "-m", "kobold_gui.emulator", "--version"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == f"kobold-emulator {__version__}\n"

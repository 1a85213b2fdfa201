"""kobold-stream keeps every character the server generated, and says truthfully how it ended.

Driven as a user runs it: a subprocess whose stdout is exactly the generated text.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from kobold_gui.emulator import Faults


def kobold_stream(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "kobold_gui.cli", *args], capture_output=True,
                          timeout=timeout, env=dict(os.environ))


def test_ctrl_c_before_the_first_event_prints_what_the_server_generated(make_emulator):
    emu = make_emulator(token_rate=400.0)
    emu.faults = Faults(headers_delay=30.0)  # the server generates, the client has no byte yet
    proc = subprocess.Popen(
        [sys.executable, "-m", "kobold_gui.cli", "--url", emu.url, "--max-length", "2000",
         "go"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rec = emu.last_generation
        if rec is not None and len(rec.text) > 100:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    rec = emu.last_generation
    assert rec.aborted_by == "abort"
    assert len(out) > 100 and out.decode() == rec.text


def test_unreadable_events_still_print_the_whole_text_once(make_emulator):
    emu = make_emulator(token_rate=100.0)
    emu.faults = Faults(garbage_instead="json,no_token,number,list", garbage_every=3)
    r = kobold_stream("--url", emu.url, "--max-length", "60", "Lossy")
    assert r.returncode == 0, r.stderr
    assert emu.last_generation.streamed_text != emu.last_generation.text
    assert r.stdout.decode() == emu.expected_text("Lossy", 60)
    assert b"warning" not in r.stderr


def test_an_endless_stream_ends_with_a_reason_and_the_text(make_emulator):
    emu = make_emulator(token_rate=4000.0, poll_interval=0.002)
    emu.faults = Faults(endless_stream=True)
    r = kobold_stream("--url", emu.url, "--max-length", "30", "Endless")
    assert r.returncode == 10, r.stderr
    assert b"events for at most 30 tokens" in r.stderr
    assert emu.wait_idle(5.0)
    assert r.stdout.decode() == emu.last_generation.text


def test_a_stop_sequence_ending_is_told_as_such(make_emulator):
    emu = make_emulator()
    probe = emu.expected_text("Stop me", 80)
    stop = probe[20:24]
    r = kobold_stream("--url", emu.url, "--max-length", "80", "--set",
                      f"stop_sequence={stop}", "-v", "Stop me")
    assert r.returncode == 0, r.stderr
    assert emu.last_generation.finish_reason == "length"  # what KoboldCPP itself says
    assert b"finished (a stop sequence ended it)" in r.stderr
    assert r.stdout.decode() == probe[: probe.find(stop)]

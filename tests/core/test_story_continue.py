"""`kobold-story continue FILE`: the story file is the context, the new text is printed exactly
and saved into the file as the model's, also when the server fails part-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kobold_gui.core import storage
from kobold_gui.core.story import AuthorsNote, Segment, Story
from kobold_gui.core.storyfiles import dump_story, load_story_bytes


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "kobold_gui.story_cli", *args],
                          capture_output=True, timeout=90, env=os.environ.copy())


def story() -> Story:
    return Story([Segment("user", "The lighthouse keeper 🌙 wrote: "),
                  Segment("model", "the lamp went out at nine.")],
                 memory="[A quiet harbour town.]")


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "harbour.kstory"
    storage.save_story(path, story())
    return path


def test_continue_prints_the_new_text_and_saves_it_as_the_models(emulator, story_file) -> None:
    done = run("continue", str(story_file), "--url", emulator.url, "--max-length", "12")
    assert done.returncode == 0, done.stderr
    record = emulator.last_generation
    before = story()
    assert record.prompt == before.text  # the story is the prompt ...
    assert record.memory == before.memory  # ... memory in its own field, once
    new_text = emulator.expected_text(before.text, 12, memory=before.memory)
    assert done.stdout.decode("utf-8") == new_text  # stdout: exactly the new text
    saved = storage.load_story(story_file)
    assert saved.text == before.text + new_text
    reply = saved.segments[-1]
    assert reply.author == "model" and reply.text == new_text
    assert reply.meta is not None and reply.meta.finish_reason in ("length", "eos")
    assert reply.meta.settings is not None and reply.meta.settings["max_length"] == 12
    assert (story_file.parent / (story_file.name + "~")).exists()  # the old version kept
    # only the new reply gets this generation's record, not the older reply without one
    assert saved.segments[1].author == "model" and saved.segments[1].meta is None


def test_a_long_story_sends_only_its_newest_text_that_fits(make_emulator, tmp_path) -> None:
    emu = make_emulator(context_length=512)
    tale = "".join(f"Sentence {i} of the tale. " for i in range(400))
    long_story = Story([Segment("user", "Opening line. "), Segment("model", tale)],
                       memory="[Memory stays.]")
    path = tmp_path / "long.kstory"
    storage.save_story(path, long_story)
    done = run("continue", str(path), "--url", emu.url, "--max-length", "16",
               "--set", "max_context_length=512")
    assert done.returncode == 0, done.stderr
    record = emu.last_generation
    assert record.memory == "[Memory stays.]"
    assert long_story.text.endswith(record.prompt)  # the newest text ...
    assert "Opening line" not in record.prompt  # ... never the oldest


def test_show_request_prints_the_body_and_sends_nothing(emulator, story_file) -> None:
    before = story_file.read_bytes()
    done = run("continue", str(story_file), "--url", emulator.url, "--show-request",
               "--set", "temperature=0.3")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["prompt"] == story().text and body["memory"] == story().memory
    assert body["temperature"] == 0.3 and body["genkey"]
    assert emulator.last_generation is None
    assert story_file.read_bytes() == before


def test_a_lite_file_is_continued_in_its_own_format(emulator, tmp_path) -> None:
    path = tmp_path / "lite.json"
    path.write_bytes(dump_story(Story([Segment("user", "Once, "), Segment("model", "a cat.")],
                                      authors_note=AuthorsNote("Short.")), "lite"))
    done = run("continue", str(path), "--url", emulator.url, "--max-length", "6")
    assert done.returncode == 0, done.stderr
    data = json.loads(path.read_bytes())
    assert "actions" in data and "savedsettings" in data or "gamestarted" in data  # Lite's shape
    again = load_story_bytes(path.read_bytes())
    assert again.text == "Once, a cat." + done.stdout.decode("utf-8")
    assert again.authors_note.text == "Short."


def test_ctrl_c_mid_stream_saves_what_came(make_emulator, story_file) -> None:
    emu = make_emulator(token_rate=8.0)
    proc = subprocess.Popen([sys.executable, "-m", "kobold_gui.story_cli", "continue",
                             str(story_file), "--url", emu.url, "--max-length", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    assert proc.stdout is not None
    first = os.read(proc.stdout.fileno(), 8)  # the stream is flowing (unbuffered: all of
    # the rest is left for communicate())
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    printed = (first + rest).decode("utf-8")
    saved = storage.load_story(story_file)
    assert saved.text == story().text + printed  # everything printed is in the file
    assert len(printed) < len(emu.expected_text(story().text, 200, memory=story().memory))
    assert saved.segments[-1].meta is not None
    assert saved.segments[-1].meta.finish_reason == "stopped"


def test_bad_input_is_one_line_and_leaves_the_file_alone(emulator, tmp_path, story_file) -> None:
    missing = run("continue", str(tmp_path / "nope.kstory"), "--url", emulator.url)
    assert missing.returncode == 3 and missing.stderr.decode().count("\n") == 1
    chat = tmp_path / "chat.jsonl"
    chat.write_bytes(b'{"user_name": "You", "character_name": "Bot"}\n'
                     b'{"name": "You", "is_user": true, "mes": "Hi"}\n')
    imported = run("continue", str(chat), "--url", emulator.url)
    assert imported.returncode == 5 and b"convert it first" in imported.stderr
    before = story_file.read_bytes()
    overflow = run("continue", str(story_file), "--url", emulator.url,
                   "--set", "max_context_length=100", "--max-length", "100")
    assert overflow.returncode == 2 and b"must be smaller than the context" in overflow.stderr
    crowded = tmp_path / "crowded.kstory"
    storage.save_story(crowded, Story([Segment("user", "Hi.")], memory="word " * 2000))
    no_room = run("continue", str(crowded), "--url", emulator.url,
                  "--set", "max_context_length=512", "--max-length", "16")
    assert no_room.returncode == 2 and b"not sent" in no_room.stderr
    assert emulator.last_generation is None
    down = run("continue", str(story_file), "--url", "http://127.0.0.1:9", "--retries", "0")
    assert down.returncode == 6 and down.stderr.decode().count("\n") == 1
    assert story_file.read_bytes() == before


def test_continue_sends_matching_world_info_the_way_the_window_does(emulator, tmp_path) -> None:
    from kobold_gui.core.story import WorldInfoEntry

    path = tmp_path / "lore.kstory"
    storage.save_story(path, Story(
        [Segment("user", "The keeper climbed the lighthouse. ")], memory="[Harbour.]",
        world_info=[WorldInfoEntry(keys=("lighthouse",), content="The lamp is red."),
                    WorldInfoEntry(keys=("castle",), content="The castle is empty.")]))
    shown = run("continue", str(path), "--url", emulator.url, "--show-request")
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["memory"] == "[Harbour.]\nThe lamp is red.\n"
    done = run("continue", str(path), "--url", emulator.url, "--max-length", "6")
    assert done.returncode == 0, done.stderr
    record = emulator.last_generation
    assert record.memory == body["memory"] and record.prompt == body["prompt"]

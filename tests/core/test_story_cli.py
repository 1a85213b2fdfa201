"""`kobold-story` as a person uses it: exact text on stdout, clear errors, nothing overwritten."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kobold_gui.core import storage
from kobold_gui.core.story import AuthorsNote, GenerationMeta, Story, WorldInfoEntry


def run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "kobold_gui.story_cli", *args],
                          capture_output=True, timeout=60, env=os.environ.copy())


def sample_story() -> Story:
    story = Story(memory="The kobold is called Mira.",
                  authors_note=AuthorsNote("Keep it eerie.", depth=200),
                  world_info=[WorldInfoEntry(keys=("lighthouse",), content="It is abandoned.",
                                             comment="place", selective=False, constant=True)])
    story.append_segment("user", "Once upon a time 🌙")
    i = story.append_segment("model", " the lighthouse lit by itself.\n")
    story.finish_segment(i, GenerationMeta(model="m", finish_reason="eos"))
    story.append_segment("edited", "世界 no trailing newline")
    return story


@pytest.fixture
def story_file(tmp_path: Path) -> Path:
    path = tmp_path / "mira.kstory"
    storage.save_story(path, sample_story())
    return path


def test_show_prints_exactly_the_story_text(story_file: Path) -> None:
    r = run("show", str(story_file))
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode("utf-8") == sample_story().text
    assert r.stderr == b""


def test_show_json_has_the_context_fields(story_file: Path) -> None:
    r = run("show", "--json", str(story_file))
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["text"] == sample_story().text
    assert shown["memory"] == "The kobold is called Mira."
    assert shown["authors_note"] == "Keep it eerie."
    assert shown["world_info"] == [{"keys": ["lighthouse"], "secondary_keys": [],
                                    "content": "It is abandoned.", "comment": "place",
                                    "selective": False, "constant": True}]
    assert shown["mode"] == "story"


@pytest.mark.parametrize("fmt", ["kobold", "lite", "text", "markdown"])
def test_convert_and_back_keeps_the_text(story_file: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    r = run("convert", str(story_file), str(out), "--to", fmt)
    assert r.returncode == 0, r.stderr
    if fmt == "markdown":
        assert "Once upon a time 🌙" in out.read_text(encoding="utf-8")
        return
    back = run("show", str(out))  # read back by content, whatever the name says
    assert back.returncode == 0, back.stderr
    assert back.stdout.decode("utf-8") == sample_story().text


def test_lite_round_trip_keeps_memory_note_and_world_info(story_file: Path,
                                                          tmp_path: Path) -> None:
    lite = tmp_path / "story.json"
    assert run("convert", str(story_file), str(lite), "--to", "lite").returncode == 0
    again = tmp_path / "again.kstory"
    assert run("convert", str(lite), str(again), "--to", "kobold").returncode == 0
    original = json.loads(run("show", "--json", str(story_file)).stdout)
    assert json.loads(run("show", "--json", str(again)).stdout) == original


@pytest.mark.parametrize("content, words", [
    (b'{"format": "kobold_gui.story", "version": 1, "segments": [', "story"),
    (b"\x00\x01\x02binary", "binary"),
    (b"", "empty"),
])
def test_a_corrupt_file_is_one_line_exit_4_and_left_alone(tmp_path: Path, content: bytes,
                                                          words: str) -> None:
    bad = tmp_path / "bad.kstory"
    bad.write_bytes(content)
    r = run("show", str(bad))
    assert r.returncode == 4
    assert r.stderr.decode().count("\n") == 1 and words in r.stderr.decode().lower()
    assert b"Traceback" not in r.stderr
    assert bad.read_bytes() == content


def test_a_newer_format_is_refused_and_not_touched(tmp_path: Path) -> None:
    newer = tmp_path / "newer.kstory"
    content = json.dumps({"format": "kobold_gui.story", "version": 99}).encode()
    newer.write_bytes(content)
    r = run("convert", str(newer), str(tmp_path / "x.txt"), "--to", "text")
    assert r.returncode == 4 and b"newer" in r.stderr
    assert newer.read_bytes() == content and not (tmp_path / "x.txt").exists()


def test_a_missing_file_is_exit_3(tmp_path: Path) -> None:
    r = run("show", str(tmp_path / "nope.kstory"))
    assert r.returncode == 3 and b"no such file" in r.stderr


def test_an_empty_story_never_replaces_one_with_text(story_file: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.kstory"
    empty.write_bytes(Story().to_json())
    before = story_file.read_bytes()
    r = run("convert", str(empty), str(story_file), "--to", "kobold")
    assert r.returncode == 5 and b"--force" in r.stderr
    assert story_file.read_bytes() == before
    assert run("convert", str(empty), str(story_file), "--to", "kobold",
               "--force").returncode == 0
    assert storage.backup_path(story_file).read_bytes() == before  # the old one is kept


def test_an_unwritable_target_is_exit_5(story_file: Path, tmp_path: Path) -> None:
    r = run("convert", str(story_file), str(tmp_path / "no" / "such" / "dir" / "x.txt"),
            "--to", "text")
    assert r.returncode == 5 and b"cannot be written" in r.stderr


def test_recover_without_a_session_is_exit_1() -> None:
    journal = storage.session_journal_path()
    if journal.exists():
        journal.unlink()
    r = run("recover")
    assert r.returncode == 1 and b"nothing to recover" in r.stderr


def test_recover_prints_the_interrupted_session(tmp_path: Path) -> None:
    journal_path = storage.session_journal_path()
    journal_path.parent.mkdir(parents=True, exist_ok=True)
    story = Story()
    journal = storage.Journal(journal_path)
    journal.attach(story)
    story.append_segment("user", "Prompt. ")
    i = story.append_segment("model", "Half a rep")
    story.append_text(i, "ly")
    journal.flush()  # then the process dies: no close
    try:
        r = run("recover")
        assert r.returncode == 0, r.stderr
        assert r.stdout.decode() == "Prompt. Half a reply"
        out = tmp_path / "restored.kstory"
        assert run("recover", "--out", str(out)).returncode == 0
        restored = storage.load_story(out)
        assert restored.text == "Prompt. Half a reply"
        meta = restored.segments[-1].meta
        assert meta is not None and meta.finish_reason == "interrupted"
    finally:
        journal.discard()


def test_bad_usage_is_one_line_exit_2() -> None:
    r = run("convert", "a", "b", "--to", "docx")
    assert r.returncode == 2 and r.stderr.decode().count("\n") == 1


@pytest.mark.parametrize("name", ["lite_v180.json", "lite_v339.json"])
def test_a_lite_save_through_the_story_model_comes_back_unchanged(name: str) -> None:
    """Open a Lite save as a Story and write it as Lite: every key, including those we do not
    understand (altbranches, savedsettings, documentdb_*), and every world-info flag survive."""
    from kobold_gui.core.storyfiles import dump_story, load_story_bytes

    original = (Path(__file__).resolve().parent.parent / "data" / "formats" / name).read_bytes()
    story = load_story_bytes(original)
    assert story.text
    assert json.loads(dump_story(story, "lite")) == json.loads(original)
    again = load_story_bytes(story.to_json())  # and through our own format too
    assert json.loads(dump_story(again, "lite")) == json.loads(original)


def test_a_sillytavern_chat_opens_as_a_chat(tmp_path: Path) -> None:
    chat = Path(__file__).resolve().parent.parent / "data" / "formats" / "sillytavern_chat.jsonl"
    r = run("show", "--json", str(chat))
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert shown["mode"] == "chat" and shown["text"]

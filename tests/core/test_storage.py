"""Files are written so that no crash loses text; the journal rebuilds an interrupted session."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kobold_gui.core import storage
from kobold_gui.core.storage import (
    EmptyOverwrite,
    Journal,
    JournalCorrupt,
    atomic_write,
    backup_path,
    load_story,
    replay,
    save_story,
)
from kobold_gui.core.story import (
    AuthorsNote,
    GenerationMeta,
    NewerFormat,
    Story,
    WorldInfoEntry,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_directories_follow_the_xdg_variables(isolated_root: Path) -> None:
    if sys.platform != "linux":
        pytest.skip("XDG variables are a Linux convention")
    assert storage.config_dir() == isolated_root / "config" / "kobold_gui"
    assert storage.data_dir() == isolated_root / "data" / "kobold_gui"
    assert storage.state_dir() == isolated_root / "state" / "kobold_gui"
    assert storage.session_journal_path().parent == storage.state_dir()


def test_atomic_write_keeps_the_previous_version_as_backup(tmp_path: Path) -> None:
    target = tmp_path / "story.kstory"
    atomic_write(target, b"first")
    assert not backup_path(target).exists()
    atomic_write(target, b"second")
    atomic_write(target, b"third")
    assert target.read_bytes() == b"third"
    assert backup_path(target).read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.kstory", "story.kstory~"]


def test_a_crash_before_the_rename_leaves_the_old_file_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "story.kstory"
    atomic_write(target, b"precious text")
    real_replace = os.replace

    def crash(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if Path(dst) == target:
            raise OSError("disk on fire")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk on fire"):
        atomic_write(target, b"half written")
    assert target.read_bytes() == b"precious text"
    # no temporary file is left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["story.kstory", "story.kstory~"]


def test_saving_an_empty_story_over_one_with_text_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "story.kstory"
    story = Story()
    story.append_segment("user", "Months of writing.")
    save_story(target, story)
    assert not story.dirty
    with pytest.raises(EmptyOverwrite):
        save_story(target, Story())
    assert load_story(target).text == "Months of writing."
    save_story(target, Story(), force=True)
    assert load_story(target).text == ""
    save_story(target, Story())  # empty over empty is fine


def test_a_newer_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    target = tmp_path / "future.kstory"
    data = b'{"format": "kobold_gui.story", "version": 99, "segments": []}'
    target.write_bytes(data)
    with pytest.raises(NewerFormat):
        load_story(target)
    assert target.read_bytes() == data


def streamed_session(journal: Journal, clock: FakeClock) -> Story:
    story = Story(memory="mem")
    journal.attach(story)
    story.append_segment("user", "Prompt.")
    index = story.append_segment("model", "", GenerationMeta(model="m"))
    for n in range(5):
        clock.now += 0.3
        story.append_text(index, f" t{n}")
    return story


def test_journal_flushes_at_most_once_per_interval(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "session.journal"
    journal = Journal(path, clock=clock)
    story = streamed_session(journal, clock)
    # 1.5 s of streaming: one timed flush happened, the newest chunks are still buffered
    assert " t2" in replay(path).text and " t4" not in replay(path).text
    journal.flush()
    assert replay(path).text == story.text
    journal.close()


def test_journal_replay_rebuilds_edits_fields_and_marks_the_reply_interrupted(
        tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "session.journal"
    journal = Journal(path, clock=clock)
    story = streamed_session(journal, clock)
    story.edit(0, 1, "p")
    story.set_fields(authors_note=AuthorsNote("note"), world_info=[WorldInfoEntry(keys=("k",))],
                     mode="chat")
    story.extra["kept"] = [1, 2]
    story.set_fields()
    index = story.append_segment("model", "", GenerationMeta(model="m"))
    story.append_text(index, " unfinished")
    journal.close()
    restored = replay(path)
    assert restored.text == story.text
    assert restored.authors_note.text == "note" and restored.mode == "chat"
    assert restored.world_info == story.world_info and restored.extra == {"kept": [1, 2]}
    last = restored.segments[-1]
    assert last.meta is not None and last.meta.finish_reason == "interrupted"
    assert last.meta.model == "m"


def test_a_finished_reply_is_not_marked_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "session.journal"
    journal = Journal(path)
    story = Story()
    journal.attach(story)
    index = story.append_segment("model", "done")
    story.finish_segment(index, GenerationMeta(finish_reason="stop"))
    story.undo()
    story.redo()
    journal.close()
    restored = replay(path)
    assert restored.segments == story.segments
    meta = restored.segments[-1].meta
    assert meta is not None and meta.finish_reason == "stop"


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "session.journal"
    journal = Journal(path)
    story = Story()
    journal.attach(story)
    story.append_segment("model", "kept")
    journal.close()
    with open(path, "ab") as f:
        f.write(b'{"op": "text", "index": 0, "text": " lo')  # killed mid-write
    assert replay(path).text == "kept"


def test_a_damaged_line_in_the_middle_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "session.journal"
    journal = Journal(path)
    story = Story()
    journal.attach(story)
    story.append_segment("model", "a")
    journal.close()
    path.write_bytes(path.read_bytes() + b"garbage\n" + b'{"op": "text"}\n')
    with pytest.raises(JournalCorrupt):
        replay(path)


def test_journal_append_costs_the_new_text_not_the_story(tmp_path: Path) -> None:
    path = tmp_path / "session.journal"
    big = Story()
    big.append_segment("user", "x" * 1_000_000)
    journal = Journal(path)
    journal.attach(big)
    index = big.append_segment("model")
    journal.flush()
    before = path.stat().st_size
    chunk = "a new token " * 10
    big.append_text(index, chunk)
    journal.flush()
    grown = path.stat().st_size - before
    assert len(chunk) <= grown < len(chunk) + 100
    journal.discard()
    assert not path.exists()


CHILD = textwrap.dedent("""
    import sys
    from kobold_gui.core.storage import Journal
    from kobold_gui.core.story import Story

    journal = Journal(sys.argv[1])
    story = Story()
    journal.attach(story)
    story.append_segment("user", "Prompt.")
    index = story.append_segment("model")
    n = 0
    while True:  # streams until killed
        story.append_text(index, f" tok{n}")
        if n % 7 == 0:
            journal.flush()
            print(n, flush=True)
        n += 1
""")


def test_a_sigkilled_writer_loses_nothing_it_flushed(tmp_path: Path) -> None:
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("no SIGKILL on this platform")
    path = tmp_path / "session.journal"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    flushed = -1
    try:
        for line in child.stdout:
            flushed = int(line)
            if flushed >= 700:
                break
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    restored = replay(path)
    expected = "Prompt." + "".join(f" tok{n}" for n in range(flushed + 1))
    assert restored.text.startswith(expected)
    meta = restored.segments[-1].meta
    assert meta is not None and meta.finish_reason == "interrupted"


@pytest.mark.parametrize("seed", range(5))
def test_replay_equals_the_live_story_for_random_sessions(tmp_path: Path, seed: int) -> None:
    """Every operation mix (empty segments, deletes, undo) replays to the same segments."""
    import random

    rng = random.Random(seed)
    for trial in range(40):
        path = tmp_path / f"{trial}.journal"
        story = Story()
        journal = Journal(path)
        journal.attach(story)
        for _ in range(25):
            roll = rng.random()
            if roll < 0.3:
                story.append_segment(rng.choice(["user", "model"]), rng.choice(["", "ab", "c"]),
                                     GenerationMeta(model="m", finish_reason="stop"))
            elif roll < 0.5 and story.segments:
                story.append_text(len(story.segments) - 1, "xy")
            elif roll < 0.7:
                start = rng.randint(0, len(story))
                story.edit(start, rng.randint(start, len(story)), rng.choice(["", "E"]))
            elif roll < 0.8:
                story.delete_last_reply()
            elif roll < 0.9:
                story.undo()
            else:
                story.redo()
        journal.close()
        assert replay(path).segments == story.segments


def test_an_undo_snapshot_is_encoded_off_the_calling_thread_and_lines_stay_in_order(
        tmp_path, monkeypatch) -> None:
    """Issue 9: an undo in a 10 MB story made the journal encode and write the whole story on
    the UI thread (~140 ms); the snapshot now goes to a worker, the lines after it wait."""
    import threading

    from kobold_gui.core import storage as storage_module
    from kobold_gui.core.story import Story

    threads: list[str] = []
    real = storage_module._dict_pieces

    def spying(data):
        threads.append(threading.current_thread().name)
        return real(data)

    monkeypatch.setattr(storage_module, "_dict_pieces", spying)
    story = Story()
    story.append_segment("user", "One. ")
    journal = storage_module.Journal(tmp_path / "j.journal")
    journal.attach(story)
    story.append_segment("model", "Two. ")
    assert story.undo()
    story.append_segment("user", "Three. ")  # recorded while the snapshot may still be written
    journal.flush()
    assert threads and all(name != threading.current_thread().name for name in threads)
    assert storage_module.replay(tmp_path / "j.journal").text == "One. Three. "
    journal.close()


def test_atomic_write_takes_the_file_in_pieces(tmp_path: Path) -> None:
    """A worker encoding a big story hands the pieces over one by one (no whole-file join)."""
    target = tmp_path / "session.json"
    atomic_write(target, b"old")
    atomic_write(target, (piece for piece in (b'{"a": ', "ü".encode(), b"}")))
    assert target.read_bytes() == '{"a": ü}'.encode()
    assert backup_path(target).read_bytes() == b"old"


def test_a_piece_that_cannot_be_made_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "session.json"
    atomic_write(target, b"old")

    def pieces():
        yield b"half of it"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, pieces())
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session.json"]


def test_a_journal_stopped_on_one_thread_is_closed_on_another(tmp_path: Path) -> None:
    """The session stops following the story on the UI thread and lets its writer thread
    write the pending lines: the later changes are not recorded, the earlier ones are."""
    import threading

    story = Story()
    journal = Journal(tmp_path / "j.journal", interval=60.0)
    journal.attach(story)
    story.append_segment("user", "kept")
    journal.stop_following()
    story.append_segment("user", " not journalled")
    closer = threading.Thread(target=journal.close)
    closer.start()
    closer.join()
    assert replay(tmp_path / "j.journal").text == "kept"

"""Where files live and how they are written so that no crash, kill or full disk loses text.

- `atomic_write`: the target is either the old file or the new one, never half of each, and
  the previous version stays beside it as `NAME~`.
- `save_story` refuses to replace a story that has text with one that has none (a blank
  window saved by mistake must not wipe months of writing) unless forced.
- `Journal`: while a reply streams, every change is appended as one JSON line, so the cost of
  a flush is the new text, not the story; `replay` rebuilds the session after a crash.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from kobold_gui.core.dirs import (  # noqa: F401 (the app's folders, kept importable here)
    APP_NAME,
    config_dir,
    data_dir,
    session_journal_path,
    state_dir,
)
from kobold_gui.core.story import (
    FieldsChanged,
    GenerationMeta,
    RangeEdited,
    Reset,
    SegmentAppended,
    SegmentFinished,
    Story,
    StoryEvent,
    StoryFormatError,
    TextAppended,
)

# --- atomic writes ---------------------------------------------------------------------------

class EmptyOverwrite(Exception):
    """The save would replace a story that has text with an empty one."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} holds a story with text; refusing to overwrite it with an "
                         f"empty one")
        self.path = path


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + "~")


def atomic_write(path: Path | str, data: bytes | Iterable[bytes], backup: bool = True) -> None:
    """Write `data` to `path` via a temporary file in the same folder (same file system, so
    the rename is atomic), fsynced before and after the rename. With `backup`, the version
    being replaced is kept as `NAME~`. `data` may be an iterable of pieces, written in turn:
    a worker thread encoding a big story piece by piece never holds the GIL for long (nor
    the whole encoded file in memory)."""
    path = Path(path)
    pieces = (data,) if isinstance(data, bytes | bytearray | memoryview) else data
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            for piece in pieces:
                tmp.write(piece)
            tmp.flush()
            os.fsync(tmp.fileno())
        if backup and path.exists():
            _keep_backup(path)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _keep_backup(path: Path) -> None:
    """A hard link (no copy, and `path` never disappears); a copy where links are refused."""
    target = backup_path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp_name)
    try:
        os.link(path, tmp_name)
    except OSError:
        with open(path, "rb") as src, open(tmp_name, "wb") as dst:
            dst.write(src.read())
            dst.flush()
            os.fsync(dst.fileno())
    os.replace(tmp_name, target)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # Windows cannot open a directory; its rename is durable enough
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_story(path: Path | str, story: Story, *, force: bool = False) -> None:
    """Save in our format; refuses (EmptyOverwrite) to blank a file that holds a story with
    text unless `force`. Marks the story saved."""
    write_story_bytes(path, story.to_json(), empty=not has_text(story), force=force)
    story.mark_saved()


def write_story_bytes(path: Path | str, data: bytes, *, empty: bool, force: bool = False) -> None:
    """`atomic_write` of an already encoded story (any format), with save_story's refusal:
    EmptyOverwrite when `empty` and the file holds a story with text, unless `force`. Safe to
    call off the UI thread: it touches only the file and `data`."""
    path = Path(path)
    if not force and empty and _has_text(path):
        raise EmptyOverwrite(path)
    atomic_write(path, data)


def load_story(path: Path | str) -> Story:
    """Read a story in our format; the file is only read, never touched."""
    return Story.from_json(Path(path).read_bytes())


def _has_text(path: Path) -> bool:
    from kobold_gui.core.storyfiles import StoryFileError, load_story_bytes

    try:
        old = load_story_bytes(path.read_bytes())  # ours or foreign (a Lite save, a text)
    except FileNotFoundError:
        return False
    except (OSError, StoryFormatError, StoryFileError):
        # A file we cannot read as ours: not our business to judge its emptiness here, but
        # it is not empty either if it has bytes.
        return path.exists() and path.stat().st_size > 0
    return has_text(old)


def has_text(story: Story) -> bool:
    """Whether any segment holds more than whitespace; never joins the whole text (one
    10 MB join holds the GIL long enough to freeze the window for a frame)."""
    return any(segment.text.strip() for segment in story.segments)


# --- the session journal -----------------------------------------------------------------------

class JournalCorrupt(Exception):
    """A journal line other than the last one is damaged: not a crash artefact."""


class Journal:
    """Append-only JSON lines mirroring a story's changes.

    Records are buffered and written by `flush_if_due()` at most once per `interval` of the
    given clock (the caller drives it, e.g. on every streamed token and from a 1 s timer), or
    by `flush()` at once. Each flush writes and fsyncs only the new lines.
    """

    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.monotonic,
                 interval: float = 1.0) -> None:
        self.path = Path(path)
        self._clock = clock
        self._interval = interval
        self._pending: list[str] = []
        self._last_flush = clock()
        self._file: IO[str] | None = None
        self._story: Story | None = None
        self._unsubscribe: Callable[[], None] | None = None
        #: snapshots (after an undo or redo) being encoded and written by `_worker`; while
        #: one is under way the file is the worker's and `flush_if_due` leaves it alone
        self._jobs: list[Future[None]] = []
        self._worker: ThreadPoolExecutor | None = None

    def attach(self, story: Story) -> None:
        """Start a fresh journal from `story` (a snapshot line) and follow its changes."""
        self.detach()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._story = story
        self._record_snapshot()
        self.flush()
        self._unsubscribe = story.subscribe(self._on_change)

    def stop_following(self) -> None:
        """Record no more changes of the story. Called on the thread that changes the story;
        afterwards nothing else touches the journal there, so another thread may `close` or
        `discard` it (what is pending is written first). The story is let go here too, so
        its last reference never goes in that thread (its listeners hold Qt objects)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._story = None

    def detach(self) -> None:
        self.stop_following()
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self.flush()
            self._file.close()
            self._file = None
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    @property
    def story(self) -> Story | None:
        """The story being followed (None when detached)."""
        return self._story

    def rename(self, path: Path | str) -> None:
        """Move the journal file (kept open) to `path`: a journal prepared beside the live one,
        off the UI thread, takes its place in one atomic step."""
        path = Path(path)
        os.replace(self.path, path)
        self.path = path

    def discard(self) -> None:
        """The session is safe elsewhere (saved, or quit cleanly): no restore offer next time."""
        self.detach()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def flush_if_due(self) -> bool:
        if self._jobs and not self._jobs[-1].done():
            return False  # a snapshot is being written: the new lines follow it later
        if self._pending and self._clock() - self._last_flush >= self._interval:
            self.flush()
            return True
        return False

    def flush(self) -> None:
        """Write what is pending and fsync; returns once it is on disk (waiting for a
        snapshot being written first)."""
        self._wait_for_jobs()
        self._last_flush = self._clock()
        if not self._pending or self._file is None:
            return
        self._write(self._pending)
        self._pending = []

    def _write(self, pieces: list[str]) -> None:
        assert self._file is not None
        for piece in pieces:  # a big snapshot is many pieces: encoded a piece at a time
            self._file.write(piece)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _wait_for_jobs(self) -> None:
        jobs, self._jobs = self._jobs, []
        for job in jobs:
            job.result()  # a write that failed raises here (OSError), like a flush would

    def _snapshot_later(self) -> None:
        """An undo or redo replaced the whole story: its snapshot line is encoded (~100 ms
        for 10 MB) and written (~40 ms) by a worker thread, after the lines pending now, not
        on the UI thread. `to_dict` is taken here (immutable segments: no text copied), so
        later edits do not reach it; later lines wait in `_pending` until it is written."""
        assert self._story is not None and self._file is not None
        data = self._story.to_dict()
        data["extra"] = dict(data["extra"])
        head = [*self._pending, f'{{"op": "snapshot", "rev": {self._story.revision}, '
                                '"story": ']
        self._pending = []
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1,
                                              thread_name_prefix="journal-snapshot")

        def write() -> None:
            self._write([*head, *_dict_pieces(data), "}\n"])

        self._jobs.append(self._worker.submit(write))

    def _record(self, record: dict[str, Any]) -> None:
        assert self._story is not None
        record["rev"] = self._story.revision
        self._pending.append(json.dumps(record, ensure_ascii=False) + "\n")

    def _record_snapshot(self) -> None:
        """The whole story as one line, built from small pieces (see Story.json_pieces)."""
        assert self._story is not None
        self._pending.append(f'{{"op": "snapshot", "rev": {self._story.revision}, "story": ')
        self._pending.extend(self._story.json_pieces(separator=""))
        self._pending.append("}\n")

    def _on_change(self, event: StoryEvent) -> None:
        story = self._story
        assert story is not None
        match event:
            case TextAppended(index=index, text=text):
                self._record({"op": "text", "index": index, "text": text})
            case SegmentAppended(index=index) | SegmentFinished(index=index):
                segment = story.segment(index)
                record: dict[str, Any] = {
                    "op": "segment" if isinstance(event, SegmentAppended) else "finish",
                    "index": index, "author": segment.author,
                    "meta": None if segment.meta is None else _meta_dict(segment.meta)}
                if isinstance(event, SegmentAppended):
                    record["text"] = segment.text
                    record["reply"] = segment.reply
                self._record(record)
            case RangeEdited(start=start, end=end, new_text=new_text):
                self._record({"op": "edit", "start": start, "end": end, "text": new_text})
            case FieldsChanged():
                fields = story.to_dict()
                for key in ("segments", "alternatives", "branches"):
                    fields.pop(key, None)  # the context fields only: cost independent of the text
                self._record({"op": "fields", "story": fields})
            case Reset():
                # rare (undo, redo): a full snapshot is simplest and cannot drift; written
                # off the UI thread (a 10 MB one would freeze the window for ~140 ms)
                self._snapshot_later()
        self.flush_if_due()


def _dict_pieces(data: dict[str, Any]) -> list[str]:
    """`Story.json_pieces(separator="")` of a `Story.to_dict()` taken earlier: one piece a
    segment, so the worker hands the GIL back between them."""
    segments = data.pop("segments")
    head = json.dumps(data, ensure_ascii=False)
    pieces = [head[:-1] + ', "segments": [']
    last = len(segments) - 1
    for number, segment in enumerate(segments):
        pieces.append(json.dumps(segment, ensure_ascii=False) + ("," if number < last else ""))
    pieces.append("]}")
    return pieces


def _meta_dict(meta: GenerationMeta) -> dict[str, Any]:
    return dict(vars(meta))


def replay(path: Path | str) -> Story:
    """Rebuild the journalled session. A torn last line (killed mid-write) is ignored; a model
    segment that never finished gets finish_reason "interrupted"."""
    lines = [line for line in Path(path).read_bytes().split(b"\n") if line.strip()]
    story: Story | None = None
    for number, raw in enumerate(lines):
        try:
            record = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            if number == len(lines) - 1:
                break  # the torn tail of a write cut short by a kill
            raise JournalCorrupt(f"{path}: line {number + 1} is damaged") from exc
        try:
            story = _apply(story, record)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
            raise JournalCorrupt(f"{path}: line {number + 1} cannot be applied: {exc}") from exc
    if story is None:
        raise JournalCorrupt(f"{path}: no session in the journal")
    _mark_interrupted(story)
    return story


def _apply(story: Story | None, record: dict[str, Any]) -> Story:
    op = record.get("op")
    if op == "snapshot":
        return Story.from_dict(record["story"])
    if story is None:
        raise JournalCorrupt("the journal does not start with a snapshot")
    if op == "text":
        story.append_text(record["index"], record["text"])
    elif op == "segment":
        meta = record.get("meta")
        story.append_segment(record["author"], record.get("text", ""),
                             None if meta is None else GenerationMeta(**meta),
                             reply=record.get("reply"))
    elif op == "finish":
        story.finish_segment(record["index"], GenerationMeta(**(record.get("meta") or {})))
    elif op == "edit":
        story.edit(record["start"], record["end"], record["text"])
    elif op == "fields":
        other = Story.from_dict({**record["story"], "segments": []})
        story.set_fields(memory=other.memory, authors_note=other.authors_note,
                         world_info=other.world_info, mode=other.mode)
        story.extra = other.extra
    return story


def _mark_interrupted(story: Story) -> None:
    if not story.segments:
        return
    index = len(story.segments) - 1
    last = story.segment(index)
    if last.author == "model" and (last.meta is None or last.meta.finish_reason is None):
        base = last.meta or GenerationMeta()
        story.finish_segment(index, GenerationMeta(**{**vars(base),
                                                      "finish_reason": "interrupted"}))

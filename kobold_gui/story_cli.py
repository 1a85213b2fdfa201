"""`kobold-story`: story files from the terminal, on the same core as the window.

`show` prints exactly the story text (so it can be piped or diffed), `show --json` the context
fields too, `convert` turns any file we read into another format, `recover` prints the session
the window would offer to restore after a crash. Nothing is ever overwritten by mistake: every
write is atomic and keeps the previous version as `NAME~`.

Exit codes: 0 done; 1 nothing to recover; 2 bad usage; 3 a file cannot be read; 4 not a story
file we can read (corrupt, truncated, unknown or newer format); 5 the target cannot be written
(or the write would replace a story with an empty one). `continue` also: 6 the server could not
generate (unreachable, busy, password, not KoboldCPP, broken stream: the message says which;
any text that came is saved); 130 stopped with Ctrl-C (the text so far is saved).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .argparsing import Parser
from .core import storage
from .core.story import Story, StoryFormatError
from .core.storyfiles import (
    FORMATS,
    StoryFileError,
    dump_story,
    read_story_bytes,
)

EXIT_NOTHING = 1
EXIT_UNREADABLE = 3
EXIT_NOT_A_STORY = 4
EXIT_UNWRITABLE = 5
EXIT_SERVER = 6


class Refused(Exception):
    """One clear line for the person, and the exit code that goes with it."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def parse_args(argv: list[str] | None) -> Any:
    p = Parser(prog="kobold-story", description="Show, convert and recover kobold_gui stories.")
    p.add_argument("--version", action="version", version=f"kobold-story {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    show = sub.add_parser("show", help="print the story text exactly (or its fields as JSON)")
    show.add_argument("file")
    show.add_argument("--json", action="store_true",
                      help="print text, memory, author's note, world info and mode as JSON")
    convert = sub.add_parser("convert", help="write a story in another format")
    convert.add_argument("input")
    convert.add_argument("output")
    convert.add_argument("--to", required=True, choices=sorted(FORMATS))
    convert.add_argument("--force", action="store_true",
                         help="allow replacing a story that has text with an empty one")
    recover = sub.add_parser("recover", help="the session the window would restore after a crash")
    recover.add_argument("--out", metavar="FILE", help="write it there in our format")
    from . import story_continue  # it uses this module's Refused and exit codes

    story_continue.add_parser(sub)
    return p.parse_args(argv)


def read(path: str) -> Story:
    return read_with_format(path)[0]


def read_with_format(path: str | Path) -> tuple[Story, str]:
    """The story in `path` and the format it was detected in, or one clear Refused."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise Refused(f"{path}: no such file", EXIT_UNREADABLE) from None
    except OSError as exc:
        raise Refused(f"{path}: cannot be read ({exc.strerror or exc})", EXIT_UNREADABLE) from None
    try:
        return read_story_bytes(data)
    except (StoryFileError, StoryFormatError) as exc:
        raise Refused(f"{path}: {exc}", EXIT_NOT_A_STORY) from None


def write(path: str, data: bytes, story: Story, force: bool) -> None:
    try:
        storage.write_story_bytes(path, data, empty=not storage.has_text(story), force=force)
    except storage.EmptyOverwrite:
        raise Refused(f"{path} holds a story with text; not replacing it with an empty one "
                      "(use --force)", EXIT_UNWRITABLE) from None
    except OSError as exc:
        raise Refused(f"{path}: cannot be written ({exc.strerror or exc})",
                      EXIT_UNWRITABLE) from None


def fields_json(story: Story) -> dict[str, Any]:
    note = story.authors_note
    return {
        "text": story.text,
        "memory": story.memory,
        "authors_note": note.text,
        "world_info": [
            {"keys": list(e.keys), "secondary_keys": list(e.secondary_keys),
             "content": e.content, "comment": e.comment, "selective": e.selective,
             "constant": e.constant}
            for e in story.world_info
        ],
        "mode": story.mode,
    }


def run(args: Any) -> int:
    out = sys.stdout.buffer
    if args.command == "continue":
        from . import story_continue

        return story_continue.run(args)
    if args.command == "show":
        story = read(args.file)
        if args.json:
            out.write(json.dumps(fields_json(story), ensure_ascii=False, indent=2).encode()
                      + b"\n")
        else:
            out.write(story.text.encode("utf-8"))
        out.flush()
        return 0
    if args.command == "convert":
        story = read(args.input)
        write(args.output, dump_story(story, args.to), story, args.force)
        return 0
    # recover
    journal = storage.session_journal_path()
    if not journal.exists():
        raise Refused("nothing to recover: no session was interrupted", EXIT_NOTHING)
    try:
        story = storage.replay(journal)
    except (storage.JournalCorrupt, StoryFormatError, OSError) as exc:
        raise Refused(f"the session journal {journal} cannot be read: {exc}",
                      EXIT_NOT_A_STORY) from None
    if args.out:
        write(args.out, story.to_json(), story, force=False)
    else:
        out.write(story.text.encode("utf-8"))
        out.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except Refused as exc:
        print(f"kobold-story: error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    # `python -m kobold_gui.story_cli`: run the imported module's main, so `continue` (which
    # imports this module by name) raises the same Refused that main catches
    from kobold_gui.story_cli import main as imported_main

    sys.exit(imported_main())

"""`kobold-story continue FILE`: generate from a story file, print the new text, save it in.

The request is built exactly as the window builds it (`core.request.plan_generation`: the
story laid out in its mode for the server's version, memory and matching world info in the
server's `memory` field, the newest text that fits `max_context_length − max_length` tokens
counted with the server's tokencount, the mode's stop sequences added), the generation runs
through `kobold-stream`'s own code (retries, recovery, Ctrl-C stops the server), and the reply
lands in the story as a model segment (text recovered after a break as a recovered one) that is
saved atomically — also when the generation failed or was stopped part-way: text the server
produced is never dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from . import cli
from .core import errors as E
from .core import storage
from .core.context import BudgetError, ContextOverflow, ContextPlan
from .core.events import Event, Failed, Finished, Recovered, Tokens
from .core.generation import new_genkey
from .core.logs import register_secret, setup_logging
from .core.protocol import KoboldClient, ServerInfo
from .core.reply import ReplyWriter, reply_meta
from .core.request import plan_generation, request_body
from .core.story import Story
from .core.storyfiles import SAVED_BACK_AS, dump_story
from .options import OptionError, add_common_options, resolve_password
from .story_cli import EXIT_SERVER, EXIT_UNWRITABLE, Refused, read_with_format


def add_parser(sub: Any) -> None:
    p = sub.add_parser("continue", help="generate more from the end of the story, print the "
                                        "new text and save it into FILE")
    p.add_argument("file")
    p.add_argument("--max-length", type=int, default=None, metavar="N",
                   help="tokens to generate at most")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="set any generation field, e.g. --set temperature=0.5 (repeatable)")
    p.add_argument("--show-request", action="store_true",
                   help="print the request body that would be sent, and send nothing")
    add_common_options(p)


class StoryFace(cli.TerminalFace):
    """kobold-stream's terminal face that also writes the reply into the story."""

    def __init__(self, story: Story) -> None:
        super().__init__(sys.stdout.buffer, sys.stderr, verbose=False, quiet=False)
        self.reply = ReplyWriter(story)
        self.outcome: Finished | Failed | None = None

    def status(self, line: str, always: bool = False) -> None:
        if always or not self.quiet:
            print(f"kobold-story: {line}", file=self.err, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Tokens):
            self.reply.append("model", event.text)
        elif isinstance(event, Recovered):
            self.reply.append("recovered", event.text)
        elif isinstance(event, Finished | Failed):
            self.outcome = event
        super().__call__(event)


async def plan_request(story: Story, values: dict[str, Any], url: str,
                       password: str | None) -> tuple[ContextPlan, dict[str, Any]]:
    """The window's plan (core/request.py) for this story: the server is asked who it is
    first, so the mode lays the story out for its version (tags or placeholders)."""
    client = KoboldClient(url, password)
    try:
        server: ServerInfo | None
        try:
            server = await client.connect()
        except E.KoboldError:
            server = None  # counting fails the same way and says why; the plan estimates
        return await plan_generation(story, "", values, client, None, server)
    finally:
        await client.aclose()


def run(args: argparse.Namespace) -> int:
    path = Path(args.file)
    story, detected = read_with_format(path)
    fmt = SAVED_BACK_AS.get(detected)
    if fmt is None and not args.show_request:
        raise Refused(f"{path} is a {detected} file we import but do not write back; convert "
                      f"it first: kobold-story convert {path} story.kstory --to kobold",
                      EXIT_UNWRITABLE)
    setup_logging(args.log_level)  # to the log file only: stderr is for the person
    try:
        password = resolve_password(args, prog="kobold-story")
        register_secret(password)
        values = cli.settings_from_options(args)
        plan, values = asyncio.run(plan_request(story, values, args.url, password))
    except OptionError as exc:
        raise Refused(str(exc), cli.EXIT_USAGE) from None
    except E.KoboldError as err:
        raise Refused(err.message, story_exit_code(err.exit_code)) from None
    except (BudgetError, ContextOverflow) as exc:
        raise Refused(f"not sent: {exc}", cli.EXIT_USAGE) from None
    if args.show_request:
        body = request_body(plan, values, new_genkey())
        sys.stdout.write(json.dumps(body, ensure_ascii=False, indent=2) + "\n")
        return 0
    face = StoryFace(story)
    started = time.time()
    try:
        code = asyncio.run(cli.run(args, face, plan.prompt, password, values))
    except KeyboardInterrupt:
        code = cli.EXIT_INTERRUPTED
    if face.reply.segments:  # something came: it is the story's now, whatever happened
        finish_reply(face, started)
        assert fmt is not None
        try:
            storage.atomic_write(path, dump_story(story, fmt))
        except OSError as exc:
            raise Refused(f"{path}: cannot be written ({exc.strerror or exc}); the new text "
                          "was printed above", EXIT_UNWRITABLE) from None
    if plan.estimated and code == 0:
        face.status("note: the server could not count tokens, so the context was estimated")
    return story_exit_code(code)


def story_exit_code(stream_code: int) -> int:
    """kobold-stream's exit code in kobold-story's terms (whose 3-5 are about files)."""
    if stream_code in (0, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED):
        return stream_code
    return EXIT_SERVER


def finish_reply(face: StoryFace, started: float) -> None:
    outcome = face.outcome
    if isinstance(outcome, Finished):
        reason = "stopped" if outcome.stopped else outcome.finish_reason
    else:
        reason = "failed" if isinstance(outcome, Failed) else "interrupted"
    if face.generation is not None:
        face.reply.finish(reply_meta(face.generation, model=None, started_at=started,
                                     finish_reason=reason))

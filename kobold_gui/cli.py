"""`kobold-stream`: the same core as the window, printing generated text to a terminal.

stdout carries exactly the generated text, as it arrives, and nothing else (so it can be piped);
status and errors go to stderr. Ctrl-C aborts the generation on the server and keeps the text.

Exit codes: 0 finished; 2 bad usage, address, password or settings (nothing was sent);
3 server unreachable or TLS/certificate problem; 4 server busy; 5 password missing or wrong;
6 request rejected; 7 not a KoboldCPP server, a redirect, or endpoint missing; 8 server error;
9 stream broke; 10 unreadable answer; 130 stopped with Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from typing import Any, TextIO

from .argparsing import Parser
from .core import errors as E
from .core import settings as S
from .core.events import (
    Event,
    Failed,
    Finished,
    Recovered,
    Retrying,
    StateChanged,
    Tokens,
    finish_words,
)
from .core.generation import Generation
from .core.logs import register_secret, setup_logging
from .core.protocol import KoboldClient, authorization_header
from .options import (
    OptionError,
    add_common_options,
    ask_password,
    resilience_config,
    resolve_password,
    undecodable_argument,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = Parser(
        prog="kobold-stream",
        description="Stream a completion from a KoboldCPP server to stdout.",
        epilog="Settings: " + ", ".join(f.name for f in S.FIELDS),
    )
    p.add_argument("prompt", help="the prompt; '-' reads it from standard input")
    p.add_argument("--max-length", type=int, default=None, metavar="N",
                   help="tokens to generate at most")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="set any generation field, e.g. --set temperature=0.5 "
                        "--set stop_sequence='\\nUser:' (repeatable; escapes: \\n \\t "
                        "\\\\ \\\" \\uXXXX)")
    add_common_options(p)
    verbosity = p.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="print every state")
    return p.parse_args(argv)


class TerminalFace:
    """Turns core events into stdout text and stderr status lines."""

    def __init__(self, out: Any, err: TextIO, verbose: bool, quiet: bool) -> None:
        self.out = out  # binary stream: we always write UTF-8, whatever the locale says
        self.err = err
        self.verbose = verbose
        self.quiet = quiet
        self._countdown: asyncio.Task[None] | None = None
        self.generation: Generation | None = None
        self.reader_gone = False

    def _start_countdown(self, event: Retrying) -> None:
        """On a terminal, a live countdown on one line until the retry starts."""
        if self._countdown is not None:
            self._countdown.cancel()
        self._countdown = asyncio.ensure_future(self._count_down(event))

    async def _count_down(self, event: Retrying) -> None:
        deadline = asyncio.get_running_loop().time() + event.delay
        try:
            while (left := deadline - asyncio.get_running_loop().time()) > 0:
                self.err.write(f"\rkobold-stream: retry {event.attempt}/{event.max_attempts} "
                               f"in {left:4.1f} s ")
                self.err.flush()
                await asyncio.sleep(min(0.2, left))
        finally:
            self.err.write("\r\033[K")
            self.err.flush()

    def status(self, line: str, always: bool = False) -> None:
        if always or not self.quiet:
            print(f"kobold-stream: {line}", file=self.err, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, Tokens | Recovered):
            if self.reader_gone:
                return
            try:
                self.out.write(event.text.encode("utf-8"))
                self.out.flush()
            except BrokenPipeError:
                # The reader went away (`| head`): stop the server's work, exit quietly.
                self.reader_gone = True
                if self.generation is not None:
                    self.generation.stop()
                return
            if isinstance(event, Recovered):
                self.status(f"recovered {len(event.text)} characters from the server")
        elif isinstance(event, StateChanged):
            if self.verbose:
                self.status(event.state.value + (f" ({event.detail})" if event.detail else ""))
        elif isinstance(event, Retrying):
            self.status(f"{event.reason.message}; retry {event.attempt}/{event.max_attempts} "
                        f"in {event.delay:.1f} s")
            if not self.quiet and self.err.isatty():
                self._start_countdown(event)
        elif isinstance(event, Failed):
            self.status(f"error: {event.error.message}", always=True)
        elif isinstance(event, Finished):
            for warning in event.warnings:
                self.status(f"warning: {warning}", always=True)
            if self.verbose:
                self.status(f"finished ({finish_words(event.finish_reason)}), "
                            f"{len(event.text)} characters")


def settings_from_options(args: argparse.Namespace) -> dict[str, Any]:
    """The sampler defaults with --set and --max-length applied, validated."""
    values = S.defaults()
    for assignment in args.set:
        name, value = S.parse_assignment(assignment)
        values[name] = value
    if args.max_length is not None:
        values["max_length"] = args.max_length
    S.validate(values)
    return values


async def run(args: argparse.Namespace, face: TerminalFace, prompt: str,
              password: str | None, values: dict[str, Any] | None = None) -> int:
    """Generate once and print it; `values` are the settings when the caller has built them
    (kobold-story continue adds the story's memory), else they come from the options."""
    register_secret(password)
    try:
        values = settings_from_options(args) if values is None else values
        client = KoboldClient(args.url, password)
    except E.KoboldError as err:
        face.status(f"error: {err.message}", always=True)
        return err.exit_code
    try:
        config = resilience_config(args)
        generation = Generation(client, prompt, values, face, config=config)
        face.generation = generation
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(generation.run())
        interrupts = 0

        def on_interrupt() -> None:
            nonlocal interrupts
            interrupts += 1
            if interrupts == 1:
                face.status("stopping (Ctrl-C again to quit at once)")
                generation.stop()
            else:
                task.cancel()

        with contextlib.suppress(NotImplementedError, RuntimeError):  # not main thread
            loop.add_signal_handler(signal.SIGINT, on_interrupt)
        try:
            outcome = await task
        except asyncio.CancelledError:
            return EXIT_INTERRUPTED
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signal.SIGINT)
        if isinstance(outcome, Failed):
            return outcome.error.exit_code
        if face.reader_gone:
            return 0
        return EXIT_INTERRUPTED if outcome.stopped else 0
    except E.KoboldError as err:
        face.status(f"error: {err.message}", always=True)
        return err.exit_code
    finally:
        await client.aclose()


def usage_error(message: str) -> int:
    print(f"kobold-stream: error: {message}", file=sys.stderr, flush=True)
    return EXIT_USAGE


def read_prompt(source: str) -> str:
    """The prompt argument, or all of standard input for '-' (UTF-8, whatever the locale)."""
    if source != "-":
        return source
    data = sys.stdin.buffer.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise OptionError(f"standard input is not UTF-8 text (byte {exc.start} is "
                          f"0x{data[exc.start]:02x})") from None


def main(argv: list[str] | None = None) -> int:
    bad = undecodable_argument(sys.argv[1:] if argv is None else argv)
    if bad is not None:
        return usage_error(f"an argument is not valid UTF-8: {bad!r}")
    args = parse_args(argv)
    setup_logging(args.log_level)  # to the log file only: stderr is for the person
    try:
        password = resolve_password(args, prog="kobold-stream")
        prompt = read_prompt(args.prompt)
    except OptionError as exc:
        return usage_error(str(exc))
    except E.InvalidPassword as err:
        return usage_error(err.message)
    face = TerminalFace(sys.stdout.buffer, sys.stderr, args.verbose, args.quiet)
    try:
        code = asyncio.run(run(args, face, prompt, password))
        if (code == E.AuthenticationFailed.exit_code and password is None
                and args.prompt != "-" and sys.stdin.isatty()):
            # The server wants a password and a person is at the terminal: ask once.
            try:
                password = ask_password(args.url)
                register_secret(password)
                authorization_header(password)
            except (OptionError, E.InvalidPassword) as exc:
                return usage_error(str(exc))
            code = asyncio.run(run(args, face, prompt, password))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if face.reader_gone:
        # Python would complain when flushing the closed pipe at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code


if __name__ == "__main__":
    raise SystemExit(main())

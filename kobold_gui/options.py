"""The command-line options both faces share, defined once (kobold-gui and kobold-stream).

Connection (address, password) and resilience (retries, stall watch, recovery) mean the same in
the window and on the terminal, so they are parsed by the same code, with the same defaults, the
same environment variables and the same validation. Bad values end argparse's way: one line on
stderr, exit 2.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .core import errors as E
from .core.addresses import DEFAULT_URL, authorization_header, normalize_url

if TYPE_CHECKING:
    from .core.generation import ResilienceConfig

DEFAULT_RETRIES = 5
DEFAULT_RETRY_MAX_DELAY = 30.0
DEFAULT_STALL_AFTER = 5.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

PASSWORD_VISIBLE_WARNING = (
    "warning: --password is visible to other users of this computer (ps); "
    "prefer --password-file, --ask-password or KOBOLD_PASSWORD"
)


class OptionError(Exception):
    """An option's value cannot be used; the message is the one line shown."""


# ------------------------------------------------------------------------------ value types
def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def server_url(text: str) -> str:
    try:
        return normalize_url(text)
    except E.InvalidURL as err:
        raise argparse.ArgumentTypeError(err.message) from None


def log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a log level (choose from {', '.join(LOG_LEVELS)})")
    return level


# ------------------------------------------------------------------------------ the options
class _VersionAction(argparse.Action):
    """--version: the version is looked up only when asked for (kobold_gui.__version__ reads
    the installed distribution, which costs start-up time otherwise)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS,
                 help: str = "show program's version number and exit") -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from . import __version__

        print(f"{parser.prog} {__version__}", file=sys.stdout, flush=True)
        parser.exit()


def add_version_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action=_VersionAction)


def add_common_options(parser: argparse.ArgumentParser,
                       env: Mapping[str, str] | None = None) -> None:
    """--version, the connection options and the resilience options."""
    env = os.environ if env is None else env
    add_version_option(parser)
    conn = parser.add_argument_group("server")
    conn.add_argument("--url", type=server_url, default=env.get("KOBOLD_URL") or DEFAULT_URL,
                      help=f"server address (default: env KOBOLD_URL, else {DEFAULT_URL})")
    secret = conn.add_mutually_exclusive_group()
    secret.add_argument("--password-file", type=Path, default=None, metavar="FILE",
                        help="read the server password from the first line of FILE")
    secret.add_argument("--ask-password", action="store_true",
                        help="ask for the server password on the terminal (not echoed)")
    secret.add_argument("--password", default=None,
                        help="server password; visible to other users in the process list, "
                             "prefer the options above or env KOBOLD_PASSWORD")
    res = parser.add_argument_group("resilience")
    res.add_argument("--retries", type=non_negative_int, default=DEFAULT_RETRIES, metavar="N",
                     help="retry a busy or unreachable server up to N times "
                          f"(default {DEFAULT_RETRIES}; 0 = never)")
    res.add_argument("--retry-max-delay", type=positive_float,
                     default=DEFAULT_RETRY_MAX_DELAY, metavar="S",
                     help="longest wait between retries in seconds "
                          f"(default {DEFAULT_RETRY_MAX_DELAY:g})")
    res.add_argument("--stall-after", type=positive_float, default=DEFAULT_STALL_AFTER,
                     metavar="S", help="seconds of silence before asking the server what it "
                                       f"is doing (default {DEFAULT_STALL_AFTER:g})")
    res.add_argument("--no-recover", action="store_true",
                     help="fail instead of recovering and continuing a broken stream")
    parser.add_argument("--log-level", type=log_level, default="INFO", metavar="LEVEL",
                        help=f"log file detail: {', '.join(LOG_LEVELS)} (default INFO)")


def resilience_config(args: argparse.Namespace) -> ResilienceConfig:
    # imported here: `kobold-gui` paints its window before the client's modules are loaded
    from .core.generation import ResilienceConfig

    return ResilienceConfig.from_options(args.retries, args.retry_max_delay, args.stall_after,
                                         recover=not args.no_recover)


# ------------------------------------------------------------------------------ the password
def read_password_file(path: Path) -> str:
    """The first line of `path` without its line ending."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OptionError(f"cannot read the password file {str(path)!r}: "
                          f"{exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise OptionError(f"the password file {str(path)!r} is not UTF-8 text") from None
    first = text.removeprefix("\ufeff").split("\n", 1)[0].removesuffix("\r")
    if not first:
        raise OptionError(f"the password file {str(path)!r} has an empty first line")
    return first


def resolve_password(
    args: argparse.Namespace,
    env: Mapping[str, str] | None = None,
    *,
    ask: Callable[[str], str] = getpass.getpass,
    err: TextIO | None = None,
    prog: str = "kobold",
) -> str | None:
    """--password-file, --ask-password, --password, else KOBOLD_PASSWORD; checked for use.

    Raises OptionError (an unreadable file) or InvalidPassword (cannot be sent in a header).
    """
    env = os.environ if env is None else env
    err = sys.stderr if err is None else err
    if args.password_file is not None:
        password: str | None = read_password_file(args.password_file)
    elif args.ask_password:
        password = ask_password(args.url, ask)
    elif args.password:
        print(f"{prog}: {PASSWORD_VISIBLE_WARNING}", file=err, flush=True)
        password = args.password
    else:
        password = env.get("KOBOLD_PASSWORD") or None
    if password:
        authorization_header(password)
    return password


def ask_password(url: str, ask: Callable[[str], str] = getpass.getpass) -> str:
    try:
        return ask(f"Password for {url}: ")
    except (EOFError, KeyboardInterrupt):
        raise OptionError("no password entered") from None


def undecodable_argument(argv: Sequence[str]) -> str | None:
    """An argument that was not valid UTF-8 (Python hands it over with lone surrogates)."""
    for arg in argv:
        if any(0xDC80 <= ord(ch) <= 0xDCFF for ch in arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return shown
    return None

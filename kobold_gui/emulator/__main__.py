"""``kobold-emulator`` / ``python -m kobold_gui.emulator``: run the emulator until Ctrl-C."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..argparsing import Parser
from .config import EmulatorConfig, Faults
from .instruct import DEMO_THOUGHTS
from .server import Emulator


def _coerce(name: str, raw: str) -> object:
    """Turn ``--fault NAME=VALUE`` text into the type of the Faults field."""
    types = Faults.field_types()
    if name not in types:
        raise argparse.ArgumentTypeError(
            f"unknown fault {name!r}; known: {', '.join(sorted(types))}")
    annotation = types[name]
    text = raw.strip()
    if "None" in annotation and text.lower() in ("none", "null", ""):
        return None
    try:
        if annotation.startswith("bool"):
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation.startswith("int"):
            return int(text)
        if annotation.startswith("float"):
            return float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bad value for fault {name}: {raw!r}") from exc
    return raw


def parse_faults(items: Sequence[str]) -> Faults:
    """``["drop_after_events=3", "crlf"]`` -> Faults (a bare NAME means true)."""
    values: dict[str, Any] = {}  # each value coerced to its field's type by _coerce
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        values[name] = _coerce(name, raw if sep else "true")
    return dataclasses.replace(Faults(), **values)


def port_number(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0 = any free)")
    return port


def non_negative(kind: type[int] | type[float]) -> Callable[[str], float]:
    """An argparse type: a number of `kind` that is 0 or more (a negative rate makes no sense)."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 <= value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
        return value

    parse.__name__ = kind.__name__
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="kobold-emulator",
        description="KoboldCpp 1.76-compatible test server with fault injection.")
    p.add_argument("--version", action="version", version=f"kobold-emulator {__version__}")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=port_number, default=5001)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="emulated-7B")
    p.add_argument("--contextsize", type=non_negative(int), default=4096)
    p.add_argument("--token-rate", type=non_negative(float), default=50.0,
                   help="tokens per second (0 = as fast as possible)")
    p.add_argument("--password", default=None)
    p.add_argument("--multiuser", type=non_negative(int), nargs="?", const=1, default=1)
    p.add_argument("--eos-chance", type=non_negative(float), default=0.0)
    p.add_argument("--prompt-delay", type=non_negative(float), default=0.0)
    p.add_argument("--prompt-seconds-per-token", type=non_negative(float), default=0.0)
    p.add_argument("--first-poll-delay", type=non_negative(float), default=0.35)
    p.add_argument("--json-null-finish", action="store_true",
                   help="behave like newer servers (JSON null finish_reason)")
    p.add_argument("--server-version", default="1.76", metavar="X",
                   help="KoboldCpp version to report (1.88+: newer flags, instruct "
                        "placeholders filled with ChatML tags)")
    p.add_argument("--think", action="store_true",
                   help="a thinking model: each reply starts with a <think>…</think> block")
    p.add_argument("--fault", action="append", default=[], metavar="NAME=VALUE",
                   help=f"inject a fault; names: {', '.join(Faults.field_types())}")
    p.add_argument("-v", "--verbose", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    # Ctrl-C must stop the server even when our parent ignored SIGINT (a shell's `cmd &`,
    # some CI runners, pytest started that way): ignored handlers are inherited across exec.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        faults = parse_faults(args.fault)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    config = EmulatorConfig(
        host=args.host, port=args.port, seed=args.seed, model=args.model,
        context_length=args.contextsize, token_rate=args.token_rate, password=args.password,
        multiuser=args.multiuser, eos_chance=args.eos_chance, prompt_delay=args.prompt_delay,
        prompt_seconds_per_token=args.prompt_seconds_per_token,
        first_poll_delay=args.first_poll_delay, json_null_finish=args.json_null_finish,
        version=args.server_version, reply_prefix=DEMO_THOUGHTS if args.think else "",
        faults=faults)
    emu = Emulator(config)
    try:
        emu.start()
    except OSError as exc:
        print(f"kobold-emulator: cannot listen on {args.host}:{args.port}: {exc}",
              file=sys.stderr)
        return 1
    try:
        # Inside the try: Ctrl-C may come the moment the line is out.
        print(f"kobold-emulator serving {config.model_name} on {emu.url}", file=sys.stderr,
              flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

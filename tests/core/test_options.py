"""Both faces parse the shared options by one definition: same defaults, same refusals."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from kobold_gui import app, cli, options
from kobold_gui.core import errors as E
from kobold_gui.core.protocol import DEFAULT_URL


def gui(argv: list[str]) -> argparse.Namespace:
    return app.parse_args(argv)


def stream(argv: list[str]) -> argparse.Namespace:
    return cli.parse_args([*argv, "prompt"])


FACES = [pytest.param(gui, id="kobold-gui"), pytest.param(stream, id="kobold-stream")]
SHARED = ("url", "password", "password_file", "ask_password", "retries", "retry_max_delay",
          "stall_after", "no_recover", "log_level")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KOBOLD_URL", "KOBOLD_PASSWORD"):
        monkeypatch.delenv(name, raising=False)


def test_both_faces_have_the_same_defaults() -> None:
    a, b = gui([]), stream([])
    assert {k: getattr(a, k) for k in SHARED} == {k: getattr(b, k) for k in SHARED}
    assert a.url == DEFAULT_URL and a.retries == options.DEFAULT_RETRIES
    assert options.resilience_config(a) == options.resilience_config(b)


@pytest.mark.parametrize("face", FACES)
def test_kobold_url_is_the_default_address_in_both(face, monkeypatch) -> None:
    monkeypatch.setenv("KOBOLD_URL", "gpu-box:5001/")
    assert face([]).url == "http://gpu-box:5001"
    assert face(["--url", "other:1"]).url == "http://other:1"


ACCEPTED = [
    ["--retries", "0"], ["--retries", "12"], ["--retry-max-delay", "0.5"],
    ["--stall-after", "2"], ["--no-recover"], ["--log-level", "debug"],
    ["--url", "localhost:5001"], ["--password-file", "pw.txt"], ["--ask-password"],
    ["--password", "x"],
]
REJECTED = [
    ["--retries", "-1"], ["--retries", "2.5"], ["--retry-max-delay", "0"],
    ["--retry-max-delay", "inf"], ["--stall-after", "-1"], ["--stall-after", "nan"],
    ["--log-level", "nonsense"], ["--url", "ftp://x"], ["--url", "http://a\x00b"],
    ["--password", "a", "--password-file", "f"], ["--ask-password", "--password", "a"],
]


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_both_faces_accept_the_same(face, argv) -> None:
    args = face(argv)
    assert options.resilience_config(args).retry.max_attempts == args.retries


@pytest.mark.parametrize("face", FACES)
@pytest.mark.parametrize("argv", REJECTED, ids=lambda a: " ".join(a).replace("\x00", "NUL"))
def test_both_faces_reject_the_same_in_one_line(face, argv, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        face(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ": error: " in err


def test_the_values_reach_the_resilience_config() -> None:
    config = options.resilience_config(
        stream(["--retries", "3", "--retry-max-delay", "7", "--stall-after", "9",
                "--no-recover"]))
    assert (config.retry.max_attempts, config.retry.max_delay) == (3, 7.0)
    assert (config.stall_after, config.recover) == (9.0, False)


# ------------------------------------------------------------------------------ the password
def resolve(argv: list[str], env: dict[str, str] | None = None, answer: str = "asked"):
    args = stream(argv)
    warnings: list[str] = []

    class Err:
        def write(self, text: str) -> None:
            warnings.append(text)

        def flush(self) -> None:
            pass

    password = options.resolve_password(args, env or {}, ask=lambda prompt: answer,
                                        err=Err())  # type: ignore[arg-type]
    return password, "".join(warnings)


def test_password_sources_and_their_order(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(b"\xef\xbb\xbff\xc3\xa4ile\r\nignored\n")
    assert resolve(["--password-file", str(secret)], {"KOBOLD_PASSWORD": "env"}) == ("fäile", "")
    assert resolve(["--ask-password"], {"KOBOLD_PASSWORD": "env"}) == ("asked", "")
    assert resolve([], {"KOBOLD_PASSWORD": "env"}) == ("env", "")
    assert resolve([]) == (None, "")
    password, warning = resolve(["--password", "argv"])
    assert password == "argv" and "visible to other users" in warning


@pytest.mark.parametrize("content, words", [
    (b"", "empty first line"), (b"\n", "empty first line"), (b"\xff\xfe", "not UTF-8"),
])
def test_unusable_password_files(tmp_path: Path, content: bytes, words: str) -> None:
    secret = tmp_path / "pw"
    secret.write_bytes(content)
    with pytest.raises(options.OptionError, match=words):
        resolve(["--password-file", str(secret)])


def test_a_password_that_cannot_be_sent_is_refused_wherever_it_comes_from(tmp_path) -> None:
    with pytest.raises(E.InvalidPassword):
        resolve([], {"KOBOLD_PASSWORD": "tab\there"})
    with pytest.raises(E.InvalidPassword):
        resolve(["--ask-password"], answer="世界")

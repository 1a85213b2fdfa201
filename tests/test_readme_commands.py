"""The README's two commands must work as pasted: as root without sudo, as a user with sudo.

The system-package part is run with stand-ins for `id`, `sudo` and `apt-get` on PATH, so the
test checks who is asked to install what without touching the machine.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    return [b.strip() for b in blocks if "apt-get install" in b]


def system_part(command: str) -> str:
    """Everything before the virtual environment is made: the apt part."""
    head, sep, _ = command.partition("python3 -m venv")
    assert sep, "the command no longer makes a virtual environment"
    return head.rstrip().removesuffix("&&").strip()


def stub(bin_dir: Path, name: str, body: str) -> None:
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)


def run_as(tmp_path: Path, uid: int, with_sudo: bool, command: str) -> tuple[int, str, str]:
    bin_dir = tmp_path / f"bin{uid}{with_sudo}"
    bin_dir.mkdir()
    calls = tmp_path / f"calls{uid}{with_sudo}"
    stub(bin_dir, "id", f'[ "$1" = "-u" ] && echo {uid}')
    stub(bin_dir, "apt-get", f'echo "apt-get $*" >> {calls}')
    if with_sudo:
        stub(bin_dir, "sudo", f'echo "sudo $*" >> {calls}; exec "$@"')
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    proc = subprocess.run(["/bin/bash", "-c", command], env=env, capture_output=True,
                          text=True, timeout=30)
    return proc.returncode, calls.read_text() if calls.exists() else "", proc.stderr


def test_readme_has_both_commands() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert any("kobold-gui" in c for c in commands)
    assert any("pytest" in c for c in commands)


@pytest.mark.parametrize("which", [0, 1], ids=["launch", "tests"])
def test_as_root_without_sudo(tmp_path: Path, which: int) -> None:
    rc, calls, err = run_as(tmp_path, 0, False, system_part(readme_commands()[which]))
    assert rc == 0, err
    assert "sudo" not in calls
    assert "apt-get update" in calls and "apt-get install" in calls


@pytest.mark.parametrize("which", [0, 1], ids=["launch", "tests"])
def test_as_user_with_sudo(tmp_path: Path, which: int) -> None:
    rc, calls, err = run_as(tmp_path, 1000, True, system_part(readme_commands()[which]))
    assert rc == 0, err
    lines = calls.splitlines()
    assert any(line.startswith("sudo apt-get install") for line in lines)
    assert any(line.startswith("sudo apt-get update") for line in lines)


def test_ci_runs_the_readme_test_command_unpatched() -> None:
    ci = (README.parent / ".ci" / "run").read_text()
    assert "sudo()" not in ci, ".ci/run must not hide a missing sudo"
    assert os.access(README.parent / ".ci" / "run", os.R_OK)

"""The README's examples, run as a new user would type them, in each shell they are for.

A fenced block preceded by ``<!-- runnable: SHELL... -->`` is part of the walk-through for
those shells; the blocks are run in order, in one shell session per shell, in a fresh
sandbox (own HOME, no config, no PIP_*/UV_*) where `pipwrap` is on PATH and the README's
example index http://127.0.0.1:8080/simple/ is the test's local pypiserver.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Indexes, Sandbox, installed
from tests.support.shells import REPO, SHELLS

README = REPO / "README.md"
EXAMPLE_INDEX = "http://127.0.0.1:8080/simple/"
BLOCK = re.compile(r"<!-- runnable: ([a-z ]+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)


def runnable_blocks(shell: str) -> list[str]:
    return [code for shells, code in BLOCK.findall(README.read_text()) if shell in shells.split()]


def shell_argv(shell: str, script: Path) -> list[str]:
    # Interactive, with no rc files of the user's: what a new terminal reads line by line.
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-i", "-c", f"source '{script}'"]
    if shell == "zsh":
        return ["zsh", "-f", "-i", "-c", f"source '{script}'"]
    return ["fish", "--no-config", "-c", f"source '{script}'"]


def bin_dir(home: Path, with_pipwrap: bool) -> Path:
    """A PATH entry holding `python3` (and `pipwrap`, as pipx would put it there)."""
    path = home / ("bin" if with_pipwrap else "bin-without-pipwrap")
    path.mkdir(exist_ok=True)
    (path / "python3").symlink_to(sys.executable)
    if with_pipwrap:
        shim = path / "pipwrap"
        shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m pipwrap \"$@\"\n")
        shim.chmod(0o755)
    return path


def run(sandbox: Sandbox, shell: str, script: str, *, with_pipwrap: bool = True,
        timeout: float = 240) -> subprocess.CompletedProcess[str]:
    work = sandbox.home / "work"
    work.mkdir(exist_ok=True)
    script_file = sandbox.home / f"readme.{shell}"
    script_file.write_text(script)
    env = dict(sandbox.env)
    env["PATH"] = f"{bin_dir(sandbox.home, with_pipwrap)}:/usr/local/bin:/usr/bin:/bin"
    return subprocess.run(shell_argv(shell, script_file), env=env, cwd=work,
                          capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


def test_the_readme_marks_blocks_for_every_shell() -> None:
    for shell in SHELLS:
        assert len(runnable_blocks(shell)) >= 2, shell


@pytest.mark.parametrize("shell", SHELLS)
def test_the_readme_walk_through_works(sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    sandbox.config.unlink()  # a new user
    script = "\n".join(runnable_blocks(shell)).replace(EXAMPLE_INDEX, indexes.local.url)
    assert indexes.local.url in script
    # Proof that the shell line defined `wrap` and the first profile is the one it uses.
    script += "\nwrap printenv PIPWRAP_ACTIVE_PROFILE\n"
    done = run(sandbox, shell, script)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "now the default" in done.stdout, output
    assert re.search(r"^ok +local ", done.stdout, re.MULTILINE), output
    assert done.stdout.rstrip().endswith("local"), output
    if shell != "fish":  # the venv block is written for bash and zsh
        site = next((sandbox.home / "work/.venv/lib").glob("python*/site-packages"))
        assert installed(site) == ("local", "1.0"), output
        assert "command not found" not in output


@pytest.mark.parametrize("shell", SHELLS)
def test_the_guarded_shell_line_is_harmless_without_pipwrap(sandbox: Sandbox,
                                                            shell: str) -> None:
    line = runnable_blocks(shell)[0]
    assert "pipwrap init" in line
    done = run(sandbox, shell, line + "\necho alive\n", with_pipwrap=False)
    assert done.stdout.strip() == "alive", done.stdout + done.stderr
    assert "pipwrap" not in done.stderr, done.stderr

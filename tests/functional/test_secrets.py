"""A login reaches pip and uv through a private netrc, never through argv, a trace or a
cached shell variable, and a rotated password-env secret is used on the next call."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.sandbox import PRIVATE_SECRET, Sandbox, installed
from tests.support.servers import PyPIServer
from tests.support.shells import SHELLS

SECRET = PRIVATE_SECRET


def _config(sandbox: Sandbox, url: str) -> None:
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{url}"\n'
        'username = "alice"\npassword-env = "CORP_TOKEN"\n'
    )


TRACE_ON = {"bash": "set -x", "zsh": "setopt xtrace", "fish": "set fish_trace 1"}
DUMP = {"bash": "declare -p", "zsh": "typeset -p", "fish": "set -S"}


@pytest.mark.parametrize("shell", SHELLS)
def test_login_works_and_no_secret_is_traced_or_kept(
        sandbox: Sandbox, private_index: PyPIServer, venv: Path, shell: str) -> None:
    _config(sandbox, private_index.url)
    pip_target, uv_target = sandbox.home / "pip", sandbox.home / "uv"
    script = (
        f"{TRACE_ON[shell]}\n"
        f"wrap pip install -q --target {pip_target} foo\n"
        f"wrap uv pip install -q --python {venv}/bin/python --target {uv_target} foo\n"
        f"{DUMP[shell]}\n"
    )
    done = sandbox.sh(shell, script, CORP_TOKEN=SECRET)
    assert installed(pip_target) == ("local", "1.0"), done.stderr
    assert installed(uv_target) == ("local", "1.0"), done.stderr
    # The user's own CORP_TOKEN is theirs to show; pipwrap must add no copy of it.
    assert done.stdout.count(SECRET) + done.stderr.count(SECRET) <= 2, done.stdout[-3000:]
    assert f"alice:{SECRET}" not in done.stdout + done.stderr


def test_without_the_login_the_index_refuses(sandbox: Sandbox,
                                             private_index: PyPIServer) -> None:
    """The control: the netrc is what authenticates."""
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"PIP_INDEX_URL={private_index.url} pip install -q "
                      f"--target {target} foo")
    assert done.returncode != 0
    assert installed(target) is None


def test_a_rotated_secret_is_used_on_the_next_call(sandbox: Sandbox,
                                                  private_index: PyPIServer) -> None:
    _config(sandbox, private_index.url)
    one, two = sandbox.home / "one", sandbox.home / "two"
    script = (
        "export CORP_TOKEN=wrong\n"
        f"wrap pip install -q --target {one} foo\necho first=$?\n"
        f"export CORP_TOKEN={SECRET}\n"
        f"wrap pip install -q --target {two} foo\necho second=$?\n"
    )
    done = sandbox.sh("bash", script)
    assert "second=0" in done.stdout, done.stderr
    assert installed(one) is None
    assert installed(two) == ("local", "1.0")

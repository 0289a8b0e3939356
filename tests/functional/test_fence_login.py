"""A login the index refuses (issue 21, item 7): no prompt, and a message that says whose.

The fence adds the profile's login to every request to the index, so a login the user
types at a prompt would be replaced anyway: an upstream 401 must reach no tool (pip asks
`User for HOST:` on a 401, and waits), and the message must name the profile and where
its password came from, never the password. Run the way a person does: a terminal (a
pty) or an open pipe on stdin, which pip would read a login from, and no PIP_NO_INPUT.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import hosting, shells
from tests.support.sandbox import PRIVATE_SECRET, Sandbox, installed, write_file
from tests.support.servers import PyPIServer
from tests.support.uploads import sha_entry
from tests.support.wheels import make_wheel

WRONG = "not-the-Passw0rd"
TIMEOUT = 120


def run_with_open_stdin(sandbox: Sandbox, script: str, stdin: str,
                        **extra: str) -> tuple[str, str]:
    """Run ``script`` in bash with the init line, stdin a pty or a pipe nobody closes;
    a prompt waiting on it fails the test at the timeout, with what was printed so far."""
    env = {**sandbox.env, **extra}
    env.pop("PIP_NO_INPUT", None)  # a person's shell does not set it
    argv = shells.argv_for("bash", sandbox.home, script)
    if stdin == "pty":
        keep, child_stdin = pty.openpty()
    else:
        child_stdin, keep = os.pipe()
    process = subprocess.Popen(argv, env=env, stdin=child_stdin, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    os.close(child_stdin)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, err = process.communicate()
        pytest.fail(f"hung for {TIMEOUT} s (a prompt?):\n{out}\n{err}")
    finally:
        os.close(keep)
    return out, err


@pytest.fixture(scope="module")
def served_private(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`pipwrap serve` wanting alice's login to read: a wrong password gets a 401 there
    (pypiserver answers 403), which is what makes pip prompt."""
    base = tmp_path_factory.mktemp("served-private")
    home = base / "home"
    home.mkdir()
    env = hosting.child_env(home)
    logins = base / "htpasswd"
    logins.write_text(f"alice:{sha_entry(PRIVATE_SECRET)}\n")
    wheel = make_wheel(base / "dist", "Foo", "1.0", "local")
    done = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo",
                           str(base / "repo"), str(wheel)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    with hosting.pipwrap_serve(base / "repo", base / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload", env=env) as served:
        yield served.url


def _corp(sandbox: Sandbox, index: str, source: str) -> None:
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{index}"\n'
        f'username = "alice"\n{source}\n')


@pytest.mark.parametrize("server", ["pypiserver", "serve"])
@pytest.mark.parametrize("stdin", ["pty", "pipe"])
def test_a_wrong_password_env_is_named_and_nothing_prompts(
        sandbox: Sandbox, request: pytest.FixtureRequest, venv: Path, stdin: str,
        server: str) -> None:
    index = request.getfixturevalue("private_index").url if server == "pypiserver" else \
        request.getfixturevalue("served_private")
    _corp(sandbox, index, 'password-env = "CORP_PW"')
    target = sandbox.home / "t"
    out, err = run_with_open_stdin(sandbox, "\n".join([
        f"wrap pip install --no-cache-dir --target {target} foo; echo pip=$?",
        f"wrap uv pip install --no-cache --python {venv}/bin/python --target {target} foo; "
        "echo uv=$?",
    ]), stdin, CORP_PW=WRONG)
    both = out + err
    assert "pip=1" in out and "uv=" in out and "uv=0" not in out, both
    assert "User for" not in both and "Password" not in both, both
    assert installed(target) is None
    assert "profile 'corp'" in err and "CORP_PW" in err, err
    assert "refused" in err and "alice" in err, err
    assert WRONG not in both and PRIVATE_SECRET not in both


def test_a_right_password_still_installs(sandbox: Sandbox, private_index: PyPIServer) -> None:
    _corp(sandbox, private_index.url, 'password-env = "CORP_PW"')
    target = sandbox.home / "t"
    out, err = run_with_open_stdin(
        sandbox, f"wrap pip install --no-cache-dir --target {target} foo; echo pip=$?", "pty",
        CORP_PW=PRIVATE_SECRET)
    assert "pip=0" in out, out + err
    assert installed(target) == ("local", "1.0")
    assert PRIVATE_SECRET not in out + err


def test_a_wrong_password_command_and_a_missing_login_are_named(
        sandbox: Sandbox, private_index: PyPIServer, tmp_path: Path) -> None:
    helper = write_file(tmp_path / "bin" / "corp-token", f"#!/bin/sh\necho {WRONG}\n")
    helper.chmod(0o755)
    sandbox.write_config(
        f'default = "corp"\n[profiles.corp]\nindex-url = "{private_index.url}"\n'
        f'username = "alice"\npassword-command = "{helper}"\n'
        f'[profiles.anon]\nindex-url = "{private_index.url}"\n')
    target = sandbox.home / "t"
    out, err = run_with_open_stdin(sandbox, "\n".join([
        f"wrap pip install --no-cache-dir --target {target} foo; echo corp=$?",
        f"PIPWRAP_PROFILE=anon wrap pip install --no-cache-dir --target {target} foo; "
        "echo anon=$?",
    ]), "pty")
    both = out + err
    assert "corp=1" in out and "anon=1" in out, both
    assert "User for" not in both, both
    assert "profile 'corp'" in err and "password-command" in err and "corp-token" in err, err
    assert "profile 'anon'" in err and "has no login" in err, err
    assert WRONG not in both


def test_a_wrong_password_on_an_upload_is_named(sandbox: Sandbox, served_private: str,
                                                tmp_path: Path) -> None:
    root = served_private.removesuffix("simple/")
    _corp(sandbox, served_private, f'password-env = "CORP_PW"\nupload-url = "{root}"')
    wheel = make_wheel(tmp_path / "dist", "Pushed", "1.0", "local")
    out, err = run_with_open_stdin(
        sandbox, f"wrap twine upload --disable-progress-bar {wheel}; echo twine=$?", "pty",
        CORP_PW=WRONG)
    both = out + err
    assert "twine=" in out and "twine=0" not in out, both
    assert "Login refused for pipwrap profile corp" in both, both
    assert f"POST {root}: the server refused the login of profile 'corp'" in err, err
    assert "CORP_PW" in err and WRONG not in both


"""Bad input never hangs and never runs the command; trust belongs to the approved file."""

from __future__ import annotations

import os
import time

import pytest

from tests.support.sandbox import Sandbox
from tests.support.shells import SHELLS


@pytest.mark.parametrize("kind", ["fifo", "device", "directory", "huge", "binary"])
def test_a_config_that_is_not_a_small_text_file_is_an_error_at_once(
        sandbox: Sandbox, kind: str) -> None:
    config = sandbox.home / "weird.toml"
    if kind == "fifo":
        os.mkfifo(config)
    elif kind == "device":
        config = sandbox.home / "dev-zero.toml"
        config.symlink_to("/dev/zero")
    elif kind == "directory":
        config.mkdir()
    elif kind == "huge":
        config.write_text("# padding\n" * 200_000)
    else:
        config.write_bytes(b"default = \"local\"\n\x00\x01\x02")
    started = time.monotonic()
    done = sandbox.sh("bash", "cd ~\nwrap touch RAN\necho status=$?\n",
                      PIPWRAP_CONFIG=str(config))
    assert time.monotonic() - started < 10
    assert done.stdout.strip().splitlines()[-1] == "status=2", done.stderr
    assert str(config) in done.stderr
    assert "Traceback" not in done.stderr
    assert not (sandbox.home / "RAN").exists()


def test_a_fifo_requirement_file_is_refused_without_hanging(sandbox: Sandbox) -> None:
    fifo = sandbox.home / "req.txt"
    os.mkfifo(fifo)
    started = time.monotonic()
    done = sandbox.sh("bash", f"cd ~\nwrap pip install -r {fifo}\necho status=$?\n")
    assert time.monotonic() - started < 10
    assert done.stdout.strip() == "status=3", done.stderr
    assert "not a regular file" in done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_symlinked_directory_file_is_not_trusted(sandbox: Sandbox, shell: str) -> None:
    """An approval made in one directory does not carry to a link planted elsewhere."""
    trusted, planted = sandbox.home / "trusted", sandbox.home / "cloned"
    trusted.mkdir()
    planted.mkdir()
    (trusted / ".pipwrap.toml").write_text('profile = "upstream"\n')
    (planted / ".pipwrap.toml").symlink_to(trusted / ".pipwrap.toml")
    status = "$status" if shell == "fish" else "$?"
    script = (f"pipwrap allow {trusted}\ncd {planted}\nwrap printenv PIPWRAP_ACTIVE_PROFILE\n"
              f"echo status={status}\npipwrap allow {planted}\necho allow={status}\n")
    done = sandbox.sh(shell, script)
    lines = done.stdout.strip().splitlines()
    assert "status=2" in lines and "allow=2" in lines, done.stdout + done.stderr
    assert "upstream" not in lines
    assert "symbolic link" in done.stderr

"""A server's reason for refusing a wrapped upload reaches the user.

`pipwrap serve` says why it refuses an upload in the response body ("bob is not an owner
of foo here..."). Under `wrap` the fence answers a 403 to a request carrying the
profile's login with a message of its own; on main that message only guessed ("either
that password is wrong or this login may not do this here") and the server's sentence,
the one thing that tells bob what to ask for, was dropped.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.sandbox import Sandbox
from tests.support.uploads import sha_entry
from tests.support.wheels import make_wheel


@pytest.mark.parametrize("shell", ["bash", "fish"])
def test_a_refused_wrapped_upload_says_the_servers_reason(sandbox: Sandbox, tmp_path: Path,
                                                          shell: str) -> None:
    logins = tmp_path / "htpasswd"
    logins.write_text("".join(f"{user}:{sha_entry(f'pw-{user}')}\n"
                              for user in ("alice", "bob", "carol")))
    permissions = tmp_path / "permissions.toml"
    permissions.write_text('[users]\nalice = "upload"\nbob = "upload"\ncarol = "read"\n')
    root = tmp_path / "repo"
    wheel = make_wheel(tmp_path / "op", "foo", "1.0", "alice")
    for argv in (["repo", "add", "--repo", str(root), str(wheel)],
                 ["repo", "owner", "add", "--repo", str(root), "foo", "alice"]):
        done = subprocess.run([sys.executable, "-m", "pipwrap", *argv], env=sandbox.env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
    newer = make_wheel(tmp_path / "dist", "foo", "1.1", "bob")
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--permissions", str(permissions),
                               env=sandbox.env) as served:
        profiles = "".join(
            f'[profiles.{user}]\nindex-url = "{served.url}"\nupload-url = "{served.base}/"\n'
            f'username = "{user}"\npassword-env = "PW_{user.upper()}"\n'
            for user in ("bob", "carol"))
        sandbox.write_config(f'default = "bob"\n{profiles}')
        for user, reason in (("bob", "bob is not an owner of foo"),
                             ("carol", "carol may read but not upload here")):
            done = sandbox.sh(shell, f"PIPWRAP_PROFILE={user} wrap twine upload "
                                     f"--disable-progress-bar {newer}",
                              **{f"PW_{user.upper()}": f"pw-{user}"})
            said = " ".join((done.stdout + done.stderr).split())
            assert done.returncode != 0, said
            assert f"the server says: {reason}" in said, said
            assert f"pw-{user}" not in said, said

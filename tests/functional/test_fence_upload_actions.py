"""The upload URL takes a package upload, nothing else (attacker pass, 2026-12-06).

The fence adds the profile's login to a POST to the upload URL. pypiserver takes other
actions there: ``:action=remove_pkg`` deletes a release, and a deleted ``foo 1.0`` hands
the name to the fallback, whose ``foo 9.9.9`` the next install gets. A wrapped command
(a build script, a test, anything) must not be able to do that with the user's login.
Staged with a real login-protected pypiserver: the deletion works with the login (as a
user who gives twine a password has it), and fails under ``wrap``, where the fence holds
the login; twine's upload still passes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from passlib.apache import HtpasswdFile

from tests.support.sandbox import PRIVATE_SECRET, Sandbox, write_file
from tests.support.servers import PyPIServer, serving
from tests.support.wheels import make_wheel

# Posts a multipart form to the upload URL through whatever proxy the environment names:
# an action pypiserver takes, or a second :action after a file_upload one (bottle reads
# the last value of a repeated field).
REMOVE = r'''
import os, sys, urllib.request as u
url, how = sys.argv[1], sys.argv[2]
b = "x0x0x0"
def part(name, value):
    return f'--{b}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
if how == "second":
    body = (part(":action", "file_upload") + part("name", "foo") + part("version", "1.0")
            + part(":action", "remove_pkg"))
else:
    body = part(":action", "remove_pkg") + part("name", "foo") + part("version", "1.0")
body = (body + f"--{b}--\r\n").encode()
asked = u.Request(url, data=body, method="POST",
                  headers={"Content-Type": f"multipart/form-data; boundary={b}"})
login = os.environ.get("LOGIN")
if login:
    import base64
    asked.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
try:
    with u.urlopen(asked, timeout=30) as answer:
        print("status", answer.status)
except Exception as exc:
    print("failed", exc)
'''


@pytest.fixture
def team(tmp_path: Path) -> Iterator[PyPIServer]:
    """A pypiserver holding foo 1.0 that wants alice's login to read and to change."""
    make_wheel(tmp_path / "packages", "Foo", "1.0", "local")
    htpasswd = HtpasswdFile(str(tmp_path / "htpasswd"), new=True)
    htpasswd.set_password("alice", PRIVATE_SECRET)
    htpasswd.save()
    with serving(tmp_path / "packages", htpasswd=tmp_path / "htpasswd") as server:
        yield server


def held(server: PyPIServer) -> list[str]:
    return sorted(path.name for path in server.root.iterdir())


@pytest.mark.parametrize("how", ["remove", "second"])
def test_a_wrapped_command_cannot_delete_a_release_with_the_profiles_login(
        sandbox: Sandbox, team: PyPIServer, how: str) -> None:
    root = f"http://127.0.0.1:{team.port}/"
    write_file(sandbox.home / "remove.py", REMOVE)
    sandbox.write_config(
        f'default = "team"\n[profiles.team]\nindex-url = "{team.url}"\n'
        f'upload-url = "{root}"\nusername = "alice"\npassword-env = "TEAM_PW"\n')
    done = sandbox.sh("bash", f"cd ~\nwrap python remove.py {root} {how}\necho wrapped=$?\n",
                      TEAM_PW=PRIVATE_SECRET)
    assert "wrapped=" in done.stdout, done.stdout + done.stderr
    assert held(team) == ["foo-1.0-py3-none-any.whl"], done.stdout + done.stderr
    assert "not a package upload" in done.stderr, done.stderr
    assert PRIVATE_SECRET not in done.stdout + done.stderr
    # The same request with the login, without pipwrap, deletes it: the staging works.
    bare = subprocess.run([sys.executable, str(sandbox.home / "remove.py"), root, how],
                          env={"LOGIN": f"alice:{PRIVATE_SECRET}", "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60, check=False)
    assert "status 200" in bare.stdout, bare.stdout + bare.stderr
    assert held(team) == [], "the staged deletion did not work"


def test_twine_still_uploads_through_the_fence(sandbox: Sandbox, team: PyPIServer,
                                               tmp_path: Path) -> None:
    root = f"http://127.0.0.1:{team.port}/"
    sandbox.write_config(
        f'default = "team"\n[profiles.team]\nindex-url = "{team.url}"\n'
        f'upload-url = "{root}"\nusername = "alice"\npassword-env = "TEAM_PW"\n')
    wheel = make_wheel(tmp_path / "dist", "Pushed", "1.0", "local")
    done = sandbox.sh("bash", f"wrap twine upload --disable-progress-bar {wheel}\n"
                              "echo twine=$?\n", TEAM_PW=PRIVATE_SECRET)
    assert "twine=0" in done.stdout, done.stdout + done.stderr
    assert "pushed-1.0-py3-none-any.whl" in [n.lower() for n in held(team)], held(team)

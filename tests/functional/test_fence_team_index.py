"""The fence with a team index whose upload-url is the server's root (issue 21, item 1).

The built-in `local` profile and docs/hosting-team.md both put the upload URL at the root
of the server that also holds the index. Real pieces: `pipwrap serve` holding `app`, whose
dependency `dep` is not held there, so serve answers a 303 to a stand-in "PyPI" on
loopback (the fallback). Under `wrap`, pip and uv must install both; a file the stand-in
serves but its page does not list, and a file of the team index whose bytes do not match
its page's sha256, stay refused.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import hosting, static_index
from tests.support.fenced import FENCE, download, fetch, python_c
from tests.support.sandbox import Sandbox, installed
from tests.support.wheels import make_wheel


@dataclass
class Team:
    index: str     # the team server's /simple/
    upload: str    # its root, as docs/hosting-team.md recommends
    stand_in: str  # the fallback's /simple/
    evil: str      # a file the stand-in serves that no page lists
    tampered: str  # a team file whose bytes do not match the sha256 of its page
    root: Path     # the served repository (uploads on, anonymous)


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Team]:
    base = tmp_path_factory.mktemp("team")
    home = base / "home"
    home.mkdir()
    env = {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    pypi = static_index.tree(base / "pypi", [make_wheel(base / "w-pypi", "dep", "1.0", "pypi")])
    # Served beside the listed file, linked from no page.
    evil = make_wheel(base / "w-evil", "dep", "6.6.6", "evil")
    (pypi / "files" / evil.name).write_bytes(evil.read_bytes())
    dist = base / "dist"
    make_wheel(dist, "app", "1.0", "team", requires_dist=("dep",))
    make_wheel(dist, "tampered", "1.0", "team")
    root = base / "repo"
    done = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(root),
                           *map(str, sorted(dist.iterdir()))], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    # Same size, same mtime: only the page's sha256 can tell.
    wheel = root / "tampered" / "tampered-1.0-py3-none-any.whl"
    stat = wheel.stat()
    data = bytearray(wheel.read_bytes())
    data[-30] ^= 0xFF
    wheel.write_bytes(bytes(data))
    os.utime(wheel, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with static_index.serve(pypi) as stand_in, hosting.pipwrap_serve(
            root, base / "serve.log", "--fallback", stand_in.url, "--auth", "none",
            env=env) as served:
        yield Team(served.url, served.base + "/", stand_in.url,
                   stand_in.url.replace("/simple/", "/files/") + evil.name,
                   f"{served.url}tampered/{wheel.name}", root)


def _team_profile(sandbox: Sandbox, team: Team) -> None:
    sandbox.write_config(f'default = "team"\n[profiles.team]\nindex-url = "{team.index}"\n'
                         f'upload-url = "{team.upload}"\n')


@pytest.mark.parametrize("installer", ["pip", "uv"])
def test_a_dependency_from_the_fallback_installs_when_the_upload_url_is_the_root(
        sandbox: Sandbox, team: Team, venv: Path, installer: str) -> None:
    _team_profile(sandbox, team)
    target = sandbox.home / "t"
    command = (f"wrap pip install --no-cache-dir --target {target} app" if installer == "pip"
               else f"wrap uv pip install --no-cache --python {venv}/bin/python "
                    f"--target {target} app")
    done = sandbox.sh("bash", f"{command}; echo status=$?")
    assert "status=0" in done.stdout, done.stdout + done.stderr
    assert installed(target, "app") == ("team", "1.0")
    assert installed(target, "dep") == ("pypi", "1.0")
    assert FENCE not in done.stderr, done.stderr


def test_an_unlisted_fallback_file_and_a_wrong_sha256_stay_refused(
        sandbox: Sandbox, team: Team) -> None:
    _team_profile(sandbox, team)
    target = sandbox.home / "t"
    done = sandbox.sh("bash", "\n".join([
        # The session has seen the stand-in's page for dep: its listed file only.
        f"wrap pip install --no-cache-dir --target {target} app; echo status=$?",
        "wrap " + python_c(fetch(team.evil)),
        "wrap " + python_c(fetch(team.index + "tampered/") + download(team.tampered)),
    ]))
    assert "status=0" in done.stdout, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines()
             if line.startswith(("status ", "error", "got", "cut"))]
    assert lines[0].startswith("status 403 " + FENCE), done.stdout
    assert f"{FENCE} GET {team.evil}" in done.stderr
    assert lines[1] == "status 200", done.stdout + done.stderr
    assert lines[2].startswith("cut "), done.stdout + done.stderr
    assert f"{FENCE} GET {team.tampered}: its sha256" in done.stderr, done.stdout + done.stderr


def test_twine_uploads_to_the_root_and_the_root_is_no_pass_for_reading(
        sandbox: Sandbox, team: Team, tmp_path: Path) -> None:
    _team_profile(sandbox, team)
    wheel = make_wheel(tmp_path / "dist", "uploaded", "1.0", "team")
    done = sandbox.sh("bash", "\n".join([
        f"wrap twine upload --disable-progress-bar {wheel}; echo twine=$?",
        "wrap " + python_c(fetch(team.upload)),
        "wrap " + python_c(fetch(team.upload + "serve.log")),
    ]))
    assert "twine=0" in done.stdout, done.stdout + done.stderr
    assert (team.root / "uploaded" / wheel.name).is_file()
    refused = [line for line in done.stdout.splitlines() if line.startswith("status")]
    assert len(refused) == 2 and all(line.startswith(f"status 403 {FENCE}") for line in refused), \
        done.stdout

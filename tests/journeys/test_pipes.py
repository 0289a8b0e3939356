"""Pipes, command substitution, `tee`, `set -e`, subshells and `xargs` around `wrap`, on
the first call of a shell and later, with and without a login (a password-env profile
over HTTPS with the team's own CA), as root and as a plain user.

Written for issue 21 item 2 (before its fix, the agent keeps the pipe it got as the session's report
descriptor, so `wrap ... 2>&1 | cat` never sees EOF on a call that registers a session:
the first of a shell, after a PIP_* change, and every call with a password-env profile).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.journeys.conftest import TEAM_PASSWORD, TEAM_USER, Team, person_env
from tests.support import journey

POSIX_STEPS = """
echo '== first call, stderr and stdout piped to cat'
wrap pip --version 2>&1 | cat
echo '== command substitution'
v=$(wrap pip --version 2>&1); echo "got: $v"
echo '== tee'
wrap pip download --no-deps -d ~/dl foo 2>&1 | tee ~/download.log | tail -n 1
echo '== set -e in a subshell'
( set -e; wrap pip --version >/dev/null; echo "survived set -e" )
echo '== a subshell piped'
( wrap pip --version ) 2>&1 | cat
echo '== xargs'
(set -o pipefail; echo foo | xargs pipwrap run -- pip download -q --no-deps -d ~/dl-xargs 2>&1 | cat)
echo "xargs status=$?"
echo '== after a PIP_ variable changed'
export PIP_TIMEOUT=30
wrap pip --version 2>&1 | head -n 1
echo '== the end'
"""

FISH_STEPS = """
echo '== first call, stderr and stdout piped to cat'
wrap pip --version 2>&1 | cat
echo '== command substitution'
set v (wrap pip --version 2>&1); echo "got: $v"
echo '== tee'
wrap pip download --no-deps -d ~/dl foo 2>&1 | tee ~/download.log | tail -n 1
echo '== set -e in a subshell'
begin; wrap pip --version >/dev/null; and echo "survived set -e"; end
echo '== a subshell piped'
begin; wrap pip --version; end 2>&1 | cat
echo '== xargs'
echo foo | xargs pipwrap run -- pip download -q --no-deps -d ~/dl-xargs 2>&1 | cat
echo "xargs status=$pipestatus[2]"
echo '== after a PIP_ variable changed'
set -gx PIP_TIMEOUT 30
wrap pip --version 2>&1 | head -n 1
echo '== the end'
"""


def choose_profile(env: dict[str, str], home: Path, index: str, team: Team | None) -> None:
    """The own index without a login, or the team's with its CA and a password-env login."""
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    if team is None:
        config.write_text(f'default = "own"\n\n[profiles.own]\nindex-url = "{index}"\n')
        return
    shutil.copy(team.ca, home / "team-ca.pem")
    config.write_text(f'default = "team"\n\n[profiles.team]\nindex-url = "{team.url}"\n'
                      f'username = "{TEAM_USER}"\npassword-env = "TEAM_PW"\n'
                      f'ca-file = "{home}/team-ca.pem"\n')
    env["TEAM_PW"] = TEAM_PASSWORD


def check(seen: journey.Seen, home: Path) -> None:
    out = seen.output
    assert "== the end" in out, f"the script stopped early:\n{out}"
    for step in ("first call", "command substitution", "a subshell piped",
                 "after a PIP_ variable changed"):
        marker = next(line for line in seen.lines() if line.startswith(f"== {step}"))
        assert "pip " in seen.after(marker) and " from " in seen.after(marker), \
            f"{step}: no pip version printed\n{out}"
    assert "survived set -e" in out, out
    assert "xargs status=0" in out, out
    assert "Traceback" not in out and TEAM_PASSWORD not in out, out
    # The staged claim: the person's foo 1.0, never the stand-in PyPI's 9.9.9.
    for directory in ("dl", "dl-xargs"):
        got = sorted(p.name for p in (home / directory).glob("*"))
        assert got == ["foo-1.0-py3-none-any.whl"], f"{directory}: {got}\n{out}"


@pytest.mark.parametrize("login", [False, True], ids=["no-login", "login"])
@pytest.mark.parametrize("shell", journey.SHELLS)
def test_pipelines_end_and_print_what_wrap_printed(
        shell: str, login: bool, env: dict[str, str], home: Path, own_index: str,
        team: Team) -> None:
    choose_profile(env, home, own_index, team if login else None)
    steps = FISH_STEPS if shell == "fish" else POSIX_STEPS
    check(journey.run(shell, steps, env, timeout=45), home)


@pytest.fixture
def plain_home(plain_user: tuple[str, Path]) -> Iterator[Path]:
    parent = Path(tempfile.mkdtemp(prefix="pipwrap-journey-home-"))
    os.chmod(parent, 0o755)  # noqa: S103 - the plain user's HOME is inside
    try:
        yield parent / "home"
    finally:
        shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("login", [False, True], ids=["no-login", "login"])
def test_pipelines_as_a_plain_user(plain_user: tuple[str, Path], plain_home: Path,
                                   login: bool, own_index: str, team: Team) -> None:
    """The same journey in bash as a user who is not root, with pipwrap installed for it
    from the built wheel."""
    user, bin_dir = plain_user
    plain_home.mkdir()
    tools = plain_home / "tools"
    tools.mkdir()
    (tools / "pipwrap").symlink_to(bin_dir / "pipwrap")
    env = person_env(plain_home, tools, bin_dir)
    choose_profile(env, plain_home, own_index, team if login else None)
    env["USER"] = env["LOGNAME"] = user
    prefix = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"] \
        if os.geteuid() == 0 else []
    seen = journey.run("bash", POSIX_STEPS, env, timeout=45, prefix=prefix,
                       user=user if prefix else None)
    who = subprocess.run(["stat", "-c", "%U", str(plain_home / "dl")], capture_output=True,
                         text=True, timeout=10, check=False).stdout.strip()
    check(seen, plain_home)
    assert who == user, f"the download belongs to {who!r}, not {user}"

"""A team profile over HTTPS with the team's own CA (a CA and a separate leaf, as the
docs' recipe makes them; `pipwrap serve --tls-cert`) and a login to read: the person adds
it with `pipwrap add ... --ca-file`, sees it in `show`, checks it with `pipwrap test`,
installs with pip and uv (the dependency through the server's fallback); a wrong
password ends in a clear message naming the profile, never a prompt, whether stdin is a
terminal or closed.

Written for issue 21 items 6 (`add` has no `--ca-file`; `show` and `test` ignore it),
1 (the upload-url at the server root makes the fence miss the fallback's redirect) and 7
(a wrong password ends in pip's `User for 127.0.0.1:PORT:` prompt, naming nothing).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.journeys.conftest import TEAM_PASSWORD, TEAM_USER, Team
from tests.support import journey
from tests.support.sandbox import installed

WRONG = "not-the-password"


def add_and_install(shell: str, team: Team) -> str:
    status = journey.status_of(shell)
    return f"""
echo '== the person adds the team profile'
pipwrap add team {team.url} --upload-url {team.base} --username {TEAM_USER} --password-env TEAM_PW --ca-file ~/team-ca.pem
echo "status={status}"
echo '== pipwrap show team'
pipwrap show team
echo '== pipwrap test team'
pipwrap test team
echo "status={status}"
echo '== wrap pip install'
PIPWRAP_PROFILE=team wrap pip install --target ~/with-pip hello-app
echo "status={status}"
echo '== wrap uv pip install'
PIPWRAP_PROFILE=team wrap uv pip install --target ~/with-uv hello-app
echo "status={status}"
"""


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_the_team_profile_with_its_own_ca_and_a_login(shell: str, team: Team,
                                                     env: dict[str, str],
                                                     home: Path) -> None:
    shutil.copy(team.ca, home / "team-ca.pem")
    env["TEAM_PW"] = TEAM_PASSWORD
    seen = journey.run(shell, add_and_install(shell, team), env, timeout=90)
    out = seen.output
    assert TEAM_PASSWORD not in out, "the password was printed"
    assert seen.after("== the person adds the team profile").rstrip().endswith(
        "status=0"), out
    assert "team-ca.pem" in seen.after("== pipwrap show team"), f"show: no ca-file\n{out}"
    assert seen.after("== pipwrap test team").rstrip().endswith("status=0"), out
    for step, target in (("== wrap pip install", "with-pip"),
                         ("== wrap uv pip install", "with-uv")):
        assert seen.after(step).rstrip().endswith("status=0"), f"{step}:\n{out}"
        assert installed(home / target, "foo") == ("local", "1.0"), f"{step}\n{out}"
        assert installed(home / target, "dep_lib") == ("upstream", "1.0"), \
            f"{step}\n{out}"
    assert "Traceback" not in out, out


def profile_with_wrong_password(env: dict[str, str], home: Path, team: Team) -> None:
    shutil.copy(team.ca, home / "team-ca.pem")
    config = Path(env["XDG_CONFIG_HOME"], "pipwrap/config.toml")
    config.parent.mkdir(parents=True)
    config.write_text(f'default = "team"\n\n[profiles.team]\nindex-url = "{team.url}"\n'
                      f'username = "{TEAM_USER}"\npassword-env = "TEAM_PW"\n'
                      f'ca-file = "{home}/team-ca.pem"\n')
    env["TEAM_PW"] = WRONG


def names_the_profile(output: str) -> bool:
    return any(re.search(r"\bteam\b", line) for line in output.splitlines()
               if "pipwrap" in line)


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_a_wrong_password_with_stdin_closed_is_named(shell: str, team: Team,
                                                     env: dict[str, str],
                                                     home: Path) -> None:
    profile_with_wrong_password(env, home, team)
    status = journey.status_of(shell)
    seen = journey.run(shell, f"""
echo '== wrap pip install, stdin closed'
wrap pip install --target ~/t foo <&-
echo "status={status}"
echo '== wrap uv pip install, stdin closed'
wrap uv pip install --target ~/u foo <&-
echo "status={status}"
""", env, timeout=60)
    out = seen.output
    for step in ("== wrap pip install, stdin closed", "== wrap uv pip install, stdin closed"):
        said = seen.after(step)
        assert "status=0" not in said, f"{step}: a wrong password installed\n{out}"
        assert names_the_profile(said), f"{step}: nothing names the profile `team`\n{out}"
        assert "User for" not in said and "Traceback" not in said, out
    assert WRONG not in out, "the password was printed"


@pytest.mark.parametrize("shell", journey.SHELLS)
def test_a_wrong_password_at_a_terminal_is_named_not_prompted(shell: str, team: Team,
                                                              env: dict[str, str],
                                                              home: Path) -> None:
    profile_with_wrong_password(env, home, team)
    with journey.terminals(journey.Terminal(shell, env)) as (term,):
        status, said = term.do("wrap pip install --target ~/t foo", timeout=30)
    assert status != 0, f"a wrong password installed:\n{term.text()}"
    assert "User for" not in said, f"pip prompted for a login:\n{term.text()}"
    assert names_the_profile(said), f"nothing names the profile `team`:\n{term.text()}"
    assert WRONG not in term.text(), "the password was printed"

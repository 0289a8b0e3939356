"""`wrap` and `pipwrap run` in the fence's network namespace (issue 22), in real shells, as
root and as a plain user: a command that bypasses the proxy reaches nothing, the index
still installs through the fence, and the profile's `isolation` setting decides what
happens where no namespace can be made.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support import shells
from tests.support.plain_user import User
from tests.support.sandbox import Built, Indexes, Sandbox, installed, write_file
from tests.support.shells import SHELLS

AVAILABLE = netns.availability()
pytestmark = pytest.mark.skipif(not AVAILABLE.available,
                                reason=f"no network isolation here: {AVAILABLE.reason}")


def raw_probe(port: int) -> str:
    """A python program that connects straight to 127.0.0.1:PORT, no proxy."""
    return ("import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=10).close()\n"
            "    print('reached')\n"
            "except OSError as exc:\n"
            "    print('unreachable', exc)\n")


def fetch(url: str) -> str:
    """A python program that GETs ``url`` through whatever proxy the environment names."""
    return ("import urllib.request as u, urllib.error as e\n"
            "try:\n"
            f"    print('status', u.urlopen({url!r}, timeout=20).status)\n"
            "except e.HTTPError as x:\n"
            "    print('status', x.code)\n"
            "except OSError as x:\n"
            "    print('error', x)\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_raw_socket_reaches_nothing_under_wrap(sandbox: Sandbox, indexes: Indexes,
                                                 shell: str) -> None:
    write_file(sandbox.home / "raw.py", raw_probe(indexes.upstream.port))
    target = sandbox.home / "t"
    done = sandbox.sh(shell, f"cd ~\npython raw.py\nwrap python raw.py\n"
                             f"wrap pip install -q --target {target} foo\n"
                             f"{sys.executable} -m pipwrap run python raw.py\n")
    lines = done.stdout.splitlines()
    assert lines[0] == "reached", done.stdout + done.stderr  # the control: bare
    assert lines[1].startswith("unreachable"), done.stdout + done.stderr
    assert lines[2].startswith("unreachable"), done.stdout + done.stderr  # pipwrap run
    assert installed(target) == ("local", "1.0"), done.stderr  # the fence still serves


def test_the_inside_token_is_refused_outside_the_namespace(sandbox: Sandbox,
                                                           indexes: Indexes) -> None:
    """pip >= 26 hands its --proxy (token included) to a subprocess's argv, which every
    local user can read: the token an entered command holds works only inside."""
    write_file(sandbox.home / "get.py", fetch(indexes.local.url + "foo/"))
    show = "python -c 'import os; print(os.environ[\"HTTP_PROXY\"])'"
    done = sandbox.sh("bash", (
        f"cd ~\ninside=$(wrap {show})\nf() {{ {show}; }}\noutside=$(wrap f)\n"
        # Used by a process outside the namespace while the session lives (this shell).
        "[[ $inside != \"$outside\" ]] && echo differ\n"
        "HTTP_PROXY=$inside NO_PROXY= no_proxy= python get.py\n"
        "HTTP_PROXY=$outside NO_PROXY= no_proxy= python get.py\n"
        "wrap python get.py\n"))
    assert done.stdout.splitlines() == ["differ", "status 407", "status 200", "status 200"], \
        done.stdout + done.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_a_function_runs_in_the_shell_and_is_refused_when_isolation_is_required(
        sandbox: Sandbox, indexes: Indexes, shell: str) -> None:
    write_file(sandbox.home / "get.py", fetch(indexes.local.url + "foo/"))
    define = ("function getit; python ~/get.py; end" if shell == "fish"
              else "getit() { python ~/get.py; }")
    status = "$status" if shell == "fish" else "$?"
    done = sandbox.sh(shell, f"{define}\nwrap getit\n")
    assert done.stdout.strip() == "status 200", done.stdout + done.stderr
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "required"\n')
    done = sandbox.sh(shell, f"{define}\nwrap getit\necho status={status}\n"
                             "wrap python ~/get.py\n")
    assert done.stdout.splitlines() == ["status=2", "status 200"], done.stdout + done.stderr
    assert 'getit runs in the shell, outside the network namespace that isolation = ' \
           '"required" asks for' in done.stderr


def test_isolation_off_is_the_proxy_alone(sandbox: Sandbox, indexes: Indexes) -> None:
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "off"\n')
    write_file(sandbox.home / "raw.py", raw_probe(indexes.upstream.port))
    done = sandbox.sh("bash", "cd ~\nwrap python raw.py\n")
    assert done.stdout.strip() == "reached", done.stderr
    doctor = subprocess.run([sys.executable, "-m", "pipwrap", "doctor"], env=sandbox.env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert 'isolation: off, the profile sets isolation = "off"' in doctor.stdout
    assert "[the profile's choice] network isolation is off" in doctor.stdout


def _without_user_namespaces(argv: list[str]) -> list[str]:
    """``argv`` where this process may make no user namespace (its own lowered limit)."""
    return ["unshare", "--user", "--map-root-user", "sh", "-c",
            'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *argv]


def test_where_namespaces_are_off_auto_says_so_once_and_required_refuses(
        sandbox: Sandbox, indexes: Indexes) -> None:
    write_file(sandbox.home / "raw.py", raw_probe(indexes.upstream.port))
    script = "cd ~\nwrap python raw.py\nwrap python raw.py\necho status=$?\n"
    env = {**sandbox.env}
    argv = _without_user_namespaces(shells.argv_for("bash", sandbox.home, script))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.stdout.splitlines() == ["reached", "reached", "status=0"], done.stderr
    said = "wrapped commands run without network isolation here: user namespaces are disabled"
    assert done.stderr.count(said) == 1, done.stderr
    doctor = subprocess.run(_without_user_namespaces(
        [sys.executable, "-m", "pipwrap", "doctor"]), env=env, capture_output=True, text=True,
        timeout=120, check=False)
    assert "isolation: auto: off, not available here (user namespaces are disabled" \
        in doctor.stdout, doctor.stdout + doctor.stderr
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "required"\n')
    argv = _without_user_namespaces(shells.argv_for(
        "bash", sandbox.home, "cd ~\nwrap python raw.py\necho status=$?\n"))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)
    assert done.stdout.splitlines() == ["status=2"], done.stdout + done.stderr
    assert 'requires network isolation (isolation = "required"), which is not available ' \
           "here: user namespaces are disabled" in done.stderr


@pytest.fixture(scope="session")
def plain_bin(plain_user: User, built: Built) -> Iterator[Path]:
    """A venv the plain user can run, holding pipwrap-cli from the built wheel."""
    from tests.support import dist

    if os.geteuid() != 0:
        yield Path(sys.executable).parent
        return
    root = plain_user.workdir / "venv"
    subprocess.run([plain_user.python, "-m", "venv", str(root)], check=True, timeout=120,
                   capture_output=True)
    subprocess.run([str(root / "bin/python"), "-m", "pip", "install", "-q", "--no-index",
                    "--find-links", str(built.pypi), "pipwrap-cli"], check=True, timeout=300,
                   env=dist.clean_env(), capture_output=True)
    shutil.chown(root, plain_user.uid, plain_user.gid)
    yield root / "bin"


def test_as_a_plain_user_a_raw_socket_reaches_nothing_and_pip_installs(
        plain_user: User, plain_bin: Path, indexes: Indexes, tmp_path: Path) -> None:
    home = plain_user.workdir / "home"
    home.mkdir(exist_ok=True)
    env = shells.isolated_env(home, [plain_bin])
    write_file(Path(env["PIPWRAP_CONFIG"]),
               f'default = "local"\n[profiles.local]\nindex-url = "{indexes.local.url}"\n')
    write_file(home / "raw.py", raw_probe(indexes.upstream.port))
    script = ("cd ~\npython raw.py\nwrap python raw.py\nwrap id -u\n"
              f"wrap pip install -q --target {home}/t foo\n")
    argv = shells.argv_for("bash", home, script)
    (home / ".rc-bash/bashrc").write_text(  # their pipwrap, not this test's
        f"eval \"$('{plain_bin}/python' -m pipwrap init bash)\"\n")
    subprocess.run(["chown", "-R", f"{plain_user.uid}:{plain_user.gid}", str(home)],
                   check=True, timeout=30)
    done = plain_user.run(argv, env=env, timeout=300, cwd=home)
    lines = done.stdout.splitlines()
    assert lines[:3] == ["reached", lines[1], str(plain_user.uid)], done.stdout + done.stderr
    assert lines[1].startswith("unreachable"), done.stdout + done.stderr
    assert installed(home / "t") == ("local", "1.0"), done.stderr

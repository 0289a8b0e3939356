"""`pipwrap doctor` in the projects of issue 22's holes: settings that switch a wrapped
child's proxy off without naming a source the guard refuses.

doctor said "wrap is safe here" in each of them. It must name each setting with its file
and line, say what the guard does with it, and what the isolation mode gives: with the
fence's network namespace in force the network allows only the fence (safe, exit 0);
with isolation off or unavailable each is a real hole (exit 1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipwrap.fence import netns
from tests.support.sandbox import Indexes, Sandbox, write_file

UP = "https://up.example/simple/"
AVAILABLE = netns.availability()
TOX_INI = "[tox]\nno_package = true\n\n[testenv]\n{line}\ndeps = foo\n"
ESCAPED = '"PIP\\u005FEXTRA\\u005FINDEX\\u005FURL"'

# (files, the tool's command, [(file:line, words the setting's risk line must hold)])
HOLES = {
    "tox-ini-install-command": (
        {"tox.ini": TOX_INI.format(line="install_command = python -I -m pip install --proxy= "
                                        f"--extra-index-url {UP} {{opts}} {{packages}}")},
        "tox", [("tox.ini:5", ["install_command = python -I -m pip install --proxy= "
                               f"--extra-index-url {UP}", "--proxy ''"])]),
    "tox-ini-dotenv": (
        {"tox.ini": TOX_INI.format(line="set_env = file|tests.env"),
         "tests.env": f"PIP_EXTRA_INDEX_URL={UP}\nPIP_PROXY=\nNO_PROXY=*\n"},
        "tox", [("tox.ini:5", ["set_env = file|tests.env"]),
                ("tests.env:1", ["PIP_EXTRA_INDEX_URL"]), ("tests.env:2", ["PIP_PROXY"]),
                ("tests.env:3", ["NO_PROXY"])]),
    "tox-toml-escaped-keys": (
        {"tox.toml": (f'[env_run_base]\nskip_install = true\nset_env = {{ {ESCAPED} = "{UP}", '
                      '"PIP\\u005FPROXY" = "", "NO_PROXY" = "*" }\n')},
        "tox", [("tox.toml:3", ["PIP_EXTRA_INDEX_URL"]), ("tox.toml:3", ["PIP_PROXY"]),
                ("tox.toml:3", ["NO_PROXY"])]),
    "hatch-toml-escaped-keys": (
        {"hatch.toml": f'[envs.default.env-vars]\n{ESCAPED} = "{UP}"\n"NO_PROXY" = "*"\n'},
        "hatch env create", [("hatch.toml:2", ["PIP_EXTRA_INDEX_URL"]),
                             ("hatch.toml:3", ["NO_PROXY"])]),
    "pip-tools-toml-pip-args": (
        {"requirements.in": "foo\n",
         ".pip-tools.toml": f'[tool.pip-tools]\npip-args = "--proxy= --extra-index-url {UP}"\n'},
        "pip-compile", [(".pip-tools.toml:2", [f"pip-args = --proxy= --extra-index-url {UP}",
                                                "--proxy ''"])]),
    "pyproject-pip-tools-pip-args": (
        {"requirements.in": "foo\n",
         "pyproject.toml": ('[project]\nname = "x"\nversion = "0"\n\n[tool.pip-tools.compile]\n'
                            f'pip_args = "--extra-index-url {UP} --proxy="\n')},
        "pip-compile", [("pyproject.toml:6", [f"pip_args = --extra-index-url {UP} --proxy=",
                                              "adds a second package index"])]),
}


def doctor(sandbox: Sandbox, cwd: Path, *args: str, prefix: tuple[str, ...] = (),
           **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, sys.executable, "-m", "pipwrap", "doctor", *args],
                          env={**sandbox.env, **env}, cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def set_isolation(sandbox: Sandbox, indexes: Indexes, mode: str) -> None:
    sandbox.write_config(f'default = "local"\n[profiles.local]\nindex-url = '
                         f'"{indexes.local.url}"\nisolation = "{mode}"\n')


def risk_line(stdout: str, where: str, words: list[str]) -> str:
    lines = [line for line in stdout.splitlines()
             if line.startswith("  - [") and f"({where})" in line
             and all(word in line for word in words)]
    assert len(lines) == 1, (where, words, stdout)
    return lines[0]


def assert_told(done: subprocess.CompletedProcess[str], project: Path, command: str,
                named: list[tuple[str, list[str]]], *, isolated: bool) -> None:
    assert done.stderr == "", done.stderr
    assert "Traceback" not in done.stdout
    for where, words in named:
        line = risk_line(done.stdout, where if where == "environment" else
                         str(project / where), words)
        if isolated:
            assert line.startswith("  - [neutralized by wrap]"), line
            assert line.endswith("isolation holds it: the network allows only the fence"), line
        else:
            assert line.startswith("  - [NOT neutralized]"), line
            assert "a real hole" in line, line
    # What the guard does with the tool's command here: it lets it run (these settings
    # are not sources it refuses), which the risk lines explain.
    row = next(r for r in done.stdout.splitlines() if r.startswith(f"  wrap {command} "))
    assert row.split()[-1] == "passes", row
    last = done.stdout.strip().splitlines()[-1]
    if isolated:
        assert done.returncode == 0, done.stdout
        assert last == "verdict: wrap is safe here", done.stdout
    else:
        assert done.returncode == 1, done.stdout
        assert last == "verdict: a risk remains that wrap cannot fix", done.stdout


@pytest.mark.parametrize("mode", ["auto", "off"])
@pytest.mark.parametrize("case", HOLES)
def test_doctor_names_each_setting_that_switches_the_proxy_off(
        sandbox: Sandbox, indexes: Indexes, case: str, mode: str) -> None:
    if mode == "auto" and not AVAILABLE.available:
        pytest.skip(f"no network isolation here: {AVAILABLE.reason}")
    files, command, named = HOLES[case]
    project = sandbox.home / "work" / case
    for name, text in files.items():
        write_file(project / name, text)
    set_isolation(sandbox, indexes, mode)
    done = doctor(sandbox, project)
    assert ("isolation: auto: on, " if mode == "auto" else "isolation: off, ") in done.stdout
    assert_told(done, project, command, named, isolated=mode == "auto")
    data = json.loads(doctor(sandbox, project, "--json").stdout)
    assert data["safe"] is (mode == "auto")
    assert {b["where"] for b in data["proxy_off"]} == {str(project / w) for w, _ in named}


def _without_user_namespaces() -> tuple[str, ...]:
    """A prefix under which this process may make no user namespace (its own lowered
    limit): isolation = "auto" finds it unavailable."""
    return ("unshare", "--user", "--map-root-user", "sh", "-c",
            'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh")


@pytest.mark.skipif(not AVAILABLE.available, reason=f"no namespaces: {AVAILABLE.reason}")
def test_where_isolation_is_unavailable_the_settings_are_holes(sandbox: Sandbox) -> None:
    files, command, named = HOLES["tox-ini-dotenv"]
    project = sandbox.home / "work" / "dotenv"
    for name, text in files.items():
        write_file(project / name, text)
    done = doctor(sandbox, project, prefix=_without_user_namespaces())
    assert "isolation: auto: off, not available here" in done.stdout, done.stdout
    assert_told(done, project, command, named, isolated=False)


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_request_method_in_the_environment_is_named_for_uv(
        sandbox: Sandbox, indexes: Indexes, mode: str) -> None:
    """uv drops every proxy variable when REQUEST_METHOD is set (its httpoxy guard)."""
    if mode == "auto" and not AVAILABLE.available:
        pytest.skip(f"no network isolation here: {AVAILABLE.reason}")
    project = sandbox.home / "work" / "uv"
    write_file(project / "pyproject.toml", '[project]\nname = "x"\nversion = "0"\n')
    set_isolation(sandbox, indexes, mode)
    done = doctor(sandbox, project, REQUEST_METHOD="GET")
    assert_told(done, project, "uv sync",
                [("environment", ["REQUEST_METHOD=GET", "uv drops every proxy variable"])],
                isolated=mode == "auto")
    quiet = doctor(sandbox, project)
    assert "REQUEST_METHOD" not in quiet.stdout

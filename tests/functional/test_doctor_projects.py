"""`pipwrap doctor` in uv, pdm, poetry, tox and hatch projects: the setting and the verdict.

Issue 21, item 9: doctor said "wrap is safe here" in projects whose settings it did not
read (tox.ini and hatch.toml outside a pyproject.toml project, uv.toml, a poetry project
without sources), and never said which commands wrap would refuse there. Its verdict for
each tool must be the guard's own: each case is held against `pipwrap check` in the
same directory. And doctor asks a pyenv-style shim once, without importing pip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sandbox import Sandbox, write_file

UP = "https://up.example/simple/"
PROJECT = '[project]\nname = "x"\nversion = "0"\ndependencies = ["foo"]\n'

# (files, the tool's command, its verdict, what must be named: setting and file:line)
CASES = {
    "uv-index": ({"pyproject.toml": f'{PROJECT}\n[[tool.uv.index]]\nname = "up"\n'
                                    f'url = "{UP}"\n'},
                 "uv sync", "refused", [f"tool.uv.index.url = {UP}", "pyproject.toml:8"]),
    "uv-sources": ({"pyproject.toml": f'{PROJECT}\n[tool.uv.sources]\n'
                                      'foo = { git = "https://github.com/x/foo" }\n'},
                   "uv sync", "refused",
                   ["tool.uv.sources.foo.git = https://github.com/x/foo", "pyproject.toml:7"]),
    "uv-toml": ({"pyproject.toml": PROJECT,
                 "uv.toml": f'[[index]]\nurl = "{UP}"\ndefault = true\n'},
                "uv sync", "passes", [f"index.url = {UP}", "uv.toml:2", "UV_NO_CONFIG"]),
    "pdm-source": ({"pyproject.toml": f'{PROJECT}\n[[tool.pdm.source]]\nname = "up"\n'
                                      f'url = "{UP}"\n'},
                   "pdm install", "refused", [f"tool.pdm.source.url = {UP}", "pyproject.toml:8"]),
    "poetry-source": ({"pyproject.toml": f'{PROJECT}\n[[tool.poetry.source]]\nname = "up"\n'
                                         f'url = "{UP}"\n'},
                      "poetry install", "refused", [f"tool.poetry.source.url = {UP}"]),
    "poetry-project": ({"pyproject.toml": f'{PROJECT}\n[tool.poetry]\npackage-mode = false\n'},
                       "poetry install", "refused", ["poetry's own sources"]),
    "tox-ini": ({"tox.ini": "[tox]\nenv_list = py\n[testenv]\nset_env =\n"
                            f"    PIP_INDEX_URL = {UP}\n"},
                "tox", "refused", ["tox.ini:5", "PIP_INDEX_URL"]),
    "tox-toml": ({"tox.toml": f'[env_run_base]\nset_env = {{ PIP_EXTRA_INDEX_URL = "{UP}" }}\n'},
                 "tox", "refused", ["tox.toml:2", "PIP_EXTRA_INDEX_URL"]),
    "hatch-toml": ({"hatch.toml": f'[envs.default.env-vars]\nPIP_EXTRA_INDEX_URL = "{UP}"\n'},
                   "hatch env create", "refused", ["hatch.toml:2", "PIP_EXTRA_INDEX_URL"]),
    "plain-project": ({"pyproject.toml": PROJECT}, "uv sync", "passes", []),
}


def pipwrap(sandbox: Sandbox, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=sandbox.env, cwd=cwd,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("case", CASES)
def test_doctor_names_each_project_setting_and_the_guards_verdict(sandbox: Sandbox,
                                                                  case: str) -> None:
    files, command, verdict, named = CASES[case]
    project = sandbox.home / "work" / case
    for name, text in files.items():
        write_file(project / name, text)
    # From a subdirectory, doctor finds the project as the guard does: by its
    # pyproject.toml (tox also walks up to a tox.ini; the guard reads the one here).
    inside = project / "src" if "pyproject.toml" in files else project
    inside.mkdir(exist_ok=True)

    text = pipwrap(sandbox, inside, "doctor")
    data = json.loads(pipwrap(sandbox, inside, "doctor", "--json").stdout)
    assert text.stderr == ""
    rows = {row["command"]: row for row in data["project"]["commands"]}
    assert data["project"]["root"] == str(project)
    assert rows[command]["verdict"] == verdict, rows
    # One source of truth: `wrap CMD` would be refused exactly when doctor says so.
    checked = pipwrap(sandbox, inside, "check", "--", *command.split())
    assert checked.returncode == (3 if verdict == "refused" else 0), checked.stderr
    assert f"wrap {command}" in text.stdout
    line = next(row for row in text.stdout.splitlines() if f"wrap {command} " in row)
    assert verdict in line
    for word in named:
        assert word in text.stdout, (word, text.stdout)
    last = text.stdout.strip().splitlines()[-1]
    if verdict == "refused":
        assert last.startswith("verdict:") and f"refuses {command}" in last
    else:
        assert "refuses" not in last


def test_no_project_no_project_section(sandbox: Sandbox) -> None:
    done = pipwrap(sandbox, sandbox.home, "doctor")
    assert "this project" not in done.stdout
    assert done.stdout.strip().endswith("verdict: wrap is safe here")


def test_user_uv_toml_is_named_as_neutralized(sandbox: Sandbox) -> None:
    user = write_file(Path(sandbox.env["XDG_CONFIG_HOME"]) / "uv" / "uv.toml",
                      f'extra-index-url = ["{UP}"]\n')
    data = json.loads(pipwrap(sandbox, sandbox.home, "doctor", "--json").stdout)
    risks = [r for r in data["risks"] if str(user) in r["message"]]
    assert len(risks) == 1 and risks[0]["neutralized"]
    assert f"extra-index-url = {UP} ({user}:1)" in risks[0]["message"]
    write_file(user, "extra-index-url = [\n")  # not TOML: named, not a traceback
    done = pipwrap(sandbox, sandbox.home, "doctor")
    assert "Traceback" not in done.stderr and str(user) in done.stdout


SHIM = """#!/usr/bin/env bash
# A pyenv-style shim: one script under every name, choosing the interpreter at run time.
printf '%s\\n' "${0##*/} $*" >> "$SHIM_LOG"
"$REAL_BIN/${0##*/}" "$@" | tee -a "$SHIM_LOG"
"""


def test_a_shim_is_asked_once_without_running_pip(sandbox: Sandbox, venv: Path) -> None:
    """pyenv puts shims first on PATH; doctor took 1.3 s running `pip --version` (pip's
    whole import) and python through each of them in turn."""
    shims = sandbox.home / "shims"
    shims.mkdir()
    for name in ("pip", "pip3", "python3", "python"):
        write_file(shims / name, SHIM).chmod(0o755)
    log = sandbox.home / "shim.log"
    env = {**sandbox.env, "PATH": f"{shims}:{sandbox.env['PATH']}", "SHIM_LOG": str(log),
           "REAL_BIN": str(venv / "bin")}
    site = write_file(venv / "pip.conf", "[global]\nfind-links = /site/links\n")
    try:
        done = subprocess.run([sys.executable, "-m", "pipwrap", "doctor", "--json"], env=env,
                              cwd=sandbox.home, capture_output=True, text=True, timeout=120,
                              check=False)
    finally:
        site.unlink()
    data = json.loads(done.stdout)
    assert {"layer": "site", "path": str(site), "exists": True} in data["pip_config_layers"]
    assert ("find-links", f"{site} [global]") in {(s["key"], s["source"])
                                                  for s in data["settings"]}
    calls = log.read_text().splitlines()
    assert calls[0] == "pip --version" and len(calls) == 2  # once for all four names
    assert " from " not in calls[1]  # not pip's answer: pip itself (~0.3 s) never ran

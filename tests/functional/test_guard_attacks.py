"""Attacks on the guard's newer fronts, each staged to succeed without pipwrap first.

Launchers and python flag clusters, other names pip ships under, direct references,
requirement files in other encodings, every spelling of a PIP_* variable, a venv's own
pip.conf found from the interpreter that runs pip. Each test installs the evil Foo 9.9.9
bare, then shows the wrapped command refused (exit 3, nothing installed) or kept local.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.sandbox import Indexes, Sandbox, installed, stage_attack, write_file

EVIL = ("evil", "9.9.9")
LOCAL = ("local", "1.0")


@pytest.mark.parametrize("launch", [
    "python -Im pip", "python -I -m pip", "python -mpip", "python -Impip",
    "python -m pip.__main__", "env pip", "env -u HOME pip", "env FOO=1 pip",
    "command pip", "nice -n 5 pip", "nohup pip", "timeout 60 pip", "time -p pip",
    "stdbuf -oL pip", "setsid pip", "env nice pip",
])
def test_launchers_are_looked_through(sandbox: Sandbox, indexes: Indexes, launch: str) -> None:
    stage_attack(sandbox, indexes, f"{launch} install -q --target TARGET "
           f"--extra-index-url {indexes.upstream.url} foo")


@pytest.mark.parametrize("script", [
    "sh -c 'pip install -q --target TARGET --extra-index-url UP foo'",
    "bash -c 'cd ~ && pip install -q --target TARGET -iUP foo'",
])
def test_shell_scripts_are_read(sandbox: Sandbox, indexes: Indexes, script: str) -> None:
    stage_attack(sandbox, indexes, script.replace("UP", indexes.upstream.url))


def test_a_script_that_cannot_be_read_is_refused(sandbox: Sandbox, indexes: Indexes) -> None:
    stage_attack(sandbox, indexes, "sh -c 'p=pip; $p install -q --target TARGET "
           f"--extra-index-url {indexes.upstream.url} foo'")


@pytest.mark.parametrize("name", ["pip-3.99", "pip3.99", "pip99"])
def test_other_names_pip_ships_under(sandbox: Sandbox, indexes: Indexes, venv: Path,
                                     name: str) -> None:
    bindir = sandbox.home / "bin"
    bindir.mkdir()
    (bindir / name).symlink_to(venv / "bin" / "pip")
    stage_attack(sandbox, indexes, f"{bindir / name} install -q --target TARGET "
           f"--extra-index-url {indexes.upstream.url} foo")


def _evil_wheel_url(indexes: Indexes) -> str:
    return indexes.upstream.url.replace("/simple/", "/packages/") + "foo-9.9.9-py3-none-any.whl"


def test_direct_reference_on_the_command_line(sandbox: Sandbox, indexes: Indexes) -> None:
    done = stage_attack(sandbox, indexes,
                  f"pip install -q --target TARGET 'foo @ {_evil_wheel_url(indexes)}'")
    assert "not the profile's index" in done.stderr


def test_direct_reference_in_a_requirement_file(sandbox: Sandbox, indexes: Indexes) -> None:
    write_file(sandbox.home / "req.txt", f"bar-baz\nfoo @ {_evil_wheel_url(indexes)}\n")
    done = stage_attack(sandbox, indexes, "pip install -q --target TARGET -r req.txt")
    assert "req.txt:2" in done.stderr


def test_a_direct_reference_to_the_profiles_own_index_is_fine(
        sandbox: Sandbox, indexes: Indexes) -> None:
    url = indexes.local.url.replace("/simple/", "/packages/") + "foo-1.0-py3-none-any.whl"
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"wrap pip install -q --target {target} 'foo @ {url}'")
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


def test_requirement_file_naming_the_profiles_own_index_is_accepted(
        sandbox: Sandbox, indexes: Indexes) -> None:
    """pip-compile writes `--index-url` into its output: the profile's own is no source."""
    write_file(sandbox.home / "req.txt", f"--index-url {indexes.local.url}\nfoo\n")
    target = sandbox.home / "t"
    done = sandbox.sh("bash", f"cd ~\nwrap pip install -q --target {target} -r req.txt")
    assert done.returncode == 0, done.stderr
    assert installed(target) == LOCAL


# UTF-32 is left out: pip 23-25 read its byte-order mark as UTF-16's, so the staged
# attack itself fails there (reqfile.decodings scans both readings).
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-8-sig", "latin-1-coding"])
def test_requirement_files_in_other_encodings(sandbox: Sandbox, indexes: Indexes,
                                              encoding: str) -> None:
    text = f"--extra-index-url {indexes.upstream.url}\nfoo\n"
    path = sandbox.home / "req.txt"
    if encoding == "utf-16-be-bom":
        path.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    elif encoding == "latin-1-coding":
        path.write_bytes(("# -*- coding: latin-1 -*-\n# caf\xe9\n" + text).encode("latin-1"))
    else:
        path.write_bytes(text.encode(encoding))
    stage_attack(sandbox, indexes, "pip install -q --target TARGET -r req.txt")


@pytest.mark.parametrize("variable", ["PIP_PYPI_URL", "PIP___EXTRA_INDEX_URL",
                                      "PIP_Extra_Index_Url", "PIP_extra_index_url"])
def test_every_spelling_of_a_source_variable_is_scrubbed(
        sandbox: Sandbox, indexes: Indexes, variable: str) -> None:
    """`pipwrap run` removes them (the shell snippets: tests/functional/test_shell*.py)."""
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    env = {**sandbox.env, variable: indexes.upstream.url}
    if variable == "PIP_PYPI_URL":
        env["PIP_INDEX_URL"] = indexes.upstream.url  # evil replaces the index outright
    else:
        env["PIP_INDEX_URL"] = indexes.local.url
    pip = ["pip", "install", "-q", "foo", "--target"]
    subprocess.run([*pip, str(bare)], env=env, check=True, capture_output=True)
    assert installed(bare) == EVIL
    done = subprocess.run([sys.executable, "-m", "pipwrap", "run", "--", *pip, str(wrapped)],
                          env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert installed(wrapped) == LOCAL


@pytest.fixture(scope="session")
def site_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("site-venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


def test_a_venvs_own_pip_conf_is_found_from_its_interpreter(
        sandbox: Sandbox, indexes: Indexes, site_venv: Path) -> None:
    """No VIRTUAL_ENV: the constraint file comes from the prefix of the pip that runs."""
    constraints = write_file(sandbox.home / "c.txt", f"--find-links {indexes.evil_dir}\n")
    (site_venv / "pip.conf").write_text(f"[install]\nconstraint = {constraints}\n")
    try:
        done = stage_attack(sandbox, indexes,
                      f"{site_venv}/bin/python -m pip install -q --target TARGET foo")
    finally:
        (site_venv / "pip.conf").unlink()
    assert "c.txt:1" in done.stderr


def _wheel_with_requirement(directory: Path, requirement: str) -> Path:
    import zipfile

    path = directory / "app-1.0-py3-none-any.whl"
    info = "app-1.0.dist-info"
    files = {
        "app/__init__.py": "",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"
                            f"Requires-Dist: {requirement}\n\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: t\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def test_a_local_wheel_that_depends_on_a_url(sandbox: Sandbox, indexes: Indexes) -> None:
    """Your own wheel is fine; the evil URL it depends on is not."""
    wheel = _wheel_with_requirement(sandbox.home, f"foo @ {_evil_wheel_url(indexes)}")
    done = stage_attack(sandbox, indexes, f"pip install -q --target TARGET {wheel}")
    assert "Requires-Dist" in done.stderr


def test_a_local_project_whose_dependencies_name_a_url(tmp_path: Path) -> None:
    from pipwrap.errors import RefusedError
    from pipwrap.guard.api import check

    write_file(tmp_path / "proj/pyproject.toml",
               '[project]\nname = "p"\nversion = "0"\n'
               'dependencies = ["foo @ https://evil.example/foo-9.9.9-py3-none-any.whl"]\n')
    for argv in (["pip", "install", "./proj"], ["pip", "install", "-e", "./proj"],
                 ["uv", "pip", "install", "./proj"]):
        with pytest.raises(RefusedError):
            check(argv, {"PATH": "/usr/bin:/bin"}, index_url="http://127.0.0.1:9/simple/",
                  cwd=str(tmp_path))


@pytest.mark.parametrize("version", ["23.2.1", "26.3"])
def test_the_oldest_and_newest_pip_of_the_table(sandbox: Sandbox, indexes: Indexes,
                                               version: str) -> None:
    """The same attacks through the oldest and the newest pip the guard's table covers."""
    from tests.support.pips import pip_python

    python = pip_python(f"=={version}", version)
    stage_attack(sandbox, indexes, f"{python} -m pip install -q --target TARGET "
                 f"--extra {indexes.upstream.url} foo")
    for path in (sandbox.home / "bare", sandbox.home / "wrapped"):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    stage_attack(sandbox, indexes, f"{python} -m pip install -q --target TARGET foo",
                 refused=False, PIP___EXTRA_INDEX_URL=indexes.upstream.url)

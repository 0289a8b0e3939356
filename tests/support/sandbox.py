"""What tests share besides fixtures: the staged indexes' shape, the per-test sandbox,
and the helpers that stage an attack and read what got installed. Fixtures are in
``tests/conftest.py``."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import shells
from tests.support.servers import PyPIServer, serving
from tests.support.wheels import make_wheel

# The password of the `private_index` fixture's user alice: no test output may hold it.
PRIVATE_SECRET = "s3cr3t-T0ken"


@contextlib.contextmanager
def private_pypiserver(root: Path) -> Iterator[PyPIServer]:
    """A pypiserver holding Foo 1.0 that wants alice's login (PRIVATE_SECRET) to read and
    to change."""
    from passlib.apache import HtpasswdFile

    make_wheel(root / "packages", "Foo", "1.0", "local")
    htpasswd = HtpasswdFile(str(root / "htpasswd"), new=True)
    htpasswd.set_password("alice", PRIVATE_SECRET)
    htpasswd.save()
    with serving(root / "packages", htpasswd=root / "htpasswd") as server:
        yield server


@dataclass
class Indexes:
    upstream: PyPIServer  # holds the attacker's Foo 9.9.9 and a legit bar-baz 2.0
    local: PyPIServer  # holds our Foo 1.0, falls back to upstream for other names
    evil_dir: Path  # a find-links directory holding the evil Foo 9.9.9


def uv_dir() -> Path:
    found = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    return Path(found).parent


@dataclass
class Sandbox:
    home: Path
    env: dict[str, str]
    config: Path

    def write_config(self, text: str) -> None:
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(text)

    def sh(self, shell: str, script: str, how: str = "init", **extra: str):  # type: ignore[no-untyped-def]
        return shells.run(shell, script, {**self.env, **extra}, how=how)


def write_file(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def assert_leak_wins_bare_and_loses_wrapped(
    done: subprocess.CompletedProcess[str], bare: Path, wrapped: Path
) -> None:
    """The staged leak installed the evil Foo without pipwrap; `wrap` kept to local."""
    assert installed(bare) == ("evil", "9.9.9"), f"the staged leak did not work:\n{done.stderr}"
    assert done.returncode == 0, done.stderr
    assert installed(wrapped) == ("local", "1.0")


def installed(target: Path, module: str = "foo") -> tuple[str, str] | None:
    """(origin, version) of a module pip installed into ``target``, or None."""
    init = target / module / "__init__.py"
    if not init.exists():
        return None
    scope: dict[str, str] = {}
    exec(init.read_text(), scope)  # noqa: S102 - our own generated wheel
    return scope["ORIGIN"], scope["VERSION"]


def uv_project_locked_locally(sandbox: Sandbox, indexes: Indexes) -> Path:
    """A uv project (no package of its own) that depends on foo, locked against the local
    index: what an attack then edits its ``uv.lock`` from."""
    project = sandbox.home / "proj"
    write_file(project / "pyproject.toml", (
        '[project]\nname = "app"\nversion = "0"\nrequires-python = ">=3.9"\n'
        'dependencies = ["foo"]\n\n[tool.uv]\npackage = false\n'))
    done = subprocess.run(["uv", "lock", "--default-index", indexes.local.url,
                           "--python", sys.executable],
                          cwd=project, env=sandbox.env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return project


def stage_attack(sandbox: Sandbox, indexes: Indexes, command: str, *, shell: str = "bash",
           refused: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` (with TARGET for the install dir) bare, then under wrap."""
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    status = "$status" if shell == "fish" else "$?"
    script = (
        f"cd ~\nPIP_INDEX_URL={indexes.local.url} {command.replace('TARGET', str(bare))}\n"
        f"wrap {command.replace('TARGET', str(wrapped))}\necho status={status}\n"
    )
    done = sandbox.sh(shell, script, **env)
    assert installed(bare) == ("evil", "9.9.9"), f"the staged attack did not work:\n{done.stderr}"
    if refused:
        assert done.stdout.strip().splitlines()[-1] == "status=3", done.stderr
        assert "pipwrap: refused:" in done.stderr
        assert not wrapped.exists()
    else:
        assert installed(wrapped) == ("local", "1.0"), done.stderr
    return done


@dataclass
class Built:
    sdist: Path
    wheel: Path
    pypi: Path  # a find-links stand-in for PyPI holding the wheel and its dependencies

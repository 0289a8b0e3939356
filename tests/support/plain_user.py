"""A user who is not root, for tests of what a person (not an administrator) gets.

Run as root (CI, these machines), the tests make one with ``useradd`` once and run
commands as it; run as a plain user already, that user is the one.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

NAME = "pipwrap-plain"


@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    python: str  # an interpreter this user can run (3.9+)
    workdir: Path  # a directory of theirs, outside root's private ones

    def popen_kwargs(self) -> dict[str, object]:
        """subprocess keywords that run a command as this user, with their groups only."""
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def own_copy(self, root: Path, *relative: str) -> Path:
        """A copy of ``relative`` paths under ``root`` (a checkout) that is this user's.

        A checkout may sit in a directory only its owner can enter (a clone into
        ``mktemp -d``, mode 0700); the user runs its own copy instead, and the directory
        stays as private as it was.
        """
        copy = self.workdir / "checkout"
        for name in relative:
            source, target = root / name, copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
        if os.geteuid() == 0:
            for path in [copy, *copy.rglob("*")]:
                os.chown(path, self.uid, self.gid, follow_symlinks=False)
        return copy

    def run(self, argv: list[str], *, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL,
                              cwd=str(cwd or self.workdir), **self.popen_kwargs())  # type: ignore[call-overload]


def _usable_python(uid: int, gid: int) -> str | None:
    """This interpreter when the user can run it, else the system's python3 (3.9+)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        try:
            done = subprocess.run(
                [candidate, "-I", "-c", "import sys; print(sys.version_info >= (3, 9))"],
                capture_output=True, text=True, timeout=30, check=False, cwd="/",
                **({"user": uid, "group": gid, "extra_groups": []} if os.geteuid() == 0
                   else {}))
        except OSError:  # not theirs to run (a root-only pyenv)
            continue
        if done.returncode == 0 and done.stdout.strip() == "True":
            return candidate
    return None


def ensure() -> User | None:
    """The plain user (made when running as root), or None with no way to have one."""
    if os.geteuid() != 0:
        entry = pwd.getpwuid(os.geteuid())
    else:
        try:
            entry = pwd.getpwnam(NAME)
        except KeyError:
            made = subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/sh", NAME],
                                  capture_output=True, text=True, timeout=30, check=False)
            if made.returncode != 0 and "already exists" not in made.stderr:
                return None
            entry = pwd.getpwnam(NAME)
    python = _usable_python(entry.pw_uid, entry.pw_gid)
    if python is None:
        return None
    workdir = Path(tempfile.mkdtemp(prefix="pipwrap-plain-"))
    if os.geteuid() == 0:
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    return User(entry.pw_name, entry.pw_uid, entry.pw_gid, python, workdir)

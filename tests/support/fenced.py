"""Staging an attack for the fence's tests: the same command bare (the evil Foo 9.9.9
must win there) and under `wrap`, with the pips of the guard's table's ends."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import pips
from tests.support.sandbox import Indexes, Sandbox, installed

EVIL = ("evil", "9.9.9")
PIPS = {"23.2.1": "==23.2.1", "newest": ""}
FENCE = "pipwrap fence: refused"


def pip_bin(label: str) -> Path:
    return pips.pip_python(PIPS[label], label).parent


def stage(sandbox: Sandbox, indexes: Indexes, command: str, shell: str = "bash",
           **env: str) -> subprocess.CompletedProcess[str]:
    bare, wrapped = sandbox.home / "bare", sandbox.home / "wrapped"
    status = "$status" if shell == "fish" else "$?"
    script = (
        f"cd ~\nPIP_INDEX_URL={indexes.local.url} PIP_TARGET={bare} {command.replace('TARGET', str(bare))}\n"
        f"PIP_TARGET={wrapped} wrap {command.replace('TARGET', str(wrapped))}\necho status={status}\n"
    )
    if shell == "fish":
        script = script.replace(f"PIP_INDEX_URL={indexes.local.url} PIP_TARGET={bare} ",
                                f"env PIP_INDEX_URL={indexes.local.url} PIP_TARGET={bare} ")
    done = sandbox.sh(shell, script, **env)
    assert installed(bare) == EVIL, f"the staged attack did not work:\n{done.stderr}"
    assert installed(wrapped) != EVIL, done.stderr
    return done


def fetch(url: str) -> str:
    """A python -c program that prints the status of a GET, or the error and its body."""
    return ("import urllib.request as u, urllib.error as e\n"
            "try:\n"
            f"    print('status', u.urlopen({url!r}, timeout=20).status)\n"
            "except e.HTTPError as x:\n"
            "    print('status', x.code, x.read().decode())\n"
            "except OSError as x:\n"
            "    print('error', x)\n")


def download(url: str) -> str:
    """A python -c program that reads a whole body: ``got SIZE``, or ``cut ERROR``."""
    return ("import urllib.request as u\n"
            "try:\n"
            f"    data = u.urlopen({url!r}, timeout=20).read(); print('got', len(data))\n"
            "except Exception as x:\n"
            "    print('cut', type(x).__name__, x)\n")


def python_c(code: str) -> str:
    return "python -c " + "'" + code.replace("'", "'\\''") + "'"

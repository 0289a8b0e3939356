"""Real pips of every version the guard's table covers, in cached venvs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
INTROSPECT = ROOT / "scripts" / "introspect" / "pip_introspect.py"
GENERATOR = ROOT / "scripts" / "gen_pip_table.py"
CACHE = Path(os.environ.get("PIPWRAP_TEST_CACHE", Path.home() / ".cache" / "pipwrap-tests"))


def clean_env() -> dict[str, str]:
    """The developer's environment without pip/uv settings: these venvs come from PyPI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip_python(requirement: str, label: str) -> Path:
    """The interpreter of a venv holding ``pip<requirement>``, built once and cached."""
    venv = CACHE / f"pip-{label}"
    python = venv / "bin" / "python"
    marker = venv / ".ready"
    # "newest" (no pin) is rebuilt once a day: it must be the registry's newest pip.
    stale = not requirement and marker.exists() and \
        time.time() - marker.stat().st_mtime > 24 * 3600
    if not marker.exists() or stale:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        # --upgrade: the venv starts with the interpreter's own pip, which would satisfy
        # an unpinned `pip` and leave the "newest" venv at the oldest version.
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade",
                        f"pip{requirement}"], check=True, env=clean_env())
        marker.write_text(requirement)
    return python


def ask(python: Path, mode: str, payload: object = None) -> object:
    done = subprocess.run([str(python), "-I", str(INTROSPECT), mode], input=json.dumps(payload),
                          capture_output=True, text=True, check=True, env=clean_env())
    return json.loads(done.stdout)

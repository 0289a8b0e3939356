"""What the permission and tombstone tests share: a client's environment, the CLI, and
pip installing into a target directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import hosting


def client_env(tmp_path: Path) -> dict[str, str]:
    """A person's environment: its own HOME, no pip or uv configuration."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def pipwrap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                          capture_output=True, text=True, check=False, timeout=120)


def pip_install(env: dict[str, str], venv: Path, index: str, target: Path,
                *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                           "--no-cache-dir", "--retries", "0", "--index-url", index,
                           "--target", str(target), *names],
                          env=env, capture_output=True, text=True, check=False, timeout=120)

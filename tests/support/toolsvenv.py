"""The real installers the tool matrices run (pip-tools, tox, hatch, pipx, build, pdm,
poetry, pex), installed once from PyPI into a cached venv (``$PIPWRAP_TEST_CACHE/
fence-matrix``), with the build tools' wheels downloaded once next to it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.pips import CACHE, clean_env

# Current versions on 2026-11-25; hishel<2 keeps pdm 2.29.4 alive (DESIGN.md).
TOOLS = ("pip-tools==7.6.2", "tox==4.67.15", "hatch==1.18.2", "pipx==1.18.4", "build==1.6.1",
         "pdm==2.29.4", "hishel==1.4.0", "poetry==2.5.1", "pex==2.105.2")
# What build isolation, pipx and hatch fetch from the index besides the project's own.
BUILD_TOOLS = ("pip", "setuptools", "wheel", "hatchling")


def tools_venv() -> Path:
    """The venv (its ``bin`` holds every tool) and, in ``wheelhouse``, BUILD_TOOLS' wheels."""
    venv = CACHE / "fence-matrix"
    marker = venv / ".ready"
    pins = " ".join(TOOLS)
    if not marker.exists() or marker.read_text() != pins:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "-q", *TOOLS],
                       check=True, env=clean_env())
        house = venv / "wheelhouse"
        subprocess.run([str(venv / "bin/python"), "-m", "pip", "download", "-q",
                        "--only-binary", ":all:", "-d", str(house), *BUILD_TOOLS],
                       check=True, env=clean_env())
        marker.write_text(pins)
    return venv

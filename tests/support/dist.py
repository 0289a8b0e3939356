"""pipwrap as users get it: the built sdist and wheel, and a stand-in for PyPI.

The distributions are built once per session (``python -m build``: the sdist, then the
wheel from the sdist, as a packager or PyPI's uploader does) from a copy of this checkout
in which the caches a developer's tree holds (``.venv``, ``__pycache__``,
``.pytest_cache`` ...) are planted on purpose, so that the sdist's file list is tested
against them.

"PyPI" is a find-links directory holding the built wheel and its dependencies (plus pip,
setuptools and wheel, which pipx and build isolation fetch): the name ``pipwrap-cli`` is
not published yet, and tests must not depend on the network. The dependencies are
downloaded once into the test cache (``PIPWRAP_TEST_CACHE``) and reused offline after.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.shells import REPO

# The caches planted in the copy the distributions are built from: none may reach the sdist.
PLANTED = (".venv/pyvenv.cfg", ".venv/bin/python", "pipwrap/__pycache__/planted.cpython-311.pyc",
           "tests/__pycache__/planted.cpython-311.pyc", ".pytest_cache/v/cache/lastfailed",
           ".mypy_cache/3.10/planted.json", ".ruff_cache/planted", "planted.egg-info/PKG-INFO")
_SKIP = shutil.ignore_patterns(".git", ".venv", "dist", "build", "*.egg-info", "__pycache__",
                               ".pytest_cache", ".mypy_cache", ".ruff_cache")
# What the build tools and pipx fetch from an index besides the wheel's own dependencies.
TOOLS = ("pip", "setuptools", "wheel")


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without its pip/uv sources (see DESIGN.md)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            **extra}


def build(out: Path) -> tuple[Path, Path]:
    """(sdist, wheel) of this checkout, built in ``out`` from a copy with planted caches."""
    source = out / "source"
    shutil.copytree(REPO, source, ignore=_SKIP, symlinks=True)
    for name in PLANTED:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("planted by tests/support/dist.py\n")
    dist = out / "dist"
    # --no-isolation: hatchling is in the test environment, so no download per session;
    # scripts/test.sh builds once more with isolation, as a packager does.
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist),
                    str(source)], check=True, capture_output=True, text=True, env=clean_env())
    (sdist,) = dist.glob("*.tar.gz")
    (wheel,) = dist.glob("*.whl")
    return sdist, wheel


def cache_dir() -> Path:
    return Path(os.environ.get("PIPWRAP_TEST_CACHE") or Path.home() / ".cache/pipwrap-tests")


def stand_in_pypi(wheel: Path, out: Path) -> Path:
    """A find-links directory holding ``wheel``, its dependencies (with the ``serve``
    extra's: the quick start runs `pipwrap serve`) and TOOLS."""
    house = cache_dir() / "wheelhouse"
    house.mkdir(parents=True, exist_ok=True)
    download = [sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:",
                "-d", str(house), f"{wheel}[serve]", *TOOLS]
    offline = subprocess.run([*download, "--no-index", "--find-links", str(house)],
                             capture_output=True, text=True, env=clean_env(), check=False)
    if offline.returncode != 0:  # the first run, or the dependencies changed: fetch them once
        subprocess.run(download, check=True, capture_output=True, text=True, env=clean_env())
    index = out / "pypi"
    index.mkdir()
    for path in house.glob("*.whl"):
        if not path.name.startswith("pipwrap_cli-"):
            (index / path.name).symlink_to(path)
    shutil.copy2(wheel, index / wheel.name)
    for stale in house.glob("pipwrap_cli-*"):
        stale.unlink()
    return index


def from_stand_in(index: Path) -> dict[str, str]:
    """Environment that makes pip, uv and pipx take every package from ``index`` alone."""
    return {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index), "UV_OFFLINE": "1",
            "UV_FIND_LINKS": str(index), "UV_PYTHON_DOWNLOADS": "never"}

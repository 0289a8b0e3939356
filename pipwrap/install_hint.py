"""How to add a package to the environment pipwrap runs in, as the user installed it.

`pipx install` and `uv tool install` give pipwrap a private environment where
`pip install X` would not reach, so a hint naming plain pip would send the user astray.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

# Importable module -> the distribution that provides it.
_PACKAGES = {"tomlkit": "tomlkit", "tomli": "tomli", "platformdirs": "platformdirs",
             "keyring": "keyring"}


def how_installed() -> str:
    """"pipx", "uv" or "pip" (any other environment, a checkout included)."""
    prefix = Path(sys.prefix)
    if (prefix / "pipx_metadata.json").exists():
        return "pipx"
    if (prefix / "uv-receipt.toml").exists():
        return "uv"
    return "pip"


def install_command(package: str) -> str:
    method = how_installed()
    if method == "pipx":
        return f"pipx inject pipwrap {package}"
    if method == "uv":
        return f"uv tool install --with {package} pipwrap"
    return f"{shlex.quote(sys.executable)} -m pip install {package}"


def missing_module(module: str) -> str:
    top = module.partition(".")[0]
    package = _PACKAGES.get(top)
    if package is None:
        return (f"this Python ({sys.executable}) has no module {top!r}, which pipwrap "
                "needs here; reinstall pipwrap with its dependencies")
    return (f"the Python package {package!r} is missing from {sys.executable}; "
            f"install it with: {install_command(package)}")

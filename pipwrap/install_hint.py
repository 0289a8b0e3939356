"""How to add a package to the environment pipwrap runs in, as the user installed it.

`pipx install` and `uv tool install` give pipwrap a private environment where
`pip install X` would not reach, so a hint naming plain pip would send the user astray.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

# The distribution's name on PyPI. "pipwrap" there is an unrelated project: the command and
# the import name are "pipwrap", the package to install is this.
DISTRIBUTION = "pipwrap-cli"

# Importable module -> the distribution that provides it.
_PACKAGES = {"tomlkit": "tomlkit", "tomli": "tomli", "platformdirs": "platformdirs",
             "keyring": "keyring", "cryptography": "cryptography", "packaging": "packaging",
             "bcrypt": "bcrypt"}


def how_installed() -> str:
    """"pipx", "uv" or "pip" (any other environment, a checkout included)."""
    prefix = Path(sys.prefix)
    if (prefix / "pipx_metadata.json").exists():
        return "pipx"
    if (prefix / "uv-receipt.toml").exists():
        return "uv"
    return "pip"


def _uv_source() -> str | None:
    """Where `uv tool install` took pipwrap from (a path, git or URL), per uv's receipt.

    The hint must reinstall from that same place (a checkout, a wheel, git); installed
    by name, the source is the distribution's name on PyPI.
    """
    try:
        from pipwrap.tomlfile import toml_module

        receipt = toml_module().loads((Path(sys.prefix) / "uv-receipt.toml").read_text("utf-8"))
    except (ImportError, OSError, ValueError):
        return None
    for requirement in receipt.get("tool", {}).get("requirements", []):
        if not isinstance(requirement, dict) or not _is_ours(requirement.get("name")):
            continue
        # The extras it was installed with (`[serve]`): a reinstall without them would
        # take granian away while adding bcrypt.
        extras = requirement.get("extras")
        marked = (f"[{','.join(extras)}]" if isinstance(extras, list) and extras
                  and all(isinstance(extra, str) for extra in extras) else "")
        if isinstance(requirement.get("editable"), str):
            return f"--editable {shlex.quote(requirement['editable'] + marked)}"
        for key in ("directory", "path"):
            if isinstance(requirement.get(key), str):
                return shlex.quote(requirement[key] + marked)
        for key, prefix in (("url", ""), ("git", "git+")):
            if isinstance(requirement.get(key), str):
                source = prefix + requirement[key]
                return shlex.quote(f"{DISTRIBUTION}{marked} @ {source}" if marked else source)
        return shlex.quote(DISTRIBUTION + marked)
    return None


def _is_ours(name: object) -> bool:
    # "pipwrap" too: a receipt written before the rename, from a checkout.
    return isinstance(name, str) and re.sub(r"[-_.]+", "-", name).lower() in (
        DISTRIBUTION, "pipwrap")


def install_command(package: str) -> str:
    method = how_installed()
    if method == "pipx":
        # pipx names the environment after the package it installed (and its --suffix).
        return f"pipx inject {shlex.quote(Path(sys.prefix).name)} {package}"
    if method == "uv":
        source = _uv_source()
        if source is not None:
            return f"uv tool install --with {package} {source}"
        return f"uv pip install --python {shlex.quote(sys.executable)} {package}"
    return f"{shlex.quote(sys.executable)} -m pip install {package}"


def missing_module(module: str) -> str:
    top = module.partition(".")[0]
    package = _PACKAGES.get(top)
    if package is None:
        return (f"this Python ({sys.executable}) has no module {top!r}, which pipwrap "
                "needs here; reinstall pipwrap with its dependencies")
    return (f"the Python package {package!r} is missing from {sys.executable}; "
            f"install it with: {install_command(package)}")

"""Read pip's own configuration layers the way pip does, without running pip.

``pip config list`` is slow and prints passwords; this module reproduces pip's file
discovery (pip/_internal/configuration.py) so that doctor can report each setting with
its source, and the shell can watch the files for changes.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

CONFIG_BASENAME = "pip.conf"


class Layer(NamedTuple):
    # "global", "user", "site" or "env-file": pip loads them in that order, a later layer
    # overriding an earlier one.
    kind: str
    path: Path


class Setting(NamedTuple):
    key: str  # normalized: "extra-index-url"
    value: str
    source: str  # "/etc/pip.conf [global]" or "env PIP_FIND_LINKS"
    section: str  # "global", "install", ... or ":env:"
    path: Path | None  # the file, None for the environment


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def global_files(environ: Mapping[str, str]) -> list[Path]:
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    paths = [Path(d) / "pip" / CONFIG_BASENAME for d in dirs.split(os.pathsep) if d]
    return [*paths, Path("/etc") / CONFIG_BASENAME]


def user_files(environ: Mapping[str, str]) -> list[Path]:
    home = _home(environ)
    xdg = environ.get("XDG_CONFIG_HOME") or str(home / ".config")
    return [home / ".pip" / CONFIG_BASENAME, Path(xdg) / "pip" / CONFIG_BASENAME]


def site_files(environ: Mapping[str, str], prefixes: Sequence[str] = ()) -> list[Path]:
    """pip's site layer is ``sys.prefix/pip.conf`` of the interpreter that runs it: the
    prefixes the guard found for the command, and the active venv's (reading one layer
    too many only costs a scan)."""
    chosen = [*prefixes, *([environ["VIRTUAL_ENV"]] if environ.get("VIRTUAL_ENV") else [])]
    found: list[Path] = []
    for prefix in chosen:
        path = Path(prefix) / CONFIG_BASENAME
        if path not in found:
            found.append(path)
    return found


def layers(environ: Mapping[str, str], site_prefixes: Sequence[str] = ()) -> list[Layer]:
    """The files pip would load, in pip's order, honoring PIP_CONFIG_FILE."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    found = [Layer("global", p) for p in global_files(environ)]
    if not (env_file and Path(env_file).exists()):
        found += [Layer("user", p) for p in user_files(environ)]
    found += [Layer("site", p) for p in site_files(environ, site_prefixes)]
    if env_file:
        found.append(Layer("env-file", Path(env_file)))
    return found


def watched_files(environ: Mapping[str, str]) -> list[Path]:
    return [layer.path for layer in layers(environ)]


def normalize_key(key: str) -> str:
    key = key.lower().replace("_", "-")
    return key[2:] if key.startswith("--") else key


def read_file(path: Path) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for each setting in one pip config file."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return
    for section in parser.sections():
        for key, value in parser.items(section):
            yield section, normalize_key(key), value


def settings(environ: Mapping[str, str], command: str = "install",
             site_prefixes: Sequence[str] = ()) -> list[Setting]:
    """Every setting pip would see for ``command``, lowest priority first."""
    found: list[Setting] = []
    for layer in layers(environ, site_prefixes):
        if not layer.path.is_file():
            continue
        for section, key, value in read_file(layer.path):
            if section in ("global", command):
                found.append(Setting(key, value, f"{layer.path} [{section}]", section, layer.path))
    for name, value in environ.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE" and value:
            key = normalize_key(name[4:])
            found.append(Setting(key, value, f"env {name}", ":env:", None))
    return found

"""Read pip's own configuration layers the way pip does, without running pip.

``pip config list`` is slow and prints passwords; this module reproduces pip's file
discovery (pip/_internal/configuration.py) so that doctor can report each setting with
its source, and the shell can watch the files for changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

CONFIG_BASENAME = "pip.conf"


class Layer:
    """One config file pip would load. ``kind`` is "global", "user", "site" or
    "env-file": pip loads them in that order, a later layer overriding an earlier one."""

    __slots__ = ("kind", "path")

    def __init__(self, kind: str, path: str) -> None:
        self.kind = kind
        self.path = path

    def is_file(self) -> bool:
        return os.path.isfile(self.path)


class Setting:
    """One setting: ``key`` normalized ("extra-index-url"); ``source`` like
    "/etc/pip.conf [global]" or "env PIP_FIND_LINKS"; ``section`` "global", "install",
    ... or ":env:"; ``path`` the file, None for the environment."""

    __slots__ = ("key", "path", "section", "source", "value")

    def __init__(self, key: str, value: str, source: str, section: str,
                 path: str | None) -> None:
        self.key = key
        self.value = value
        self.source = source
        self.section = section
        self.path = path


def _home(environ: Mapping[str, str]) -> str:
    return environ.get("HOME") or os.path.expanduser("~")


def global_files(environ: Mapping[str, str]) -> list[str]:
    dirs = environ.get("XDG_CONFIG_DIRS") or "/etc/xdg"
    paths = [os.path.join(d, "pip", CONFIG_BASENAME) for d in dirs.split(os.pathsep) if d]
    return [*paths, os.path.join("/etc", CONFIG_BASENAME)]


def user_files(environ: Mapping[str, str]) -> list[str]:
    home = _home(environ)
    xdg = environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return [os.path.join(home, ".pip", CONFIG_BASENAME), os.path.join(xdg, "pip", CONFIG_BASENAME)]


def site_files(environ: Mapping[str, str], prefixes: Sequence[str] = ()) -> list[str]:
    """pip's site layer is ``sys.prefix/pip.conf`` of the interpreter that runs it: the
    prefixes the guard found for the command, and the active venv's (reading one layer
    too many only costs a scan)."""
    chosen = [*prefixes, *([environ["VIRTUAL_ENV"]] if environ.get("VIRTUAL_ENV") else [])]
    found: list[str] = []
    for prefix in chosen:
        path = os.path.join(prefix, CONFIG_BASENAME)
        if path not in found:
            found.append(path)
    return found


def layers(environ: Mapping[str, str], site_prefixes: Sequence[str] = ()) -> list[Layer]:
    """The files pip would load, in pip's order, honoring PIP_CONFIG_FILE."""
    env_file = environ.get("PIP_CONFIG_FILE")
    if env_file == os.devnull:
        return []
    found = [Layer("global", p) for p in global_files(environ)]
    if not (env_file and os.path.exists(env_file)):
        found += [Layer("user", p) for p in user_files(environ)]
    found += [Layer("site", p) for p in site_files(environ, site_prefixes)]
    if env_file:
        found.append(Layer("env-file", env_file))
    return found


def watched_files(environ: Mapping[str, str]) -> list[str]:
    return [layer.path for layer in layers(environ)]


def normalize_key(key: str) -> str:
    """The option a config key or PIP_* name (without the prefix) means to pip: any case,
    ``_`` for ``-``, leading dashes dropped (``Extra_Index_URL`` -> ``extra-index-url``)."""
    key = key.lower().replace("_", "-")
    return key[2:] if key.startswith("--") else key


def read_file(path: str) -> Iterator[tuple[str, str, str]]:
    """(section, key, value) for each setting in one pip config file."""
    import configparser

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
        if not layer.is_file():
            continue
        for section, key, value in read_file(layer.path):
            if section in ("global", command):
                found.append(Setting(key, value, f"{layer.path} [{section}]", section, layer.path))
    for name, value in environ.items():
        if name.startswith("PIP_") and name != "PIP_CONFIG_FILE" and value:
            key = normalize_key(name[4:])
            found.append(Setting(key, value, f"env {name}", ":env:", None))
    return found

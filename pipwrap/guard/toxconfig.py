"""Which configuration file tox reads, found the way tox 4 finds it.

tox/config/source/discover.py (4.32 and its main branch): without ``-c``/``--conf``, tox
looks in the working directory and then in each parent for ``tox.ini``, ``setup.cfg``
with ``[tox:tox]``, ``pyproject.toml`` with ``[tool.tox]`` (native or
``legacy_tox_ini``) and ``tox.toml``, and stops at the first directory holding one of
them. A ``pyproject.toml`` without ``[tool.tox]`` does not stop it, so a project's own
pyproject.toml is no guide to where tox's settings are. ``-c`` names a file, or a
directory searched the same way but not above it; the option's default may also come from
``TOX_CONFIG_FILE`` or tox's user config file. ``--root`` and ``--workdir`` choose no
configuration (without one, tox assumes an empty tox.ini).

Every file of the directory tox stops at is read, not only the first in tox's order: the
order has changed between tox releases, and reading one more file only ever refuses more.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Sequence

from pipwrap import tomlfile
from pipwrap.guard.context import Context

CONFIG_NAMES = ("tox.ini", "setup.cfg", "pyproject.toml", "tox.toml")
# tox's short options that take no value (every tox 4 command's parser), the ones a
# cluster such as `-qc FILE` may hold before `c`.
_SHORT_FLAGS = frozenset("abdhlnoqrv")


def _option_values(args: Sequence[str], letter: str, long: str, shortest: str) -> list[str]:
    """Every value of the option ``-LETTER``/``LONG`` on a tox command line.

    argparse accepts unique prefixes of long options (``shortest`` is the shortest that is
    unique among tox's options), ``--long=V``, ``-xV``, ``-x=V`` and clusters of flags
    ending in the letter (``-qc V``)."""
    values = []
    for index, token in enumerate(args):
        following = args[index + 1] if index + 1 < len(args) else None
        if token == "--":
            break
        value = None
        if token.startswith("--"):
            name, equals, inline = token.partition("=")
            if len(name) >= len(shortest) and long.startswith(name):
                value = inline if equals else following
        elif token.startswith("-"):
            for position, found in enumerate(token[1:], start=1):
                if found == letter:
                    rest = token[position + 1:]
                    value = rest.removeprefix("=") if rest else following
                    break
                if found not in _SHORT_FLAGS:
                    break  # an option that takes the rest of the word as its value
        if value is not None:
            values.append(value)
    return values


def overrides(args: Sequence[str], ctx: Context) -> list[tuple[str, str]]:
    """(where, text) of each ``-x``/``--override`` and ``TOX_OVERRIDE`` entry: each edits
    the configuration tox reads (``testenv.set_env+=PIP_INDEX_URL=...``). Both apply: the
    variable (``;``-separated) is the option's default, and argparse appends to it."""
    found = [("command line", f"tox -x {value}")
             for value in _option_values(args, "x", "--override", "--ov")]
    for name in ("TOX_OVERRIDE", "TOXOVERRIDE"):
        found += [(f"environment ({name})", f"{name}={entry}")
                  for entry in ctx.environ.get(name, "").split(";") if entry]
    return found


def _default_value(ctx: Context) -> str | None:
    """``-c``'s default: TOX_CONFIG_FILE (or TOXCONFIG_FILE), else ``config_file`` in the
    ``[tox]`` section of tox's user config file (tox/config/cli/env_var.py and ini.py)."""
    for name in ("TOX_CONFIG_FILE", "TOXCONFIG_FILE"):
        if name in ctx.environ:
            return ctx.environ[name]
    user_file = ctx.environ.get("TOX_USER_CONFIG_FILE")
    if user_file is None:
        home = ctx.environ.get("HOME") or os.path.expanduser("~")
        config_home = ctx.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
        user_file = os.path.join(config_home, "tox", "config.ini")
    data = ctx.read_file(os.path.join(ctx.cwd, user_file), "tox user config")
    if data is None:
        return None
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(data.decode("utf-8", errors="replace"), user_file)
    except configparser.Error:
        return None  # tox logs the error and ignores the file
    return parser.get("tox", "config_file", fallback=None)


def _holds_tox_config(path: str, ctx: Context) -> bool:
    name = os.path.basename(path)
    if not os.path.isfile(path):
        return False
    if name in ("tox.ini", "tox.toml"):
        return True
    text = (ctx.read_file(path, "tox configuration") or b"").decode("utf-8", errors="replace")
    if name == "setup.cfg":
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read_string(text, path)
        except configparser.Error:
            return True  # tox stops on it with an error: reading it anyway costs nothing
        return parser.has_section("tox:tox")
    from pipwrap.errors import PipwrapError

    try:
        tool = tomlfile.loads(text, path).get("tool")
    except PipwrapError:
        return True  # tox stops on a pyproject.toml it cannot parse
    return isinstance(tool, dict) and "tox" in tool


def _in_directory(directory: str, ctx: Context) -> list[str]:
    return [path for path in (os.path.join(directory, name) for name in CONFIG_NAMES)
            if _holds_tox_config(path, ctx)]


def config_files(args: Sequence[str], ctx: Context, cwd: str | None = None) -> list[str]:
    """The files tox run with ``args`` in ``cwd`` (``ctx.cwd``) reads its configuration
    from."""
    cwd = ctx.cwd if cwd is None else cwd
    given = _option_values(args, "c", "--conf", "--con")  # argparse keeps the last
    chosen = given[-1] if given else None
    if chosen is None:
        chosen = _default_value(ctx)
    if chosen:
        path = os.path.normpath(os.path.join(cwd, chosen))
        if os.path.isdir(path):
            return _in_directory(path, ctx)
        return [path] if os.path.isfile(path) else []  # a missing one: tox stops
    directory = os.path.abspath(cwd)
    while True:
        found = _in_directory(directory, ctx)
        parent = os.path.dirname(directory)
        if found or parent == directory:
            return found
        directory = parent

"""Project settings that switch a wrapped child's proxy off where the guard does not look
(issue 22's holes), for `pipwrap doctor`.

The guard refuses the sources it reads. These it lets through, by design: tox's
``install_command``, a tox ``set_env = file|NAME`` dotenv file, variable names written
with TOML escapes or quotes (``"PIP\\u005FPROXY"``, ``"NO_PROXY"``), pip-tools'
``pip-args``, and ``REQUEST_METHOD`` in the environment (uv then drops every proxy
variable). Patching each would only wait for the next file format; the fence's network
namespace is what holds them all. Where isolation is off or unavailable they are real
holes, and doctor must say so: it asks here.

Each is read with the guard's own readers, so doctor cannot disagree with the guard:
where tox and pip-tools find their configuration (toxconfig, installers), which names
put a source back or route past the fence (projects.env_settings), and what pip makes of a
command line (launchers, pip).
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from pipwrap import tomlfile
from pipwrap.errors import PipwrapError, RefusedError
from pipwrap.guard.context import Context
from pipwrap.guard.lockfiles import line_of


@dataclass(frozen=True)
class ProxyOff:
    tool: str  # the tool that reads the setting
    where: str  # "file:line", or "environment"
    setting: str  # as written (URLs unredacted: the caller redacts)
    effect: str  # what it does to a wrapped command
    guard: str  # what the guard does with it


_INSTALL_COMMAND = re.compile(r"^\s*install_command\s*[=:]\s*(.*?)\s*$")
_DOTENV = re.compile(r"file\|\s*([^\s,\"'}\]]+)")
_ESCAPE = re.compile(r"\\u([0-9A-Fa-f]{4})|\\U([0-9A-Fa-f]{8})")


def _refusal(check: object, *args: object, **kwargs: object) -> str | None:
    """The guard's reason for refusing, in its own words (first sentence), or None."""
    try:
        check(*args, **kwargs)  # type: ignore[operator]
    except RefusedError as exc:
        reason = str(exc).splitlines()[0].removeprefix("refused: ")
        return reason.removeprefix("command line: ").split(". ")[0].rstrip(".")
    except PipwrapError:
        return None
    return None


def _text(path: str, ctx: Context) -> str:
    try:
        data = ctx.read_file(path, "doctor")
    except RefusedError:  # not a regular file: the guard names it for the tool's command
        return ""
    return (data or b"").decode("utf-8", errors="replace")


def _install_command(words: list[str], ctx: Context) -> str | None:
    """What the guard says of a tox ``install_command`` run as a command line."""
    argv = [w for w in words if "{" not in w]  # {opts} {packages}: filled in by tox
    return _refusal(ctx.check_command, argv, ctx, 1)


def _tox_install_commands(path: str, text: str, ctx: Context) -> Iterator[ProxyOff]:
    found: list[tuple[int, str, list[str]]] = []
    if path.endswith(".toml"):
        try:
            document = tomlfile.loads(text, path)
        except PipwrapError:
            return  # the guard refuses `wrap tox` on it, naming the error
        numbers = [n for n, line in enumerate(text.splitlines(), 1) if "install_command" in line]
        values = list(_values_of(document, "install_command"))
        for number, value in zip(numbers, values):
            words = _split(value) if isinstance(value, str) else [str(v) for v in value]
            found.append((number, " ".join(words), words))
    else:
        for number, line in enumerate(text.splitlines(), 1):
            match = _INSTALL_COMMAND.match(line)
            if match and match.group(1):
                found.append((number, match.group(1), _split(match.group(1))))
    for number, written, words in found:
        reason = _install_command(words, ctx)
        if reason:
            yield ProxyOff("tox", f"{path}:{number}", f"install_command = {written}",
                           "tox installs with this command, which the guard does not read "
                           "(wrap tox runs)", f"on a command line the guard refuses it: {reason}")


def _split(value: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError:
        return value.split()


def _values_of(node: object, key: str) -> Iterator[str | list[object]]:
    if isinstance(node, dict):
        for name, value in node.items():
            if name == key and isinstance(value, (str, list)):
                yield value
            else:
                yield from _values_of(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from _values_of(item, key)


def _named(description: str) -> str:
    """env_settings' description without its "for the environments it builds": the
    effect says which tool builds them."""
    return description.replace(" for the environments it builds", "")


def _dotenv_files(path: str, text: str, ctx: Context) -> Iterator[ProxyOff]:
    """tox's ``set_env = file|NAME``: the variables of NAME, read as the guard reads
    set_env itself."""
    from pipwrap.guard.projects import env_settings

    for number, line in enumerate(text.splitlines(), 1):
        for name in _DOTENV.findall(line):
            dotenv = os.path.normpath(os.path.join(os.path.dirname(path), name))
            found = list(env_settings(dotenv, _text(dotenv, ctx)))
            if not found:
                continue
            yield ProxyOff("tox", f"{path}:{number}", line.strip(),
                           f"tox sets the variables of {dotenv} for its environments",
                           "the guard does not read that file")
            for _tool, where, description in found:
                yield ProxyOff("tox", where, _named(description), f"through {path}:{number}",
                    "written in the tox configuration, the guard refuses it; in a dotenv "
                    "file it does not see it")


def _escaped_names(tool: str, path: str, text: str) -> Iterator[ProxyOff]:
    """Variable names the guard's line reading misses because TOML spells them with
    escapes or quotes: each line decoded, then read as the guard reads it."""
    from pipwrap.guard.projects import env_settings

    def decoded(line: str) -> str:
        line = _ESCAPE.sub(lambda m: chr(int(m.group(1) or m.group(2), 16)), line)
        return line.replace('"', " ").replace("'", " ")

    seen = set(env_settings(path, text))
    plain = "\n".join(decoded(line) for line in text.splitlines())
    for found in env_settings(path, plain):
        if found not in seen:
            _tool, where, description = found
            yield ProxyOff(tool, where, _named(description),
                           f"{tool} sets it for its environments",
                           "the guard's reading of the file misses this spelling")


def _pip_args(path: str, ctx: Context) -> Iterator[ProxyOff]:
    """pip-tools' ``pip-args`` (in ``[tool.pip-tools]`` or its compile/sync tables)."""
    from pipwrap.guard import pip

    text = _text(path, ctx)
    try:
        document = tomlfile.loads(text, path)
    except PipwrapError:
        return  # the guard refuses `wrap pip-compile` on it, naming the error
    tool = document.get("tool")
    table = tool.get("pip-tools") if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        return
    # pip-tools merges [tool.pip-tools.compile] or .sync into the table.
    tables = [table, *(table[n] for n in ("compile", "sync") if isinstance(table.get(n), dict))]
    for section in tables:
        for key, value in section.items():
            if key.lstrip("-").replace("-", "_").lower() != "pip_args" \
                    or not isinstance(value, str):
                continue
            reason = _refusal(pip.check_args, _split(value), ctx, "command line",
                              subcommand="install", program="pip")
            if reason:
                yield ProxyOff("pip-tools", f"{path}:{line_of(text, value)}",
                               f"{key} = {value}", "pip-tools passes it to pip, which the "
                               "guard does not read (wrap pip-compile runs)",
                               f"given to pip on a command line the guard refuses it: {reason}")


def findings(ctx: Context, root: str | None, tools: list[str]) -> list[ProxyOff]:
    """Every such setting for the tools ``tools`` of the project at ``root``, and in the
    environment."""
    from pipwrap.guard import installers, toxconfig

    found: list[ProxyOff] = []
    if "tox" in tools:
        for path in toxconfig.config_files((), ctx, ctx.cwd):
            text = _text(path, ctx)
            found += _tox_install_commands(path, text, ctx)
            found += _dotenv_files(path, text, ctx)
            if path.endswith(".toml"):
                found += _escaped_names("tox", path, text)
    if "hatch" in tools and root is not None:
        for name in ("hatch.toml", "pyproject.toml"):
            path = os.path.join(root, name)
            if os.path.isfile(path) and (name == "hatch.toml" or "tool.hatch" in
                                         _text(path, ctx)):
                found += _escaped_names("hatch", path, _text(path, ctx))
    if "pip-tools" in tools:
        for path in installers.piptools_config_files((), ctx):
            found += _pip_args(path, ctx)
    if "REQUEST_METHOD" in ctx.environ:
        found.append(ProxyOff(
            "uv", "environment", f"REQUEST_METHOD={ctx.environ['REQUEST_METHOD']}",
            "uv drops every proxy variable while it is set (its httpoxy guard)",
            "wrap leaves it in the environment"))
    return list(dict.fromkeys(found))

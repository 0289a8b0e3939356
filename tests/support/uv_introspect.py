"""Read a real uv's command tree, options and environment variables from its --help.

Used by scripts/gen_uv_table.py to write pipwrap/guard/uv_table.py and by the
differential tests to compare that table with the uv installed for the tests.
"""

from __future__ import annotations

import re
import subprocess

_OPTION = re.compile(r"^\s{2,6}(?:-(?P<short>[A-Za-z]), )?--(?P<long>[a-z0-9][a-z0-9-]*)"
                     r"(?P<value>(?:[ =]<[^>]+>|\s\[[^\]]+\]\.*|\.\.\.)?)")
_ENV = re.compile(r"\[env:\s*[`\"]?(?P<name>UV_[A-Z0-9_]+)")
_COMMAND = re.compile(r"^\s{2}(?P<name>[a-z][a-z0-9-]*)\s{2,}\S")


def _help(uv: str, path: tuple[str, ...]) -> str:
    done = subprocess.run([uv, *path, "--help"], capture_output=True, text=True, check=True)
    return done.stdout


def _subcommands(text: str) -> list[str]:
    names: list[str] = []
    section = False
    for line in text.splitlines():
        if line.startswith("Commands:"):
            section = True
            continue
        if section:
            if not line.strip():
                break
            match = _COMMAND.match(line)
            if match and match.group("name") != "help":
                names.append(match.group("name"))
    return names


def options(text: str) -> dict[str, bool]:
    """{"--long" or "-s": takes a value} for one help page."""
    found: dict[str, bool] = {}
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match is None:
            continue
        value = match.group("value") or ""
        takes = "<" in value
        found["--" + match.group("long")] = takes
        if match.group("short"):
            found["-" + match.group("short")] = takes
    return found


def tree(uv: str) -> tuple[str, dict[str, dict[str, bool]], set[str]]:
    """(version, {"pip install": options, ...}, every UV_* variable any page names)."""
    version = subprocess.run([uv, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    commands: dict[str, dict[str, bool]] = {}
    variables: set[str] = set()
    pending: list[tuple[str, ...]] = [()]
    while pending:
        path = pending.pop()
        text = _help(uv, path)
        variables.update(m.group("name") for m in _ENV.finditer(text))
        commands[" ".join(path)] = options(text)
        pending += [(*path, name) for name in _subcommands(text)]
    return version, commands, variables

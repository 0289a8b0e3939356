"""Read a real uv's command tree, options and environment variables from its --help.

Used by scripts/gen_uv_table.py, which writes pipwrap/guard/uv_table.py and, with
``--check``, tells the tests whether that file is still what the installed uv lists.
Standard library only.
"""

from __future__ import annotations

import re
import subprocess

# "  -w, --with <WITH>", "      --no-cache", "  -q, --quiet...": clap's help lines. A line
# that starts like an option but does not match is an error, not a skip (see options()).
_OPTION = re.compile(r"^\s{2,6}(?:-(?P<short>[A-Za-z]), )?--(?P<long>[a-z0-9][a-z0-9-]*)"
                     r"(?P<value>(?: <[^>]+>|\.\.\.)?)(?=\s|$)")
_OPTION_LIKE = re.compile(r"^\s{2,6}-")
_ENV = re.compile(r"\[env:\s*[`\"]?(?P<name>UV_[A-Z0-9_]+)")
_COMMAND = re.compile(r"^\s{2}(?P<name>[a-z][a-z0-9-]*)\s{2,}\S")

# One option as a help page lists it: (long name, short letter or "", takes a value).
Option = tuple[str, str, bool]


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


def options(text: str, where: str = "") -> list[Option]:
    """Every option one help page lists, in its order."""
    found: list[Option] = []
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match is None:
            if _OPTION_LIKE.match(line):
                raise ValueError(f"uv {where} --help: cannot read the option line {line!r}")
            continue
        found.append(("--" + match.group("long"), match.group("short") or "",
                      "<" in match.group("value")))
    return found


def _accepts(uv: str, path: str, option: Option) -> bool:
    """Whether ``uv PATH OPTION [x] --help`` gets past clap's check for unknown arguments
    (a bad value is another error: the option itself was known)."""
    long, _short, takes = option
    done = subprocess.run([uv, *path.split(), long, *(["x"] if takes else []), "--help"],
                          capture_output=True, text=True, check=False)
    return "unexpected argument" not in done.stderr


def tree(uv: str) -> tuple[str, dict[str, list[Option]], set[Option], set[str]]:
    """(version, {"" for uv itself, "pip install", ...: its options}, the global options,
    every UV_* variable any page names).

    A global option (clap's ``global = true``) is one ``uv`` lists that every command
    accepts too; some pages hide one (``uv pip compile`` does not show ``--no-config``),
    so a page that does not list it is asked."""
    version = subprocess.run([uv, "--version"], capture_output=True, text=True,
                             check=True).stdout.split()[1]
    commands: dict[str, list[Option]] = {}
    variables: set[str] = set()
    pending: list[tuple[str, ...]] = [()]
    while pending:
        path = pending.pop()
        text = _help(uv, path)
        variables.update(m.group("name") for m in _ENV.finditer(text))
        commands[" ".join(path)] = options(text, " ".join(path))
        pending += [(*path, name) for name in _subcommands(text)]
    globals_ = {option for option in commands[""]
                if all(option in listed or _accepts(uv, path, option)
                       for path, listed in commands.items())}
    return version, dict(sorted(commands.items())), globals_, variables

"""uv's command line, read as uv (clap) reads it, for the uv version in uv_table.

clap takes ``--opt value`` and ``--opt=value``, clustered short flags, and global
options anywhere after ``uv``; it has no prefix abbreviations. Every option is looked up
in the table generated from uv's own help pages (plus the hidden aliases listed here);
an option uv does not list is refused, since pipwrap cannot say what it does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pipwrap.guard import uv_table
from pipwrap.guard.context import Context

SOURCE = {
    "--index": "adds a package index",
    "--default-index": "replaces the profile's index for this command",
    "--index-url": "replaces the profile's index for this command",
    "--extra-index-url": "adds a second package index (dependency confusion)",
    "--find-links": "adds a second package source (a directory or page of archives)",
    "--index-strategy": "can merge versions across indexes (dependency confusion)",
    "--config-file": "loads a uv.toml that can add indexes",
    "--allow-insecure-host": "turns off TLS verification and lets an http:// source in",
    "--env-file": "loads variables for the command that can name a package source",
    "--torch-backend": "adds PyTorch's own index for torch packages",
    "--python-downloads-json-url": "downloads Python itself from elsewhere",
    "--mirror": "downloads Python itself from elsewhere",
    "--pypy-mirror": "downloads PyPy itself from elsewhere",
    "--graalpy-mirror": "downloads GraalPy itself from elsewhere",
    "--pyodide-mirror": "downloads Pyodide itself from elsewhere",
}
FILES = {
    "--requirements": "requirement", "--constraints": "constraint",
    "--overrides": "constraint", "--excludes": "constraint",
    "--build-constraints": "constraint", "--with-requirements": "requirement",
}
REQUIREMENT_VALUES = frozenset({"--with", "--with-editable", "--from", "--editable",
                                "--with-executables-from"})
# Options that move where uv looks for the project and relative files.
DIRECTORY = frozenset({"--directory", "--project"})
SCRIPT = frozenset({"--script"})
# Hidden aliases clap accepts but the help pages do not show (checked against the real
# uv in tests/test_guard_uv.py).
ALIASES = {"--requirement": "--requirements", "--constraint": "--constraints",
           "--override": "--overrides", "--build-constraint": "--build-constraints",
           "--trusted-host": "--allow-insecure-host"}

# Commands that install or resolve nothing: their options need no judging.
QUIET = frozenset({"pip list", "pip freeze", "pip show", "pip uninstall", "pip tree",
                   "pip check", "cache", "cache clean", "cache dir", "cache prune",
                   "cache size", "self", "self version", "tool list", "tool dir",
                   "tool uninstall", "tool update-shell", "python list", "python dir",
                   "python find", "python pin", "python uninstall", "python update-shell",
                   "workspace", "workspace dir", "workspace list", "auth", "auth dir",
                   "auth login", "auth logout", "auth token", "format", "help", "init"})
# Commands that read the project (pyproject.toml, uv.lock) for their sources.
PROJECT = frozenset({"add", "remove", "sync", "lock", "export", "tree", "run", "version",
                     "build", "audit", "check", "workspace metadata"})
# Commands whose first positional starts a program with the rest as its arguments.
RUNNERS = frozenset({"run", "tool run"})


def _lookup(command: str, option: str) -> tuple[str, bool] | None:
    """(canonical name, takes a value) for an option of ``command`` or of uv itself."""
    name = ALIASES.get(option, option)
    for scope in (command, ""):
        table = uv_table.COMMANDS.get(scope, {})
        if name in table:
            return name, table[name]
    return None


class _Reading:
    def __init__(self) -> None:
        self.command = ""
        self.options: list[tuple[str, str, str | None]] = []  # canonical, spelled, value
        self.positionals: list[str] = []
        self.rest: list[str] = []  # the program a runner starts, and its arguments


def _parse(args: Sequence[str], ctx: Context, program: str) -> _Reading:
    reading = _Reading()
    if program == "uvx":
        reading.command = "tool run"
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if token == "--":
            if reading.command in RUNNERS:
                reading.rest = list(args[index:])
            else:
                reading.positionals += args[index:]
            break
        if token.startswith("--"):
            name, eq, inline = token.partition("=")
            found = _lookup(reading.command, name)
            if found is None:
                ctx.refuse("command line", f"{program} {reading.command} {name}".replace(
                    "  ", " "), f"is not an option uv {uv_table.VERSION} lists; pipwrap "
                    "cannot tell whether it adds a package source")
            canonical, takes = found
            value: str | None = None
            if takes:
                value = inline if eq else (args[index] if index < len(args) else None)
                if not eq:
                    index += 1
            reading.options.append((canonical, name, value))
            continue
        if token.startswith("-") and len(token) > 1:
            for offset, letter in enumerate(token[1:], start=2):
                found = _lookup(reading.command, f"-{letter}")
                if found is None:
                    ctx.refuse("command line", f"{program} -{letter}", f"is not an option uv "
                               f"{uv_table.VERSION} lists for this command")
                canonical, takes = found
                if not takes:
                    reading.options.append((canonical, f"-{letter}", None))
                    continue
                value = token[offset:] or (args[index] if index < len(args) else None)
                if not token[offset:]:
                    index += 1
                reading.options.append((_long_name(reading.command, letter), f"-{letter}",
                                        value))
                break
            continue
        deeper = f"{reading.command} {token}".strip()
        if not reading.positionals and deeper in uv_table.COMMANDS:
            reading.command = deeper
            continue
        if reading.command in RUNNERS:
            reading.rest = [token, *args[index:]]
            break
        reading.positionals.append(token)
    return reading


def _long_name(command: str, letter: str) -> str:
    """The long option a short one stands for (``-i`` is ``--index-url``): the help
    page lists them on one line, which the table keeps as two keys with one value."""
    pairs = {"i": "--index-url", "f": "--find-links", "r": "--requirements",
             "c": "--constraints", "b": "--build-constraints", "e": "--editable",
             "p": "--python", "o": "--output-file", "t": "--target", "C": "--config-setting",
             "P": "--upgrade-package", "U": "--upgrade"}
    return pairs.get(letter, f"-{letter}")


def check(program: str, args: Sequence[str], ctx: Context) -> None:
    """Refuse ``uv ARGS`` (or ``uvx ARGS``) if it could take a second package source."""
    from pipwrap.guard import directref

    reading = _parse(args, ctx, program)
    base = ctx.cwd
    for canonical, _spelled, value in reading.options:
        if canonical in DIRECTORY and value is not None:
            base = os.path.join(ctx.cwd, value)
    judged = reading.command not in QUIET
    for canonical, spelled, value in reading.options if judged else []:
        _judge(canonical, spelled, value, ctx, base)
    if not judged:
        return
    if reading.command in ("pip install", "add", "tool install"):
        editables = [v for c, _s, v in reading.options if c == "--editable" and v]
        for spec in [*reading.positionals, *editables]:
            directref.check_requirement(spec, "command line", ctx)
            local = directref.local_target(spec, ctx)
            if local is not None and os.path.isdir(local):
                # uv applies a local project's own [tool.uv.sources] when installing it.
                from pipwrap.guard import projects

                projects.check_project("uv", ctx, local, "command line")
    elif reading.command in ("pip sync", "pip compile"):
        for path in reading.positionals:
            _scan_input(path, "requirement", "command line", ctx, base)
    if reading.command in RUNNERS and reading.rest:
        if reading.command == "tool run":
            directref.check_requirement(reading.rest[0], "command line", ctx)
        elif os.path.isfile(os.path.join(base, reading.rest[0])):
            # `uv run script.py` reads the script's inline metadata like --script does.
            _judge("--script", reading.rest[0], reading.rest[0], ctx, base)
        ctx.check_command(reading.rest, ctx, depth=1)
    if reading.command in PROJECT or reading.command == "run":
        from pipwrap.guard import projects

        projects.check_project("uv", ctx, base, "command line")


def _judge(canonical: str, spelled: str, value: str | None, ctx: Context, base: str) -> None:
    from pipwrap.guard import directref

    if canonical in SOURCE:
        if canonical in ("--index-url", "--default-index", "--index") \
                and ctx.is_profile_index(value):
            return
        shown = spelled if spelled == canonical else f"{spelled} (read by uv as {canonical})"
        ctx.refuse("command line", f"{shown} {value}" if value is not None else shown,
                   SOURCE[canonical])
    if value is None:
        return
    if canonical in FILES:
        _scan_input(value, FILES[canonical], "command line", ctx, base)
    elif canonical in REQUIREMENT_VALUES:
        for spec in value.split(","):
            directref.check_requirement(spec, "command line", ctx)
    elif canonical in SCRIPT:
        directref.check_script(os.path.join(base, value), "command line", ctx)
        from pipwrap.guard import projects

        projects.check_script_settings(os.path.join(base, value), ctx)


def _scan_input(path: str, kind: str, where: str, ctx: Context, base: str) -> None:
    """A requirements-like input: a lock file, a pyproject.toml, or a requirements file."""
    from pipwrap.guard import lockfiles, projects, reqfile

    full = path if os.path.isabs(path) else os.path.join(base, path)
    name = os.path.basename(full)
    if lockfiles.is_lockfile(name):
        lockfiles.check_lockfile(full, ctx, where)
    elif name == "pyproject.toml":
        projects.check_pyproject_file(full, ctx, where)
    else:
        reqfile.scan(full, kind, where, ctx)

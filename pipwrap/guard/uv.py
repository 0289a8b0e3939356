"""uv's command line, read as uv (clap) reads it, for the uv version in uv_table.

clap takes ``--opt value`` and ``--opt=value``, ``-o value``, ``-ovalue`` and ``-o=value``,
clustered short flags, and global options anywhere after ``uv``; it has no prefix
abbreviations. Every option, long or short, is looked up in the table generated from
uv's own help pages (a command's own options, then the global ones; plus the hidden
aliases listed here) and judged by its long name. An option uv does not list is refused,
and so is a valued option this module has not classified: pipwrap cannot say what it does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache

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
# `--group [PATH:]NAME`: the pip interface reads the group from a pyproject.toml or
# pylock.toml it names (followed); a project command takes a group of the project,
# whose files the project check reads.
GROUP = frozenset({"--group"})
# Options with a value that names no package source: destinations, formats, names of
# packages, groups and extras of what is already judged, resolver and build settings
# (pip's own counterparts are HARMLESS in pip.py), credentials, and `uv publish`'s upload
# endpoints (uploaders are not guarded; see the README's limits). A valued option in none
# of these sets is refused, so a new uv option is reviewed before it passes.
HARMLESS = frozenset(
    """--annotation-style --author-from --bounds --branch --build-backend --bump --cache-dir
    --cert --check-url --color --config-setting --config-setting-package
    --config-settings-package --custom-compile-command --depth --description --exclude
    --exclude-newer --exclude-newer-package --extra --fork-strategy --format --ignore
    --ignore-until-fixed --install-dir --keyring-provider --link-mode --marker --name
    --no-binary --no-binary-package --no-build-isolation-package --no-build-package
    --no-editable-package --no-emit-package --no-extra --no-group --no-install-package
    --no-sources-package --only-binary --only-group --optional --out-dir --output-file
    --output-format --output-version --package --password --path --prefix --prerelease
    --prerelease-package --prompt --prune --publish-url --python --python-platform
    --python-version --refresh-package --reinstall-package --resolution --rev
    --service-format --service-url --tag --target --token --trusted-publishing --ty-version
    --upgrade-group --upgrade-package --username --vcs --version""".split()
)
# Hidden aliases clap accepts but the help pages do not show (checked against the real
# uv in tests/differential/test_guard_uv.py).
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


@cache
def _scope(command: str) -> tuple[dict[str, int], dict[str, int]]:
    """({long name: option}, {short letter: option}) for what uv accepts after
    ``command``: its own options first, then the global ones."""
    own = uv_table.COMMANDS.get(command, ()) if command else uv_table.TOP_LEVEL
    longs: dict[str, int] = {}
    shorts: dict[str, int] = {}
    for index in (*own, *uv_table.COMMANDS[""]):
        names, letters, _takes = uv_table.OPTIONS[index]
        for name in names:
            longs.setdefault(name, index)
        for letter in letters:
            shorts.setdefault(letter, index)
    return longs, shorts


def _lookup(command: str, option: str) -> tuple[str, bool] | None:
    """(canonical long name, takes a value) for ``--long`` or ``-s`` after ``command``."""
    longs, shorts = _scope(command)
    if option.startswith("--"):
        index = longs.get(ALIASES.get(option, option))
    else:
        index = shorts.get(option[1:])
    if index is None:
        return None
    names, _letters, takes = uv_table.OPTIONS[index]
    return names[0], takes


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
                # clap drops one `=` after a short option: `-w=x` is `-w x`.
                attached = token[offset:]
                attached = attached[1:] if attached.startswith("=") else attached
                value = attached if token[offset:] else (
                    args[index] if index < len(args) else None)
                if not token[offset:]:
                    index += 1
                reading.options.append((canonical, f"-{letter}", value))
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


def check(program: str, args: Sequence[str], ctx: Context) -> None:
    """Refuse ``uv ARGS`` (or ``uvx ARGS``) if it could take a second package source."""
    from pipwrap.guard import directref

    reading = _parse(args, ctx, program)
    base = ctx.cwd
    for canonical, _spelled, value in reading.options:
        if canonical in DIRECTORY and value is not None:
            base = os.path.join(ctx.cwd, value)
    judged = reading.command not in QUIET
    if reading.command == "publish" and not ctx.upload_url and not any(
            canonical == "--help" for canonical, _s, _v in reading.options):
        # wrap points uv publish at the profile's upload-url (UV_PUBLISH_URL); without
        # one uv would ask for a login (on a terminal) for the public index, then be fenced.
        ctx.refuse("command line", "uv publish",
                   "would upload to the public index: the profile has no upload-url; add "
                   "one (pipwrap edit: upload-url = \"https://...\") or run uv publish "
                   "without wrap")
    for canonical, spelled, value in reading.options if judged else []:
        _judge(reading.command, canonical, spelled, value, ctx, base)
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
            _judge("run", "--script", reading.rest[0], reading.rest[0], ctx, base)
        ctx.check_command(reading.rest, ctx, depth=1)
    if reading.command in PROJECT or reading.command == "run":
        from pipwrap.guard import projects

        # `uv lock` resolves against the indexes it is given and rewrites the lock; it
        # asks nothing of the URLs an existing lock names (measured with uv 0.13.9: a lock
        # of another index, relocked, sent requests to the new index only). So a project
        # locked under one profile can be relocked under another; installing from the
        # lock (`sync`, `run`, `--frozen`) still has the lock checked.
        projects.check_project("uv", ctx, base, "command line",
                               lock_files=reading.command != "lock")


def _judge(command: str, canonical: str, spelled: str, value: str | None, ctx: Context,
           base: str) -> None:
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
    elif canonical in GROUP:
        if command.startswith("pip "):
            _check_group_file(value, ctx, base)
    elif canonical not in HARMLESS and canonical not in DIRECTORY:
        shown = spelled if spelled == canonical else f"{spelled} (read by uv as {canonical})"
        ctx.refuse("command line", f"{shown} {value}", "is a uv option pipwrap has not "
                   "classified; it cannot tell whether it adds a package source")


def _check_group_file(value: str, ctx: Context, base: str) -> None:
    """``uv pip install --group [PATH:]NAME``: the group comes from the pyproject.toml or
    pylock.toml PATH names, else from the one in the working directory."""
    from pipwrap.guard import directref, lockfiles, projects

    path, colon, name = value.rpartition(":")
    candidates = [path] if colon else ["pylock.toml", "pyproject.toml"]
    for candidate in candidates:
        full = os.path.join(base, candidate)
        if os.path.isdir(full):
            full = os.path.join(full, "pyproject.toml")
        if lockfiles.is_lockfile(os.path.basename(full)):
            lockfiles.check_lockfile(full, ctx, "command line")
        elif os.path.exists(full):
            directref.check_dependency_group(f"{full}:{name}", "command line", ctx)
            # uv applies the file's own [tool.uv] sources and indexes to the group.
            projects.check_project("uv", ctx, os.path.dirname(full), "command line")


def _scan_input(path: str, kind: str, where: str, ctx: Context, base: str) -> None:
    """A requirements-like input: a lock file, a pyproject.toml, or a requirements file."""
    from pipwrap.guard import lockfiles, projects, reqfile

    if path[:8].lower().startswith(("http://", "https://")):
        # uv downloads a requirements input given as a URL; reqfile refuses a remote
        # file (joined to the directory, it would be a missing local file and pass).
        reqfile.scan(path, kind, where, ctx)
        return
    full = path if os.path.isabs(path) else os.path.join(base, path)
    name = os.path.basename(full)
    if lockfiles.is_lockfile(name):
        lockfiles.check_lockfile(full, ctx, where)
    elif name == "pyproject.toml":
        projects.check_pyproject_file(full, ctx, where)
    else:
        reqfile.scan(full, kind, where, ctx)

"""Installers other than pip and uv: their command lines and their own settings.

pipx and pip-tools pass options through to pip (``--pip-args``) and have index options of
their own; pdm, tox and hatch read PIP_*/UV_*/PDM_PYPI_URL (so the scrub covers them) but
can name sources in their own files; poetry reads none of those variables, so wrap cannot
make the profile's index its only source, and its fetching commands are refused.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence

from pipwrap import tomlfile
from pipwrap.guard.context import Context

_POETRY_FETCHING = frozenset({"install", "add", "lock", "update", "sync", "self"})
_PIPX_VALUE_OPTIONS = frozenset({"--spec", "--python", "--suffix", "--pip-args",
                                 "--index-url", "-i", "--preinstall", "--backend"})
_SOURCE_OPTIONS = ("--index-url", "--extra-index-url", "--find-links", "--trusted-host",
                   "--pypi-url", "--index", "--default-index")


def check(program: str, args: Sequence[str], ctx: Context) -> None:
    if program == "twine":
        from pipwrap.guard import twine

        twine.check(args, ctx)
    elif program == "poetry":
        _poetry(args, ctx)
    elif program == "pipx":
        _pipx(args, ctx)
    elif program in ("pip-compile", "pip-sync"):
        _piptools(program, args, ctx)
    elif program == "pdm":
        _pdm(args, ctx)
    else:  # tox, hatch: they pass the (scrubbed) environment on to pip and uv
        _refuse_sources(program, args, ctx, abbreviations=False)
        from pipwrap.guard import projects

        projects.check_project(program, ctx, ctx.cwd, "command line")
        if program == "tox":
            projects.check_tox_config(args, ctx)
        if program == "hatch" and "run" in args:
            rest = list(args[args.index("run") + 1:])
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            if rest and ":" in rest[0] and not os.path.exists(rest[0]):
                rest = rest[1:]  # hatch run ENV:SCRIPT
            ctx.check_command(rest, ctx, depth=1)


def _refuse_sources(program: str, args: Sequence[str], ctx: Context, *,
                    abbreviations: bool) -> None:
    """Index options of the tool itself: argparse tools also accept unique prefixes."""
    for index, token in enumerate(args):
        if token == "--":
            return
        name = token.split("=", 1)[0]
        hit = name in _SOURCE_OPTIONS or (name in ("-i", "-f") or (name.startswith(("-i", "-f"))
                                          and len(name) > 2 and "://" in token))
        if abbreviations and name.startswith("--") and len(name) >= 4:
            hit = hit or any(option.startswith(name) for option in _SOURCE_OPTIONS)
        if hit:
            value = token.split("=", 1)[1] if "=" in token else (
                args[index + 1] if index + 1 < len(args) else "")
            if ctx.is_profile_index(value):
                continue
            ctx.refuse("command line", f"{program} {token}", "gives the tool a package "
                       "source besides the profile's index")


def _pip_args(program: str, args: Sequence[str], ctx: Context, *, prefixes: bool) -> None:
    from pipwrap.guard import pip

    for index, token in enumerate(args):
        name, eq, inline = token.partition("=")
        matched = name == "--pip-args" or (prefixes and len(name) >= 5
                                           and "--pip-args".startswith(name))
        if not matched:
            continue
        value = inline if eq else (args[index + 1] if index + 1 < len(args) else "")
        try:
            words = shlex.split(value)
        except ValueError:
            ctx.refuse("command line", f"{program} --pip-args", "has unbalanced quotes")
        pip.check_args(words, ctx, f"command line ({program} --pip-args)",
                       subcommand="install", program=f"{program} --pip-args")


def _pipx(args: Sequence[str], ctx: Context) -> None:
    from pipwrap.guard import directref

    _refuse_sources("pipx", args, ctx, abbreviations=True)
    _pip_args("pipx", args, ctx, prefixes=True)
    skip = False
    positionals = []
    for index, token in enumerate(args):
        if skip:
            skip = False
            continue
        if token.startswith("-"):
            skip = token in _PIPX_VALUE_OPTIONS
            if token == "--spec" and index + 1 < len(args):
                directref.check_requirement(args[index + 1], "command line", ctx)
            continue
        positionals.append(token)
    if positionals and positionals[0] in ("install", "inject", "upgrade", "run"):
        for spec in positionals[1:]:
            directref.check_requirement(spec, "command line", ctx)


# The options of pip-compile and pip-sync that take a value (pip-tools 7.x, read from its
# click commands; tests/unit/test_guard_piptools.py compares): the word after one is not a
# requirement file. An option pip-tools lacks makes click stop before anything runs.
_PIPTOOLS_SHARED = frozenset({"--cert", "--client-cert", "--config", "--extra-index-url",
                              "--find-links", "--index-url", "--pip-args", "--trusted-host",
                              "-f", "-i"})
_PIPTOOLS_VALUES = {
    "pip-compile": _PIPTOOLS_SHARED | {
        "--annotation-style", "--build-deps-for", "--cache-dir", "--constraint", "--extra",
        "--max-rounds", "--newline", "--output-file", "--resolver", "--unsafe-package",
        "--upgrade-package", "--uploaded-prior-to", "-P", "-c", "-o"},
    "pip-sync": _PIPTOOLS_SHARED | {"--python-executable"},
}


def _piptools(program: str, args: Sequence[str], ctx: Context) -> None:
    """pip-compile and pip-sync (click: no abbreviations)."""
    from pipwrap.guard import projects, reqfile

    _refuse_sources(program, args, ctx, abbreviations=False)
    _pip_args(program, args, ctx, prefixes=False)
    values = _PIPTOOLS_VALUES[program]
    skip = False
    inputs = []
    for index, token in enumerate(args):
        if skip:
            skip = False
            continue
        if token.startswith("-"):
            skip = token in values and "=" not in token
            if token in ("-c", "--constraint") and index + 1 < len(args):
                reqfile.scan(args[index + 1], "constraint", "command line", ctx)
            continue
        inputs.append(token)
    configured = _piptools_config_inputs(program, args, ctx)
    for token in inputs or configured or _piptools_default_inputs(program, ctx):
        if os.path.basename(token) == "pyproject.toml":
            projects.check_project("pip-tools", ctx, os.path.dirname(token) or ".",
                                   "command line")
        elif not token.endswith((".cfg", ".py")):
            reqfile.scan(token, "requirement", "command line", ctx)
    projects.check_project("pip-tools", ctx, ctx.cwd, "command line")


# What pip-compile reads when given no input: the first of these that exists in the working
# directory (piptools/scripts/compile.py DEFAULT_REQUIREMENTS_FILES, 7.x); pip-sync reads
# requirements.txt (scripts/sync.py DEFAULT_REQUIREMENTS_FILE).
_PIPTOOLS_DEFAULT_INPUTS = {
    "pip-compile": ("requirements.in", "setup.py", "pyproject.toml", "setup.cfg"),
    "pip-sync": ("requirements.txt",),
}


def _piptools_config_inputs(program: str, args: Sequence[str], ctx: Context) -> list[str]:
    """Check pip-tools' config file and return the inputs it names (``src-files``).

    The file is ``--config FILE``, else the first of ``.pip-tools.toml`` and
    ``pyproject.toml`` in the working directory: ``--config`` is an eager click option, so
    its callback runs before the inputs are parsed and ``select_config_file`` (piptools/
    utils.py) looks only there. ``--no-config`` is not honoured here: reading the file
    anyway only refuses more."""
    from pipwrap.guard import projects

    configured: list[str] = []
    for config in piptools_config_files(args, ctx):
        configured += projects.check_piptools_config(config, ctx, "command line", program)
    return configured


def piptools_config_files(args: Sequence[str], ctx: Context) -> list[str]:
    """The config files pip-compile or pip-sync run with ``args`` in ``ctx.cwd`` reads."""
    configs = [args[i + 1] for i, token in enumerate(args[:-1]) if token == "--config"]
    configs += [token.split("=", 1)[1] for token in args if token.startswith("--config=")]
    if not configs:
        configs = [name for name in (".pip-tools.toml", "pyproject.toml")
                   if os.path.isfile(os.path.join(ctx.cwd, name))][:1]
    return [os.path.join(ctx.cwd, config) for config in configs]


def _piptools_default_inputs(program: str, ctx: Context) -> list[str]:
    """The input pip-compile or pip-sync reads when given none, here."""
    defaults = _PIPTOOLS_DEFAULT_INPUTS[program]
    return [name for name in defaults if os.path.exists(os.path.join(ctx.cwd, name))][:1]


def _pdm(args: Sequence[str], ctx: Context) -> None:
    from pipwrap.guard import projects

    _refuse_sources("pdm", args, ctx, abbreviations=True)
    projects.check_project("pdm", ctx, ctx.cwd, "command line")
    for path in _pdm_config_files(ctx):
        for place, description in _pdm_config_sources(path, ctx):
            ctx.refuse(place, description, "is a package source in pdm's own config, which "
                       "pdm merges with the profile's index; remove it (pdm config -d) or run "
                       "pdm without wrap")


def _pdm_config_files(ctx: Context) -> list[str]:
    home = ctx.environ.get("HOME") or os.path.expanduser("~")
    xdg = ctx.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files = [os.path.join(xdg, "pdm", "config.toml"), os.path.join(ctx.cwd, "pdm.toml")]
    if ctx.environ.get("PDM_CONFIG_FILE"):
        files.append(ctx.environ["PDM_CONFIG_FILE"])
    return [f for f in files if os.path.isfile(f)]


def _pdm_config_sources(path: str, ctx: Context) -> list[tuple[str, str]]:
    from pipwrap.errors import PipwrapError

    data = ctx.read_file(path, "pdm config") or b""
    text = data.decode("utf-8", errors="replace")
    try:
        document = tomlfile.loads(text, path)
    except PipwrapError as exc:
        ctx.refuse(path, "pdm config", f"cannot be read as TOML ({exc})")
    found = []
    pypi = document.get("pypi")
    for name, table in (pypi.items() if isinstance(pypi, dict) else []):
        url = table.get("url") if isinstance(table, dict) else (table if name == "url" else None)
        if isinstance(url, str) and "://" in url and not ctx.under_index(url):
            line = next((n for n, t in enumerate(text.splitlines(), 1) if url in t), 0)
            found.append((f"{path}:{line}", f"pypi.{name} = {url}"))
    return found


# poetry's global options that take a value (the word after them is not the command).
_POETRY_VALUE_OPTIONS = frozenset({"-C", "--directory", "-P", "--project"})


def _poetry(args: Sequence[str], ctx: Context) -> None:
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg in _POETRY_VALUE_OPTIONS:
            skip = True
        elif not arg.startswith("-"):
            words.append(arg)
    if not words or words[0] not in _POETRY_FETCHING:
        return
    # poetry reads no PIP_*/UV_* variable: it takes its sources from pyproject.toml. When
    # every [[tool.poetry.source]] is the profile's index and one is primary (which turns
    # off poetry's implicit PyPI), the project already says what wrap would; the fence
    # holds it to that. Another directory (-C/-P) or self (poetry's own environment) is
    # not read here, so it stays refused.
    other_dir = any(a in ("-C", "-P", "--directory", "--project") or
                    a.startswith(("-C", "-P", "--directory=", "--project=")) for a in args)
    if words[0] != "self" and not other_dir and _poetry_sources_are_the_profiles(ctx):
        from pipwrap.guard import projects

        projects.check_project("poetry", ctx, ctx.cwd, "command line")
        return
    ctx.refuse("command line", f"poetry {words[0]}", "installs from poetry's own "
               "sources, which read no PIP_*/UV_* variable, so wrap cannot make the "
               "profile's index the only one. Declare it in pyproject.toml (poetry "
               "source add --priority=primary NAME URL) and run poetry without wrap")


def _poetry_sources_are_the_profiles(ctx: Context) -> bool:
    """pyproject.toml here names at least one poetry source, all under the profile's
    index, one of them primary (poetry 2's default priority)."""
    path = os.path.join(ctx.cwd, "pyproject.toml")
    data = ctx.read_file(path, "poetry project")
    if data is None:
        return False
    document = tomlfile.loads(data.decode("utf-8", errors="replace"), path)
    tool = document.get("tool")
    poetry = tool.get("poetry") if isinstance(tool, dict) else None
    sources = poetry.get("source") if isinstance(poetry, dict) else None
    if not isinstance(sources, list) or not sources:
        return False
    primary = False
    for source in sources:
        url = source.get("url") if isinstance(source, dict) else None
        if not isinstance(url, str) or not ctx.under_index(url):
            return False
        priority = source.get("priority", "primary")
        primary = primary or priority in ("primary", "default")
    return primary

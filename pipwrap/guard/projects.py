"""Each installer's own project settings that can name a package source.

uv (``[tool.uv]`` index settings, ``[[tool.uv.index]]``, ``[tool.uv.sources]``, uv.lock,
a script's ``# /// script`` ``[tool.uv]``), pdm (``[[tool.pdm.source]]``, pdm.lock),
pip-tools (``[tool.pip-tools]``), tox and hatch (environment settings that put PIP_*/UV_*
back), poetry (``[[tool.poetry.source]]``). A setting naming the profile's own index is
fine; any other source is refused with the file and line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from pipwrap import tomlfile
from pipwrap.guard.context import Context
from pipwrap.guard.lockfiles import line_of

_URL_KEYS = frozenset({"url", "index-url", "extra-index-url", "find-links", "index", "git",
                       "default-index", "publish-url"})
_ENV_NAME = re.compile(r"\b((?:PIP|UV|PDM)_[A-Za-z0-9_]+|[A-Za-z0-9_]*_(?i:proxy)\w*)\b")


def _project_file(start: str) -> str | None:
    directory = os.path.abspath(start)
    while True:
        candidate = os.path.join(directory, "pyproject.toml")
        if os.path.isfile(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _load(path: str, ctx: Context, where: str) -> tuple[str, dict[str, object]] | None:
    from pipwrap.errors import PipwrapError

    data = ctx.read_file(path, where)
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    try:
        return text, tomlfile.loads(text, path)
    except PipwrapError as exc:
        ctx.refuse(where, path, f"cannot be read as TOML, so pipwrap cannot check the "
                   f"sources it names ({exc})")


def _urls(node: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _urls(value, (*path, str(key)))
    elif isinstance(node, list):
        for item in node:
            yield from _urls(item, path)
    elif isinstance(node, str) and path and path[-1] in _URL_KEYS:
        yield path, node


def _sources(document: dict[str, object]) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(tool, key path, URL) for every source a tool table names."""
    tool = document.get("tool")
    if not isinstance(tool, dict):
        return
    for name, table_path in (("uv", ("uv",)), ("pdm", ("pdm",)), ("pip-tools", ("pip-tools",)),
                             ("poetry", ("poetry",))):
        table = tool.get(table_path[0])
        for key_path, url in _urls(table, ("tool", *table_path)):
            yield name, key_path, url
    uv = tool.get("uv")
    if isinstance(uv, dict) and isinstance(uv.get("sources"), dict):
        for package, source in uv["sources"].items():
            for entry in source if isinstance(source, list) else [source]:
                if isinstance(entry, dict) and isinstance(entry.get("index"), str):
                    yield "uv", ("tool", "uv", "sources", package, "index"), "index:" + \
                        entry["index"]


def _named_indexes(document: dict[str, object]) -> dict[str, str]:
    tool = document.get("tool")
    uv = tool.get("uv") if isinstance(tool, dict) else None
    indexes = uv.get("index") if isinstance(uv, dict) else None
    named = {}
    for entry in indexes if isinstance(indexes, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("name"), str) \
                and isinstance(entry.get("url"), str):
            named[entry["name"]] = entry["url"]
    return named


def _problems(path: str, ctx: Context, where: str) -> Iterator[tuple[str, str, str]]:
    """(tool, "file:line", description) for each source in one pyproject.toml."""
    loaded = _load(path, ctx, where)
    if loaded is None:
        return
    text, document = loaded
    for tool, key_path, url in _foreign_sources(document, ctx):
        yield tool, f"{path}:{line_of(text, url)}", f"{'.'.join(key_path)} = {url}"
    yield from env_settings(path, text)


def _foreign_sources(document: dict[str, object],
                     ctx: Context) -> Iterator[tuple[str, tuple[str, ...], str]]:
    """(tool, key path, URL) for each source in ``document`` that is not the profile's
    index. A local path or file: URL is no exception: a flat index or find-links
    directory the repository brings (``url = "./wheels"``) holds whatever it was given."""
    named = _named_indexes(document)
    for tool, key_path, url in _sources(document):
        if url.startswith("index:"):
            target = named.get(url[6:])
            if target is None:
                continue  # no such index: uv refuses the project itself
            url = target
        elif key_path[:3] == ("tool", "uv", "sources") and key_path[-1] == "index":
            continue  # the index's name, read through `named` above
        if key_path[-1] == "git" or not ctx.under_index(url):
            yield tool, key_path, url


def env_settings(path: str, text: str) -> Iterator[tuple[str, str, str]]:
    """tox ``set_env``/``setenv`` and hatch ``env-vars`` that put a source variable back."""
    from pipwrap.guard.scrub import assigns_source, routes_past_fence

    for number, line in enumerate(text.splitlines(), start=1):
        for name in _ENV_NAME.findall(line):
            # A proxy variable only where it is given a value: `passenv = HTTP_PROXY`
            # hands the fence's own value on, which is what it should do.
            if assigns_source(name + "=") or (
                    routes_past_fence(name)
                    and re.search(rf"\b{re.escape(name)}\s*=", line) is not None):
                tool = "tox" if "tox" in os.path.basename(path) or "set" in line.lower() \
                    else "hatch/tox"
                past = " (past pipwrap's fence)" if routes_past_fence(name) else ""
                yield tool, f"{path}:{number}", f"sets {name} for the environments it builds{past}"


def findings(ctx: Context, project_dir: str) -> list[tuple[str, str, str]]:
    """Every source the project's own settings name, for `pipwrap doctor`."""
    found: list[tuple[str, str, str]] = []
    pyproject = _project_file(project_dir)
    if pyproject is not None:
        found += _problems(pyproject, ctx, "doctor")
        root = os.path.dirname(pyproject)
        for lock in ("uv.lock", "pdm.lock", "pylock.toml"):
            found += _lock_problems(os.path.join(root, lock), ctx)
        candidate = os.path.join(root, "hatch.toml")
        if os.path.isfile(candidate):
            with open(candidate, encoding="utf-8", errors="replace") as handle:
                found += env_settings(candidate, handle.read())
    # tox finds its own configuration, which need not be beside any pyproject.toml.
    from pipwrap.guard import toxconfig

    for candidate in toxconfig.config_files((), ctx, project_dir):
        if candidate != pyproject:
            data = ctx.read_file(candidate, "doctor") or b""
            found += env_settings(candidate, data.decode("utf-8", errors="replace"))
    return found


def _lock_problems(path: str, ctx: Context) -> list[tuple[str, str, str]]:
    from pipwrap.errors import RefusedError
    from pipwrap.guard import lockfiles

    if not os.path.isfile(path):
        return []
    try:
        lockfiles.check_lockfile(path, ctx, path)
    except RefusedError as exc:
        return [("lock", path, str(exc).splitlines()[0].removeprefix("refused: "))]
    return []


def check_project(tool: str, ctx: Context, project_dir: str, where: str, *,
                  lock_files: bool = True) -> None:
    """Refuse a project command of ``tool`` whose project names another source.

    ``lock_files=False``: the command rewrites the lock without downloading from it
    (`uv lock`), so another index's lock is no source for it."""
    from pipwrap.guard import lockfiles

    pyproject = _project_file(project_dir)
    root = os.path.dirname(pyproject) if pyproject is not None else os.path.abspath(
        project_dir)
    if pyproject is not None:
        for found_tool, place, description in _problems(pyproject, ctx, where):
            if found_tool in (tool, "hatch/tox"):
                ctx.refuse(place, description, f"is a package source {tool} reads from the "
                           "project; point it at the profile's index or run without wrap")
        if tool == "uv":
            # `uv sync`/`run`/`lock` resolve the project's own direct references (in any
            # group `--group` may select) as they go.
            from pipwrap.guard import directref

            directref.check_project_references(pyproject, where, ctx)
    for lock in {"uv": ("uv.lock", "pylock.toml"), "pdm": ("pdm.lock", "pylock.toml")}.get(
            tool, ()) if lock_files else ():
        candidate = os.path.join(root, lock)
        if os.path.isfile(candidate):
            lockfiles.check_lockfile(candidate, ctx, where)
    candidate = os.path.join(root, "hatch.toml")
    # tox's own configuration is toxconfig.check's: tox finds it elsewhere (and takes -c).
    if tool == "hatch" and os.path.isfile(candidate):
        data = ctx.read_file(candidate, where) or b""
        for _tool, place, description in env_settings(candidate, data.decode("utf-8",
                                                                               "replace")):
            ctx.refuse(place, f"{description},", "which puts a source back for hatch's "
                       "environments")


def check_tox_config(args: Sequence[str], ctx: Context) -> None:
    """Refuse when the configuration tox reads (found as tox finds it, ``-c`` included)
    puts a source variable back for its environments."""
    from pipwrap.guard import toxconfig

    for path in toxconfig.config_files(args, ctx):
        data = ctx.read_file(path, "tox configuration") or b""
        for _tool, place, description in env_settings(path, data.decode("utf-8", "replace")):
            # description is a clause ("sets X for ..."), not a noun as refusal() expects.
            ctx.refuse(place, f"{description},", "which puts a source back for tox's "
                       "environments")
    for where, text in toxconfig.overrides(args, ctx):
        if any(env_settings(where, text)):
            ctx.refuse(where, text, "puts a source back for tox's environments")

def check_piptools_config(path: str, ctx: Context, where: str, program: str) -> list[str]:
    """A pip-tools config file (``.pip-tools.toml``, ``pyproject.toml``, ``--config``):
    refuse the sources its ``[tool.pip-tools]`` names; return the inputs it names
    (``src-files``, which pip-tools reads when the command line gives none)."""
    for tool, place, description in _problems(path, ctx, where):
        if tool == "pip-tools":
            ctx.refuse(place, description, "is a package source pip-tools reads from its "
                       "configuration; point it at the profile's index or run without wrap")
    loaded = _load(path, ctx, where)
    tool_table = loaded[1].get("tool") if loaded is not None else None
    table = tool_table.get("pip-tools") if isinstance(tool_table, dict) else None
    if not isinstance(table, dict):
        return []
    # pip-tools merges [tool.pip-tools.compile] or .sync into the table and spells keys
    # with dashes or underscores in any case (piptools/utils.py parse_config_file).
    section = table.get(program.removeprefix("pip-"))
    merged = {**table, **(section if isinstance(section, dict) else {})}
    inputs: list[str] = []
    for key, value in merged.items():
        if key.lstrip("-").replace("-", "_").lower() == "src_files":
            inputs += [v for v in (value if isinstance(value, list) else [value])
                       if isinstance(v, str)]
    return inputs

def check_pyproject_file(path: str, ctx: Context, where: str) -> None:
    """A pyproject.toml given as requirements input (``uv pip install -r pyproject.toml``)."""
    from pipwrap.guard import directref

    loaded = _load(path, ctx, where)
    if loaded is None:
        return
    _text, document = loaded
    project = document.get("project")
    if isinstance(project, dict):
        for dependency in directref.strings_in(project.get("dependencies")) + \
                directref.strings_in(project.get("optional-dependencies")):
            directref.check_requirement(dependency, f"{path} [project]", ctx)
    check_project("uv", ctx, os.path.dirname(path), where)


def check_script_settings(path: str, ctx: Context) -> None:
    """A PEP 723 script's ``[tool.uv]`` table (uv run --script, uv add --script)."""
    from pipwrap.guard import directref

    found = directref.script_metadata(path, "command line", ctx)
    if found is None:
        return
    text, body = found
    from pipwrap.errors import PipwrapError

    try:
        document = tomlfile.loads(body, path)
    except PipwrapError as exc:
        ctx.refuse(path, "script metadata", f"cannot be read as TOML ({exc})")
    for _tool, key_path, url in _foreign_sources(document, ctx):
        ctx.refuse(f"{path}:{line_of(text, url)}", f"{'.'.join(key_path)} = {url}",
                   "is a package source the script names for uv")


def uv_config_sources(path: str, ctx: Context) -> list[tuple[str, str]]:
    """("file:line", "key = URL") for each source a ``uv.toml`` names (its keys are
    ``[tool.uv]``'s), for `pipwrap doctor`: wrap sets UV_NO_CONFIG, so only plain uv
    reads the file. A file that is not TOML is refused, naming it."""
    loaded = _load(path, ctx, "uv.toml")
    if loaded is None:
        return []
    text, document = loaded
    return [(f"{path}:{line_of(text, url)}", f"{'.'.join(key_path[2:])} = {url}")
            for _tool, key_path, url in _foreign_sources({"tool": {"uv": document}}, ctx)]

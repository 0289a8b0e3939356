"""`pipwrap doctor`'s project section: what the guard says of each tool's project command
here, and the settings that switch a wrapped child's proxy off where the guard does not
look (guard/proxy_off.py), weighed against the isolation mode in force."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipwrap.redact import redact

# What `wrap TOOL ...` is asked of the guard for each tool whose own project settings it
# reads: the verdict doctor shows is the guard's own, never a second reading.
PROJECT_COMMANDS = {
    "uv": ("uv", "sync"),
    "pdm": ("pdm", "install"),
    "poetry": ("poetry", "install"),
    "pip-tools": ("pip-compile",),
    "tox": ("tox",),
    "hatch": ("hatch", "env", "create"),
}
# Files that show a tool is used here (besides its [tool.NAME] table in pyproject.toml).
_TOOL_FILES = {
    "uv.toml": "uv", "uv.lock": "uv", "pdm.lock": "pdm", "poetry.lock": "poetry",
    "requirements.in": "pip-tools", "tox.ini": "tox", "tox.toml": "tox",
    "hatch.toml": "hatch", ".pip-tools.toml": "pip-tools",
}


def project_tools(cwd: str) -> tuple[str | None, list[str]]:
    """The nearest directory up from ``cwd`` with a project file, and the tools it uses."""
    from pipwrap import files, tomlfile
    from pipwrap.errors import PipwrapError

    directory = Path(cwd).absolute()
    for folder in (directory, *directory.parents):
        present = [name for name in ("pyproject.toml", *_TOOL_FILES) if (folder / name).is_file()]
        if present:
            break
    else:
        return None, []
    tools = {_TOOL_FILES[name] for name in present if name in _TOOL_FILES}
    if "pyproject.toml" in present:
        tools.add("uv")  # uv sync works on any pyproject.toml
        try:
            text = files.read_regular(str(folder / "pyproject.toml")).decode(
                "utf-8", errors="replace")
        except (OSError, PipwrapError):  # a FIFO, a directory: the guard names it
            text = ""
        try:
            table = tomlfile.loads(text, str(folder / "pyproject.toml")).get("tool")
            named = set(table) if isinstance(table, dict) else set()
        except PipwrapError:  # the guard names the error; show every tool it mentions
            named = {tool for tool in PROJECT_COMMANDS if tool in text}
        tools |= named & set(PROJECT_COMMANDS)
    return str(folder), [tool for tool in PROJECT_COMMANDS if tool in tools]


def project_verdicts(profile: Any, environ: Mapping[str, str], root: str | None,
                     tools: list[str]) -> dict[str, Any]:
    """What the guard says of each tool's project command in this directory."""
    from pipwrap import guard
    from pipwrap.errors import PipwrapError

    commands = []
    for tool in tools:
        argv = PROJECT_COMMANDS[tool]
        try:
            guard.check(argv, environ, index_url=profile.index_url,
                        upload_url=profile.upload_url, has_fallback=bool(profile.fallback))
        except PipwrapError as exc:
            reason = redact(str(exc).splitlines()[0]).removeprefix("refused: ")
            commands.append({"tool": tool, "command": " ".join(argv), "verdict": "refused",
                             "reason": reason})
        else:
            commands.append({"tool": tool, "command": " ".join(argv), "verdict": "passes",
                             "reason": ""})
    return {"root": root, "commands": commands}


def proxy_off(profile: Any, environ: Mapping[str, str], root: str | None, tools: list[str],
              isolation: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[tuple[str, bool]]]:
    """Each setting here that switches a wrapped child's proxy off where the guard does
    not look, and its risk line: held by isolation where it is in force, a real hole
    where it is not."""
    from pipwrap.guard import proxy_off as reader
    from pipwrap.guard import scrub
    from pipwrap.guard.api import new_context

    ctx = new_context(scrub.child_environ(environ, {}), None, profile.index_url)
    entries = [{"tool": found.tool, "where": found.where, "setting": redact(found.setting),
                "effect": found.effect, "guard": redact(found.guard)}
               for found in reader.findings(ctx, root, tools)]
    if isolation["on"]:
        tail = "isolation holds it: the network allows only the fence"
    else:
        tail = (f"isolation is off ({isolation['detail']}), so this is a real hole: a wrapped "
                "command reaches past the fence through it")
    risks = [(f"{e['tool']}: {e['setting']} ({e['where']}): {e['effect']}; {e['guard']}; "
              f"{tail}", bool(isolation["on"])) for e in entries]
    return entries, risks

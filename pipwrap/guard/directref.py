"""Requirements that name their own download: ``name @ URL``, a URL, a VCS checkout.

Such a requirement bypasses every index, so under ``wrap`` its URL must be one the
profile's index serves. A local path or ``file:`` URL is the user's own file and is
fine; a VCS URL (``git+https://...``) is never under an index and is refused.
"""

from __future__ import annotations

import os
import re

from pipwrap.guard.context import Context

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_VCS = re.compile(r"^(git|hg|svn|bzr)\+", re.IGNORECASE)
# "name[extras] @ url ; marker": PEP 508's direct reference.
_AT_URL = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(\[[^\]]*\])?\s*@\s*(?P<url>\S+)")


def url_of(spec: str) -> str | None:
    """The download URL a requirement names, or None for a name or a local path."""
    spec = spec.strip()
    match = _AT_URL.match(spec)
    candidate = match.group("url") if match else spec.split(";")[0].strip()
    if _VCS.match(candidate) or _URL.match(candidate):
        return candidate.split("#", 1)[0] if not _VCS.match(candidate) else candidate
    return None


def check_requirement(spec: str, where: str, ctx: Context) -> None:
    url = url_of(spec)
    if url is None:
        return
    if _VCS.match(url):
        ctx.refuse(where, spec.strip(), "is a version-control checkout, a package source "
                   "outside the profile's index")
    if url.lower().startswith("file:"):
        return
    ctx.check_url(url, where, spec.strip())


def script_metadata(path: str, where: str, ctx: Context) -> tuple[str, str] | None:
    """(the script's text, the TOML inside its ``# /// script`` block), or None."""
    from pipwrap.guard import reqfile

    full = path if os.path.isabs(path) else os.path.join(ctx.cwd, path)
    data = reqfile.read_bytes(full, where, ctx)
    if data is None:
        return None
    text = data.decode("utf-8", errors="replace")
    block = re.search(r"(?ms)^# /// script\s*$(?P<body>.*?)^# ///\s*$", text)
    if block is None:
        return None
    body = "\n".join(line[2:] if line.startswith("# ") else line[1:]
                     for line in block.group("body").splitlines())
    return text, body


def check_script(path: str, where: str, ctx: Context) -> None:
    """A PEP 723 script's dependencies (pip's --requirements-from-script)."""
    found = script_metadata(path, where, ctx)
    if found is None:
        return
    _text, body = found
    for dependency in _toml_strings(body, "dependencies", f"{path} (script metadata)", ctx):
        check_requirement(dependency, f"{path} (script metadata) via {where}", ctx)


def check_dependency_group(value: str, where: str, ctx: Context) -> None:
    """``--group [PATH:]NAME``: the group's requirements in a pyproject.toml."""
    path, _, _name = value.rpartition(":")
    pyproject = os.path.join(ctx.cwd, path or "pyproject.toml")
    if os.path.isdir(pyproject):
        pyproject = os.path.join(pyproject, "pyproject.toml")
    from pipwrap.guard import reqfile

    data = reqfile.read_bytes(pyproject, where, ctx)
    if data is None:
        return
    for dependency in _toml_strings(data.decode("utf-8", "replace"), "dependency-groups",
                                    pyproject, ctx):
        check_requirement(dependency, f"{pyproject} [dependency-groups] via {where}", ctx)


def strings_in(node: object) -> list[str]:
    """Every string in a TOML value (lists of strings, nested tables)."""
    found: list[str] = []
    if isinstance(node, str):
        found.append(node)
    elif isinstance(node, list):
        for item in node:
            found += strings_in(item)
    elif isinstance(node, dict):
        for item in node.values():
            found += strings_in(item)
    return found


def _toml_strings(text: str, table: str, where: str, ctx: Context) -> list[str]:
    """Every string under a top-level TOML key (lists of strings, nested tables)."""
    from pipwrap.errors import PipwrapError
    from pipwrap.schema import load_toml_text

    try:
        document = load_toml_text(text, where)
    except PipwrapError as exc:
        ctx.refuse(where, table, f"cannot be read as TOML ({exc})")
    return strings_in(document.get(table))

"""Requirements that name their own download: ``name @ URL``, a URL, a VCS checkout.

Such a requirement bypasses every index, so under ``wrap`` its URL must be one the
profile's index serves. A local path or ``file:`` URL is the user's own file and is
fine; a VCS URL (``git+https://...``) is never under an index and is refused.
"""

from __future__ import annotations

import os
import re

from pipwrap import tomlfile
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
        _check_local(spec, where, ctx)
        return
    if _VCS.match(url):
        ctx.refuse(where, spec.strip(), "is a version-control checkout, a package source "
                   "outside the profile's index")
    if url.lower().startswith("file:"):
        return
    ctx.check_url(url, where, spec.strip())


def local_target(spec: str, ctx: Context) -> str | None:
    """The directory or archive a local requirement names (``./proj[extra]``), if any."""
    candidate = re.sub(r"\[[^\]]*\]$", "", spec.strip().split(";")[0].strip())
    if candidate.lower().startswith("file:"):
        from urllib.parse import unquote, urlsplit

        candidate = unquote(urlsplit(candidate).path)
    if not candidate or not (os.sep in candidate or candidate.startswith(".")
                             or candidate.endswith((".whl", ".zip", ".tar.gz"))):
        return None
    full = candidate if os.path.isabs(candidate) else os.path.join(ctx.cwd, candidate)
    return full if os.path.exists(full) else None


def _check_local(spec: str, where: str, ctx: Context) -> None:
    """A local project or wheel is the user's own, but what it depends on is not: a
    ``name @ URL`` among its dependencies (or build requirements) is a download from
    outside the index like any other."""
    target = local_target(spec, ctx)
    if target is None:
        return
    if os.path.isdir(target):
        check_project_references(os.path.join(target, "pyproject.toml"), where, ctx)
    elif target.endswith(".whl"):
        for dependency in _wheel_requirements(target, where, ctx):
            check_requirement(dependency, f"{target} (Requires-Dist) via {where}", ctx)


def check_project_references(pyproject: str, where: str, ctx: Context) -> None:
    """The direct references installing a project downloads: ``name @ URL`` in its
    dependencies, extras, dependency groups and build requirements (not its other
    strings: ``[project.urls]`` is no download)."""
    from pipwrap.errors import PipwrapError

    data = ctx.read_file(pyproject, where)
    if data is None:
        return
    try:
        document = tomlfile.loads(data.decode("utf-8", errors="replace"), pyproject)
    except PipwrapError as exc:
        ctx.refuse(where, pyproject, f"cannot be read as TOML ({exc})")
    project = document.get("project")
    project = project if isinstance(project, dict) else {}
    build = document.get("build-system")
    build = build if isinstance(build, dict) else {}
    for table, node in (("project", project.get("dependencies")),
                        ("project", project.get("optional-dependencies")),
                        ("build-system", build.get("requires")),
                        ("dependency-groups", document.get("dependency-groups"))):
        for dependency in strings_in(node):
            if url_of(dependency) is not None:
                check_requirement(dependency, f"{pyproject} [{table}] via {where}", ctx)


def _wheel_requirements(path: str, where: str, ctx: Context) -> list[str]:
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
            text = archive.read(names[0]).decode("utf-8", "replace") if names else ""
    except (OSError, zipfile.BadZipFile, KeyError):
        ctx.refuse(where, path, "is not a wheel pipwrap can read, so its dependencies cannot "
                   "be checked")
    return [line.split(":", 1)[1].strip() for line in text.splitlines()
            if line.lower().startswith("requires-dist:")]


def script_metadata(path: str, where: str, ctx: Context) -> tuple[str, str] | None:
    """(the script's text, the TOML inside its ``# /// script`` block), or None."""
    full = path if os.path.isabs(path) else os.path.join(ctx.cwd, path)
    data = ctx.read_file(full, where)
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
    data = ctx.read_file(pyproject, where)
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

    try:
        document = tomlfile.loads(text, where)
    except PipwrapError as exc:
        ctx.refuse(where, table, f"cannot be read as TOML ({exc})")
    return strings_in(document.get(table))

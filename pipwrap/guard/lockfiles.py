"""Lock files name exact download URLs; under wrap each must be the profile's index's.

``pylock.toml`` (PEP 751), ``uv.lock`` and ``pdm.lock`` are TOML. Every string under a
key that names where a distribution comes from (``url``, ``registry``, ``index``,
``git``) must be a URL the profile's index serves; local paths and ``file:`` URLs are
the user's own, except as a registry or index (a vendored flat index is a source). This
is what lets "this lock file installs only from my index" hold.

One exception, because the fence stands behind every wrapped command: a file of a
package whose registry (uv's ``source.registry``, PEP 751's ``index``) is the profile's
index may be anywhere, since that is what a local-first index with a fallback answers
(the fallback's pages list their own file host). Such a download is allowed by the fence
only if a page the profile's index leads to for that project lists that exact file, and
its sha256 is checked against the page. So ``wrap uv lock`` then ``wrap uv sync`` works,
while a registry or index of anybody else, a git source or a direct URL is refused here.

Under a profile with ``fallback`` the same holds for a package entry with no registry
at all, as ``pdm lock --static-urls`` (pdm.lock) and ``pip lock`` (pylock.toml) write
them: each file of the index's own kind (pdm's ``files``, PEP 751's ``wheels`` and
``sdist``, never a direct ``archive`` or a package's own ``url``) may be an http(s) URL
anywhere, because the fence composes that project's page from the profile's sources and
passes the file only if that page lists it with its hash. Without a fallback such a file
off the index stays refused.

That fence check is per project: a file listed on the page of *another* project (one the
attacker published upstream, say ``evilhelper-1.0.tar.gz`` whose metadata says foo 9.9.9)
passes it. So the file name of a package let through by either exception must name the
entry's own project and version (wheel or sdist, as packaging reads them); anything else
is refused here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from pipwrap import tomlfile
from pipwrap.guard.context import Context, readable_url

_SOURCE_KEYS = frozenset({"url", "registry", "index", "git"})
# Keys whose tables describe one file of the package (uv.lock, PEP 751, pdm.lock).
_FILE_KEYS = frozenset({"wheels", "sdist", "archive", "files"})
# Those whose files come from an index page (not PEP 751's direct-URL ``archive``).
_INDEX_FILE_KEYS = _FILE_KEYS - {"archive"}
# A file table's own name for the file (PEP 751 ``name``, pdm's ``file``).
_FILE_NAME_KEYS = frozenset({"name", "filename", "file"})


def is_lockfile(name: str) -> bool:
    return name in ("uv.lock", "pdm.lock") or (name.startswith("pylock.")
                                                and name.endswith(".toml"))


def line_of(text: str, needle: str) -> int:
    """The first line holding ``needle`` (TOML parsers give no line numbers), or 0.

    A value TOML wrote with escapes (a backslash, a tab) is found by its part before the
    first one."""
    import re

    for candidate in (needle, re.split(r'[\\"\x00-\x1f\x7f]', needle)[0]):
        for number, line in enumerate(text.splitlines(), start=1):
            if candidate and candidate in line:
                return number
    return 0


def check_lockfile(path: str, ctx: Context, where: str) -> None:
    from pipwrap.errors import PipwrapError

    data = ctx.read_file(path, where)
    if data is None:
        return
    text = data.decode("utf-8", errors="replace")
    try:
        document = tomlfile.loads(text, path)
    except PipwrapError as exc:
        ctx.refuse(where, path, f"cannot be read as TOML, so pipwrap cannot check its "
                   f"download URLs ({exc})")
    shown = os.path.relpath(path, ctx.cwd) if os.path.isabs(path) else path
    for entry in _walk(document, _Entry()):
        key, value, package, registry = entry.key, entry.value, entry.name, entry.registry
        if not isinstance(value, str):
            continue
        place = f"{shown}:{line_of(text, value)}"
        # A registry-less entry's index file, under a fallback: the fence checks it too.
        composed = ctx.has_fallback and registry is None and entry.index_file
        if entry.in_file and (registry is not None or composed) and (
                key in _FILE_NAME_KEYS or (key == "url" and "://" in value)):
            _check_file_name(value, entry, ctx, place)
        if key not in _SOURCE_KEYS:
            continue
        if key in ("registry", "index") and not ctx.under_index(value):
            # A registry is an index whatever its spelling: a directory the repository
            # brings (uv.lock `registry = "wheels"`) holds whatever it was given.
            ctx.refuse(place, f"{package or 'an entry'}: {value}",
                       "is a package index other than the profile's")
        if "://" not in value or value.lower().startswith("file:"):
            continue
        ours = composed or (registry is not None and ctx.under_index(registry))
        if key == "url" and ours and value.lower().startswith(("https://", "http://")) \
                and readable_url(value):
            continue  # a file of the profile's registry or sources: the fence checks it
        if key == "git" or value.lower().startswith("git+") or not ctx.under_index(value):
            ctx.refuse(place, f"{package or 'an entry'}: {value}",
                       "is downloaded from outside the profile's index")


def _check_file_name(value: str, entry: _Entry, ctx: Context, place: str) -> None:
    """Refuse a registry package's file whose name is not that package's at its version."""
    from urllib.parse import unquote, urlsplit

    from packaging.utils import (
        InvalidSdistFilename,
        InvalidWheelFilename,
        canonicalize_name,
        parse_sdist_filename,
        parse_wheel_filename,
    )
    from packaging.version import InvalidVersion, Version

    file_name = value
    if "://" in value:
        file_name = unquote(urlsplit(value).path).rpartition("/")[2] if readable_url(
            value) else ""
    try:
        if file_name.endswith(".whl"):
            project, version = parse_wheel_filename(file_name)[:2]
        else:
            project, version = parse_sdist_filename(file_name)
        same = project == canonicalize_name(entry.name or "") and (
            entry.version is not None and version == Version(entry.version))
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        same = False
    if not same:
        ctx.refuse(place, f"{entry.name or 'an entry'} {entry.version or ''}: {value}",
                   "is not a file of that project at that version (the fence checks a "
                   "file against its own project's page only)")


class _Entry:
    """One scalar of the lock, with the package entry it belongs to."""

    def __init__(self, key: str = "", value: object = None, name: str | None = None,
                 version: str | None = None, registry: str | None = None,
                 in_file: bool = False, index_file: bool = False) -> None:
        self.key, self.value, self.in_file = key, value, in_file
        self.index_file = index_file  # inside a file table an index page lists
        self.name, self.version, self.registry = name, version, registry


def _walk(node: object, parent: _Entry) -> Iterator[_Entry]:
    """Every scalar in ``node``, with its package's name, version and registry, and
    whether it is inside a file table (where ``name`` is a file name, not a package's)."""
    if isinstance(node, dict):
        here = parent
        if not parent.in_file and isinstance(node.get("name"), str):
            version = node.get("version")
            here = _Entry(name=node["name"],
                          version=version if isinstance(version, str) else None)
            source = node.get("source")
            if isinstance(source, dict) and isinstance(source.get("registry"), str):
                here.registry = source["registry"]  # uv.lock: source = { registry = ... }
            elif isinstance(node.get("index"), str):
                here.registry = node["index"]  # pylock.toml: [[packages]] index = ...
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                # A file table's own tables (PEP 751's ``hashes``) stay inside it.
                inside = _Entry(key, None, here.name, here.version, here.registry,
                                here.in_file or key in _FILE_KEYS,
                                here.index_file or (not here.in_file and key in _INDEX_FILE_KEYS))
                yield from _walk(value, inside)
            else:
                yield _Entry(key, value, here.name, here.version, here.registry, here.in_file,
                             here.index_file)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, parent)

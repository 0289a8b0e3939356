"""Lock files name exact download URLs; under wrap each must be the profile's index's.

``pylock.toml`` (PEP 751), ``uv.lock`` and ``pdm.lock`` are TOML. Every string under a
key that names where a distribution comes from (``url``, ``registry``, ``index``,
``git``) must be a URL the profile's index serves; local paths and ``file:`` URLs are
the user's own. This is what lets "this lock file installs only from my index" hold.

One exception, because the fence stands behind every wrapped command: a file of a
package whose registry (uv's ``source.registry``, PEP 751's ``index``) is the profile's
index may be anywhere, since that is what a local-first index with a fallback answers
(the fallback's pages list their own file host). Such a download is allowed by the fence
only if a page the profile's index leads to for that project lists that exact file, and
its sha256 is checked against the page. So ``wrap uv lock`` then ``wrap uv sync`` works,
while a registry or index of anybody else, a git source or a direct URL is refused here.
"""

from __future__ import annotations

import os

from pipwrap import tomlfile
from pipwrap.guard.context import Context

_SOURCE_KEYS = frozenset({"url", "registry", "index", "git"})


def is_lockfile(name: str) -> bool:
    return name in ("uv.lock", "pdm.lock") or (name.startswith("pylock.")
                                                and name.endswith(".toml"))


def line_of(text: str, needle: str) -> int:
    """The first line holding ``needle`` (TOML parsers give no line numbers), or 0."""
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
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
    for key, value, package, registry in _walk(document, None, None):
        if key not in _SOURCE_KEYS or not isinstance(value, str):
            continue
        if "://" not in value or value.lower().startswith("file:"):
            continue
        if key == "url" and registry is not None and ctx.under_index(registry) \
                and value.lower().startswith(("https://", "http://")):
            continue  # a file of the profile's registry: the fence checks it (above)
        if key == "git" or value.lower().startswith("git+") or not ctx.under_index(value):
            shown = os.path.relpath(path, ctx.cwd) if os.path.isabs(path) else path
            ctx.refuse(f"{shown}:{line_of(text, value)}", f"{package or 'an entry'}: {value}",
                       "is downloaded from outside the profile's index")


def _walk(node: object, package: str | None, registry: str | None):  # type: ignore[no-untyped-def]
    """(key, value, package name, the package's registry) for every scalar in ``node``."""
    if isinstance(node, dict):
        name = node.get("name") if isinstance(node.get("name"), str) else package
        source = node.get("source")
        if isinstance(source, dict) and isinstance(source.get("registry"), str):
            registry = source["registry"]  # uv.lock: [[package]] source = { registry = ... }
        elif name is not package and isinstance(node.get("index"), str):
            registry = node["index"]  # pylock.toml: [[packages]] index = ...
        elif name is not package:
            registry = None  # a package of its own, with no registry
        for key, value in node.items():
            if isinstance(value, (dict, list)):
                yield from _walk(value, name, registry)
            else:
                yield key, value, name, registry
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item, package, registry)

"""The repository tree: putting distributions in, taking them out, yanking them.

Published distributions are immutable, as on PyPI: the same bytes again are a no-op, other
bytes under a name already held are refused. Every change checks all its inputs first and
then changes the tree, under the repository's lock, and leaves the index current.
"""

from __future__ import annotations

import os
import shutil

from pipwrap.errors import PipwrapError
from pipwrap.repo import index
from pipwrap.repo.distfile import (
    DistFile,
    normalize,
    parse_filename,
    read_metadata,
    release_key,
    same_bytes,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

REPO_ENV = "PIPWRAP_REPO"


def default_repo() -> str:
    """``$PIPWRAP_REPO``, else ``platformdirs.user_data_dir("pipwrap")/repo``."""
    configured = os.environ.get(REPO_ENV)
    if configured:
        return os.path.abspath(os.path.expanduser(configured))
    from pipwrap.paths import user_data_dir

    return os.path.join(user_data_dir(), "repo")


class Conflict(PipwrapError):
    """Other bytes under a name, or a release, already published (immutability)."""


class Added:
    __slots__ = ("dist", "source", "state")

    def __init__(self, source: str, dist: DistFile, state: str) -> None:
        self.source = source
        self.dist = dist
        self.state = state  # "added" or "present"


def _check_source(source: str) -> DistFile:
    if not os.path.exists(source):
        raise PipwrapError(f"{source}: no such file")
    if not os.path.isfile(source):
        raise PipwrapError(f"{source}: not a regular file")
    dist = parse_filename(os.path.basename(source))
    read_metadata(source, dist)
    return dist


def add(root: str, sources: list[str]) -> tuple[list[Added], index.Report]:
    """Put ``sources`` into the tree; all of them or, on any problem, none."""
    if not sources:
        raise PipwrapError("repo add: no files given")
    checked: list[tuple[str, DistFile]] = []
    seen: dict[str, str] = {}
    for source in sources:
        dist = _check_source(source)
        earlier = seen.get(dist.filename)
        if earlier is not None and not same_bytes(earlier, source):
            raise PipwrapError(f"{source} and {earlier}: two different files named "
                               f"{dist.filename}; nothing was added")
        seen[dist.filename] = source
        checked.append((source, dist))
    os.makedirs(root, exist_ok=True)
    with index.repo_lock(root):
        plan: list[Added] = []
        for source, dist in checked:
            directory = os.path.join(root, dist.project)
            if os.path.islink(directory):
                raise PipwrapError(f"{directory} is a symbolic link, not a project directory; "
                                   "nothing was added")
            _refuse_respelled(directory, dist, source)
            target = os.path.join(directory, dist.filename)
            state = "added"
            if os.path.lexists(target):
                if not os.path.isfile(target) or not same_bytes(target, source):
                    raise Conflict(
                        f"{source}: {dist.project}/{dist.filename} is already in {root} with "
                        "different contents; published files are immutable (release a new "
                        "version, or `pipwrap repo remove` the old one first); nothing was "
                        "added"
                    )
                state = "present"
            if not any(a.dist.filename == dist.filename for a in plan):
                plan.append(Added(source, dist, state))
        for item in plan:
            if item.state == "added":
                _copy_in(root, item.source, item.dist)
        report = index.build(root, locked=True)
    return plan, report


def _refuse_respelled(directory: str, dist: DistFile, source: str) -> None:
    """The same release under another spelling of its file name would be a second,
    different file for one version: installers may take either."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    wanted = release_key(dist)
    for name in names:
        if name == dist.filename or name.startswith("."):
            continue
        try:
            other = parse_filename(name)
        except PipwrapError:
            continue
        if release_key(other) == wanted:
            raise Conflict(
                f"{source}: {dist.project} {dist.version} is already published as "
                f"{other.filename}; published files are immutable; nothing was added")


def _copy_in(root: str, source: str, dist: DistFile) -> None:
    directory = os.path.join(root, dist.project)
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{dist.filename}.{os.getpid()}.tmp")
    # copyfile, not copy2: the file's mtime is its upload time in the index (PEP 700).
    shutil.copyfile(source, temporary)
    os.chmod(temporary, 0o644)
    os.replace(temporary, os.path.join(directory, dist.filename))


def _split_spec(spec: str, *, need_version: bool) -> tuple[str, str | None]:
    name, sep, version = spec.partition("==")
    name, version = name.strip(), version.strip()
    if not name or (sep and not version):
        raise PipwrapError(f"{spec!r}: expected NAME or NAME==VERSION")
    if need_version and not sep:
        raise PipwrapError(f"{spec!r}: expected NAME==VERSION")
    return normalize(name), (version if sep else None)


def _matching(root: str, project: str, version: str | None, spec: str) -> list[DistFile]:
    from packaging.version import InvalidVersion, Version

    directory = os.path.join(root, project)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        raise PipwrapError(f"{spec}: no project {project!r} in {root}") from None
    wanted = None
    if version is not None:
        try:
            wanted = Version(version)
        except InvalidVersion:
            raise PipwrapError(f"{spec}: {version!r} is not a valid version") from None
    found = []
    for name in names:
        if name.startswith(".") or name in index.PAGE_NAMES:
            continue
        try:
            dist = parse_filename(name)
        except PipwrapError:
            continue
        if dist.project == project and (wanted is None or Version(dist.version) == wanted):
            found.append(dist)
    if not found:
        what = f"version {version} of {project!r}" if version else f"project {project!r}"
        raise PipwrapError(f"{spec}: no {what} in {root}")
    return found


def require_repo(root: str) -> None:
    if not os.path.isdir(root):
        raise PipwrapError(f"no repository at {root} yet; add files with: pipwrap repo add "
                           "DIST...")


def _change(root: str, spec: str, *, need_version: bool,
            apply: Callable[[str, DistFile, dict[str, str]], None]
            ) -> tuple[list[DistFile], index.Report]:
    """Apply a change to each file ``spec`` matches, under the lock, then re-index."""
    project, version = _split_spec(spec, need_version=need_version)
    require_repo(root)
    with index.repo_lock(root):
        found = _matching(root, project, version, spec)
        yanked = index.load_yanked(root)
        for dist in found:
            apply(f"{project}/{dist.filename}", dist, yanked)
        index.save_yanked(root, yanked)
        report = index.build(root, locked=True)
    return found, report


def remove(root: str, spec: str) -> tuple[list[DistFile], index.Report]:
    def delete(key: str, dist: DistFile, yanked: dict[str, str]) -> None:
        os.unlink(os.path.join(root, key))
        yanked.pop(key, None)

    return _change(root, spec, need_version=False, apply=delete)


def yank(root: str, spec: str, reason: str | None, *, undo: bool = False
         ) -> tuple[list[DistFile], index.Report]:
    """PEP 592: the files stay, installers skip them unless pinned with ``==``."""
    def mark(key: str, dist: DistFile, yanked: dict[str, str]) -> None:
        if undo:
            yanked.pop(key, None)
        else:
            yanked[key] = reason or ""

    return _change(root, spec, need_version=True, apply=mark)

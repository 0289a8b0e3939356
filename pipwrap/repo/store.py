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
    check_name_length,
    name_max,
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


def add(root: str, sources: list[str], admit: Callable[[list[Added]], Callable[[], None] | None]
        | None = None) -> tuple[list[Added], index.Report]:
    """Put ``sources`` into the tree; all of them or, on any problem, none.

    ``admit`` (uploads) is called under the lock with the plan, before anything changes:
    it raises to refuse, or returns how to undo what it recorded if publishing fails.

    Every file is checked, then copied into a staging directory (``.pipwrap/tmp``) after
    a free-space check; only when every copy succeeded are they renamed into place (a
    new project directory with its pages, in one rename). An error rolls back what was
    renamed; a kill leaves only whole files (the next run indexes them) and stale
    staging, removed under the lock by the next writer.
    """
    if not sources:
        raise PipwrapError("repo add: no files given")
    checked: list[tuple[str, DistFile]] = []
    seen: dict[str, str] = {}
    releases: dict[tuple[str, ...], tuple[str, DistFile]] = {}
    limit = name_max(root)
    for source in sources:
        dist = _check_source(source)
        check_name_length(root, dist.filename, limit)
        earlier = seen.get(dist.filename)
        if earlier is not None and not same_bytes(earlier, source):
            raise PipwrapError(f"{source} and {earlier}: two different files named "
                               f"{dist.filename}; nothing was added")
        # Two spellings of one artifact (Qux-1.0-… and qux-1.0.0-…) in one command: the
        # tree would publish both, and installers could take either.
        twin = releases.setdefault(release_key(dist), (source, dist))
        if twin[1].filename != dist.filename:
            raise PipwrapError(f"{source} and {twin[0]}: one file of {dist.project} "
                               f"{dist.version} under two names ({twin[1].filename}, "
                               f"{dist.filename}); nothing was added")
        seen[dist.filename] = source
        checked.append((source, dist))
    try:
        os.makedirs(root, exist_ok=True)
        with index.repo_lock(root):
            plan = _plan(root, checked)
            undo = admit(plan) if admit is not None else None
            try:
                report = _publish(root, [item for item in plan if item.state == "added"])
            except BaseException:
                if undo is not None:
                    undo()
                raise
    except OSError as exc:
        raise PipwrapError(f"repo add: {_os_message(exc, root)}; nothing was added") from None
    return plan, report


def _os_message(exc: OSError, root: str) -> str:
    import errno

    where = exc.filename or root
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"{where}: no space left (the disk or a quota is full)"
    if exc.errno == errno.ENAMETOOLONG:
        return f"{where}: file name too long for the file system"
    return f"{where}: {exc.strerror or exc}"


def _plan(root: str, checked: list[tuple[str, DistFile]]) -> list[Added]:
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
    return plan


# Room kept beyond the files themselves, per file (its .metadata, its pages' growth).
SPACE_PER_FILE = 64 * 1024
SPACE_MARGIN = 1024 * 1024


def _check_space(root: str, items: list[Added]) -> None:
    need = sum(os.path.getsize(item.source) + SPACE_PER_FILE for item in items) + SPACE_MARGIN
    status = os.statvfs(root)
    free = status.f_bavail * status.f_frsize
    if need > free:
        raise PipwrapError(f"repo add: not enough free space in {root}: "
                           f"{_size(need)} needed, {_size(free)} free; nothing was added")


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB"


def _publish(root: str, items: list[Added]) -> index.Report:
    import tempfile

    if not items:
        return index.build(root, locked=True)
    _check_space(root, items)
    staging = tempfile.mkdtemp(dir=index.scratch_dir(root))
    new_projects: dict[str, str] = {}  # project -> its staged directory
    staged: list[tuple[str, str]] = []  # (staged file, final path) in existing projects
    published: list[str] = []  # what is in place, for a rollback
    try:
        for number, item in enumerate(items):
            directory = os.path.join(root, item.dist.project)
            if os.path.isdir(directory):
                temporary = os.path.join(staging, f"{number}.dist")
                staged.append((temporary, os.path.join(directory, item.dist.filename)))
            else:
                project_dir = new_projects.get(item.dist.project)
                if project_dir is None:
                    project_dir = os.path.join(staging, f"new-{number}", item.dist.project)
                    os.makedirs(project_dir)
                    new_projects[item.dist.project] = project_dir
                temporary = os.path.join(project_dir, item.dist.filename)
            _copy(item.source, temporary)
        # Every copy is whole: now rename into place, files into existing projects first.
        for temporary, final in staged:
            os.rename(temporary, final)
            published.append(final)
        warnings: list[str] = []
        for project, project_dir in new_projects.items():
            warnings += index.publish_new_project(root, project_dir, project)
            published.append(os.path.join(root, project))
        report = index.build(root, locked=True)
        report.warnings[:0] = warnings
        return report
    except BaseException:
        _roll_back(root, published)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _copy(source: str, temporary: str) -> None:
    # copyfile, not copy2: the file's mtime is its upload time in the index (PEP 700).
    shutil.copyfile(source, temporary)
    os.chmod(temporary, 0o644)


def _roll_back(root: str, published: list[str]) -> None:
    import contextlib

    for path in reversed(published):
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.unlink(path)
    with contextlib.suppress(Exception):
        index.build(root, locked=True)  # the pages as they were


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


def _change(root: str, spec: str, *, need_version: bool, removing: bool = False,
            apply: Callable[[str, DistFile, dict[str, str]], None]
            ) -> tuple[list[DistFile], index.Report]:
    """Apply a change to each file ``spec`` matches, under the lock, then re-index."""
    project, version = _split_spec(spec, need_version=need_version)
    require_repo(root)
    what = "repo remove" if removing else "repo yank"
    try:
        return _change_locked(root, spec, project, version, removing, apply)
    except OSError as exc:
        # A full disk or a read-only tree: said in one line, never a traceback. The
        # yanks file and pages are replaced whole, so the tree is as it was or as asked.
        raise PipwrapError(f"{what}: {_os_message(exc, root)}") from None


def _change_locked(root: str, spec: str, project: str, version: str | None, removing: bool,
                   apply: Callable[[str, DistFile, dict[str, str]], None]
                   ) -> tuple[list[DistFile], index.Report]:
    with index.repo_lock(root):
        found = _matching(root, project, version, spec)
        if removing:
            # The pages stop listing the files before they go: a client that read a page
            # never gets a 404 for a file it lists (mid-install).
            index.build(root, locked=True, exclude=frozenset(
                f"{project}/{dist.filename}" for dist in found))
        yanked = index.load_yanked(root)
        for dist in found:
            apply(f"{project}/{dist.filename}", dist, yanked)
        index.save_yanked(root, yanked)
        report = index.build(root, locked=True)
    return found, report


def release(root: str, name: str) -> tuple[str, index.Report]:
    """``repo release NAME``: give up a held name with no files left (a tombstone), so
    that serve and nginx send it to the fallback again. Its owners go with it."""
    from pipwrap.repo import owners

    project = normalize(name)
    require_repo(root)
    directory = os.path.join(root, project)
    try:
        with index.repo_lock(root):
            if os.path.islink(directory) or not os.path.isdir(directory):
                raise PipwrapError(f"repo release: no project {project!r} held in {root}")
            left = sorted(n for n in os.listdir(directory) if not n.startswith(".")
                          and n not in index.PAGE_NAMES
                          and not n.endswith(index.METADATA_SUFFIX))
            if left:
                raise PipwrapError(
                    f"repo release: {project} still holds {', '.join(left[:3])}"
                    f"{' ...' if len(left) > 3 else ''}; remove its files first (pipwrap "
                    f"repo remove {project}): a project with files is never given up")
            known = owners.load_owners(root)
            if known.pop(project, None) is not None:
                owners.save_owners(root, known)
            shutil.rmtree(directory)
            report = index.build(root, locked=True)
    except OSError as exc:
        raise PipwrapError(f"repo release: {_os_message(exc, root)}") from None
    return project, report


def remove(root: str, spec: str) -> tuple[list[DistFile], index.Report]:
    def delete(key: str, dist: DistFile, yanked: dict[str, str]) -> None:
        os.unlink(os.path.join(root, key))
        yanked.pop(key, None)

    return _change(root, spec, need_version=False, apply=delete, removing=True)


def yank(root: str, spec: str, reason: str | None, *, undo: bool = False
         ) -> tuple[list[DistFile], index.Report]:
    """PEP 592: the files stay, installers skip them unless pinned with ``==``."""
    def mark(key: str, dist: DistFile, yanked: dict[str, str]) -> None:
        if undo:
            yanked.pop(key, None)
        else:
            yanked[key] = reason or ""

    return _change(root, spec, need_version=True, apply=mark)

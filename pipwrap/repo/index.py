"""The static index inside a repository tree, written incrementally and atomically.

A manifest in ``DIR/.pipwrap/`` remembers, per file, its size and mtime and what was read
from it (hash, version, requires-python, metadata hash, upload time), and per project a
fingerprint of its files. So a run reads and hashes only new or changed files, rewrites only
the pages of projects whose files changed (and the root when the project list changed), and
a run with no change writes nothing at all: byte-identical output with untouched mtimes,
which is what keeps rsync or an object-store sync cheap. Every page is written to a
temporary name and renamed into place, so a reader never sees half a page.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

from pipwrap.errors import PipwrapError
from pipwrap.repo import nginx, pages
from pipwrap.repo.distfile import (
    DistFile,
    check_name_length,
    looks_like_distribution,
    name_max,
    parse_filename,
    read_metadata,
    same_bytes,
)
from pipwrap.repo.pool import run_jobs
from pipwrap.repo.records import Entry, examine, keep_upload_time, published_times

# The tree's lock, scratch directory, atomic writes and yanks live in tree.py; they are
# named here too, where the rest of the hosting half has always found them.
from pipwrap.repo.tree import STATE_DIR as STATE_DIR
from pipwrap.repo.tree import clear_scratch as clear_scratch
from pipwrap.repo.tree import load_json as _load_json
from pipwrap.repo.tree import load_yanked as load_yanked
from pipwrap.repo.tree import repo_lock as repo_lock
from pipwrap.repo.tree import save_yanked as save_yanked
from pipwrap.repo.tree import scratch_dir as scratch_dir
from pipwrap.repo.tree import write_if_changed as write_if_changed

MANIFEST = "manifest.json"
PAGE_NAMES = ("index.html", "index.json")
METADATA_SUFFIX = ".metadata"
MANIFEST_FORMAT = 2
# Raised when what a page says changes (2: JSON pages carry only PEP 714's core-metadata):
# a tree written by an earlier pipwrap gets every page rewritten, its file records kept.
PAGES_FORMAT = 2
# Below this many new files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 200


class Report:
    """What one run did: pages written and removed, and files left out (with why)."""

    __slots__ = ("adopted", "files", "projects", "records", "removed", "warnings", "written")

    def __init__(self) -> None:
        self.adopted: list[str] = []  # moved from the top of the tree into a project
        self.projects = 0
        self.files = 0
        self.written: list[str] = []
        self.removed: list[str] = []
        self.warnings: list[str] = []
        # project -> its file records, newest version last (for `repo list`)
        self.records: dict[str, list[pages.FileRecord]] = {}


class _Seen:
    """One distribution file found in a project directory."""

    __slots__ = ("mtime", "mtime_ns", "name", "path", "size")

    def __init__(self, name: str, path: str, stat: os.stat_result) -> None:
        self.name = name
        self.path = path
        self.size = stat.st_size
        self.mtime = stat.st_mtime
        self.mtime_ns = stat.st_mtime_ns

    @property
    def is_wheel(self) -> bool:
        return self.name.endswith(".whl")


def _known(old: object, item: _Seen) -> bool:
    return (isinstance(old, list) and len(old) == 7 and old[0] == item.size
            and old[1] == item.mtime_ns)


def _scan_project(root: str, project: str, old_files: dict[str, object], report: Report,
                  exclude: frozenset[str] = frozenset(), limit: int = 255
                  ) -> tuple[list[_Seen], list[_Seen], set[str]]:
    """(files the manifest knows unchanged, new or changed files, every name present).

    Only new files have their names parsed: a run with no change must stay cheap.
    ``exclude``: ``project/file`` names to leave out of the pages (about to be removed).
    """
    directory = os.path.join(root, project)
    known: list[_Seen] = []
    new: list[_Seen] = []
    present: set[str] = set()
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            present.add(name)
            if name.startswith(".") and name.endswith(".tmp"):
                # Left by a killed writer of an older version (temporary files are made
                # in .pipwrap/tmp now); we hold the lock, so it is stale.
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                continue
            if name.startswith(".") or name in PAGE_NAMES or name.endswith(METADATA_SUFFIX):
                continue
            if exclude and f"{project}/{name}" in exclude:
                continue
            where = os.path.join(directory, name)
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue  # a symlink, directory, loop...: never published
                stat = entry.stat(follow_symlinks=False)
            except OSError as exc:
                report.warnings.append(f"{where}: {exc.strerror}; left out of the index")
                continue
            if not looks_like_distribution(name):
                report.warnings.append(f"{where}: not a distribution; left out of the index")
                continue
            item = _Seen(name, where, stat)
            if _known(old_files.get(name), item):
                known.append(item)
                continue
            try:
                check_name_length(directory, name, limit)
                dist = parse_filename(name)
            except PipwrapError as exc:
                report.warnings.append(f"{where}: {exc}; left out of the index")
                continue
            if dist.project != project:
                report.warnings.append(
                    f"{where}: belongs to project {dist.project!r}, not {project!r}; left out "
                    f"of the index (move it with: pipwrap repo add)"
                )
                continue
            new.append(item)
    return known, new, present


def _fingerprint(entries: list[tuple[str, Entry, str | None]]) -> str:
    text = json.dumps([[name, entry[0], entry[1], yank] for name, entry, yank in entries])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _version_key(version: str) -> tuple[int, object]:
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version))
    except InvalidVersion:  # pragma: no cover - parse_filename already validated it
        return (0, version)


class _Job:
    """One project whose pages may need writing: everything its worker needs to know."""

    __slots__ = ("held", "known", "new", "old_fingerprint", "present", "previous", "project",
                 "root", "scratch", "want_records", "yanks")

    def __init__(self, root: str, project: str, known: list[tuple[_Seen, Entry]],
                 new: list[_Seen], present: set[str], yanks: dict[str, str],
                 old_fingerprint: object, want_records: bool, scratch: str,
                 previous: dict[str, object] | None = None) -> None:
        self.root = root
        # What the manifest said of files read again (their size or mtime moved): a
        # restore without file times keeps each unchanged file's upload time.
        self.previous = previous or {}
        # A project with pages already (indexed before): it stays a project, and its
        # name held, when its last distribution goes (a tombstone).
        self.held = "index.json" in present
        self.scratch = scratch
        self.project = project
        self.known = known
        self.new = new
        self.present = present
        self.yanks = yanks
        self.old_fingerprint = old_fingerprint
        self.want_records = want_records


class _Done:
    """What a project's worker did (a small picklable record for the parent process)."""

    __slots__ = ("entries", "fingerprint", "project", "records", "removed", "warnings",
                 "written")

    def __init__(self, project: str) -> None:
        self.project = project
        self.entries: dict[str, Entry] = {}
        self.fingerprint: str | None = None  # None: no distribution left
        self.records: list[pages.FileRecord] | None = None
        self.written: list[str] = []
        self.removed: list[str] = []
        self.warnings: list[str] = []


def _index_project(job: _Job) -> _Done:
    """Read a project's new files, then write its metadata files and pages as needed."""
    done = _Done(job.project)
    directory = os.path.join(job.root, job.project)
    chosen = list(job.known)
    present = set(job.present)
    # The project's page as it stands: the upload times it published (a restore may have
    # brought the pages back without the manifest, which is a cache).
    recorded = published_times(directory) if job.new else {}
    for item in job.new:
        try:
            entry, wrote = examine(item.path, parse_filename(item.name), item.mtime,
                                   item.path + METADATA_SUFFIX, job.scratch)
        except PipwrapError as exc:
            done.warnings.append(f"{exc}; left out of the index")
            continue
        except OSError as exc:  # one unreadable file is a warning, never a failed run
            done.warnings.append(f"{exc.filename or item.path}: {exc.strerror or exc}; left "
                                 "out of the index")
            continue
        entry[1] = item.mtime_ns
        keep_upload_time(entry, job.previous.get(item.name), recorded, item.name)
        chosen.append((item, entry))
        if item.is_wheel:
            present.add(item.name + METADATA_SUFFIX)
        if wrote:
            done.written.append(item.path + METADATA_SUFFIX)
    if not chosen and not job.held:
        _clear_project(directory, present, done)
        return done
    # No distribution left in a project that had pages (its last file removed): the
    # directory stays with empty pages, so the name stays held here, by serve and nginx
    # alike, and is never sent to the fallback, until `pipwrap repo release NAME`
    # (store.release) deletes it.
    chosen.sort(key=lambda c: c[0].name)
    done.entries = {item.name: entry for item, entry in chosen}
    done.fingerprint = _fingerprint([(i.name, e, job.yanks.get(i.name)) for i, e in chosen])

    wanted_metadata = set()
    for item, entry in chosen:
        if entry[5] is None:
            continue
        name = item.name + METADATA_SUFFIX
        wanted_metadata.add(name)
        if name not in present:  # deleted by hand: written again from its wheel
            try:
                raw = read_metadata(item.path, parse_filename(item.name)).raw
            except PipwrapError as exc:
                done.warnings.append(f"{exc}; its .metadata file was not written again")
                continue
            if write_if_changed(os.path.join(directory, name), raw, job.scratch):
                done.written.append(os.path.join(directory, name))
    _write_project_pages(job, done, chosen, present)
    # Only once the pages no longer list a wheel does its metadata file go.
    for name in present:
        if name.endswith(METADATA_SUFFIX) and name not in wanted_metadata:
            _unlink(os.path.join(directory, name), done)
    return done


def _write_project_pages(job: _Job, done: _Done, chosen: list[tuple[_Seen, Entry]],
                         present: set[str]) -> None:
    directory = os.path.join(job.root, job.project)
    unchanged = (done.fingerprint == job.old_fingerprint
                 and all(p in present for p in PAGE_NAMES))
    if unchanged and not job.want_records:
        return
    chosen.sort(key=lambda c: (_version_key(str(c[1][3])), c[0].name))
    records = [_record(item, entry, job.yanks.get(item.name)) for item, entry in chosen]
    if job.want_records:
        done.records = records
    if unchanged:
        return
    versions: list[str] = []
    for record in records:
        if record.version not in versions:
            versions.append(record.version)
    # JSON first: serve sends only the files index.json lists, so an HTML page must never
    # show a file before it does (an HTML client would get 404 for a link it just read).
    for name, data in (("index.json", pages.project_json(job.project, versions, records)),
                       ("index.html", pages.project_html(job.project, records))):
        if write_if_changed(os.path.join(directory, name), data, job.scratch):
            done.written.append(os.path.join(directory, name))


def _unlink(path: str, done: _Done) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
        done.removed.append(path)


def _clear_project(directory: str, present: set[str], done: _Done) -> None:
    """A directory that never held a distribution (a stray): no pages, and it goes if it
    is empty. ``serve`` still holds its name (anything under it), never indexes it."""
    for name in present:
        if name in PAGE_NAMES or name.endswith(METADATA_SUFFIX):
            _unlink(os.path.join(directory, name), done)
    with contextlib.suppress(OSError):
        os.rmdir(directory)


def build(root: str, *, locked: bool = False, want_records: bool = False,
          full: bool = False, exclude: frozenset[str] = frozenset()) -> Report:
    """Bring the static index inside ``root`` up to date with its distributions.

    ``want_records``: fill ``Report.records`` for every project, not only rewritten ones.
    ``full``: list every project directory, even those whose mtime says nothing changed.
    ``exclude``: ``project/file`` names the pages must stop listing (``repo remove``
    writes the pages without them, and only then unlinks them).
    """
    if not os.path.isdir(root):
        raise PipwrapError(f"no repository at {root} (create it with: pipwrap repo add "
                           f"--repo {root} FILE...)")
    try:
        if not locked:
            with repo_lock(root):
                return _build(root, want_records or full, want_records, exclude)
        return _build(root, want_records or full, want_records, exclude)
    except OSError as exc:
        # A permission problem, a full disk, a file removed under us: say which file.
        where = exc.filename or root
        raise PipwrapError(f"indexing {root}: {where}: {exc.strerror or exc}") from None


def _build(root: str, list_all: bool, want_records: bool,
           exclude: frozenset[str] = frozenset()) -> Report:
    report = Report()
    state = os.path.join(root, STATE_DIR)
    scratch = scratch_dir(root)
    os.makedirs(scratch, exist_ok=True)
    limit = name_max(root)
    touched = {key.partition("/")[0] for key in exclude}
    manifest_path = os.path.join(state, MANIFEST)
    manifest = _load_json(manifest_path)
    old_projects = manifest.get("projects")
    if manifest.get("format") != MANIFEST_FORMAT or not isinstance(old_projects, dict):
        manifest, old_projects = {}, {}
    pages_stale = manifest.get("pages") != PAGES_FORMAT
    list_all = list_all or pages_stale
    yanked: dict[str, dict[str, str]] = {}
    for key, reason in load_yanked(root).items():
        project, _, filename = key.partition("/")
        yanked.setdefault(project, {})[filename] = reason

    _adopt_loose(root, report)  # before the scan, which then sees them in place
    jobs: list[_Job] = []
    projects: dict[str, dict[str, object]] = {}
    with os.scandir(root) as top:
        for found in top:
            name = found.name
            if name.startswith(".") or name in PAGE_NAMES:
                continue
            if not found.is_dir():
                continue
            if found.is_symlink():
                # Its pages would be written (and stale ones deleted) wherever it points.
                report.warnings.append(f"{found.path}: a symbolic link, not a project "
                                       "directory; left out of the index")
                continue
            yanks = yanked.get(name, {})
            # Stat the directory before reading it: a file added meanwhile changes its
            # mtime again, so the next run looks again.
            dir_mtime = found.stat().st_mtime_ns
            old = old_projects.get(name)
            if not isinstance(old, dict):
                old = {}
            if (old.get("mtime") == dir_mtime and old.get("yanks", {}) == yanks
                    and not list_all and name not in touched):
                # Nothing was added, removed or renamed here since the last run (files are
                # immutable: replacing one in place is not noticed; see `repo index --help`).
                projects[name] = old
                continue
            old_files = old.get("files")
            if not isinstance(old_files, dict):
                old_files = {}
            try:
                known_items, new, present = _scan_project(root, name, old_files, report,
                                                          exclude, limit)
            except OSError as exc:  # an unreadable project is left as it is, with a warning
                report.warnings.append(f"{found.path}: {exc.strerror or exc}; its pages were "
                                       "not updated")
                if old:
                    projects[name] = old
                continue
            known = [(item, old_files[item.name]) for item in known_items]
            record: dict[str, object] = {"mtime": None if name in touched else dir_mtime,
                                         "yanks": yanks}
            if not new and known and not want_records:
                # Listed again, nothing new: decide here without a job.
                known.sort(key=lambda c: c[0].name)
                fingerprint = _fingerprint([(i.name, e, yanks.get(i.name)) for i, e in known])
                complete = all(p in present for p in PAGE_NAMES) and all(
                    e[5] is None or i.name + METADATA_SUFFIX in present for i, e in known)
                metadata = sum(1 for n in present if n.endswith(METADATA_SUFFIX))
                if (fingerprint == old.get("fp") and complete and not pages_stale
                        and metadata == sum(1 for _i, e in known if e[5] is not None)):
                    projects[name] = {**record, "fp": fingerprint,
                                      "files": {i.name: e for i, e in known}}
                    continue
            projects[name] = record
            previous = {item.name: old_files[item.name] for item in new
                        if item.name in old_files}
            jobs.append(_Job(root, name, known, new, present, yanks,
                             None if pages_stale else old.get("fp"), want_records, scratch,
                             previous))

    parallel = sum(len(job.new) for job in jobs) >= PARALLEL_THRESHOLD
    for job, done in zip(jobs, run_jobs(_index_project, jobs, parallel=parallel)):
        _settle(job, done, projects)
        report.written += done.written
        report.removed += done.removed
        report.warnings += done.warnings
        if done.records is not None:
            report.records[done.project] = done.records
        if done.fingerprint is None:
            del projects[done.project]
        else:
            projects[done.project].update(fp=done.fingerprint, files=done.entries)

    names = sorted(projects)
    _write_root(root, names, manifest.get("root"), report)
    # nginx's list of held projects (repo nginx-conf): a held name is never sent upstream
    # because a stat failed there.
    write_if_changed(os.path.join(state, nginx.HELD_MAP), nginx.held_map(names), scratch)
    report.projects = len(projects)
    report.files = sum(_count(p.get("files")) for p in projects.values())
    new_manifest = {"format": MANIFEST_FORMAT, "pages": PAGES_FORMAT,
                    "root": _root_fingerprint(names),
                    "projects": {name: projects[name] for name in names}}
    if new_manifest != manifest:
        os.makedirs(state, exist_ok=True)
        write_if_changed(manifest_path, json.dumps(new_manifest, separators=(",", ":")).encode(),
                         scratch)
    return report


def publish_new_project(root: str, staged: str, project: str) -> list[str]:
    """Give the staged directory ``staged`` (in the scratch directory, holding a new
    project's distributions) its metadata files and pages, then rename it into the tree
    as ``root/project``: the project appears at once with its first page, never as an
    empty or page-less directory (``serve`` must not answer 404 or redirect meanwhile).

    Returns warnings for files that could not be indexed (they are published anyway and
    the next run reports them again). Must be called under the lock.
    """
    parent, name = os.path.split(staged)
    report = Report()
    known, new, present = _scan_project(parent, name, {}, report, limit=name_max(root))
    job = _Job(parent, name, [], new + known, present, load_yanked_project(root, project),
               None, False, scratch_dir(root))
    done = _index_project(job)
    os.rename(staged, os.path.join(root, project))  # refuses an existing non-empty one
    return report.warnings + done.warnings


def load_yanked_project(root: str, project: str) -> dict[str, str]:
    prefix = f"{project}/"
    return {k.removeprefix(prefix): v for k, v in load_yanked(root).items()
            if k.startswith(prefix)}


def _adopt_loose(root: str, report: Report) -> None:
    """Move distributions at the top of the tree into their project directories.

    That is where pypiserver puts a ``twine upload`` when it serves the same tree, and
    where a flat directory of wheels starts. Each file is checked as ``repo add`` checks
    it; one that fails, or whose name is taken by other bytes, stays and is reported.
    A new project is staged and renamed into place with its pages.
    """
    with os.scandir(root) as top:
        candidates = [e.path for e in top if not e.name.startswith(".")
                      and looks_like_distribution(e.name) and e.is_file(follow_symlinks=False)]
    limit = name_max(root)
    for path in candidates:
        name = os.path.basename(path)
        try:
            check_name_length(root, name, limit)
            dist = parse_filename(name)
            read_metadata(path, dist)
            _adopt_one(root, path, dist, report)
        except PipwrapError as exc:
            report.warnings.append(f"{exc}; left out of the index")
        except OSError as exc:
            report.warnings.append(f"{path}: {exc.strerror or exc}; left out of the index")


def _adopt_one(root: str, path: str, dist: DistFile, report: Report) -> None:
    import tempfile

    name = dist.filename
    directory = os.path.join(root, dist.project)
    target = os.path.join(directory, name)
    if os.path.lexists(target):
        if same_bytes(path, target):
            os.unlink(path)
        else:
            report.warnings.append(
                f"{path}: {dist.project}/{name} already holds other bytes; left out of "
                "the index (published files are immutable)")
        return
    if os.path.lexists(directory):
        os.replace(path, target)  # keeps its mtime: the upload time
    else:
        holder = tempfile.mkdtemp(dir=scratch_dir(root))
        staged = os.path.join(holder, dist.project)
        os.mkdir(staged)
        os.replace(path, os.path.join(staged, name))
        try:
            report.warnings += publish_new_project(root, staged, dist.project)
        except OSError:
            os.replace(os.path.join(staged, name), path)  # back where it was
            raise
        with contextlib.suppress(OSError):
            os.rmdir(holder)
    report.adopted.append(f"{dist.project}/{name}")


def _settle(job: _Job, done: _Done, projects: dict[str, dict[str, object]]) -> None:
    """Record the directory's mtime after this run's own writes, when that is safe.

    Our pages and metadata files change the directory's mtime. Stat first, then list: if
    the distributions listed are still exactly those indexed, that mtime stands for this
    state, and the next run skips the directory (and writes nothing, not even the
    manifest). Otherwise the next run looks again.
    """
    if not (done.written or done.removed) or done.fingerprint is None:
        return
    directory = os.path.join(job.root, job.project)
    try:
        mtime = os.stat(directory).st_mtime_ns
        names = os.listdir(directory)
    except OSError:
        return
    listed = {n for n in names if looks_like_distribution(n) and not n.startswith(".")}
    if listed == {item.name for item, _entry in job.known} | {item.name for item in job.new}:
        projects[job.project]["mtime"] = mtime


def _count(files: object) -> int:
    return len(files) if isinstance(files, dict) else 0


def _record(item: _Seen, entry: Entry, yank: str | None) -> pages.FileRecord:
    size, _mtime, sha, version, requires_python, metadata_sha, uploaded = entry
    return pages.FileRecord(
        item.name, str(version), int(str(size)), str(sha),
        str(requires_python) if requires_python else None,
        str(metadata_sha) if metadata_sha else None, str(uploaded), yank,
    )


def _root_fingerprint(projects: list[str]) -> str:
    return hashlib.sha256("\n".join(projects).encode()).hexdigest()[:32]


def _write_root(root: str, projects: list[str], old_fingerprint: object,
                report: Report) -> None:
    if (_root_fingerprint(projects) == old_fingerprint
            and all(os.path.exists(os.path.join(root, p)) for p in PAGE_NAMES)):
        return
    for name, data in (("index.json", pages.root_json(projects)),
                       ("index.html", pages.root_html(projects))):
        if write_if_changed(os.path.join(root, name), data, scratch_dir(root)):
            report.written.append(os.path.join(root, name))

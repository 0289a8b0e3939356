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
import time

from pipwrap.errors import PipwrapError
from pipwrap.repo import pages
from pipwrap.repo.distfile import (
    DistFile,
    looks_like_distribution,
    parse_filename,
    read_metadata,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_DIR = ".pipwrap"
MANIFEST = "manifest.json"
YANKED = "yanked.json"
LOCK = "lock"
PAGE_NAMES = ("index.html", "index.json")
METADATA_SUFFIX = ".metadata"
MANIFEST_FORMAT = 1
# Below this many new files, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 200

# Manifest entry: [size, mtime_ns, sha256, version, requires_python, metadata_sha256, uploaded]
Entry = list[object]


class Report:
    """What one run did: pages written and removed, and files left out (with why)."""

    __slots__ = ("files", "projects", "records", "removed", "warnings", "written")

    def __init__(self) -> None:
        self.projects = 0
        self.files = 0
        self.written: list[str] = []
        self.removed: list[str] = []
        self.warnings: list[str] = []
        # project -> its file records, newest version last (for `repo list`)
        self.records: dict[str, list[pages.FileRecord]] = {}


@contextlib.contextmanager
def repo_lock(root: str) -> Iterator[None]:
    """One writer at a time per tree (``repo add`` and ``serve``'s re-index may race)."""
    import fcntl

    state = os.path.join(root, STATE_DIR)
    os.makedirs(state, exist_ok=True)
    fd = os.open(os.path.join(state, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_if_changed(path: str, data: bytes) -> bool:
    """Atomically put ``data`` at ``path`` unless it already holds exactly that."""
    try:
        with open(path, "rb") as handle:
            if handle.read(len(data) + 1) == data:
                return False
    except FileNotFoundError:
        pass
    directory, name = os.path.split(path)
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
    os.replace(temporary, path)
    return True


def _load_json(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt, never trusted
    return data if isinstance(data, dict) else {}


def load_yanked(root: str) -> dict[str, str]:
    data = _load_json(os.path.join(root, STATE_DIR, YANKED))
    return {str(k): str(v) for k, v in data.items()}


def save_yanked(root: str, yanked: dict[str, str]) -> None:
    os.makedirs(os.path.join(root, STATE_DIR), exist_ok=True)
    data = json.dumps(dict(sorted(yanked.items())), indent=1) + "\n"
    write_if_changed(os.path.join(root, STATE_DIR, YANKED), data.encode())


def upload_time(mtime: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(mtime))


def examine(path: str, dist: DistFile, mtime: float) -> tuple[Entry, bytes | None]:
    """Hash and read one distribution: its manifest entry and (wheels) its metadata bytes."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    metadata = read_metadata(path, dist)
    raw = metadata.raw if dist.is_wheel else None
    metadata_sha = hashlib.sha256(raw).hexdigest() if raw is not None else None
    entry: Entry = [size, 0, digest.hexdigest(), dist.version, metadata.requires_python,
                    metadata_sha, upload_time(mtime)]
    return entry, raw


def _examine_job(job: tuple[str, str, float]) -> tuple[Entry, bytes | None] | str:
    path, filename, mtime = job
    try:
        return examine(path, parse_filename(filename), mtime)
    except PipwrapError as exc:
        return str(exc)


class _Seen:
    """One distribution found in a project directory."""

    __slots__ = ("dist", "key", "mtime", "mtime_ns", "path", "size")

    def __init__(self, dist: DistFile, path: str, key: str, stat: os.stat_result) -> None:
        self.dist = dist
        self.path = path
        self.key = key
        self.size = stat.st_size
        self.mtime = stat.st_mtime
        self.mtime_ns = stat.st_mtime_ns


def _scan_project(root: str, project: str, report: Report
                  ) -> tuple[list[_Seen], set[str]]:
    """The distributions in ``DIR/project`` and every name present there."""
    directory = os.path.join(root, project)
    seen: list[_Seen] = []
    present: set[str] = set()
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            present.add(name)
            if name.startswith(".") or name in PAGE_NAMES or name.endswith(METADATA_SUFFIX):
                continue
            if not entry.is_file():
                continue
            where = os.path.join(directory, name)
            if not looks_like_distribution(name):
                report.warnings.append(f"{where}: not a distribution; left out of the index")
                continue
            try:
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
            seen.append(_Seen(dist, where, f"{project}/{name}", entry.stat()))
    return seen, present


def _read_new(new: list[_Seen], report: Report) -> dict[str, tuple[Entry, bytes | None]]:
    jobs = [(s.path, s.dist.filename, s.mtime) for s in new]
    if len(jobs) >= PARALLEL_THRESHOLD and (os.cpu_count() or 1) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor() as pool:
            results = list(pool.map(_examine_job, jobs, chunksize=64))
    else:
        results = [_examine_job(job) for job in jobs]
    done: dict[str, tuple[Entry, bytes | None]] = {}
    for seen, result in zip(new, results):
        if isinstance(result, str):
            report.warnings.append(f"{result}; left out of the index")
            continue
        result[0][1] = seen.mtime_ns
        done[seen.key] = result
    return done


def _fingerprint(entries: list[tuple[str, Entry, str | None]]) -> str:
    text = json.dumps([[name, entry[0], entry[1], yank] for name, entry, yank in entries])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _version_key(version: str) -> tuple[int, object]:
    from packaging.version import InvalidVersion, Version

    try:
        return (1, Version(version))
    except InvalidVersion:  # pragma: no cover - parse_filename already validated it
        return (0, version)


def build(root: str, *, locked: bool = False, want_records: bool = False) -> Report:
    """Bring the static index inside ``root`` up to date with its distributions.

    ``want_records``: fill ``Report.records`` for every project, not only rewritten ones.
    """
    if not os.path.isdir(root):
        raise PipwrapError(f"no repository at {root} (create it with: pipwrap repo add "
                           f"--repo {root} FILE...)")
    if not locked:
        with repo_lock(root):
            return _build(root, want_records)
    return _build(root, want_records)


def _build(root: str, want_records: bool) -> Report:
    report = Report()
    state = os.path.join(root, STATE_DIR)
    manifest_path = os.path.join(state, MANIFEST)
    manifest = _load_json(manifest_path)
    if manifest.get("format") != MANIFEST_FORMAT:
        manifest = {}
    old_files = manifest.get("files")
    old_projects = manifest.get("projects")
    if not isinstance(old_files, dict) or not isinstance(old_projects, dict):
        old_files, old_projects = {}, {}
    yanked = load_yanked(root)

    scanned: dict[str, tuple[list[_Seen], set[str]]] = {}
    with os.scandir(root) as top:
        for found in top:
            name = found.name
            if name.startswith(".") or name in PAGE_NAMES:
                continue
            if found.is_dir():
                scanned[name] = _scan_project(root, name, report)
            elif looks_like_distribution(name):
                report.warnings.append(
                    f"{found.path}: not in a project directory; left out of the index "
                    "(put it in place with: pipwrap repo add)"
                )

    new: list[_Seen] = []
    for seen, _present in scanned.values():
        for item in seen:
            old = old_files.get(item.key)
            if not (isinstance(old, list) and len(old) == 7 and old[0] == item.size
                    and old[1] == item.mtime_ns):
                new.append(item)
    fresh = _read_new(new, report)

    new_keys = {item.key for item in new}
    files: dict[str, Entry] = {}
    projects: dict[str, str] = {}
    for project in sorted(scanned):
        seen, present = scanned[project]
        chosen: list[tuple[_Seen, Entry, bytes | None]] = []
        for item in seen:
            if item.key in fresh:
                entry, raw = fresh[item.key]
                chosen.append((item, entry, raw))
            elif item.key not in new_keys:
                chosen.append((item, old_files[item.key], None))
        if not chosen:
            _clear_project(root, project, present, report)
            continue
        chosen.sort(key=lambda c: c[0].dist.filename)
        fingerprint = _fingerprint(
            [(c[0].dist.filename, c[1], yanked.get(c[0].key)) for c in chosen]
        )
        projects[project] = fingerprint
        for item, entry, _raw in chosen:
            files[item.key] = entry
        _write_project(root, project, present, chosen, yanked, fingerprint,
                       old_projects.get(project), report, want_records)

    _write_root(root, sorted(projects), manifest.get("root"), report)
    report.projects = len(projects)
    report.files = len(files)
    new_manifest = {"format": MANIFEST_FORMAT, "root": _root_fingerprint(sorted(projects)),
                    "projects": projects, "files": files}
    if new_manifest != manifest:
        os.makedirs(state, exist_ok=True)
        write_if_changed(manifest_path, json.dumps(new_manifest, separators=(",", ":")).encode())
    return report


def _record(item: _Seen, entry: Entry, yank: str | None) -> pages.FileRecord:
    size, _mtime, sha, version, requires_python, metadata_sha, uploaded = entry
    return pages.FileRecord(
        item.dist.filename, str(version), int(str(size)), str(sha),
        str(requires_python) if requires_python else None,
        str(metadata_sha) if metadata_sha else None, str(uploaded), yank,
    )


def _write_project(root: str, project: str, present: set[str],
                   chosen: list[tuple[_Seen, Entry, bytes | None]], yanked: dict[str, str],
                   fingerprint: str, old_fingerprint: object, report: Report,
                   want_records: bool) -> None:
    directory = os.path.join(root, project)
    wanted_metadata = set()
    for item, entry, raw in chosen:
        if entry[5] is None:
            continue
        name = item.dist.filename + METADATA_SUFFIX
        wanted_metadata.add(name)
        if raw is None and name in present:
            continue  # written by an earlier run from the same (unchanged) file
        if raw is None:
            raw = read_metadata(item.path, item.dist).raw
        if write_if_changed(os.path.join(directory, name), raw):
            report.written.append(os.path.join(directory, name))
    for name in present:
        if name.endswith(METADATA_SUFFIX) and name not in wanted_metadata:
            os.unlink(os.path.join(directory, name))
            report.removed.append(os.path.join(directory, name))
    unchanged = fingerprint == old_fingerprint and all(p in present for p in PAGE_NAMES)
    if unchanged and not want_records:
        return
    chosen = sorted(chosen, key=lambda c: (_version_key(str(c[1][3])), c[0].dist.filename))
    records = [_record(item, entry, yanked.get(item.key)) for item, entry, _ in chosen]
    report.records[project] = records
    if unchanged:
        return
    versions = []
    for record in records:
        if record.version not in versions:
            versions.append(record.version)
    for name, data in (("index.html", pages.project_html(project, records)),
                       ("index.json", pages.project_json(project, versions, records))):
        if write_if_changed(os.path.join(directory, name), data):
            report.written.append(os.path.join(directory, name))


def _clear_project(root: str, project: str, present: set[str], report: Report) -> None:
    """A directory with no distributions left: drop its pages, and it if that empties it."""
    directory = os.path.join(root, project)
    for name in present:
        if name in PAGE_NAMES or name.endswith(METADATA_SUFFIX):
            os.unlink(os.path.join(directory, name))
            report.removed.append(os.path.join(directory, name))
    with contextlib.suppress(OSError):
        os.rmdir(directory)


def _root_fingerprint(projects: list[str]) -> str:
    return hashlib.sha256("\n".join(projects).encode()).hexdigest()[:32]


def _write_root(root: str, projects: list[str], old_fingerprint: object,
                report: Report) -> None:
    if (_root_fingerprint(projects) == old_fingerprint
            and all(os.path.exists(os.path.join(root, p)) for p in PAGE_NAMES)):
        return
    for name, data in (("index.html", pages.root_html(projects)),
                       ("index.json", pages.root_json(projects))):
        if write_if_changed(os.path.join(root, name), data):
            report.written.append(os.path.join(root, name))

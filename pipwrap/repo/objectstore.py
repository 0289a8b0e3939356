"""Publishing the static tree to an object store, incrementally and in the tree's order.

What the bucket holds is decided by a manifest object beside the tree
(``PREFIX/.pipwrap-push.json``): per key, the sha256 of the bytes pushed, the ETag the
store answered and the headers sent. An object is unchanged when the manifest names the
sha256 we have *and* the bucket's listing still shows that ETag and size. So a push costs
one LIST and one GET when nothing changed, however many files the tree holds, and an
object replaced or deleted behind our back (its ETag or its key changes) is pushed again.
Per-object metadata alone would need a HEAD per object (a listing carries no metadata),
and an ETag alone is no content hash (multipart and KMS uploads make it something else).

The order is the tree's (see :mod:`.store`): distribution and ``.metadata`` files first,
then the project pages that list them, then the root page that lists the projects, and
only then the deletions of what no page names any more. Each phase ends before the next
starts, and the manifest is written after each phase, holding only objects whose upload
was answered; a push killed anywhere leaves a bucket where every page names files that
exist, and running it again finishes the job.

Nothing here knows which client speaks to the store: :class:`Remote` is what a client
must do (:mod:`.objectstore_s3` is the S3 one).
"""

from __future__ import annotations

import hashlib
import json
import os

from pipwrap.errors import PipwrapError
from pipwrap.repo import index

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Protocol

    class Remote(Protocol):
        """An object store under one prefix; keys here are relative to the prefix."""

        def listing(self) -> dict[str, tuple[str, int]]:
            """Every key under the prefix: (ETag, size)."""

        def read(self, key: str) -> bytes | None:
            """An object's bytes, or None when there is no such key."""

        def put(self, item: Item) -> str:
            """Store one object with its headers; return the ETag the store answered."""

        def put_bytes(self, key: str, data: bytes, content_type: str) -> None:
            """Store a small object of our own (the manifest), never cached."""

        def delete(self, keys: list[str]) -> None:
            """Delete these keys (missing ones are not an error)."""


MANIFEST_KEY = ".pipwrap-push.json"
MANIFEST_FORMAT = 1
IMMUTABLE = "public, max-age=31536000, immutable"
DIST_TYPE = "application/octet-stream"
HTML_TYPE = "text/html; charset=utf-8"
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
PAGE_FORMATS = ("html", "json")
# Uploads run in parallel within a phase; phases never overlap.
WORKERS = 8

# Phases, in the order they are pushed.
FILES, PROJECT_PAGES, ROOT_PAGES = 0, 1, 2


class Item:
    """One object the bucket must hold: its key, bytes (a file or in memory), headers."""

    __slots__ = ("cache_control", "content_type", "data", "key", "path", "phase", "sha256",
                 "size")

    def __init__(self, key: str, sha256: str, size: int, content_type: str,
                 cache_control: str, phase: int, *, path: str | None = None,
                 data: bytes | None = None) -> None:
        self.key = key
        self.sha256 = sha256
        self.size = size
        self.content_type = content_type
        self.cache_control = cache_control
        self.phase = phase
        self.path = path
        self.data = data

    @property
    def headers(self) -> str:
        return f"{self.content_type}|{self.cache_control}"


class Plan:
    """What a push would do: objects to upload (by phase) and keys to delete."""

    __slots__ = ("deletions", "items", "manifest", "unchanged", "uploads")

    def __init__(self, items: list[Item], uploads: list[Item], deletions: list[str],
                 manifest: dict[str, list[object]] | None) -> None:
        self.items = items
        self.uploads = uploads
        self.deletions = deletions
        self.unchanged = len(items) - len(uploads)
        # What the bucket's manifest said (None: there was none; the prefix is new).
        self.manifest = manifest

    @property
    def empty(self) -> bool:
        return not self.uploads and not self.deletions


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _in_memory(key: str, data: bytes, content_type: str, cache_control: str,
               phase: int) -> Item:
    return Item(key, hashlib.sha256(data).hexdigest(), len(data), content_type,
                cache_control, phase, data=data)


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def snapshot(root: str, *, page_format: str = "html", page_max_age: int = 60,
             build: bool = True, root_key: bool = True) -> tuple[list[Item], list[str]]:
    """Everything the tree publishes, as objects, and the index's warnings.

    Under the tree's lock: the index is brought up to date first (unless ``build`` is
    false: ``--check`` writes nothing anywhere), pages and ``.metadata`` files are read
    into memory (a later re-index cannot tear them), and each distribution's sha256 comes
    from the index's manifest when its size and mtime still match (published files are
    immutable: only a changed one is read again). ``root_key``: the root page under the
    key ``""`` too (there is none at a bucket's top: its URL lists the bucket instead).
    """
    if page_format not in PAGE_FORMATS:
        raise PipwrapError(f"--page-format {page_format!r}: expected html or json")
    page_cache = f"public, max-age={page_max_age}"
    with index.repo_lock(root):
        warnings = index.build(root, locked=True).warnings if build else []
        projects = _tree_manifest(root).get("projects")
        if not isinstance(projects, dict):
            projects = {}
        items: list[Item] = []
        try:
            for project in sorted(projects):
                items += _project_items(root, project, projects[project], page_format,
                                        page_cache)
            items += _pages(root, "", ROOT_PAGES, page_format, page_cache)
        except OSError as exc:
            # A file the index lists is gone or unreadable: never publish pages naming it.
            raise PipwrapError(f"repo push: {exc.filename or root}: {exc.strerror or exc}; "
                               "the index does not match the tree (run: pipwrap repo index "
                               f"--repo {root})") from None
    return [item for item in items if item.key or root_key], warnings


def _tree_manifest(root: str) -> dict[str, object]:
    try:
        with open(os.path.join(root, index.STATE_DIR, index.MANIFEST), "rb") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}  # no index yet (or a damaged one): nothing is published from it
    return data if isinstance(data, dict) else {}


def _project_items(root: str, project: str, record: object, page_format: str,
                   page_cache: str) -> list[Item]:
    files = record.get("files") if isinstance(record, dict) else None
    if not isinstance(files, dict) or not files:
        return []
    directory = os.path.join(root, project)
    items: list[Item] = []
    for name in sorted(files):
        entry = files[name]
        path = os.path.join(directory, name)
        stat = os.stat(path)
        sha = str(entry[2]) if (isinstance(entry, list) and len(entry) == 7
                                and entry[0] == stat.st_size and entry[1] == stat.st_mtime_ns
                                ) else _sha256_of(path)
        items.append(Item(f"{project}/{name}", sha, stat.st_size, DIST_TYPE, IMMUTABLE,
                          FILES, path=path))
        if isinstance(entry, list) and len(entry) == 7 and entry[5]:
            metadata = _read(path + index.METADATA_SUFFIX)
            items.append(_in_memory(f"{project}/{name}{index.METADATA_SUFFIX}", metadata,
                                    DIST_TYPE, IMMUTABLE, FILES))
    return items + _pages(root, project, PROJECT_PAGES, page_format, page_cache)


def _pages(root: str, project: str, phase: int, page_format: str,
           page_cache: str) -> list[Item]:
    """A directory's two pages, and the chosen one again under the key ending in ``/``:
    S3's REST endpoint has no index documents, and installers ask for ``…/NAME/``."""
    directory = os.path.join(root, project) if project else root
    base = f"{project}/" if project else ""
    html = _read(os.path.join(directory, "index.html"))
    data = _read(os.path.join(directory, "index.json"))
    chosen = (html, HTML_TYPE) if page_format == "html" else (data, JSON_TYPE)
    return [_in_memory(f"{base}index.html", html, HTML_TYPE, page_cache, phase),
            _in_memory(f"{base}index.json", data, JSON_TYPE, page_cache, phase),
            _in_memory(base, chosen[0], chosen[1], page_cache, phase)]


def read_manifest(remote: Remote) -> dict[str, list[object]] | None:
    raw = remote.read(MANIFEST_KEY)
    if raw is None:
        return None
    try:
        data = json.loads(raw)
    except ValueError:
        return {}  # damaged: trust nothing in it, push everything again
    objects = data.get("objects") if isinstance(data, dict) else None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(
            objects, dict):
        return {}
    return {str(k): v for k, v in objects.items() if isinstance(v, list) and len(v) == 4}


def plan(items: list[Item], remote: Remote, *, adopt: bool = False) -> Plan:
    """Compare the tree's objects with the bucket. A prefix that holds objects but no
    manifest is refused unless ``adopt``: a push deletes what the tree does not hold, and
    a mistyped prefix must not cost someone else's objects."""
    listing = remote.listing()
    manifest = read_manifest(remote)
    if manifest is None and listing and not adopt:
        raise Foreign(len(listing), sorted(listing)[:3])
    known = manifest or {}
    uploads = []
    for item in items:
        pushed = known.get(item.key)
        present = listing.get(item.key)
        if not (pushed is not None and present is not None and pushed[0] == item.sha256
                and pushed[1] == present[0] and present[1] == item.size
                and pushed[3] == item.headers):
            uploads.append(item)
    wanted = {item.key for item in items} | {MANIFEST_KEY}
    deletions = sorted(key for key in listing if key not in wanted)
    return Plan(items, uploads, deletions, manifest)


class Foreign(PipwrapError):
    """The prefix holds objects and no manifest: not ours to overwrite and delete."""

    def __init__(self, count: int, examples: list[str]) -> None:
        super().__init__(f"{count} object{'s' if count != 1 else ''} (e.g. "
                         f"{', '.join(examples)}) not written by pipwrap repo push")
        self.count = count


def push(the_plan: Plan, remote: Remote, *,
         progress: Callable[[str, str], None] | None = None) -> None:
    """Upload phase by phase, recording each phase in the manifest, then delete."""
    known: dict[str, list[object]] = {}
    uploading = {id(item) for item in the_plan.uploads}
    for item in the_plan.items:
        pushed = (the_plan.manifest or {}).get(item.key)
        if id(item) not in uploading and pushed is not None:
            known[item.key] = pushed
    last: dict[str, list[object]] | None = the_plan.manifest

    def record() -> None:
        nonlocal last
        if known != last:
            _write_manifest(remote, known)
            last = dict(known)

    # A new prefix is claimed before the first object lands: a push killed now and run
    # again knows the objects here are its own.
    record()
    for phase in (FILES, PROJECT_PAGES, ROOT_PAGES):
        batch = [item for item in the_plan.uploads if item.phase == phase]
        if not batch:
            continue
        for item, etag in _upload_all(remote, batch):
            known[item.key] = [item.sha256, etag, item.size, item.headers]
            if progress is not None:
                progress("uploaded", item.key)
        record()
    for start in range(0, len(the_plan.deletions), 1000):
        remote.delete(the_plan.deletions[start:start + 1000])
    if progress is not None:
        for key in the_plan.deletions:
            progress("deleted", key)
    record()  # drops the entries of what was deleted


def _upload_all(remote: Remote, batch: list[Item]) -> list[tuple[Item, str]]:
    """Upload ``batch`` in parallel; every upload is done (or failed) on return.

    On a failure the others already started finish, nothing more starts, and the first
    error is raised: the next phase must never begin with this one incomplete.
    """
    if len(batch) == 1:
        return [(batch[0], remote.put(batch[0]))]
    from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(remote.put, item) for item in batch]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
    done = []
    for item, future in zip(batch, futures):
        if future.cancelled():
            continue
        error = future.exception()
        if error is not None:
            raise error
        done.append((item, future.result()))
    return done


def _write_manifest(remote: Remote, known: dict[str, list[object]]) -> None:
    data = {"format": MANIFEST_FORMAT, "objects": dict(sorted(known.items()))}
    remote.put_bytes(MANIFEST_KEY, json.dumps(data, separators=(",", ":")).encode(),
                     "application/json")

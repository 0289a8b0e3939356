"""``serve --cache``: the fallback index fetched, checked and cached by the server itself.

For a project the tree does not hold, ``serve`` fetches the fallback's page (JSON or HTML,
read by :mod:`pipwrap.indexpage`, the parser the fence uses too), keeps only files whose
page gives a sha256, and answers with a page of its own whose file URLs point back at
itself: ``/simple/<project>/<sha256>/<filename>`` (and ``.metadata`` beside it). Clients
never see, nor contact, the upstream host: an air-gapped client works.

Files are cached content-addressed in ``DIR/.pipwrap/cache/files/<ab>/<sha256>``, written
once (a temporary name, then a rename) and only when their bytes hash to what the upstream
page said, and hashed again before they are sent from the cache, once per change of the
file (:mod:`.cachefile`: a damaged copy answers 503, is dropped and fetched again; never
a complete wrong file). Pages are kept rendered in ``cache/pages/<project>/`` (and the
recent ones in memory) and revalidated after a TTL with ``If-None-Match`` /
``If-Modified-Since``; when the upstream cannot be reached the cached page is served and
the log says so. Only files
on allowed hosts are offered (:mod:`.upstream`). A project the tree holds never reaches
this module (local-first).

The server calls :meth:`Mirror.fresh_page` (on its event loop), :meth:`Mirror.page`,
:meth:`Mirror.file` and :meth:`Mirror.verified`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import sys
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from email.utils import formatdate
from html import escape
from urllib.parse import quote, urlsplit

from pipwrap import indexpage
from pipwrap.errors import PipwrapError
from pipwrap.files import write_atomic
from pipwrap.repo import cachefile, index, pages
from pipwrap.repo import upstream as upstream_http
from pipwrap.repo.distfile import looks_like_distribution, normalize, parse_filename

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CACHE_DIR = "cache"  # under the tree's .pipwrap/
STATE = "state.json"
DEFAULT_TTL = 600
RETRY_AFTER_FAILURE = 30  # seconds before an unreachable upstream is asked again
STALE = 600  # seconds without a write before a temporary download is a dead one
# Rendered pages kept in memory (not re-read per request); a page bigger than half
# of it is read from disk each time, which the size bound on upstream pages makes rare.
MEMORY = 32 * 1024 * 1024
BIG_PAGE = 1024 * 1024  # parsed one at a time: a parse takes ~10x the page in memory
SHA256 = re.compile(r"[0-9a-f]{64}")
ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, "
          "text/html;q=0.01")


class NotFound(Exception):
    pass


class Unavailable(Exception):
    """The upstream could not be asked, and nothing usable is cached."""


def log(message: str) -> None:
    sys.stderr.write(f"pipwrap serve: cache: {message}\n")
    sys.stderr.flush()


class Entry:
    """One file of a cached page: what the rendered page says and where upstream has it."""

    __slots__ = ("filename", "metadata_sha256", "requires_python", "sha256", "size",
                 "upload_time", "url", "yanked")

    def __init__(self, filename: str, url: str, sha256: str, requires_python: str | None,
                 yanked: str | None, metadata_sha256: str | None, size: int | None = None,
                 upload_time: str | None = None) -> None:
        self.filename = filename
        self.url = url
        self.sha256 = sha256
        self.requires_python = requires_python
        self.yanked = yanked
        self.metadata_sha256 = metadata_sha256
        self.size = size
        self.upload_time = upload_time

    def to_json(self) -> list[object]:
        return [self.filename, self.url, self.sha256, self.requires_python, self.yanked,
                self.metadata_sha256, self.size, self.upload_time]


def pep700_fields(body: bytes, content_type: str | None) -> dict[str, tuple[int | None,
                                                                          str | None]]:
    """filename -> (size, upload-time) from a JSON page (PEP 700; indexpage keeps neither).
    ``uv --exclude-newer`` needs upload-time, and only JSON carries it."""
    if not indexpage.is_json(content_type):
        return {}
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    found: dict[str, tuple[int | None, str | None]] = {}
    for item in data.get("files", []) if isinstance(data, dict) else []:
        if isinstance(item, dict) and isinstance(item.get("filename"), str):
            size, uploaded = item.get("size"), item.get("upload-time")
            found[item["filename"]] = (size if isinstance(size, int) else None,
                                       uploaded if isinstance(uploaded, str) else None)
    return found


def entries_from_page(project: str, files: list[indexpage.IndexFile],
                      extra: dict[str, tuple[int | None, str | None]] | None = None
                      ) -> list[Entry]:
    """The files a cached page may offer: ``project``'s distributions with a sha256 to
    check them by.

    A file whose name says it is another project's is left out: an upstream writes its own
    pages, and one listing ``foo-9.9.9-py3-none-any.whl`` on its ``helper`` page would
    otherwise be served at ``/simple/helper/<sha>/foo-...whl``, past every check that looks
    at the project of the URL (a held or reserved foo), for a direct-URL dependency to take.
    """
    extra = extra or {}
    project = normalize(project)
    kept = []
    for item in files:
        sha = item.hashes.get("sha256", "").lower()
        name = item.filename
        if (not SHA256.fullmatch(sha) or "/" in name or "\\" in name or name.startswith(".")
                or not looks_like_distribution(name) or not _names_project(name, project)):
            continue
        meta = (item.core_metadata or {}).get("sha256", "").lower()
        size, uploaded = extra.get(name, (None, None))
        kept.append(Entry(name, item.url, sha, item.requires_python, item.yanked,
                          meta if SHA256.fullmatch(meta) else None, size, uploaded))
    return kept


def _names_project(filename: str, project: str) -> bool:
    """Whether a wheel's or sdist's name parses (as pip and uv parse it) to ``project``."""
    try:
        return parse_filename(filename).project == project
    except PipwrapError:
        return False


def local_href(entry: Entry) -> str:
    """The file's URL on this server, relative to its project page."""
    return f"{entry.sha256}/{quote(entry.filename)}"


def render_json(project: str, entries: list[Entry]) -> bytes:
    files = []
    for entry in entries:
        item = pages.file_entry(local_href(entry), entry.filename, entry.sha256,
                                entry.requires_python, entry.metadata_sha256, entry.yanked)
        if entry.size is not None:  # PEP 700, as the upstream gave them
            item["size"] = entry.size
        if entry.upload_time is not None:
            item["upload-time"] = entry.upload_time
        files.append(item)
    data = {"meta": {"api-version": "1.0"}, "name": project, "files": files}
    return (json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def render_html(project: str, entries: list[Entry]) -> bytes:
    lines = [pages.file_link(escape(local_href(entry)), entry.filename, entry.sha256,
                             entry.requires_python, entry.metadata_sha256, entry.yanked)
             for entry in entries]
    title = escape(f"Links for {project}")
    return ("<!DOCTYPE html>\n<html>\n<head>\n"
            '<meta name="pypi:repository-version" content="1.0">\n'
            f"<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
            + "".join(lines) + "</body>\n</html>\n").encode()


@dataclass(frozen=True)
class Settings:
    """``serve --cache``'s options: the fallback URL (without a login), the login, hosts
    its pages' files may come from (besides its own), the page TTL and the timeout."""

    upstream: str
    ttl: float = DEFAULT_TTL
    login: upstream_http.Login | None = None
    allow_hosts: frozenset[str] = frozenset()
    timeout: float = upstream_http.TIMEOUT


@dataclass
class Page:
    """A rendered page as the server sends it (attributes as the server's own pages)."""

    data: bytes
    etag: str
    mtime: int
    last_modified: str
    # Sent with it: the tree does not hold the project, its page came from the upstream
    # (the fence refuses a reserved name on such a page, as from any fallback).
    headers: tuple[tuple[str, str], ...] = indexpage.UPSTREAM_MARK


@dataclass
class _Loaded:
    key: tuple[int, int, int]  # state.json's (inode, size, mtime_ns): changes on every write
    json: Page
    html: Page
    files: dict[tuple[str, str], Entry]  # (sha256, filename) -> entry

    @property
    def cost(self) -> int:
        return len(self.json.data) + len(self.html.data) + 200 * len(self.files)


class Unwritable(Exception):
    """The cache cannot be written (disk full, read-only): 503, and logged."""


class Mirror:
    # For the server, which imports this module only with --cache.
    NotFound = NotFound
    Unavailable = Unavailable
    Unwritable = Unwritable
    Interrupted = cachefile.Interrupted
    Mismatch = cachefile.Mismatch
    log = staticmethod(log)

    def __init__(self, root: str, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self.client = upstream_http.Upstream(settings.upstream, settings.login,
                                             set(settings.allow_hosts), settings.timeout)
        self.upstream = self.client.url
        self.ttl = settings.ttl
        base = os.path.join(root, index.STATE_DIR, CACHE_DIR)
        self.pages = os.path.join(base, "pages")
        self.files = os.path.join(base, "files")
        try:
            os.makedirs(self.pages, exist_ok=True)
            os.makedirs(self.files, exist_ok=True)
            # A tree made read-only after the directories exist: found now, not per request.
            with tempfile.NamedTemporaryFile(dir=self.files, prefix=".", suffix=".tmp"):
                pass
        except OSError as exc:
            raise PipwrapError(f"serve: --cache cannot write its cache in {base}: "
                               f"{exc.strerror or exc}; serve a writable tree, or drop "
                               "--cache") from None
        self._clear_stale(base)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._memory: OrderedDict[str, _Loaded] = OrderedDict()
        self._memory_cost = 0
        self._parsing = threading.Lock()  # one big page parsed at a time: bounded memory
        # cached file -> its (inode, size, mtime_ns, ctime_ns) when it last hashed right
        self._verified: dict[str, tuple[int, int, int, int]] = {}

    @staticmethod
    def _clear_stale(base: str) -> None:
        """Temporary files a killed server left (a download in progress writes to its file
        all the time: one untouched for STALE seconds is dead). Never served meanwhile: a
        blob is read only under its exact hash name."""
        now = time.time()
        for directory, _, names in os.walk(base):
            for name in names:
                if not name.endswith(".tmp"):
                    continue
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    if now - os.stat(path).st_mtime > STALE:
                        os.unlink(path)

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            lock = self._locks.get(key)
            if lock is None:
                if len(self._locks) > 4096:
                    self._locks.clear()
                lock = self._locks[key] = threading.Lock()
            return lock

    # -- pages ---------------------------------------------------------------------------

    def page(self, project: str, json_form: bool) -> Page:
        """``project``'s page as JSON (PEP 691) or HTML, fresh or (upstream down) stale.
        Raises :class:`NotFound`, :class:`Unavailable` (502) or :class:`Unwritable` (503).
        May wait on the upstream, up to the timeout."""
        loaded = self._loaded(project)
        return loaded.json if json_form else loaded.html

    def fresh_page(self, project: str, json_form: bool) -> Page | None:
        """``project``'s page when it is fresh and in memory, else None: a ``stat`` and a
        look-up, no lock held across I/O, never the network, so the server answers it
        on its event loop (the page fetches' threads may all be held by a slow upstream)."""
        status = self._fresh(os.path.join(self.pages, project, STATE))
        if status is None:
            return None
        key = (status.st_ino, status.st_size, status.st_mtime_ns)
        with self._guard:
            loaded = self._memory.get(project)
            if loaded is None or loaded.key != key:
                return None
            self._memory.move_to_end(project)
        return loaded.json if json_form else loaded.html

    def _loaded(self, project: str) -> _Loaded:
        directory = os.path.join(self.pages, project)
        stamp = os.path.join(directory, STATE)
        status = self._fresh(stamp)
        if status is None:
            with self._lock("page:" + project):
                status = self._fresh(stamp)  # another thread may have refreshed it
                if status is None:
                    self._refresh(project, directory, stamp)
                    try:
                        status = os.stat(stamp)
                    except OSError as exc:
                        raise Unavailable(f"{project}: its cached page is gone "
                                          f"({exc.strerror})") from None
        key = (status.st_ino, status.st_size, status.st_mtime_ns)
        with self._guard:
            loaded = self._memory.get(project)
            if loaded is not None and loaded.key == key:
                self._memory.move_to_end(project)
                return loaded
        loaded = self._read(directory, stamp, key)
        with self._guard:
            old = self._memory.pop(project, None)
            self._memory_cost -= old.cost if old is not None else 0
            if loaded.cost <= MEMORY // 2:  # the biggest pages allowed, or many small ones
                self._memory[project] = loaded
                self._memory_cost += loaded.cost
            while self._memory_cost > MEMORY and self._memory:
                self._memory_cost -= self._memory.popitem(last=False)[1].cost
        return loaded

    def _fresh(self, stamp: str) -> os.stat_result | None:
        try:
            status = os.stat(stamp)
        except OSError:
            return None
        return status if time.time() - status.st_mtime < self.ttl else None

    def _read(self, directory: str, stamp: str, key: tuple[int, int, int]) -> _Loaded:
        state = self._state(stamp) or {}
        raw_files = state.get("files")
        files = {}
        for raw in raw_files if isinstance(raw_files, list) else []:
            if isinstance(raw, list) and len(raw) in (6, 8):
                entry = Entry(*raw)
                files[(entry.sha256, entry.filename)] = entry
        forms = []
        for name in ("index.json", "index.html"):
            path = os.path.join(directory, name)
            try:
                with open(path, "rb") as handle:
                    data = handle.read()
                    mtime = int(os.fstat(handle.fileno()).st_mtime)
            except OSError as exc:
                raise Unavailable(f"its cached page cannot be read ({exc.strerror})") from None
            tag = hashlib.sha256(data).hexdigest()[:32]
            forms.append(Page(data, f'"{tag}"', mtime, formatdate(mtime, usegmt=True)))
        return _Loaded(key, forms[0], forms[1], files)

    def _refresh(self, project: str, directory: str, stamp: str) -> None:
        state = self._state(stamp)
        url = f"{self.upstream}{quote(project)}/"
        headers = {"Accept": ACCEPT}
        # Validators only for a page of this upstream (not one another --fallback gave).
        if state is not None and str(state.get("url", "")).startswith(self.upstream):
            if state.get("etag"):
                headers["If-None-Match"] = str(state["etag"])
            if state.get("last_modified"):
                headers["If-Modified-Since"] = str(state["last_modified"])
        try:
            with self.client.get(url, headers) as response:
                if response.status == 304 and state is not None:
                    self._write(project, lambda: os.utime(stamp))
                    return
                body = response.read_all(upstream_http.MAX_PAGE)
                content_type = response.headers.get("Content-Type")
                final_url = response.url
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
        except upstream_http.Missing:
            raise NotFound(project) from None
        except upstream_http.Failed as exc:
            self._upstream_failed(project, stamp, state, str(exc))
            return
        try:
            with self._parsing if len(body) > BIG_PAGE else contextlib.nullcontext():
                files = indexpage.parse(body, content_type, final_url)
                entries = entries_from_page(project, files, pep700_fields(body, content_type))
        except indexpage.PageError as exc:
            self._upstream_failed(project, stamp, state, str(exc))
            return
        del body
        kept = [entry for entry in entries if self.client.allowed(entry.url)]
        if len(kept) < len(entries):
            hosts = sorted({urlsplit(e.url).netloc for e in entries if e not in kept})
            log(f"{project}: left out {len(entries) - len(kept)} file(s) on hosts the cache "
                f"does not fetch from ({', '.join(hosts)[:200]}); --cache-allow-host adds one")
        data = {"url": final_url, "etag": etag, "last_modified": modified,
                "fetched": time.time(), "files": [e.to_json() for e in kept]}

        def write() -> None:
            os.makedirs(directory, exist_ok=True)
            # Temporary files beside the pages (never .pipwrap/tmp, which `repo add`
            # clears under the lock this module does not take).
            index.write_if_changed(os.path.join(directory, "index.json"),
                                   render_json(project, kept), directory)
            index.write_if_changed(os.path.join(directory, "index.html"),
                                   render_html(project, kept), directory)
            write_atomic(stamp, json.dumps(data) + "\n", 0o644, durable=False)

        self._write(project, write)

    def _write(self, project: str, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as exc:
            log(f"cannot write the cached page of {project}: {exc.strerror or exc} "
                f"({exc.filename or self.pages}); answered 503")
            raise Unwritable(f"{project}: the cache cannot be written here "
                             f"({exc.strerror or exc})") from None

    def _upstream_failed(self, project: str, stamp: str, state: dict[str, object] | None,
                         reason: str) -> None:
        if state is None:
            log(f"upstream {self.upstream} unreachable for {project} ({reason}); "
                 "nothing cached for it")
            raise Unavailable(f"{project} is not cached here, and the upstream index "
                              f"{self.upstream} could not be reached ({reason})")
        fetched = time.strftime("%Y-%m-%d %H:%M:%S UTC",
                                time.gmtime(float(str(state.get("fetched", 0)))))
        log(f"upstream {self.upstream} unreachable for {project} ({reason}); serving the "
             f"page cached at {fetched}")
        # Ask again in a while, not on every request (a hung upstream costs a timeout).
        again = time.time() - self.ttl + min(self.ttl, RETRY_AFTER_FAILURE)
        with contextlib.suppress(OSError):  # read-only now: the stale page all the same
            os.utime(stamp, (again, again))

    @staticmethod
    def _state(stamp: str) -> dict[str, object] | None:
        try:
            with open(stamp, "rb") as handle:
                data = json.load(handle)
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def entry(self, project: str, sha256: str, filename: str) -> Entry | None:
        """The cached page's record for a file URL of ours (fetching the page if needed)."""
        return self._loaded(project).files.get((sha256, filename))

    # -- files ---------------------------------------------------------------------------

    def blob(self, sha256: str, metadata: bool = False) -> str:
        """A cached file, named by the sha256 of its own bytes (a ``.metadata`` file by
        its own hash too, never by its distribution's)."""
        return os.path.join(self.files, sha256[:2], sha256 + (".metadata" if metadata else ""))

    def verified(self, body: cachefile.Stored) -> str:
        """The path of a stored copy that hashes to its sha256, hashed once per change of
        the file (inode, size, mtime, ctime). Raises :class:`cachefile.Mismatch` (the
        copy dropped: the next request fetches it again)."""
        if self._verified.get(body.path) != body.key:
            body.verify()
            if len(self._verified) >= 65536:
                self._verified.clear()
            self._verified[body.path] = body.key
        return body.path

    def file(self, project: str, sha256: str, filename: str
             ) -> cachefile.Stored | cachefile.Fetched:
        """The body of ``/simple/<project>/<sha256>/<filename>``: cached (:meth:`verified`
        checks it), else fetched and cached while sent (its :meth:`~cachefile.Fetched.chunks`
        raises :class:`cachefile.Interrupted` before the last chunk when the bytes are
        wrong). Raises :class:`NotFound`, :class:`Unavailable` or :class:`Unwritable`.
        The caller has checked that the tree does not hold ``project`` (local-first)."""
        name = f"{project}/{filename}"
        metadata = filename.endswith(".metadata")
        entry = None
        if metadata:
            # A metadata file is cached under its own hash, which only this project's page
            # gives: under its distribution's hash, one project's page could put its own
            # metadata where another project's clients read it (red-team finding 4).
            entry = self.entry(project, sha256, filename.removesuffix(".metadata"))
            if entry is None or entry.metadata_sha256 is None:
                raise NotFound(name)
            expected = entry.metadata_sha256
        else:
            expected = sha256  # a distribution: its own hash, from the URL
        path = self.blob(expected, metadata)
        try:
            # O_NOFOLLOW: a symbolic link planted in the cache must not serve what it names.
            handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            pass
        else:
            # Nor a linked directory (files/<ab>/ is the cache's own, never a link).
            if stat.S_ISREG(os.fstat(handle).st_mode) \
                    and not os.path.islink(os.path.dirname(path)):
                return cachefile.Stored(name, expected, path, handle, log)
            os.close(handle)
        if entry is None:
            entry = self.entry(project, sha256, filename)
        if entry is None:
            raise NotFound(name)
        url = entry.url + ".metadata" if metadata else entry.url
        try:
            response = self.client.get(url, file=True)
        except upstream_http.Missing:
            raise NotFound(name) from None
        except upstream_http.Failed as exc:
            log(f"upstream unreachable for {name} ({exc}); it is not cached")
            raise Unavailable(f"{filename}: not cached here, and the upstream could not be "
                              f"reached ({exc})") from None
        return cachefile.Fetched(name, expected, response, path, log)


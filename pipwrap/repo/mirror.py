"""``serve --cache``: the fallback index fetched, checked and cached by the server itself.

For a project the tree does not hold, ``serve`` fetches the fallback's page (JSON or HTML,
read by :mod:`pipwrap.indexpage`, the parser the fence uses too), keeps only files whose
page gives a sha256, and answers with a page of its own whose file URLs point back at
itself: ``/simple/<project>/<sha256>/<filename>`` (and ``.metadata`` beside it). Clients
never see, nor contact, the upstream host: an air-gapped client works.

Files are cached content-addressed in ``DIR/.pipwrap/cache/files/<ab>/<sha256>``, written
once (a temporary name, then a rename) and only when their bytes hash to what the upstream
page said; a file is streamed to the first client while it is written, its last chunk
held back until the hash is checked, so a mismatch reaches the client as a cut-off
response (never as a complete wrong file) and is not cached. Pages are kept rendered in
``cache/pages/<project>/`` and revalidated after a TTL with ``If-None-Match`` /
``If-Modified-Since``; when the upstream cannot be reached the cached page is served and
the log says so. A project the tree holds never reaches this module (local-first).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from html import escape
from urllib.parse import quote

from pipwrap import indexpage
from pipwrap.repo import index, pages
from pipwrap.repo.distfile import looks_like_distribution

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

CACHE_DIR = "cache"  # under the tree's .pipwrap/
STATE = "state.json"
DEFAULT_TTL = 600
TIMEOUT = 20
RETRY_AFTER_FAILURE = 30  # seconds before an unreachable upstream is asked again
STALE = 600  # seconds without a write before a temporary download is a dead one
CHUNK = 256 * 1024
SHA256 = re.compile(r"[0-9a-f]{64}")
ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.1, "
          "text/html;q=0.01")


class NotFound(Exception):
    pass


class Unavailable(Exception):
    """The upstream could not be asked, and nothing usable is cached."""


class Mismatch(Exception):
    """The upstream's bytes are not the ones its page promised."""


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


def entries_from_page(files: list[indexpage.IndexFile],
                      extra: dict[str, tuple[int | None, str | None]] | None = None
                      ) -> list[Entry]:
    """The files a cached page may offer: distributions with a sha256 to check them by."""
    extra = extra or {}
    kept = []
    for item in files:
        sha = item.hashes.get("sha256", "").lower()
        name = item.filename
        if (not SHA256.fullmatch(sha) or "/" in name or "\\" in name or name.startswith(".")
                or not looks_like_distribution(name)):
            continue
        meta = (item.core_metadata or {}).get("sha256", "").lower()
        size, uploaded = extra.get(name, (None, None))
        kept.append(Entry(name, item.url, sha, item.requires_python, item.yanked,
                          meta if SHA256.fullmatch(meta) else None, size, uploaded))
    return kept


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


class Mirror:
    # For the server, which imports this module only with --cache.
    NotFound = NotFound
    Unavailable = Unavailable
    Mismatch = Mismatch
    log = staticmethod(log)

    def __init__(self, root: str, upstream: str, ttl: float = DEFAULT_TTL,
                 timeout: float = TIMEOUT) -> None:
        self.root = root
        upstream, login = _split_login(upstream)
        self.upstream = upstream if upstream.endswith("/") else upstream + "/"
        self.ttl = ttl
        self.timeout = timeout
        base = os.path.join(root, index.STATE_DIR, CACHE_DIR)
        self.pages = os.path.join(base, "pages")
        self.files = os.path.join(base, "files")
        os.makedirs(self.pages, exist_ok=True)
        os.makedirs(self.files, exist_ok=True)
        self._clear_stale(base)
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        # No proxy-less opener: an operator's HTTP(S)_PROXY is how a server reaches out.
        handlers: list[urllib.request.BaseHandler] = []
        if login is not None:
            # Sent up front, and only to URLs under the upstream's own address: a page may
            # send files to another host, which must not get the login.
            passwords = urllib.request.HTTPPasswordMgrWithPriorAuth()
            passwords.add_password(None, self.upstream, login[0], login[1],
                                   is_authenticated=True)
            handlers.append(urllib.request.HTTPBasicAuthHandler(passwords))
        self._opener = urllib.request.build_opener(*handlers)

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

    def page_dir(self, project: str,
                 before_fetch: Callable[[], None] | None = None) -> str:
        """The directory holding ``project``'s rendered pages, fresh or (upstream down)
        stale; raises :class:`NotFound` or :class:`Unavailable`. ``before_fetch`` is
        called before anything that may wait on the upstream (or on another thread
        asking it)."""
        directory = os.path.join(self.pages, project)
        stamp = os.path.join(directory, STATE)
        try:
            if time.time() - os.stat(stamp).st_mtime < self.ttl:
                return directory
        except FileNotFoundError:
            pass
        if before_fetch is not None:
            before_fetch()
        with self._lock("page:" + project):
            try:  # another thread may have refreshed it while this one waited
                if time.time() - os.stat(stamp).st_mtime < self.ttl:
                    return directory
            except FileNotFoundError:
                pass
            self._refresh(project, directory, stamp)
        return directory

    def _refresh(self, project: str, directory: str, stamp: str) -> None:
        state = self._state(stamp)
        url = f"{self.upstream}{quote(project)}/"
        # The upstream is an http(s) URL (defaults.check_fallback), never file: or ftp:.
        request = urllib.request.Request(url, headers={"Accept": ACCEPT})  # noqa: S310
        if state is not None:
            if state.get("etag"):
                request.add_header("If-None-Match", str(state["etag"]))
            if state.get("last_modified"):
                request.add_header("If-Modified-Since", str(state["last_modified"]))
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                body = response.read(64 * 1024 * 1024 + 1)
                if len(body) > 64 * 1024 * 1024:
                    raise OSError("page larger than 64 MiB")
                content_type = response.headers.get("Content-Type")
                final_url = response.geturl()
                etag = response.headers.get("ETag")
                modified = response.headers.get("Last-Modified")
        except urllib.error.HTTPError as exc:
            if exc.code == 304 and state is not None:
                os.utime(stamp)
                return
            if exc.code in (404, 410):
                raise NotFound(project) from None
            self._upstream_failed(project, stamp, state, f"HTTP {exc.code}")
            return
        except (OSError, ValueError) as exc:  # URLError, timeouts, resets
            reason = getattr(exc, "reason", exc)
            self._upstream_failed(project, stamp, state, str(reason))
            return
        try:
            files = indexpage.parse(body, content_type, final_url)
        except indexpage.PageError as exc:
            self._upstream_failed(project, stamp, state, str(exc))
            return
        entries = entries_from_page(files, pep700_fields(body, content_type))
        os.makedirs(directory, exist_ok=True)
        # Temporary files beside the pages (never .pipwrap/tmp, which `repo add` clears
        # under the lock this module does not take).
        index.write_if_changed(os.path.join(directory, "index.json"),
                               render_json(project, entries), directory)
        index.write_if_changed(os.path.join(directory, "index.html"),
                               render_html(project, entries), directory)
        data = {"url": final_url, "etag": etag, "last_modified": modified,
                "fetched": time.time(), "files": [e.to_json() for e in entries]}
        _write_atomic(stamp, (json.dumps(data) + "\n").encode())

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
        self.page_dir(project)
        state = self._state(os.path.join(self.pages, project, STATE)) or {}
        files = state.get("files")
        for raw in files if isinstance(files, list) else []:
            if isinstance(raw, list) and len(raw) in (6, 8) and raw[2] == sha256 \
                    and raw[0] == filename:
                return Entry(*raw)
        return None

    # -- files ---------------------------------------------------------------------------

    def blob(self, sha256: str, metadata: bool = False) -> str:
        """A cached file, named by the sha256 of its own bytes (a ``.metadata`` file by
        its own hash too, never by its distribution's)."""
        return os.path.join(self.files, sha256[:2], sha256 + (".metadata" if metadata else ""))

    def fetch(self, entry: Entry, metadata: bool) -> tuple[object, int | None, str]:
        """Open the upstream file: (response, its length or None, the sha256 it must have)."""
        url = entry.url + ".metadata" if metadata else entry.url
        expected = entry.metadata_sha256 if metadata else entry.sha256
        if expected is None:
            raise NotFound(entry.filename)
        try:
            if not url.startswith(("http://", "https://")):
                raise NotFound(entry.filename)  # a page may name any URL: http(s) only
            response = self._opener.open(urllib.request.Request(url),  # noqa: S310
                                         timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                raise NotFound(entry.filename) from None
            raise Unavailable(f"{entry.filename}: upstream answered HTTP {exc.code}") from None
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            log(f"upstream unreachable for {entry.filename} ({reason}); it is not cached")
            raise Unavailable(f"{entry.filename}: not cached here, and the upstream could "
                              f"not be reached ({reason})") from None
        length = response.headers.get("Content-Length")
        try:
            size = int(length) if length is not None else None
        except ValueError:
            size = None
        return response, size, expected

    def stream(self, response: object, expected: str, target: str,
               send: object) -> None:
        """Copy the upstream body to ``target`` (the cache) and to ``send`` (the client),
        holding the last chunk back until the hash is known; raise :class:`Mismatch`."""
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
        digest = hashlib.sha256()
        pending = b""
        client = send
        try:
            with os.fdopen(handle, "wb") as out:
                while True:
                    chunk = response.read(CHUNK)  # type: ignore[attr-defined]
                    if not chunk:
                        break
                    if pending:
                        out.write(pending)
                        client = _send(client, pending)
                    digest.update(chunk)
                    pending = chunk
                if digest.hexdigest() != expected:
                    raise Mismatch(f"{os.path.basename(target)}: upstream bytes hash to "
                                   f"{digest.hexdigest()}, its page said {expected}")
                out.write(pending)
            os.chmod(temporary, 0o644)
            os.replace(temporary, target)  # same bytes from any racing writer: harmless
            temporary = ""
            _send(client, pending)
        finally:
            if temporary:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)


def _split_login(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL without ``user:password@``, and that login (percent-decoded)."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host += f":{parts.port}"
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def _send(client: object, data: bytes) -> object:
    """Write to the client; a client that went away stops getting bytes, the cache does not."""
    if client is None or not data:
        return client
    try:
        client(data)  # type: ignore[operator]
    except OSError:
        return None
    return client


def _write_atomic(path: str, data: bytes) -> None:
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=directory)
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, path)

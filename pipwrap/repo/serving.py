"""What ``pipwrap serve`` answers, whatever HTTP engine carries it: content negotiation
(PEP 691), project pages kept in memory while their ``stat`` holds, which names are
certainly absent, and how a client's words are written to the log."""

from __future__ import annotations

import errno
import os
import re
import stat
import threading
from email.utils import formatdate

from pipwrap.repo import pages
from pipwrap.repo.distfile import looks_like_distribution

# Pages kept in memory (bytes and validators), each checked by stat on every request.
PAGE_CACHE_ENTRIES = 4096
# ... and their bytes together: the count alone let large pages (PyPI has pages of many
# megabytes, and --cache answers any of them) take gigabytes (red-team finding 6). A
# page larger than PAGE_KEEP_MAX is read from disk on every request instead.
PAGE_CACHE_BYTES = 32 * 1024 * 1024
PAGE_KEEP_MAX = 4 * 1024 * 1024

# Control characters and spaces (decoded from %0d%0a...) could split a redirect's headers.
UNSAFE = re.compile(r"[\x00-\x20\x7f]")
SHA256 = re.compile(r"[0-9a-f]{64}")  # a cached file's URL: /simple/<name>/<sha256>/<file>
# What a client sent, written to the log: control characters escaped, never raw (a
# request line can hold terminal escape sequences).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MEDIA = {
    "application/vnd.pypi.simple.v1+json": pages.JSON_TYPE,
    "application/vnd.pypi.simple.latest+json": pages.JSON_TYPE,
    "application/vnd.pypi.simple.v1+html": pages.HTML_TYPE,
    "application/vnd.pypi.simple.latest+html": pages.HTML_TYPE,
    "text/html": "text/html",
    "text/*": "text/html",
    "*/*": "text/html",
}
_NEGOTIATED: dict[str | None, str | None] = {}


def negotiate(accept: str | None) -> str | None:
    """The content type to answer with (PEP 691), honouring q-values; None: nothing fits.

    pip and uv send the JSON type first with q=1 and HTML with a lower q, so they get
    JSON; a browser or ``curl`` gets HTML. On a tie the earlier entry wins.
    """
    try:
        return _NEGOTIATED[accept]
    except KeyError:
        pass
    chosen = _negotiate(accept)
    if len(_NEGOTIATED) < 256:  # clients send a handful of distinct headers
        _NEGOTIATED[accept] = chosen
    return chosen


def _negotiate(accept: str | None) -> str | None:
    if not accept or not accept.strip():
        return "text/html"
    best: str | None = None
    best_q = 0.0
    for part in accept.split(","):
        media, *parameters = part.split(";")
        chosen = _MEDIA.get(media.strip().lower())
        q = 1.0
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if chosen is not None and q > best_q:
            best, best_q = chosen, q
    return best


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``), for the log."""
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def absent(exc: OSError) -> bool:
    """Certainly not there. A name longer than the file system allows cannot be held here
    either (it used to answer 503, which clients retry)."""
    return isinstance(exc, (FileNotFoundError, NotADirectoryError)) \
        or exc.errno == errno.ENAMETOOLONG


def published(filename: str) -> bool:
    """Only what the index links to: distributions and their metadata files."""
    return looks_like_distribution(filename.removesuffix(".metadata"))


def etag(key: tuple[int, int, int]) -> str:
    return f'"{key[0]:x}-{key[1]:x}-{key[2]:x}"'


def stat_key(status: os.stat_result) -> tuple[int, int, int]:
    return (status.st_ino, status.st_size, status.st_mtime_ns)


class CachedPage:
    """A page's bytes and validators, good while its (inode, size, mtime) stays."""

    __slots__ = ("data", "etag", "key", "last_modified", "listed", "mtime")

    def __init__(self, key: tuple[int, int, int], data: bytes, mtime: float) -> None:
        self.key = key
        self.data = data
        self.mtime = int(mtime)
        self.etag = etag(key)
        self.last_modified = formatdate(mtime, usegmt=True)
        self.listed: frozenset[str] | None = None  # for index.json: the files it lists


class PageCache:
    """Pages read from the tree, kept in memory while their stat is unchanged: a request
    costs a ``stat``, and a changed page is read again at once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.pages: dict[str, CachedPage] = {}
        self.page_bytes = 0  # of the pages kept
        self._lock = threading.Lock()

    def page(self, path: str) -> CachedPage | None:
        """The page at ``path``; None if absent. Errors other than absence (permissions,
        I/O) propagate: the caller fails closed."""
        try:
            status = os.stat(path)
        except OSError as exc:
            if absent(exc):
                return None
            raise
        key = stat_key(status)
        cached = self.pages.get(path)
        if cached is not None and cached.key == key:
            return cached
        if not stat.S_ISREG(status.st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with open(fd, "rb") as handle:
            status = os.fstat(handle.fileno())
            data = handle.read()
        cached = CachedPage(stat_key(status), data, status.st_mtime)
        if len(data) > PAGE_KEEP_MAX:
            return cached
        with self._lock:
            old = self.pages.pop(path, None)
            if old is not None:
                self.page_bytes -= len(old.data)
            if (len(self.pages) >= PAGE_CACHE_ENTRIES
                    or self.page_bytes + len(data) > PAGE_CACHE_BYTES):
                self.pages.clear()
                self.page_bytes = 0
            self.pages[path] = cached
            self.page_bytes += len(data)
        return cached

    def listed(self, project: str) -> frozenset[str] | None:
        """The file names (and their ``.metadata`` names) the project's index lists."""
        cached = self.page(os.path.join(self.root, project, "index.json"))
        if cached is None:
            return None
        if cached.listed is None:
            import json

            names: set[str] = set()
            try:
                for entry in json.loads(cached.data)["files"]:
                    names.add(entry["filename"])
                    if entry.get("core-metadata"):
                        names.add(entry["filename"] + ".metadata")
            except (ValueError, KeyError, TypeError):
                names = set()
            cached.listed = frozenset(names)
        return cached.listed


def not_modified(etag_value: str, mtime: int, if_none_match: str | None,
                 if_modified_since: str | None) -> bool:
    """Whether the client's copy is current (``If-None-Match`` first, as RFC 9110 says)."""
    if if_none_match is not None:
        tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
        return etag_value in tags or "*" in tags
    if if_modified_since is not None:
        from email.utils import parsedate_to_datetime

        try:
            return mtime <= parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False

"""``pipwrap serve``: the tree's index as an RSGI application on granian (issue 23).

The engine reads requests (hyper: strict framing, header limits and deadlines), holds
idle and slow connections without a thread each, and sends files outside Python; this
module is only what is ours: local-first routing, pages, files and logins (uploads:
:mod:`.upload_route`; the cache: :mod:`.cache_routes`; the process around it:
:mod:`.hosting`). Anything that may block (a password hash, an upload's parsing and
storing, the upstream) runs in a bounded pool of threads, never on the event loop.

Local-first, fail-closed: a project whose directory exists is answered from here only;
only a name whose directory is certainly absent goes to the fallback (a redirect, or
the cache); a failed ``stat`` answers 503. Only files the project's ``index.json``
lists are served.
"""

from __future__ import annotations

import asyncio
import os
import stat
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from pipwrap.repo import cache_routes, pages, serving, upload_route
from pipwrap.repo.auth import basic_login, file_stamp
from pipwrap.repo.distfile import PROJECT_NAME, normalize
from pipwrap.repo.request import SERVER, TEXT, Request

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.repo.access import Access
    from pipwrap.repo.mirror import Mirror

LOGIN_CHECKS = 1  # password hashes checked at once per lane (bcrypt: ~50 ms of CPU each)
# A name refused this recently is checked in a lane of its own: clients guessing one
# name's password queue behind each other, never in front of another user's first login.
FAILED_RECENTLY = 60.0
LOGINS_REMEMBERED = 1024
NAMES_REMEMBERED = 4096
BLOCKING_THREADS = 16  # uploads being stored, cached files being sent
# --cache's page fetches, apart: an upstream trickling bytes holds these (up to
# --cache-timeout each), never the threads cached files and uploads need.
PAGE_FETCH_THREADS = 8


class App:
    """One tree's server; ``__rsgi__`` is what granian calls per request."""

    def __init__(self, root: str, fallback: str | None, verbose: bool, access: Access,
                 mirror: Mirror | None = None, *, header_timeout: float = 15.0) -> None:
        self.root = root
        self._base = root.rstrip("/")  # paths built with one f-string (measured: cheaper)
        self.fallback = fallback
        self.verbose = verbose
        self.access = access
        self.mirror = mirror
        self.header_timeout = header_timeout
        self.pages = serving.PageCache(root)
        self._checks = ThreadPoolExecutor(LOGIN_CHECKS, thread_name_prefix="pipwrap-login")
        self._failing_checks = ThreadPoolExecutor(LOGIN_CHECKS,
                                                  thread_name_prefix="pipwrap-login-failed")
        self._failed: dict[str, float] = {}  # user name claimed -> when last refused
        self._blocking = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="pipwrap-io")
        self._page_fetches = ThreadPoolExecutor(PAGE_FETCH_THREADS,
                                                thread_name_prefix="pipwrap-upstream")
        self._valid_names: set[str] = set()  # project names in the URL found normalized
        # Authorization header -> (user, the htpasswd file's stat when it was proven)
        self._proven: dict[str, tuple[str, tuple[int, int, int]]] = {}

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        request = Request(scope, protocol)
        try:
            if scope.method in ("GET", "HEAD"):
                await self._read(request)
            elif scope.method == "POST":
                await upload_route.receive(self, request)
            else:
                request.plain(HTTPStatus.NOT_IMPLEMENTED, "not implemented\n", close=True)
        finally:
            if self.verbose:
                sys.stderr.write(serving.printable(
                    f'{str(scope.client).rsplit(":", 1)[0]} "{scope.method} {scope.path}'
                    f'{"?" + scope.query_string if scope.query_string else ""} '
                    f'HTTP/{scope.http_version}" {request.status} -') + request.chosen + "\n")

    # -- logins --------------------------------------------------------------------------

    async def login(self, authorization: str | None) -> str | None:
        """The user the header proves; a check runs in a small pool, in arrival order
        within its lane (a name refused in the last minute has a lane of its own; the
        decoy keeps an unknown name as slow as a known one, so the lanes tell nothing);
        a header proven since the htpasswd file last changed costs one stat."""
        logins = self.access.logins
        if logins is None or not authorization:
            return None
        stamp = file_stamp(logins.path)  # the one Logins itself re-reads the file by
        proven = self._proven.get(authorization)
        if proven is not None and proven[1] == stamp:
            return proven[0]
        claimed = basic_login(authorization)
        name = None if claimed is None else claimed[0]
        refused = self._failed.get(name) if name is not None else None
        lane = self._checks if refused is None or time.monotonic() - refused > \
            FAILED_RECENTLY else self._failing_checks
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(lane, logins.check, authorization)
        if user is None and name is not None:
            if len(self._failed) >= LOGINS_REMEMBERED:
                self._failed.clear()
            self._failed[name] = time.monotonic()
        if user is not None:
            if len(self._proven) >= LOGINS_REMEMBERED:
                self._proven.clear()
            self._proven[authorization] = (user, stamp)
        return user

    # -- reading -------------------------------------------------------------------------

    async def _read(self, request: Request) -> None:
        if self.access.login_to_read and await self.login(request.header("authorization")) \
                is None:
            request.plain(HTTPStatus.UNAUTHORIZED, "a valid login is needed\n",
                          headers=[("WWW-Authenticate", 'Basic realm="pipwrap"')])
            return
        path = request.scope.path  # percent-decoded by the engine
        if path in ("/", ""):
            request.redirect(HTTPStatus.FOUND, "/simple/")
            return
        # No segment starting with a dot, no control character or space.
        parts = path.split("/")
        if "/." in path or serving.UNSAFE.search(path) or len(parts) < 2 \
                or parts[1] != "simple":
            request.not_found()
            return
        rest = parts[2:]
        if not rest:
            request.redirect(HTTPStatus.MOVED_PERMANENTLY, "/simple/")
        elif rest == [""]:
            self._page(request, self.root)
        elif len(rest) == 1:
            request.redirect(HTTPStatus.MOVED_PERMANENTLY, f"/simple/{rest[0]}/")
        elif len(rest) == 2 and rest[1] == "":
            await self._project(request, rest[0])
        elif (len(rest) == 2 and PROJECT_NAME.fullmatch(rest[0])
              and serving.published(rest[1])):
            self._file(request, rest[0], rest[1])
        elif (len(rest) == 3 and self.mirror is not None and PROJECT_NAME.fullmatch(rest[0])
              and serving.SHA256.fullmatch(rest[1]) and serving.published(rest[2])):
            await cache_routes.cached_file(self, request, self.mirror, rest[0], rest[1],
                                           rest[2])
        else:
            request.not_found()

    async def _project(self, request: Request, name: str) -> None:
        if name not in self._valid_names:  # a name seen valid before: no regex again
            project = normalize(name)
            if project != name:
                request.redirect(HTTPStatus.MOVED_PERMANENTLY, f"/simple/{project}/")
                return
            if not PROJECT_NAME.fullmatch(project):
                request.not_found()
                return
            if len(self._valid_names) >= NAMES_REMEMBERED:
                self._valid_names.clear()
            self._valid_names.add(name)
        project = name
        # Held is decided fail-closed: only a directory that is certainly absent sends the
        # name upstream; a stat that fails otherwise (permissions, I/O) answers 503. The
        # directory's lstat stays: a symbolic link there holds the name (404).
        directory = f"{self._base}/{project}"
        try:
            mode: int | None = os.lstat(directory).st_mode
        except OSError as exc:
            if not serving.absent(exc):
                request.unavailable()
                return
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            self._page(request, directory)
        elif mode is not None:
            request.not_found()  # a link or a file holds the name: never upstream
        elif self.mirror is not None:
            await cache_routes.mirrored_page(self, request, self.mirror, project)
        elif self.fallback:
            request.redirect(HTTPStatus.SEE_OTHER, f"{self.fallback}{project}/")
        else:
            request.not_found()

    def _page(self, request: Request, directory: str) -> None:
        chosen = serving.negotiate(request.header("accept"))
        if chosen is None:
            request.not_acceptable()
            return
        name = "index.json" if chosen == pages.JSON_TYPE else "index.html"
        request.chosen = f" {name}"
        try:
            cached = self.pages.page(f"{directory}/{name}")
        except OSError:
            request.unavailable()
            return
        if cached is None:
            request.not_found()  # held, its first page not written: never upstream
            return
        request.page(chosen, cached.etag, cached.mtime, cached.last_modified, cached.data)

    def _file(self, request: Request, project: str, filename: str) -> None:
        # Only what the project's index lists.
        try:
            listed = self.pages.listed(project)
        except OSError:
            request.unavailable()
            return
        if listed is None or filename not in listed or \
                not self._send_file(request, os.path.join(self.root, project, filename),
                                    filename):
            request.not_found()

    def _send_file(self, request: Request, path: str, filename: str) -> bool:
        """A regular file, not through a symbolic link; False: nothing to send there."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            return False
        with open(fd, "rb") as handle:
            status = os.fstat(handle.fileno())
        if not stat.S_ISREG(status.st_mode) or os.path.islink(os.path.dirname(path)):
            return False
        tag = serving.etag(serving.stat_key(status))
        validators = [("ETag", tag),
                      ("Last-Modified", formatdate(status.st_mtime, usegmt=True))]
        if request.not_modified(tag, int(status.st_mtime)):
            request.send(304, validators)
            return True
        kind = TEXT if filename.endswith(".metadata") else "application/octet-stream"
        request.status = 200
        # The engine sends it (sendfile, paced by the client, no thread held).
        request.protocol.response_file(200, [("Content-Type", kind), *validators,
                                             ("Server", SERVER)], path)
        return True

    async def in_pool(self, call: Callable[..., Any], *args: Any, page_fetch: bool = False
                      ) -> Any:
        """``call(*args)`` in the pool of threads for what blocks (uploads, files of the
        cache); ``page_fetch``: in the pool of --cache's page fetches."""
        pool = self._page_fetches if page_fetch else self._blocking
        return await asyncio.get_running_loop().run_in_executor(pool, call, *args)

"""``pipwrap serve --engine granian``: serve as an RSGI application on granian (issue 23;
the default engine is still the threaded :mod:`pipwrap.repo.server`).

The engine reads requests (hyper: strict framing, header limits and deadlines), holds
idle and slow connections without a thread each, and sends files outside Python; this
module is only what is ours: local-first routing, pages, files, logins, uploads and the
cache. Anything that may block (a password hash, an upload's parsing and storing, the
upstream) runs in a bounded pool of threads, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import stat
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from email.utils import formatdate
from http import HTTPStatus
from typing import IO, Any
from urllib.parse import quote

from pipwrap import __version__
from pipwrap.repo import pages, serving, upload
from pipwrap.repo.distfile import PROJECT_NAME, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.repo.mirror import Mirror
    from pipwrap.repo.mirror import Settings as CacheSettings
    from pipwrap.repo.server import Access

LOGIN_CHECKS = 1  # password hashes checked at once (bcrypt: ~50 ms of CPU each)
LOGINS_REMEMBERED = 1024
BLOCKING_THREADS = 16  # uploads being stored, upstream fetches
UPLOAD_BODY_RATE = 1024  # bytes a second on average after the grace (docs/hosting.md)
REFUSED_BODY_RATE = 64 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # a fetched file of unknown length: kept in memory up to this
_SERVER = f"pipwrap/{__version__}"
_TEXT = "text/plain; charset=utf-8"

Headers = list[tuple[str, str]]


class App:
    """One tree's server; ``__rsgi__`` is what granian calls per request."""

    def __init__(self, root: str, fallback: str | None, verbose: bool, access: Access,
                 mirror: Mirror | None = None, *, header_timeout: float = 15.0) -> None:
        self.root = root
        self.fallback = fallback
        self.verbose = verbose
        self.access = access
        self.mirror = mirror
        self.header_timeout = header_timeout
        self.pages = serving.PageCache(root)
        self._checks = ThreadPoolExecutor(LOGIN_CHECKS, thread_name_prefix="pipwrap-login")
        self._blocking = ThreadPoolExecutor(BLOCKING_THREADS, thread_name_prefix="pipwrap-io")
        # Authorization header -> (user, the htpasswd file's stat when it was proven)
        self._proven: dict[str, tuple[str, tuple[int, int, int]]] = {}

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        request = _Request(scope, protocol)
        try:
            if scope.method in ("GET", "HEAD"):
                await self._read(request)
            elif scope.method == "POST":
                await self._upload(request)
            else:
                request.plain(HTTPStatus.NOT_IMPLEMENTED, "not implemented\n", close=True)
        finally:
            if self.verbose:
                sys.stderr.write(serving.printable(
                    f'{request.client} "{scope.method} {scope.path}'
                    f'{"?" + scope.query_string if scope.query_string else ""} '
                    f'HTTP/{scope.http_version}" {request.status} -') + request.chosen + "\n")

    # -- logins --------------------------------------------------------------------------

    async def login(self, authorization: str | None) -> str | None:
        """The user the header proves; a check runs in its own small pool, in arrival
        order; a header proven since the htpasswd file last changed costs one stat."""
        logins = self.access.logins
        if logins is None or not authorization:
            return None
        try:
            status = os.stat(logins.path)
            stamp = serving.stat_key(status)
        except OSError:
            stamp = (0, 0, 0)
        proven = self._proven.get(authorization)
        if proven is not None and proven[1] == stamp:
            return proven[0]
        loop = asyncio.get_running_loop()
        user = await loop.run_in_executor(self._checks, logins.check, authorization)
        if user is not None:
            if len(self._proven) >= LOGINS_REMEMBERED:
                self._proven.clear()
            self._proven[authorization] = (user, stamp)
        return user

    # -- reading -------------------------------------------------------------------------

    async def _read(self, request: _Request) -> None:
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
            await self._cached_file(request, self.mirror, rest[0], rest[1], rest[2])
        else:
            request.not_found()

    async def _project(self, request: _Request, name: str) -> None:
        project = normalize(name)
        if project != name:
            request.redirect(HTTPStatus.MOVED_PERMANENTLY, f"/simple/{project}/")
            return
        if not PROJECT_NAME.fullmatch(project):
            request.not_found()
            return
        # Held is decided fail-closed: only a directory that is certainly absent sends the
        # name upstream; a stat that fails otherwise (permissions, I/O) answers 503.
        directory = os.path.join(self.root, project)
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
            await self._mirrored_page(request, self.mirror, project)
        elif self.fallback:
            request.redirect(HTTPStatus.SEE_OTHER, f"{self.fallback}{project}/")
        else:
            request.not_found()

    def _page(self, request: _Request, directory: str) -> None:
        chosen = serving.negotiate(request.header("accept"))
        if chosen is None:
            request.plain(HTTPStatus.NOT_ACCEPTABLE,
                          f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n")
            return
        name = "index.json" if chosen == pages.JSON_TYPE else "index.html"
        request.chosen = f" {name}"
        try:
            cached = self.pages.page(os.path.join(directory, name))
        except OSError:
            request.unavailable()
            return
        if cached is None:
            request.not_found()  # held, its first page not written: never upstream
            return
        request.page(chosen, cached.etag, cached.mtime, cached.last_modified, cached.data)

    def _file(self, request: _Request, project: str, filename: str) -> None:
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

    def _send_file(self, request: _Request, path: str, filename: str) -> bool:
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
        kind = _TEXT if filename.endswith(".metadata") else "application/octet-stream"
        request.status = 200
        # The engine sends it (sendfile, paced by the client, no thread held).
        request.protocol.response_file(200, [("Content-Type", kind), *validators,
                                             ("Server", _SERVER)], path)
        return True

    # -- the cache (--cache) -------------------------------------------------------------

    async def _in_pool(self, call: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._blocking, call, *args)

    async def _ask_cache(self, request: _Request, cache: Mirror, call: Callable[..., Any],
                         *args: Any, page: bool = False) -> Any:
        """``call(*args)`` in the pool; None once a 404 or 502 has answered for it."""
        try:
            return await self._in_pool(call, *args)
        except cache.NotFound:
            request.not_found()
        except cache.Unwritable as exc:
            request.plain(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}\n")
        except cache.Unavailable as exc:
            message = str(exc)
            user_agent = request.header("user-agent") or ""
            if page and user_agent.startswith("pip/"):
                # pip logs a failed index page at debug level only; the one thing it prints
                # about a page is a Content-Type it cannot use: a 200 nothing may cache.
                said = serving.printable(message).replace("\\", "/").replace('"', "'") \
                    .encode("latin-1", "replace").decode("latin-1")
                request.chosen = " (cache: nothing cached, upstream unreachable)"
                request.send(200, [("Content-Type", f'{_TEXT}; error="{said[:300]}"'),
                                   ("Cache-Control", "no-store")], f"{message}\n".encode())
            else:
                request.plain(HTTPStatus.BAD_GATEWAY, f"{message}\n")
        return None

    async def _mirrored_page(self, request: _Request, cache: Mirror, project: str) -> None:
        chosen = serving.negotiate(request.header("accept"))
        if chosen is None:
            request.plain(HTTPStatus.NOT_ACCEPTABLE,
                          f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n")
            return
        page = await self._ask_cache(request, cache, cache.page, project,
                                     chosen == pages.JSON_TYPE, page=True)
        if page is None:
            return
        request.chosen = " (cache)"
        request.page(chosen, page.etag, page.mtime, page.last_modified, page.data, page.headers)

    async def _cached_file(self, request: _Request, cache: Mirror, project: str,
                           sha256: str, filename: str) -> None:
        """A fallback file by the hash its page gave: from the cache, else fetched; the
        mirror checks the bytes as they go (a mismatch raises before the last chunk)."""
        try:
            os.lstat(os.path.join(self.root, project))
        except OSError as exc:
            if not serving.absent(exc):
                request.unavailable()
                return
        else:
            request.not_found()  # held here: upstream files never show (local-first)
            return
        try:
            found = await self._in_pool(cache.file, project, sha256, filename)
        except cache.NotFound:
            request.not_found()
            return
        except (cache.Unavailable, cache.Unwritable) as exc:
            request.plain(HTTPStatus.BAD_GATEWAY, f"{exc}\n")
            return
        if found.fetched:
            request.chosen = " (cache: fetched)"
        validators = [("ETag", found.etag), ("Last-Modified", found.last_modified)]
        if not found.fetched and request.not_modified(found.etag, found.mtime):
            found.close()
            request.send(304, validators)
            return

        size, body = found.size, found
        if size is None:  # cut, a chunked stream ends cleanly (a 200): checked whole first
            if (spooled := await self._ask_cache(request, cache, _spool, found)) is None:
                return
            size, body = spooled

        def produce(send: Callable[[bytes], None]) -> None:
            with body:
                for data in (found.chunks() if body is found
                             else iter(lambda: body.read(upload.CHUNK), b"")):
                    send(data)

        await self._stream(request, found.content_type, size, produce, validators)

    async def _stream(self, request: _Request, kind: str, size: int | None,
                      produce: Callable[[Callable[[bytes], None]], None],
                      extra: Headers) -> None:
        """Send what ``produce`` (run in the pool) passes to its ``send``; an exception
        mid-way (a hash mismatch) cuts the connection before the response is complete,
        so no client takes it as whole."""
        headers = [("Content-Type", kind), *extra, ("Server", _SERVER)]
        if size is not None:
            headers.append(("Content-Length", str(size)))
        request.status = 200
        transport = request.protocol.response_stream(200, headers)
        loop = asyncio.get_running_loop()
        head = request.scope.method == "HEAD"

        async def deliver(chunk: bytes) -> None:
            await transport.send_bytes(chunk)  # an awaitable of the engine's, no coroutine

        def send(chunk: bytes) -> None:
            if not head:  # the engine's own pacing: waits while the client does not read
                asyncio.run_coroutine_threadsafe(deliver(chunk), loop).result()

        await self._in_pool(produce, send)

    # -- uploads -------------------------------------------------------------------------

    async def _upload(self, request: _Request) -> None:
        access = self.access
        refusal: tuple[HTTPStatus, str] | None = None
        challenge = False
        if request.scope.path not in ("/", "/legacy", "/legacy/"):
            refusal = HTTPStatus.NOT_FOUND, "uploads go to / or /legacy/"
        elif not access.uploads:
            refusal = (HTTPStatus.METHOD_NOT_ALLOWED, "uploads are off on this server "
                       "(pipwrap serve --htpasswd FILE turns them on)")
        user = None
        if refusal is None and access.login_to_upload:
            user = await self.login(request.header("authorization"))
            if user is None:
                refusal, challenge = (HTTPStatus.UNAUTHORIZED,
                                      "a valid login is needed to upload"), True
        if refusal is None:
            refused = access.policy.before_body(user)  # a read-only login
            if refused is not None:
                refusal = HTTPStatus(refused.status), refused.message
        length = request.header("content-length")
        if refusal is None and length is not None and length.isdigit() \
                and int(length) > access.max_upload:
            refusal = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the upload is larger than this "
                       f"server's limit ({access.max_upload // (1024 * 1024)} MiB, serve "
                       "--max-upload)")
        if refusal is not None:
            status, message = refusal
            sys.stderr.write(f"pipwrap serve: {upload.refusal_line(status, message, user)}\n")
            request.plain(status, message + "\n", reason=message, close=True, headers=[
                ("WWW-Authenticate", 'Basic realm="pipwrap"')] if challenge else None)
            return
        body = _StreamedBody(request.protocol, asyncio.get_running_loop(), access.max_upload,
                             self.header_timeout)
        try:
            outcome = await self._in_pool(
                lambda: upload.receive(self.root, body, request.header("content-type"),
                                       user=user, policy=access.policy))
        except upload.UploadError as exc:
            line = upload.refusal_line(exc.status, exc.message, user)
            sys.stderr.write(f"pipwrap serve: {line}\n")
            await body.read_away()  # the client, still sending, hears why
            request.plain(HTTPStatus(exc.status), exc.message + "\n", reason=exc.message,
                          close=True)
            return
        except OSError as exc:
            sys.stderr.write(f"pipwrap serve: upload failed: {exc}\n")
            request.plain(HTTPStatus.INTERNAL_SERVER_ERROR, "the upload could not be stored\n",
                          close=True)
            return
        sys.stderr.write(f"pipwrap serve: {outcome.log_line(user)}\n")
        request.plain(HTTPStatus.OK, "OK\n")


def _spool(found: Any) -> tuple[int, IO[bytes]]:
    """``found``'s bytes, hash-checked whole into a spooled file (then sent with their
    length); a mismatch or a broken upstream: the cache's Unavailable, a 502."""
    from pipwrap.repo.cachefile import Interrupted
    from pipwrap.repo.mirror import Unavailable

    spooled = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by produce)
    try:
        with found:
            for data in found.chunks():
                spooled.write(data)
    except BaseException as exc:
        spooled.close()
        if isinstance(exc, Interrupted):
            raise Unavailable(f"{found.name}: the upstream's bytes were refused") from None
        raise
    size = spooled.tell()
    spooled.seek(0)
    return size, spooled


class _StreamedBody(upload.Body):
    """The request body as upload.receive reads it (in a pool thread): chunks the engine
    has de-chunked, pulled from the event loop one at a time, each under a deadline that
    follows the bytes taken (1 KiB/s on average after a grace): a client trickling a byte
    now and then holds nothing for long."""

    def __init__(self, protocol: Any, loop: asyncio.AbstractEventLoop, limit: int,
                 grace: float) -> None:
        super().__init__(io.BytesIO(), None, False, limit)
        self._chunks = protocol.__aiter__()
        self._loop = loop
        self._pending = b""
        self._ended = False
        self._start = time.monotonic() + grace

    async def read_away(self, cap: int = 64 * 1024 * 1024) -> None:
        """The rest of a refused body, up to ``cap`` and under the same deadline."""
        with contextlib.suppress(Exception):  # a deadline, a closed connection: done
            while not self._ended and cap > 0:
                chunk = await self._next()
                if not chunk:
                    return
                cap -= len(chunk)
                self.taken += len(chunk)

    async def _next(self) -> bytes:
        deadline = self._start + self.taken / UPLOAD_BODY_RATE
        try:
            chunk: bytes = await asyncio.wait_for(self._chunks.__anext__(),
                                                  max(0.0, deadline - time.monotonic()))
        except StopAsyncIteration:
            return b""
        except asyncio.TimeoutError:
            raise upload.UploadError(408, "the upload came too slowly") from None
        return chunk

    def read(self, size: int = upload.CHUNK) -> bytes:
        if self._ended:
            return b""
        if not self._pending:
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            self._pending = future.result()
            if not self._pending:
                self._ended = True
                return b""
        data, self._pending = self._pending[:size], self._pending[size:]
        self.taken += len(data)
        if self.taken > self.limit:
            raise upload.UploadError(413, f"the upload is larger than this server's limit "
                                     f"({self.limit // (1024 * 1024)} MiB, serve "
                                     "--max-upload)")
        return data


class _Request:
    """One request's answer: the status sent, what the log adds, one-call responses."""

    __slots__ = ("chosen", "client", "protocol", "scope", "status")

    def __init__(self, scope: Any, protocol: Any) -> None:
        self.scope = scope
        self.protocol = protocol
        self.status = 0
        self.chosen = ""
        self.client = str(scope.client).rsplit(":", 1)[0]

    def header(self, name: str) -> str | None:
        value = self.scope.headers.get(name)
        return None if value is None else str(value)

    def not_modified(self, tag: str, mtime: int) -> bool:
        return serving.not_modified(tag, mtime, self.header("if-none-match"),
                                    self.header("if-modified-since"))

    def send(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        headers = [*headers, ("Server", _SERVER)]
        if status == 304:
            self.protocol.response_empty(status, headers)
        else:
            self.protocol.response_bytes(status, headers, body)

    def page(self, chosen: str, tag: str, mtime: int, last_modified: str, data: bytes,
             extra: tuple[tuple[str, str], ...] = ()) -> None:
        """A project or root page of the ``chosen`` type, with validators (304)."""
        kind = f"{chosen}; charset=utf-8" if chosen == "text/html" else chosen
        validators = [("ETag", tag), ("Last-Modified", last_modified), ("Vary", "Accept"), *extra]
        if self.not_modified(tag, mtime):
            self.send(304, validators)
            return
        self.send(200, [("Content-Type", kind), *validators], data)

    def plain(self, status: HTTPStatus, text: str, *, reason: str | None = None,
              close: bool = False, headers: Headers | None = None) -> None:
        extra = list(headers or [])
        if close:
            extra.append(("Connection", "close"))
        del reason  # hyper sends the standard reason phrase; the body says why
        self.send(status.value, [("Content-Type", _TEXT), *extra], text.encode())

    def redirect(self, status: HTTPStatus, location: str) -> None:
        self.send(status.value, [("Location", quote(location, safe="/:@!$&()*+,;=%~?"))])

    def not_found(self) -> None:
        self.plain(HTTPStatus.NOT_FOUND, "not found\n")

    def unavailable(self) -> None:
        # Fail closed: the tree could not be read, so whether the name is held is unknown.
        self.plain(HTTPStatus.SERVICE_UNAVAILABLE,
                   "the repository cannot be read here; not sent upstream\n")


async def run(app: App, host: str, port: int, *, cert: str | None = None,
              key: str | None = None, on_start: Callable[[], None] | None = None,
              on_stop: Callable[[], Awaitable[None]] | None = None) -> None:
    """Serve ``app`` on granian, embedded in this process (one process: its proctitle,
    signals and re-indexing thread stay ours); SIGINT, SIGTERM and SIGQUIT stop it."""
    import signal
    from pathlib import Path

    from granian.constants import HTTPModes, Interfaces, SSLProtocols  # type: ignore[import-not-found, unused-ignore]
    from granian.http import HTTP1Settings  # type: ignore[import-not-found, unused-ignore]
    from granian.server.embed import Server  # type: ignore[import-not-found, unused-ignore]

    server = Server(app, address=host, port=port, interface=Interfaces.RSGI,
                    http=HTTPModes.http1, websockets=False, log_enabled=False,
                    backlog=1024, ssl_cert=Path(cert) if cert else None,
                    ssl_key=Path(key or cert) if cert else None,
                    ssl_protocol_min=SSLProtocols.tls12,
                    http1_settings=HTTP1Settings(
                        header_read_timeout=int(app.header_timeout * 1000),
                        max_buffer_size=16 * 1024))
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        loop.add_signal_handler(signum, server.stop)
    if on_start is not None:
        loop.call_soon(on_start)
    try:
        await server.serve()
    finally:
        if on_stop is not None:
            with contextlib.suppress(Exception):
                await on_stop()


def serve(root: str, host: str, port: int, fallback: str | None, verbose: bool,
          access: Access, cache: CacheSettings | None = None, cert: str | None = None,
          key: str | None = None, *, header_timeout: float = 15.0) -> int:
    """``pipwrap serve --engine granian``: the same start-up, lines and stop as
    :func:`pipwrap.repo.server.serve`."""
    import errno
    import socket
    import threading

    from pipwrap.errors import PipwrapError
    from pipwrap.repo import index
    from pipwrap.repo.server import _listener, _report, _watch, announce

    os.makedirs(root, exist_ok=True)
    upload.clear_spool(root)
    if not os.path.exists(os.path.join(root, "index.html")):
        _report(index.build(root), verbose)
    mirror = None
    if fallback and cache is not None:
        from pipwrap.repo.mirror import Mirror

        mirror = Mirror(root, cache)
    # The port is tried here first, for the same clear refusal as the threaded server.
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PipwrapError(f"serve: port {port} on {host} is already in use by "
                                   f"{_listener(port)}; choose another with --port") from None
            raise PipwrapError(f"serve: cannot listen on {host}:{port}: {exc.strerror}"
                               ) from None
        port = probe.getsockname()[1]  # --port 0: the free one found, announced as served
    app = App(root, fallback, verbose, access, mirror, header_timeout=header_timeout)

    def started() -> None:
        announce(root, host, port, fallback, access, mirror, tls=cert is not None)

    stop = threading.Event()
    threading.Thread(target=_watch, args=(root, stop, verbose), daemon=True).start()
    try:
        asyncio.run(run(app, host, port, cert=cert, key=key, on_start=started))
    finally:
        stop.set()
    sys.stderr.write("pipwrap serve: stopped\n")
    return 0

"""``pipwrap serve``: the tree's static index over HTTP, local-first with fallback.

Built on the standard library's ``ThreadingHTTPServer`` (a thread per connection, no new
dependency), with its own lean request reading: the request line and headers are read
under a byte budget (:data:`MAX_HEADER_BYTES`, 431 beyond) and an absolute deadline
(:data:`HEADER_DEADLINE`, enforced by a watchdog thread, so a client trickling one byte
at a time cannot hold a thread), connections are capped (:data:`MAX_CONNECTIONS`, a
clear 503 beyond), and each response goes out in one write (a file: headers, then
``sendfile``). Pages are written by :mod:`pipwrap.repo.index`; serve keeps their bytes
keyed by the page's inode, size and mtime, so a request costs two ``stat`` calls, and a
changed page is read again at once. ``ETag``/``Last-Modified`` come from the same stat;
``If-None-Match``/``If-Modified-Since`` get 304.

The policy is pypiserver's ``--fallback-url``, made safe by construction: the requested
name is normalized first, and a project with any file here is answered from here only,
so an upstream ``foo 9.9.9`` can never outbid a local ``foo 1.0`` (dependency confusion).
Only a name whose directory is certainly absent is redirected to the fallback index: a
failed ``stat`` (permissions, I/O) answers 503, never a redirect. Only files the
project's index lists are served.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import stat
import sys
import threading
import time
from email.utils import formatdate
from http import HTTPStatus
from http.client import HTTPMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO
from urllib.parse import quote, unquote

from pipwrap import __version__
from pipwrap.errors import PipwrapError
from pipwrap.repo import auth, defaults, index, pages, permissions, proctitle, serving, upload
from pipwrap.repo.distfile import PROJECT_NAME, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    # Imported only with --cache (it brings urllib3 and the page parser).
    from pipwrap.repo.mirror import Mirror
    from pipwrap.repo.mirror import Settings as CacheSettings

WATCH_INTERVAL = 1.0
# Limits against hostile clients (docs/hosting.md).
MAX_HEADER_BYTES = 16 * 1024  # request line and headers together; 431 beyond
MAX_REQUEST_LINE = 8 * 1024  # 414 beyond
MAX_HEADERS = 100
# From the moment a connection waits for a request to the end of its headers, idle
# keep-alive time included: a slow client holds a thread at most this long.
HEADER_DEADLINE = defaults.HEADER_TIMEOUT
MAX_CONNECTIONS = defaults.MAX_CONNECTIONS  # a clear 503 beyond, sent without a thread
THREAD_STACK = 512 * 1024
# Password hashes checked at once (bcrypt costs ~50 ms of CPU): wrong passwords wait for
# a slot instead of taking every core; a login already proven is answered without one.
LOGIN_CHECKS = 1
LOGINS_REMEMBERED = 1024
# An upload over the limit is still read (and dropped) up to this much more, so that the
# client hears 413 instead of a reset connection; beyond it the connection is closed.
DRAIN_BEYOND_LIMIT = 64 * 1024 * 1024
# A request body must keep coming at this average rate (bytes per second) after a grace
# of the header deadline, or the watchdog cuts the connection: a client trickling a byte
# now and then would otherwise hold a connection slot for ever (red-team finding 1). A
# body read only to be refused (no login, uploads off, too large) gets a brisk rate; an
# accepted upload a slow link's.
REFUSED_BODY_RATE = 64 * 1024
UPLOAD_BODY_RATE = 1024
# A file must go out at this average rate after a grace of the header deadline, or the
# watchdog cuts the connection: a client reading a large file slowly (never stalling
# for the 60 s a write may wait) held its slot for as long as the file took (red-team
# finding 8). Sent in pieces, so the deadline follows what the client has taken (the
# bytes sent minus those still queued in the kernel, on Linux).
SEND_RATE = 32 * 1024
SEND_PIECE = 256 * 1024

_UNSAFE_REASON = re.compile(r"[\x00-\x1f\x7f]+")
_DIGITS = re.compile(r"[0-9]{1,18}")
_PLAIN_TO_TLS = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                 b"Connection: close\r\nContent-Length: 72\r\n\r\n"
                 b"this is pipwrap serve's TLS port: ask for the URL with https:// instead\n")
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
         b"Retry-After: 1\r\nConnection: close\r\nContent-Length: 52\r\n\r\n"
         b"too many connections to pipwrap serve; retry shortly\n")


class RepoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    max_connections = MAX_CONNECTIONS
    header_deadline = HEADER_DEADLINE

    def __init__(self, address: tuple[str, int], root: str, fallback: str | None,
                 verbose: bool, access: Access | None = None,
                 mirror: Mirror | None = None) -> None:
        self.tls = False
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.root = root
        self.fallback = fallback
        self.verbose = verbose
        self.access = access or Access()
        self.mirror = mirror
        self.pages = serving.PageCache(root)
        # Authorization header -> (user, the htpasswd file's stat when it was proven)
        self._proven: dict[str, tuple[str, tuple[int, int, int]]] = {}
        self._login_slots = _Turnstile(LOGIN_CHECKS)
        self._active = 0
        self._active_lock = threading.Lock()
        # connection -> when its request line and headers must be in
        self.deadlines: dict[socket.socket, float] = {}
        # Before binding: a failed bind calls server_close(), which sets it.
        self._watchdog_stop = threading.Event()
        super().__init__(address, Handler)
        threading.Thread(target=self._watchdog, daemon=True,
                         name="pipwrap-serve-deadlines").start()

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self._active_lock:
            busy = self._active >= self.max_connections
            if not busy:
                self._active += 1
        if busy:
            # Said and closed here, without a thread: a flood cannot make threads.
            with contextlib.suppress(OSError):
                request.setblocking(False)
                request.send(_BUSY)
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.deadlines.pop(request, None)
            self._release()

    def _release(self) -> None:
        with self._active_lock:
            self._active -= 1

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        if self.tls and not self._handshake(request, client_address):
            return
        super().finish_request(request, client_address)

    def _handshake(self, connection: socket.socket, client_address: object) -> bool:
        """The TLS handshake, in the connection's own thread under the header deadline;
        a client speaking plain HTTP hears so in plain HTTP (as nginx says it), and a
        failed handshake is logged: either used to be an empty reply and no log line."""
        import ssl

        host = client_address[0] if isinstance(client_address, tuple) else client_address
        self.deadlines[connection] = time.monotonic() + self.header_deadline
        try:
            # The first byte of a TLS connection is a handshake record (22).
            first = socket.socket.recv(connection, 1, socket.MSG_PEEK)
            if first and first != b"\x16":
                sys.stderr.write(f"pipwrap serve: plain HTTP from {host} to the TLS port; "
                                 "answered 400 (use https://)\n")
                socket.socket.sendall(connection, _PLAIN_TO_TLS)
                return False
            if not first:
                return False
            connection.do_handshake()  # type: ignore[attr-defined]
            return True
        except (ssl.SSLError, OSError) as exc:
            reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
            sys.stderr.write(f"pipwrap serve: TLS handshake with {host} failed: {reason}\n")
            return False
        finally:
            self.deadlines.pop(connection, None)

    def _watchdog(self) -> None:
        """Cut connections whose request line and headers are late (slow-loris)."""
        while not self._watchdog_stop.wait(0.25):
            now = time.monotonic()
            for connection, deadline in list(self.deadlines.items()):
                if deadline < now:
                    self.deadlines.pop(connection, None)
                    with contextlib.suppress(OSError):
                        connection.shutdown(socket.SHUT_RDWR)

    def server_close(self) -> None:
        self._watchdog_stop.set()
        super().server_close()

    def page(self, path: str) -> serving.CachedPage | None:
        return self.pages.page(path)

    def login(self, authorization: str | None) -> str | None:
        """The user an Authorization header proves (None: none). Never under the turnstile;
        a header proven since the htpasswd file last changed costs one stat."""
        logins = self.access.logins
        if logins is None or not authorization:
            return None
        try:
            status = os.stat(logins.path)
            stamp = (status.st_ino, status.st_size, status.st_mtime_ns)
        except OSError:
            stamp = (0, 0, 0)
        proven = self._proven.get(authorization)
        if proven is not None and proven[1] == stamp:
            return proven[0]
        self._login_slots.acquire()
        try:
            user = logins.check(authorization)
        finally:
            self._login_slots.release()
        if user is not None:
            if len(self._proven) >= LOGINS_REMEMBERED:
                self._proven.clear()
            self._proven[authorization] = (user, stamp)
        return user

    def listed(self, project: str) -> frozenset[str] | None:
        return self.pages.listed(project)

    def handle_error(self, request: object, client_address: object) -> None:
        """A failed TLS handshake or a reset connection is the client's business: one
        line with -v, never a traceback."""
        problem = sys.exc_info()[1]
        if isinstance(problem, OSError):
            if self.verbose:
                sys.stderr.write(f"pipwrap serve: connection from {client_address}: "
                                 f"{problem}\n")
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


class Access:
    """Who may upload and read. Uploads are off unless a login file or ``--auth none``
    turns them on; reading needs a login only with ``--auth read``."""

    def __init__(self, logins: auth.Logins | None = None, *, uploads: bool = False,
                 login_to_upload: bool = True, login_to_read: bool = False,
                 max_upload: int = upload.DEFAULT_MAX_UPLOAD,
                 policy: permissions.Policy | None = None) -> None:
        self.logins = logins
        self.policy = policy or permissions.Policy()  # who may publish what
        self.uploads = uploads
        self.login_to_upload = login_to_upload and logins is not None
        self.login_to_read = login_to_read and logins is not None
        self.max_upload = max_upload


class _Turnstile:
    """A first-come first-served lock (or ``slots`` of them): requests are answered in
    arrival order, and a thread that releases cannot take its slot straight back before
    those waiting (a login check behind 16 guessers waited 22 s on a plain semaphore).

    With a thread per connection, 64 kept-alive clients meant 64 threads racing for the
    GIL, and the unlucky ones waited 100 ms and more (p99). Taking turns in arrival order
    keeps the same throughput with p99 near 10 ms. Only computing an answer takes a turn;
    writing it to the socket (which a client that does not read could stall) does not:
    see :class:`_Output`.
    """

    def __init__(self, slots: int = 1) -> None:
        import collections

        self._lock = threading.Lock()
        self._free = slots
        self._waiters: collections.deque[threading.Lock] = collections.deque()

    def acquire(self) -> None:
        with self._lock:
            if self._free:
                self._free -= 1
                return
            waiter = threading.Lock()
            waiter.acquire()
            self._waiters.append(waiter)
        waiter.acquire()  # handed over by the previous holder: the slot stays taken

    def release(self) -> None:
        with self._lock:
            if self._waiters:
                self._waiters.popleft().release()
            else:
                self._free += 1


_TURNSTILE = _Turnstile()


class _Output:
    """The connection's writer: while the handler holds its turn, writes are kept and go
    out in one piece when the turn is released (``release``, ``flush``).

    Anything that may block (reading a request body, fetching from upstream, sending a
    large file) must call ``release()`` first: a turn is for computing an answer only.
    """

    __slots__ = ("holding", "pending", "raw")

    def __init__(self, raw: object) -> None:
        self.raw = raw
        self.pending: list[bytes] = []
        self.holding = False

    def hold(self) -> None:
        _TURNSTILE.acquire()
        self.holding = True

    def write(self, data: bytes) -> int:
        if self.holding:
            self.pending.append(bytes(data))
            return len(data)
        return int(self.raw.write(data))  # type: ignore[attr-defined]

    def release(self) -> None:
        if self.holding:
            self.holding = False
            _TURNSTILE.release()
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self.raw.write(data)  # type: ignore[attr-defined]

    def flush(self) -> None:
        self.release()
        self.raw.flush()  # type: ignore[attr-defined]

    def close(self) -> None:
        self.release()
        self.raw.close()  # type: ignore[attr-defined]

    @property
    def closed(self) -> bool:
        return bool(self.raw.closed)  # type: ignore[attr-defined]


class _Arriving(io.BufferedIOBase):
    """The connection's reader for a request body: ``read`` returns what has arrived (at
    most one receive) instead of waiting for the whole size asked, so the body's deadline
    sees every byte: read 1 MiB at a time, an upload slower than ~68 KiB/s showed no
    progress for the whole grace and was cut, though the docs promise 1 KiB/s."""

    def __init__(self, rfile: io.BufferedIOBase) -> None:
        super().__init__()
        self._rfile = rfile

    def read(self, size: int | None = -1, /) -> bytes:
        return self._rfile.read1(-1 if size is None else size)

    def readline(self, size: int | None = -1, /) -> bytes:
        return self._rfile.readline(size)


class _Reject(Exception):
    def __init__(self, status: HTTPStatus) -> None:
        self.status = status


class Handler(BaseHTTPRequestHandler):
    server: RepoServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in one write for pages; for files the body is a sendfile
    # after the headers, and with Nagle's algorithm on it would wait for the client's
    # delayed ACK (~40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True
    # A stalled write (a client that stops reading) lets its thread go after this.
    timeout = 60
    server_version = f"pipwrap/{__version__}"
    _chosen = ""
    _user: str | None = None
    _date = ""
    _date_second = -1

    def setup(self) -> None:
        super().setup()
        self.output = _Output(self.wfile)
        self.wfile = self.output  # type: ignore[assignment]

    def handle_one_request(self) -> None:
        """One request, read by hand: bounded in bytes and (with the watchdog) in time."""
        deadlines = self.server.deadlines
        deadlines[self.connection] = time.monotonic() + self.server.header_deadline
        try:
            try:
                if not self._read_request():
                    self.close_connection = True
                    return
            except _Reject as rejected:
                deadlines.pop(self.connection, None)
                self.close_connection = True
                self._plain(rejected.status, f"{rejected.status.phrase}\n", True)
                return
            finally:
                deadlines.pop(self.connection, None)
            method = getattr(self, "do_" + self.command, None)
            if method is None:
                self.close_connection = True
                self._plain(HTTPStatus.NOT_IMPLEMENTED, "not implemented\n", True)
                return
            output = self.output
            self._user = None
            if self.command in ("GET", "HEAD"):
                if self.server.access.login_to_read:
                    self._user = self._login()  # before taking a turn: a check may wait
                output.hold()
            try:
                method()
            finally:
                deadlines.pop(self.connection, None)  # a request body's, if any
                output.flush()
        except (TimeoutError, ConnectionError, OSError):
            self.close_connection = True

    def _read_request(self) -> bool:
        """Read the request line and headers; False: the client went away (or was cut)."""
        self._chosen = ""
        readline = self.rfile.readline
        line = readline(MAX_REQUEST_LINE + 1)
        while line in (b"\r\n", b"\n"):  # tolerated before a request (RFC 9112 2.2)
            line = readline(MAX_REQUEST_LINE + 1)
        if not line:
            return False
        self.raw_requestline = line
        if len(line) > MAX_REQUEST_LINE or not line.endswith(b"\n"):
            self.requestline = self.command = self.request_version = ""
            if len(line) > MAX_REQUEST_LINE:
                raise _Reject(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False  # cut off mid-line
        self.requestline = requestline = line.decode("latin-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or not words[2].startswith("HTTP/1."):
            self.command, self.path, self.request_version = "", "", "HTTP/1.0"
            raise _Reject(HTTPStatus.BAD_REQUEST)
        self.command, self.path, self.request_version = words
        budget = MAX_HEADER_BYTES - len(line)
        fields: dict[str, str] = {}
        raw: list[tuple[str, str]] = []
        while True:
            header = readline(budget + 1)
            if not header.endswith(b"\n"):
                if len(header) > budget:
                    raise _Reject(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
                return False  # the client went away mid-header, or the watchdog cut it
            budget -= len(header)
            if header in (b"\r\n", b"\n"):
                break
            if len(raw) >= MAX_HEADERS:
                raise _Reject(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            text = header.decode("latin-1")
            name, colon, value = text.partition(":")
            if not colon or not name or name != name.strip():
                raise _Reject(HTTPStatus.BAD_REQUEST)
            value = value.strip()
            raw.append((name, value))
            lowered = name.lower()
            fields[lowered] = f"{fields[lowered]}, {value}" if lowered in fields else value
        message = HTTPMessage()
        message._headers = raw  # type: ignore[attr-defined]  # no email parser per request
        self.headers = message
        self.fields = fields
        self._check_framing(fields)
        connection = fields.get("connection", "").lower()
        if self.request_version == "HTTP/1.0":
            self.close_connection = "keep-alive" not in connection
        else:
            self.close_connection = "close" in connection
        if fields.get("expect", "").lower() == "100-continue":
            return self.handle_expect_100()  # as the standard parser does (uploads)
        return True

    def _check_framing(self, fields: dict[str, str]) -> None:
        """Only framings every proxy reads alike (RFC 9112 6): a keep-alive proxy in front
        that read a body differently would let it run as a second request (smuggling)."""
        coding = fields.get("transfer-encoding")
        length = fields.get("content-length")
        if coding is not None:
            if length is not None:
                raise _Reject(HTTPStatus.BAD_REQUEST)
            if coding.strip().lower() != "chunked":
                raise _Reject(HTTPStatus.NOT_IMPLEMENTED)
        elif length is not None and not _DIGITS.fullmatch(length):
            raise _Reject(HTTPStatus.BAD_REQUEST)  # "+1_0", "-1", "1, 2", "²"...
        if self.command != "POST" and (coding is not None or (length or "0") != "0"):
            # A body nothing here reads (GET, HEAD): read away, so it never runs as a
            # request of its own; a chunked or large one is refused.
            if coding is not None or int(length or 0) > MAX_HEADER_BYTES:
                raise _Reject(HTTPStatus.BAD_REQUEST)
            self.rfile.read(int(length or 0))

    def do_GET(self) -> None:
        self._route(body=True)

    def do_HEAD(self) -> None:
        self._route(body=False)

    def _upload_refusal(self) -> tuple[HTTPStatus, str, bool] | None:
        """Why this POST is refused before its body is read: (status, message, challenge)."""
        access = self.server.access
        if self.path.split("?", 1)[0] not in ("/", "/legacy", "/legacy/"):
            return HTTPStatus.NOT_FOUND, "uploads go to / or /legacy/", False
        if not access.uploads:
            return (HTTPStatus.METHOD_NOT_ALLOWED, "uploads are off on this server (pipwrap "
                    "serve --htpasswd FILE turns them on)", False)
        if access.login_to_upload and self._login() is None:
            return HTTPStatus.UNAUTHORIZED, "a valid login is needed to upload", True
        refused = access.policy.before_body(self._login())
        if refused is not None:
            return HTTPStatus(refused.status), refused.message, False
        return None

    def handle_expect_100(self) -> bool:
        """A client that waits for "100 Continue" before sending its body (curl does for a
        large one) hears a refusal at once instead, without sending the body."""
        if self.command == "POST":
            refusal = self._upload_refusal()
            length = self.fields.get("content-length", "")
            if refusal is None and length.isdigit() \
                    and int(length) > self.server.access.max_upload:
                refusal = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the upload is larger than "
                           "this server's limit (serve --max-upload)", False)
            if refusal is not None:
                status, message, challenge = refusal
                sys.stderr.write(f"pipwrap serve: {upload.refusal_line(status, message, None)}\n")
                self.close_connection = True
                headers = {"WWW-Authenticate": 'Basic realm="pipwrap"'} if challenge else {}
                self._plain(status, message + "\n", True, reason=message, headers=headers)
                self.wfile.flush()
                return False
        return super().handle_expect_100()

    def do_POST(self) -> None:
        self._chosen = ""
        refusal = self._upload_refusal()
        if refusal is not None:
            self._refuse_upload(refusal[0], refusal[1], challenge=refusal[2])
            return
        user = self._login() if self.server.access.login_to_upload else None
        body = self._body()
        if body is None:
            return
        try:
            outcome = upload.receive(self.server.root, body, self.fields.get("content-type"),
                                     user=user, policy=self.server.access.policy)
        except upload.UploadError as exc:
            line = upload.refusal_line(exc.status, exc.message, user)
            sys.stderr.write(f"pipwrap serve: {line}\n")
            with contextlib.suppress(upload.UploadError, OSError):
                body.drain()  # the rest of the body (capped): the client hears the answer
            self.close_connection = True
            self._plain(HTTPStatus(exc.status), exc.message + "\n", True, reason=exc.message)
            return
        except OSError as exc:
            sys.stderr.write(f"pipwrap serve: upload failed: {exc}\n")
            self.close_connection = True
            self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, "the upload could not be stored\n",
                        True)
            return
        sys.stderr.write(f"pipwrap serve: {outcome.log_line(user)}\n")
        self._plain(HTTPStatus.OK, "OK\n", True)

    def _body(self, rate: int = UPLOAD_BODY_RATE) -> upload.Body | None:
        limit = self.server.access.max_upload
        chunked = "chunked" in self.fields.get("transfer-encoding", "").lower()
        length: int | None = None
        if not chunked:
            try:
                length = int(self.fields.get("content-length", ""))
            except ValueError:
                self.close_connection = True
                self._plain(HTTPStatus.LENGTH_REQUIRED, "Content-Length needed\n", True)
                return None
            if length < 0:
                self.close_connection = True
                self._plain(HTTPStatus.BAD_REQUEST, "bad Content-Length\n", True)
                return None
            if length > limit:
                message = (f"the upload is larger than this server's limit "
                           f"({limit // (1024 * 1024)} MiB, serve --max-upload)")
                if length <= limit + DRAIN_BEYOND_LIMIT:
                    # Read it away so the client hears why, not a reset connection.
                    with contextlib.suppress(upload.UploadError, OSError):
                        self._pace(upload.Body(_Arriving(self.rfile), length, False, length),
                                   REFUSED_BODY_RATE).drain()
                    self.server.deadlines.pop(self.connection, None)
                self.close_connection = True
                self._plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message + "\n", True,
                            reason=message)
                return None
        return self._pace(upload.Body(_Arriving(self.rfile), length, chunked, limit), rate)

    def _pace(self, body: upload.Body, rate: int) -> upload.Body:
        """Put the body under the watchdog: it must arrive at ``rate`` bytes a second on
        average, after a grace of the header deadline; the deadline goes when it ends."""
        deadlines = self.server.deadlines
        connection = self.connection
        start = time.monotonic() + self.server.header_deadline
        deadlines[connection] = start

        def progress(taken: int | None) -> None:
            if taken is None:
                deadlines.pop(connection, None)
            elif connection in deadlines:  # not once the watchdog cut it
                deadlines[connection] = start + taken / rate

        body.progress = progress
        return body

    def _refuse_upload(self, status: HTTPStatus, message: str, *,
                       challenge: bool = False) -> None:
        """Answer before reading the body: read it away first (up to the cap) so that the
        client, still sending, hears the answer instead of a reset connection."""
        body = self._body(rate=REFUSED_BODY_RATE)
        if body is None:
            return
        try:
            body.drain()
        except (upload.UploadError, OSError):
            self.close_connection = True
        finally:
            self.server.deadlines.pop(self.connection, None)
        sys.stderr.write(f"pipwrap serve: {upload.refusal_line(status, message, None)}\n")
        headers = {"WWW-Authenticate": 'Basic realm="pipwrap"'} if challenge else {}
        self._plain(status, message + "\n", True, reason=message, headers=headers)

    def _login(self) -> str | None:
        return self.server.login(self.fields.get("authorization"))

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            line = serving.printable(format % args)
            sys.stderr.write(f"{self.address_string()} {line}{self._chosen}\n")

    def _route(self, *, body: bool) -> None:
        if self.server.access.login_to_read and self._user is None:
            self._plain(HTTPStatus.UNAUTHORIZED, "a valid login is needed\n", body,
                        headers={"WWW-Authenticate": 'Basic realm="pipwrap"'})
            return
        path = unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        if path in ("/", ""):
            self._redirect(HTTPStatus.FOUND, "/simple/")
            return
        # No segment starting with a dot (".", "..", hidden and temporary names), no
        # control character or space: one scan of the whole path.
        if "/." in path or serving.UNSAFE.search(path):
            self._not_found(body)
            return
        parts = path.split("/")
        if len(parts) < 2 or parts[1] != "simple":
            self._not_found(body)
            return
        # ["", "simple"] / ["", "simple", ""] / [.., name] / [.., name, ""] / [.., name, file]
        rest = parts[2:]
        if not rest:
            self._redirect(HTTPStatus.MOVED_PERMANENTLY, "/simple/")
        elif rest == [""]:
            self._page(self.server.root, body)
        elif len(rest) == 1:
            self._redirect(HTTPStatus.MOVED_PERMANENTLY, f"/simple/{rest[0]}/")
        elif len(rest) == 2 and rest[1] == "":
            self._project(rest[0], body)
        elif (len(rest) == 2 and PROJECT_NAME.fullmatch(rest[0])
              and not rest[1].startswith(".") and serving.published(rest[1])):
            self._file(rest[0], rest[1], body)
        elif (len(rest) == 3 and self.server.mirror is not None and PROJECT_NAME.fullmatch(rest[0])
              and serving.SHA256.fullmatch(rest[1]) and not rest[2].startswith(".")
              and serving.published(rest[2])):
            self._cached_file(self.server.mirror, rest[0], rest[1], rest[2], body)
        else:
            self._not_found(body)

    def _project(self, name: str, body: bool) -> None:
        project = normalize(name)
        if project != name:
            self._redirect(HTTPStatus.MOVED_PERMANENTLY, f"/simple/{project}/")
            return
        if not PROJECT_NAME.fullmatch(project):
            self._not_found(body)
            return
        directory = os.path.join(self.server.root, project)
        # Held is decided fail-closed: only a directory that is certainly absent sends the
        # name upstream; a stat that fails otherwise (permissions, I/O) answers 503.
        try:
            mode = os.lstat(directory).st_mode
        except OSError as exc:
            if not serving.absent(exc):
                self._unavailable(body)
                return
            mode = None
        if mode is not None and stat.S_ISDIR(mode):
            self._page(directory, body)
        elif mode is not None:
            # Something else holds the name (a symbolic link to a project kept elsewhere,
            # a file): the index leaves it out, and it is never sent upstream either
            # (red-team finding 3).
            self._not_found(body)
        elif self.server.mirror is not None:
            self._mirrored_page(self.server.mirror, project, body)
        elif self.server.fallback:
            self._redirect(HTTPStatus.SEE_OTHER, f"{self.server.fallback}{project}/")
        else:
            self._not_found(body)

    def _page(self, directory: str, body: bool) -> None:
        chosen = serving.negotiate(self.fields.get("accept"))
        if chosen is None:
            self._plain(HTTPStatus.NOT_ACCEPTABLE,
                        f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n", body)
            return
        name = "index.json" if chosen == pages.JSON_TYPE else "index.html"
        self._chosen = f" {name}"
        try:
            cached = self.server.page(os.path.join(directory, name))
        except OSError:
            self._unavailable(body)
            return
        if cached is None:
            self._not_found(body)  # held, its first page not written: never upstream
            return
        kind = f"{chosen}; charset=utf-8" if chosen == "text/html" else chosen
        self._answer(cached.etag, cached.mtime, cached.last_modified, kind,
                     cached.data, body, "Vary: Accept\r\n")

    def _not_modified(self, etag: str, mtime: int) -> bool:
        return serving.not_modified(etag, mtime, self.fields.get("if-none-match"),
                                    self.fields.get("if-modified-since"))

    def _head(self, code: int, phrase: str, extra: str) -> bytes:
        second = int(time.time())
        if second != Handler._date_second:
            Handler._date = formatdate(second, usegmt=True)
            Handler._date_second = second
        if self.close_connection:
            close = "Connection: close\r\n"
        elif self.request_version == "HTTP/1.0":
            close = "Connection: keep-alive\r\n"
        else:
            close = ""
        if self.server.verbose:
            self.log_request(code)
        return (f"HTTP/1.1 {code} {phrase}\r\nServer: {self.server_version}\r\n"
                f"Date: {Handler._date}\r\n{extra}{close}\r\n").encode("latin-1")

    def _answer(self, etag: str, mtime: int, last_modified: str, kind: str, data: bytes,
                body: bool, extra: str = "") -> None:
        validators = f"ETag: {etag}\r\nLast-Modified: {last_modified}\r\n{extra}"
        if self._not_modified(etag, mtime):
            self.wfile.write(self._head(304, "Not Modified", validators))
            return
        head = self._head(200, "OK", f"Content-Type: {kind}\r\n"
                          f"Content-Length: {len(data)}\r\n{validators}")
        self.wfile.write(head + data if body else head)

    def _file(self, project: str, filename: str, body: bool) -> None:
        # Only what the project's index lists: not a file the index left out (refused,
        # half-copied, dropped in by hand), nor anything outside a valid project.
        try:
            listed = self.server.listed(project)
        except OSError:
            self._unavailable(body)
            return
        if listed is None or filename not in listed:
            self._not_found(body)
            return
        if not self._send_file(os.path.join(self.server.root, project, filename), filename,
                               body):
            self._not_found(body)

    def _send_file(self, path: str, filename: str, body: bool) -> bool:
        """Send a regular file (with validators and 304); False: nothing to send there."""
        try:
            # O_NOFOLLOW: a symbolic link planted in the tree must not serve what it names.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # missing, a link, a directory, a name too long...
            return False
        with open(fd, "rb") as handle:
            status = os.fstat(handle.fileno())
            if not stat.S_ISREG(status.st_mode) or os.path.islink(os.path.dirname(path)):
                return False
            etag = serving.etag(serving.stat_key(status))
            kind = "text/plain; charset=utf-8" if filename.endswith(".metadata") \
                else "application/octet-stream"
            validators = (f"ETag: {etag}\r\n"
                          f"Last-Modified: {formatdate(status.st_mtime, usegmt=True)}\r\n")
            if self._not_modified(etag, int(status.st_mtime)):
                self.wfile.write(self._head(304, "Not Modified", validators))
                return True
            self.wfile.write(self._head(200, "OK", f"Content-Type: {kind}\r\n"
                                        f"Content-Length: {status.st_size}\r\n{validators}"))
            if body and status.st_size:
                self.output.release()  # sending takes no turn
                self._send_paced(handle, status.st_size)
        return True

    def _send_paced(self, handle: BinaryIO, size: int) -> None:
        """``sendfile`` in pieces under the watchdog: the file must keep going out at
        :data:`SEND_RATE` on average, after a grace of the header deadline."""
        deadlines = self.server.deadlines
        connection = self.connection
        start = time.monotonic() + self.server.header_deadline
        sent = 0
        try:
            while sent < size:
                deadlines[connection] = start + max(0, sent - _queued(connection)) / SEND_RATE
                count = connection.sendfile(handle, sent,
                                            min(SEND_PIECE, size - sent))
                if not count:
                    break
                sent += count
        finally:
            deadlines.pop(connection, None)

    def _mirrored_page(self, cache: Mirror, project: str, body: bool) -> None:
        chosen = serving.negotiate(self.fields.get("accept"))
        if chosen is None:
            self._plain(HTTPStatus.NOT_ACCEPTABLE,
                        f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n", body)
            return
        self.output.release()  # asking the upstream may take seconds: not holding a turn
        try:
            page = cache.page(project, json_form=chosen == pages.JSON_TYPE)
        except cache.NotFound:
            self._not_found(body)
            return
        except cache.Unwritable as exc:
            self._plain(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}\n", body, reason=str(exc))
            return
        except cache.Unavailable as exc:
            self._upstream_down(str(exc), body)
            return
        self._chosen = " (cache)"
        kind = f"{chosen}; charset=utf-8" if chosen == "text/html" else chosen
        self._answer(page.etag, page.mtime, page.last_modified, kind, page.data, body,
                     "Vary: Accept\r\n")

    def _cached_file(self, cache: Mirror, project: str, sha256: str, filename: str,
                     body: bool) -> None:
        """A fallback file by the hash its page gave: from the cache, else fetched; its
        bytes checked while sent (a mismatch cuts the connection)."""
        # Held here (anything under the name): upstream files never show (local-first).
        try:
            os.lstat(os.path.join(self.server.root, project))
        except OSError as exc:
            if not serving.absent(exc):
                self._unavailable(body)
                return
        else:
            self._not_found(body)
            return
        self.output.release()  # reading (maybe fetching) takes no turn
        try:
            found = cache.file(project, sha256, filename)
        except cache.NotFound:
            self._not_found(body)
            return
        except (cache.Unavailable, cache.Unwritable) as exc:
            self._plain(HTTPStatus.BAD_GATEWAY, f"{exc}\n", body, reason=str(exc))
            return
        with found:
            if found.fetched:
                self._chosen = " (cache: fetched)"
            validators = f"ETag: {found.etag}\r\nLast-Modified: {found.last_modified}\r\n"
            if not found.fetched and self._not_modified(found.etag, found.mtime):
                self.wfile.write(self._head(304, "Not Modified", validators))
                return
            chunked = found.size is None
            length = "Transfer-Encoding: chunked" if chunked \
                else f"Content-Length: {found.size}"
            self.wfile.write(self._head(200, "OK", f"Content-Type: {found.content_type}\r\n"
                                        f"{length}\r\n{validators}"))
            if not body:
                return
            deadlines = self.server.deadlines
            try:
                for data in found.chunks():
                    # Each piece must go out at SEND_RATE (waiting on upstream is not the
                    # client's time): a client that stops reading is cut by the watchdog.
                    deadlines[self.connection] = (time.monotonic() + self.server.header_deadline
                                                  + len(data) / SEND_RATE)
                    if chunked:
                        self._chunk(data)
                    else:
                        self.wfile.write(data)
                    deadlines.pop(self.connection, None)
            except (cache.Interrupted, OSError):
                self.close_connection = True  # the client sees a cut-off response
                return
            finally:
                deadlines.pop(self.connection, None)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")

    def _upstream_down(self, message: str, body: bool) -> None:
        """A project page the cache cannot give: 502, its reason phrase saying why (uv and
        twine print it). pip logs a failed index page at debug level only, after retrying a
        502 for seconds, and then says just "No matching distribution"; the one thing it
        prints about a page is a Content-Type it cannot use, so pip hears why there (a 200
        nothing may cache, with no page in it)."""
        if not self.headers.get("User-Agent", "").startswith("pip/"):
            self._plain(HTTPStatus.BAD_GATEWAY, f"{message}\n", body, reason=message)
            return
        said = _UNSAFE_REASON.sub(" ", message).replace("\\", "/").replace('"', "'")
        self._chosen = " (cache: nothing cached, upstream unreachable)"
        self._plain(HTTPStatus.OK, f"{message}\n", body, headers={"Cache-Control": "no-store"},
                    content_type=f'text/plain; charset=utf-8; error="{said[:300]}"')

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _redirect(self, status: HTTPStatus, location: str) -> None:
        self.wfile.write(self._head(
            status.value, status.phrase,
            f"Location: {quote(location, safe='/:@!$&()*+,;=%~?')}\r\nContent-Length: 0\r\n"))

    def _not_found(self, body: bool) -> None:
        self._plain(HTTPStatus.NOT_FOUND, "not found\n", body)

    def _unavailable(self, body: bool) -> None:
        # Fail closed: the tree could not be read, so whether the name is held is unknown.
        self._plain(HTTPStatus.SERVICE_UNAVAILABLE,
                    "the repository cannot be read here; not sent upstream\n", body)

    def _plain(self, status: HTTPStatus, text: str, body: bool, *, reason: str | None = None,
               headers: dict[str, str] | None = None,
               content_type: str = "text/plain; charset=utf-8") -> None:
        data = text.encode()
        phrase = status.phrase
        if reason is not None:  # twine prints the status line's reason: one safe line
            phrase = _latin1(_UNSAFE_REASON.sub(" ", reason)[:300])
        extra = "".join(f"{key}: {value}\r\n" for key, value in (headers or {}).items())
        head = self._head(status.value, phrase,
                          f"Content-Type: {_latin1(content_type)}\r\n"
                          f"Content-Length: {len(data)}\r\n{extra}")
        self.wfile.write(head + data if body else head)


def _latin1(text: str) -> str:
    """What a header can carry: characters beyond Latin-1 become "?"."""
    return text.encode("latin-1", "replace").decode("latin-1")


def _queued(connection: socket.socket) -> int:
    """Bytes sent on ``connection`` the client has not acknowledged yet (0 if unknown)."""
    try:
        import fcntl
        import struct
        import termios

        queued = fcntl.ioctl(connection.fileno(), termios.TIOCOUTQ, b"\0\0\0\0")
        return int(struct.unpack("i", queued)[0])
    except (ImportError, AttributeError, OSError, ValueError):
        return 0


def _signature(root: str) -> list[tuple[str, int]]:
    """The mtimes of the tree's directories: a file added or removed changes one."""
    found = [("", os.stat(root).st_mtime_ns)]
    with os.scandir(root) as entries:
        for entry in entries:
            if not entry.name.startswith(".") and entry.is_dir():
                found.append((entry.name, entry.stat().st_mtime_ns))
    return found


def _report(report: index.Report, verbose: bool) -> None:
    for moved in report.adopted:
        sys.stderr.write(f"pipwrap serve: moved into its project directory: {moved}\n")
    for warning in report.warnings:
        sys.stderr.write(f"pipwrap serve: warning: {warning}\n")
    if verbose and report.written:
        count = len(report.written)
        sys.stderr.write(f"pipwrap serve: re-indexed ({count} file{'s' if count != 1 else ''} "
                         "written)\n")


def _watch(root: str, stop: threading.Event, verbose: bool) -> None:
    """Keep the index current when files are dropped into the tree by hand.

    The first pass runs here too, so the server answers at once: the pages on disk are
    already current unless files were dropped in while it was down.
    """
    last: list[tuple[str, int]] | None = None
    while last is None or not stop.wait(WATCH_INTERVAL):
        now: list[tuple[str, int]] = []
        try:
            now = _signature(root)
            if now == last:
                continue
            _report(index.build(root), verbose)
            last = _signature(root)
        except Exception as exc:  # the watcher must outlive any one bad file
            sys.stderr.write(f"pipwrap serve: re-indexing failed: {exc}\n")
            last = now  # try again when the tree changes, not every second


def tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except FileNotFoundError:
        # ssl names no file: say which one is missing.
        missing = cert if not os.path.exists(cert) else key
        option = "--tls-cert" if missing == cert else "--tls-key"
        raise PipwrapError(f"serve: {option} {missing}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise PipwrapError(f"serve: cannot use the TLS certificate {cert}"
                           f"{' and key ' + key if key else ''}: {exc}") from None
    return context


def _listener(port: int) -> str:
    """What listens on ``port``, as far as this user may see (Linux's /proc: the socket's
    inode, then the process holding it), else "something else"."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    fields = line.split()
                    # local address "ADDR:PORT" in hex; state 0A is LISTEN.
                    if len(fields) > 9 and fields[3] == "0A" and \
                            int(fields[1].rpartition(":")[2], 16) == port:
                        inodes.add(f"socket:[{fields[9]}]")
        except (OSError, ValueError):
            continue
    if not inodes:
        return "something else"
    try:
        pids = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return "something else"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            if not any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                words = handle.read().split(b"\0")
        except OSError:
            continue  # gone, or another user's
        argv = [w.decode(errors="replace") for w in words if w]
        if not argv:
            continue
        from pipwrap.redact import redact

        shown = redact(" ".join([os.path.basename(argv[0]), *argv[1:]]))
        return f"{shown[:100]}{'...' if len(shown) > 100 else ''} (pid {pid})"
    return "something else (a process of another user)"


def announce(root: str, host: str, port: int, fallback: str | None, access: Access,
             mirror: Mirror | None, *, tls: bool) -> None:
    """serve's first lines: where, what it falls back to, how to stop it, warnings."""
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{shown_host}:{port}/simple/"
    where = f"falling back to {fallback}" if fallback else "no fallback"
    if mirror is not None:
        where = (f"caching {mirror.upstream} for projects not held here; clients never "
                 f"contact it; pages revalidated after {mirror.ttl:g} s")
    sys.stderr.write(f"pipwrap serve: {root} at {url} ({where}); {proctitle.how_to_stop()}\n")
    if access.uploads:
        who = "with a login" if access.login_to_upload else "from anyone, no login"
        sys.stderr.write(f"pipwrap serve: uploads at {url.removesuffix('simple/')} "
                         f"(twine, uv publish...) {who}\n")
    if access.logins is not None and not tls and host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write("pipwrap serve: warning: logins cross the network in clear; use "
                         "--tls-cert/--tls-key or a TLS front (docs/hosting-team.md)\n")
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write(f"pipwrap serve: warning: listening on {host}, not only on this "
                         "machine\n")
    sys.stderr.flush()


def serve(root: str, host: str, port: int, fallback: str | None, verbose: bool,
          access: Access | None = None, cache: CacheSettings | None = None,
          tls: ssl.SSLContext | None = None, *, max_connections: int = MAX_CONNECTIONS,
          header_timeout: float = HEADER_DEADLINE) -> int:
    import errno
    import signal

    os.makedirs(root, exist_ok=True)
    upload.clear_spool(root)
    threading.stack_size(THREAD_STACK)  # a thread per connection: keep each one small
    if not os.path.exists(os.path.join(root, "index.html")):
        _report(index.build(root), verbose)  # a new tree: its pages before its first client
    mirror = None
    if fallback and cache is not None:
        from pipwrap.repo.mirror import Mirror

        mirror = Mirror(root, cache)
    try:
        server = RepoServer((host, port), root, fallback, verbose, access, mirror)
        server.max_connections = max_connections
        server.header_deadline = header_timeout
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PipwrapError(f"serve: port {port} on {host} is already in use by "
                               f"{_listener(port)}; choose another with --port") from None
        raise PipwrapError(f"serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    if tls is not None:
        # The handshake happens in the connection's own thread, on its first read (with
        # the connection's timeout), so a slow client never holds up accept().
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
        server.tls = True
    announce(root, host, server.server_address[1], fallback, server.access, mirror,
             tls=tls is not None)

    def stop_on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_on_term)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(root, stop, verbose), daemon=True)
    watcher.start()
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        sys.stderr.write("pipwrap serve: stopped\n")
    finally:
        stop.set()
        server.server_close()
    return 0

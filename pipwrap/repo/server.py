"""``pipwrap serve``: the tree's static index over HTTP, local-first with fallback.

Built on the standard library's ``ThreadingHTTPServer``: the work per request is one
``stat`` and one small file read (the pages are written by :mod:`pipwrap.repo.index`),
so a thread per connection is as fast as ``python -m http.server`` and needs no new
dependency. Nothing of the repo is held in memory; each request reads one file.

The policy is pypiserver's ``--fallback-url``, made safe by construction: the requested
name is normalized first, and a project with any file here is answered from here only,
so an upstream ``foo 9.9.9`` can never outbid a local ``foo 1.0`` (dependency confusion).
Only a name with no local files is redirected to the fallback index.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote

from pipwrap import __version__
from pipwrap.errors import PipwrapError
from pipwrap.repo import auth, index, pages, upload
from pipwrap.repo.distfile import PROJECT_NAME, looks_like_distribution, normalize

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ssl

    # Imported only with --cache (it brings urllib.request and the page parser).
    from pipwrap.repo.mirror import Mirror

WATCH_INTERVAL = 1.0
# An upload over the limit is still read (and dropped) up to this much more, so that the
# client hears 413 instead of a reset connection; beyond it the connection is closed.
DRAIN_BEYOND_LIMIT = 64 * 1024 * 1024

# Control characters and spaces (decoded from %0d%0a...) could split a redirect's headers.
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
_UNSAFE_REASON = re.compile(r"[\x00-\x1f\x7f]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")  # a cached file's URL: /simple/<name>/<sha256>/<file>
_MEDIA = {
    "application/vnd.pypi.simple.v1+json": pages.JSON_TYPE,
    "application/vnd.pypi.simple.latest+json": pages.JSON_TYPE,
    "application/vnd.pypi.simple.v1+html": pages.HTML_TYPE,
    "application/vnd.pypi.simple.latest+html": pages.HTML_TYPE,
    "text/html": "text/html",
    "text/*": "text/html",
    "*/*": "text/html",
}


def negotiate(accept: str | None) -> str | None:
    """The content type to answer with (PEP 691), honouring q-values; None: nothing fits.

    pip and uv send the JSON type first with q=1 and HTML with a lower q, so they get
    JSON; a browser or ``curl`` gets HTML. On a tie the earlier entry wins.
    """
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


class RepoServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], root: str, fallback: str | None,
                 verbose: bool, access: Access | None = None,
                 mirror: Mirror | None = None) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        self.root = root
        self.fallback = fallback
        self.verbose = verbose
        self.access = access or Access()
        self.mirror = mirror
        super().__init__(address, Handler)

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
                 max_upload: int = upload.DEFAULT_MAX_UPLOAD) -> None:
        self.logins = logins
        self.uploads = uploads
        self.login_to_upload = login_to_upload and logins is not None
        self.login_to_read = login_to_read and logins is not None
        self.max_upload = max_upload


class Handler(BaseHTTPRequestHandler):
    server: RepoServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the second
    # waits for the client's delayed ACK (~40 ms per request on a kept-alive connection).
    disable_nagle_algorithm = True
    # An idle kept-alive connection holds a thread: let it go after a while.
    timeout = 60
    server_version = f"pipwrap/{__version__}"
    _chosen = ""

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
        return None

    def handle_expect_100(self) -> bool:
        """A client that waits for "100 Continue" (curl, for a large body) hears a refusal
        at once instead, without sending the body."""
        if self.command == "POST":
            refusal = self._upload_refusal()
            length = self.headers.get("Content-Length", "")
            if refusal is None and length.isdigit() \
                    and int(length) > self.server.access.max_upload:
                refusal = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the upload is larger than "
                           "this server's limit (serve --max-upload)", False)
            if refusal is not None:
                status, message, challenge = refusal
                self.close_connection = True
                headers = {"WWW-Authenticate": 'Basic realm="pipwrap"'} if challenge else {}
                self._plain(status, message + "\n", True, reason=message, headers=headers)
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
            project, filename = upload.receive(self.server.root, body,
                                               self.headers.get("Content-Type"))
        except upload.UploadError as exc:
            sys.stderr.write(f"pipwrap serve: upload refused ({exc.status}): {exc.message}\n")
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
        by = f" by {user}" if user else ""
        sys.stderr.write(f"pipwrap serve: uploaded {project}/{filename}{by}\n")
        self._plain(HTTPStatus.OK, "OK\n", True)

    def _body(self) -> upload.Body | None:
        limit = self.server.access.max_upload
        chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        length: int | None = None
        if not chunked:
            try:
                length = int(self.headers.get("Content-Length", ""))
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
                        upload.Body(self.rfile, length, False, length).drain()
                self.close_connection = True
                self._plain(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, message + "\n", True,
                            reason=message)
                return None
        return upload.Body(self.rfile, length, chunked, limit)

    def _refuse_upload(self, status: HTTPStatus, message: str, *,
                       challenge: bool = False) -> None:
        """Answer before reading the body: read it away first (up to the cap) so that the
        client, still sending, hears the answer instead of a reset connection."""
        body = self._body()
        if body is None:
            return
        try:
            body.drain()
        except (upload.UploadError, OSError):
            self.close_connection = True
        headers = {"WWW-Authenticate": 'Basic realm="pipwrap"'} if challenge else {}
        self._plain(status, message + "\n", True, reason=message, headers=headers)

    def _login(self) -> str | None:
        logins = self.server.access.logins
        return logins.check(self.headers.get("Authorization")) if logins else None

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}{self._chosen}\n")

    def _route(self, *, body: bool) -> None:
        self._chosen = ""  # one handler serves every request of a kept-alive connection
        if self.server.access.login_to_read and self._login() is None:
            self._plain(HTTPStatus.UNAUTHORIZED, "a valid login is needed\n", body,
                        headers={"WWW-Authenticate": 'Basic realm="pipwrap"'})
            return
        path = unquote(self.path.split("?", 1)[0].split("#", 1)[0])
        if path in ("/", ""):
            self._redirect(HTTPStatus.FOUND, "/simple/")
            return
        parts = path.split("/")
        if len(parts) < 2 or parts[1] != "simple" or any(
                p in (".", "..") or _UNSAFE.search(p) for p in parts):
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
        elif (len(rest) == 2 and rest[0] == normalize(rest[0]) and not rest[1].startswith(".")
              and _published(rest[1])):
            self._file(os.path.join(self.server.root, rest[0], rest[1]), body)
        elif (len(rest) == 3 and self.server.mirror is not None and rest[0] == normalize(rest[0])
              and _SHA256.fullmatch(rest[1]) and not rest[2].startswith(".")
              and _published(rest[2])):
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
        # The directory, not its page, decides: between `repo add` copying a file in and
        # the page being written, the project is already ours and must not go upstream.
        if os.path.isdir(directory) and not os.path.islink(directory):
            self._page(directory, body)
        elif self.server.mirror is not None:
            self._mirrored_page(self.server.mirror, project, body)
        elif self.server.fallback:
            self._redirect(HTTPStatus.SEE_OTHER, f"{self.server.fallback}{project}/")
        else:
            self._not_found(body)

    def _page(self, directory: str, body: bool) -> None:
        chosen = negotiate(self.headers.get("Accept"))
        if chosen is None:
            self._plain(HTTPStatus.NOT_ACCEPTABLE,
                        f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n", body)
            return
        name = "index.json" if chosen == pages.JSON_TYPE else "index.html"
        self._chosen = f" {name}"
        try:
            with open(os.path.join(directory, name), "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            self._not_found(body)
            return
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", f"{chosen}; charset=utf-8"
                         if chosen == "text/html" else chosen)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "Accept")
        self.end_headers()
        if body:
            self.wfile.write(data)

    def _file(self, path: str, body: bool) -> None:
        if os.path.islink(os.path.dirname(path)):
            self._not_found(body)
            return
        try:
            # O_NOFOLLOW: a symbolic link planted in the tree must not serve what it names.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            handle = os.fdopen(fd, "rb")
        except OSError:  # missing, a link, a directory, a name too long...
            self._not_found(body)
            return
        with handle:
            status = os.fstat(handle.fileno())
            if not _regular(status.st_mode):
                self._not_found(body)
                return
            self.send_response(HTTPStatus.OK)
            kind = "text/plain; charset=utf-8" if path.endswith(".metadata") \
                else "application/octet-stream"
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(status.st_size))
            self.send_header("Last-Modified", self.date_time_string(int(status.st_mtime)))
            self.end_headers()
            if body:
                shutil.copyfileobj(handle, self.wfile)

    def _mirrored_page(self, cache: Mirror, project: str, body: bool) -> None:
        try:
            directory = cache.page_dir(project)
        except cache.NotFound:
            self._not_found(body)
            return
        except cache.Unavailable as exc:
            self._plain(HTTPStatus.BAD_GATEWAY, f"{exc}\n", body, reason="upstream unreachable")
            return
        self._chosen = " (cache)"
        self._page(directory, body)

    def _cached_file(self, cache: Mirror, project: str, sha256: str, filename: str,
                     body: bool) -> None:
        """A fallback file by the hash its page gave: from the cache, else fetched."""
        directory = os.path.join(self.server.root, project)
        if os.path.isdir(directory):  # held here: upstream files never show (local-first)
            self._not_found(body)
            return
        metadata = filename.endswith(".metadata")
        blob = cache.blob(sha256, metadata)
        if os.path.exists(blob):
            self._file(blob, body)
            return
        try:
            entry = cache.entry(project, sha256, filename.removesuffix(".metadata"))
            if entry is None:
                self._not_found(body)
                return
            response, size, expected = cache.fetch(entry, metadata)
        except cache.NotFound:
            self._not_found(body)
            return
        except cache.Unavailable as exc:
            self._plain(HTTPStatus.BAD_GATEWAY, f"{exc}\n", body, reason="upstream unreachable")
            return
        self._chosen = " (cache: fetched)"
        with response:  # type: ignore[attr-defined]
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/plain; charset=utf-8" if metadata
                             else "application/octet-stream")
            chunked = size is None
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(size))
            self.end_headers()
            send = None
            if body:
                send = self._chunk if chunked else self.wfile.write
            try:
                cache.stream(response, expected, blob, send)
            except (cache.Mismatch, OSError) as exc:
                cache.log(f"refused {project}/{filename}: {exc}; not cached")
                self.close_connection = True  # the client sees a cut-off response
                return
            if chunked and body:
                self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _redirect(self, status: HTTPStatus, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", quote(location, safe="/:@!$&'()*+,;=%~?"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_found(self, body: bool) -> None:
        self._plain(HTTPStatus.NOT_FOUND, "not found\n", body)

    def _plain(self, status: HTTPStatus, text: str, body: bool, *, reason: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        data = text.encode()
        if reason is not None:  # twine prints the status line's reason: one safe line
            reason = _UNSAFE_REASON.sub(" ", reason)[:300].encode("latin-1", "replace"
                                                                  ).decode("latin-1")
        self.send_response(status, reason)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(data)


def _published(filename: str) -> bool:
    """Only what the index links to: distributions and their metadata files."""
    return looks_like_distribution(filename.removesuffix(".metadata"))


def _regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


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
        sys.stderr.write(f"pipwrap serve: re-indexed ({len(report.written)} files written)\n")


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
    except FileNotFoundError as exc:
        raise PipwrapError(f"serve: --tls-cert/--tls-key: {exc.filename}: no such file"
                           ) from None
    except (ssl.SSLError, OSError) as exc:
        raise PipwrapError(f"serve: cannot use the TLS certificate {cert}"
                           f"{' and key ' + key if key else ''}: {exc}") from None
    return context


def serve(root: str, host: str, port: int, fallback: str | None, verbose: bool,
          access: Access | None = None, cache_ttl: float | None = None,
          tls: ssl.SSLContext | None = None) -> int:
    import errno
    import signal

    os.makedirs(root, exist_ok=True)
    upload.clear_spool(root)
    if not os.path.exists(os.path.join(root, "index.html")):
        _report(index.build(root), verbose)  # a new tree: its pages before its first client
    mirror = None
    if fallback and cache_ttl is not None:
        from pipwrap.repo.mirror import Mirror

        mirror = Mirror(root, fallback, cache_ttl)
    try:
        server = RepoServer((host, port), root, fallback, verbose, access, mirror)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PipwrapError(f"serve: port {port} on {host} is already in use (another "
                               "`pipwrap serve`?); choose one with --port") from None
        raise PipwrapError(f"serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    if tls is not None:
        # The handshake happens in the connection's own thread, on its first read (with
        # the connection's timeout), so a slow client never holds up accept().
        server.socket = tls.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    bound_port = server.server_address[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"{'https' if tls else 'http'}://{shown_host}:{bound_port}/simple/"
    where = f"falling back to {fallback}" if fallback else "no fallback"
    if mirror is not None:
        where = (f"caching {mirror.upstream} for projects not held here; clients never "
                 f"contact it; pages revalidated after {cache_ttl:g} s")
    sys.stderr.write(f"pipwrap serve: {root} at {url} ({where}); Ctrl-C stops\n")
    if server.access.uploads:
        who = "with a login" if server.access.login_to_upload else "from anyone, no login"
        sys.stderr.write(f"pipwrap serve: uploads at {url.removesuffix('simple/')} "
                         f"(twine, uv publish...) {who}\n")
    if server.access.logins is not None and tls is None \
            and host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write("pipwrap serve: warning: logins cross the network in clear; use "
                         "--tls-cert/--tls-key or a TLS front (docs/hosting-team.md)\n")
    if host not in ("127.0.0.1", "::1", "localhost"):
        sys.stderr.write(f"pipwrap serve: warning: listening on {host}, not only on this "
                         "machine\n")
    sys.stderr.flush()

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

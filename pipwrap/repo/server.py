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
from pipwrap.repo import index, pages
from pipwrap.repo.distfile import PROJECT_NAME, looks_like_distribution, normalize

WATCH_INTERVAL = 1.0

# Control characters and spaces (decoded from %0d%0a...) could split a redirect's headers.
_UNSAFE = re.compile(r"[\x00-\x20\x7f]")
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
                 verbose: bool) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        self.root = root
        self.fallback = fallback
        self.verbose = verbose
        super().__init__(address, Handler)


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

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} {format % args}{self._chosen}\n")

    def _route(self, *, body: bool) -> None:
        self._chosen = ""  # one handler serves every request of a kept-alive connection
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

    def _redirect(self, status: HTTPStatus, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", quote(location, safe="/:@!$&'()*+,;=%~?"))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_found(self, body: bool) -> None:
        self._plain(HTTPStatus.NOT_FOUND, "not found\n", body)

    def _plain(self, status: HTTPStatus, text: str, body: bool) -> None:
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
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


def serve(root: str, host: str, port: int, fallback: str | None, verbose: bool) -> int:
    import errno
    import signal

    os.makedirs(root, exist_ok=True)
    if not os.path.exists(os.path.join(root, "index.html")):
        _report(index.build(root), verbose)  # a new tree: its pages before its first client
    try:
        server = RepoServer((host, port), root, fallback, verbose)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PipwrapError(f"serve: port {port} on {host} is already in use by "
                               f"{_listener(port)}; choose another with --port") from None
        raise PipwrapError(f"serve: cannot listen on {host}:{port}: {exc.strerror}") from None
    bound_port = server.server_address[1]
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/simple/"
    where = f"falling back to {fallback}" if fallback else "no fallback"
    sys.stderr.write(f"pipwrap serve: {root} at {url} ({where}); Ctrl-C stops\n")
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

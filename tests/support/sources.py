"""Stand-ins for a profile with several sources (issue 24): a static first source, an
upstream "PyPI" with upload times, and a first source that answers 500 to everything.

* The first source is the plainest static server there is, ``python -m http.server`` over a
  PEP 503 tree (``static_index.tree``): HTML only, no upload times, and no fallback logic of
  its own (a name it does not hold is a 404).
* The upstream serves the simple API as PyPI does: PEP 691 JSON with PEP 700 ``upload-time``,
  ``size`` and ``versions`` to a client that prefers it, PEP 503 HTML (which carries no upload
  time) to one that asks for HTML, q-values honoured; its files live on a second origin (as
  PyPI's on files.pythonhosted.org), so a client follows absolute URLs to another port. It
  keeps the paths it was asked for, so a test can say nothing reached it.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import html
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.static_index import normalize

JSON_TYPE = "application/vnd.pypi.simple.v1+json"
HTML_TYPE = "application/vnd.pypi.simple.v1+html"


@dataclass(frozen=True)
class Upload:
    path: Path  # the wheel or sdist
    uploaded: datetime.datetime

    @property
    def project(self) -> str:
        return normalize(self.path.name.split("-")[0])

    @property
    def version(self) -> str:
        return self.path.name.split("-")[1].removesuffix(".tar.gz")


def ago(**delta: float) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(**delta)


def _preferred(accept: str) -> str:
    """The simple-API form a client's Accept header prefers (JSON on a tie, as PyPI)."""
    best, best_q = HTML_TYPE, -1.0
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            if param.startswith("q="):
                with contextlib.suppress(ValueError):
                    q = float(param[2:])
        form = {JSON_TYPE: JSON_TYPE, HTML_TYPE: HTML_TYPE, "text/html": "text/html",
                "*/*": HTML_TYPE}.get(kind)
        if form and (q > best_q or (q == best_q and form == JSON_TYPE)):
            best, best_q = form, q
    return best


@dataclass
class Upstream:
    """The upstream's state: its uploads, where its pages and files are, what it was asked."""

    uploads: list[Upload]
    url: str = ""  # .../simple/
    files_base: str = ""  # http://127.0.0.1:PORT (the files' origin)
    requests: list[str] = field(default_factory=list)

    def page(self, project: str, form: str) -> tuple[bytes, str] | None:
        mine = [u for u in self.uploads if u.project == project]
        if not mine:
            return None
        digests = {u.path.name: hashlib.sha256(u.path.read_bytes()).hexdigest() for u in mine}
        if form == JSON_TYPE:
            files = [{"filename": u.path.name, "url": self.file_url(u),
                      "hashes": {"sha256": digests[u.path.name]}, "size": u.path.stat().st_size,
                      "upload-time": u.uploaded.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
                     for u in mine]
            body = {"meta": {"api-version": "1.1"}, "name": project,
                    "versions": sorted({u.version for u in mine}), "files": files}
            return json.dumps(body).encode(), JSON_TYPE
        # PEP 503 HTML carries no upload time: a client that asks for HTML cannot see one.
        links = "".join(f'<a href="{html.escape(self.file_url(u))}#sha256={digests[u.path.name]}">'
                        f'{html.escape(u.path.name)}</a><br>\n' for u in mine)
        text = ('<!DOCTYPE html><html><head><meta name="pypi:repository-version" '
                f'content="1.1"></head><body>\n{links}</body></html>\n')
        return text.encode(), form

    def file_url(self, upload: Upload) -> str:
        return f"{self.files_base}/packages/{upload.path.name}"

    def file(self, name: str) -> Path | None:
        return next((u.path for u in self.uploads if u.path.name == name), None)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain",
              **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._send(404, b"not found")

    def do_HEAD(self) -> None:
        self.do_GET()


class _UpstreamHandler(_Handler):
    upstream: Upstream

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        self.upstream.requests.append(path)
        parts = path.strip("/").split("/")
        if parts[0] == "packages" and len(parts) == 2:
            found = self.upstream.file(parts[1])
            if found is None:
                self._send(404, b"no such file")
            else:
                self._send(200, found.read_bytes(), "application/octet-stream")
            return
        if parts[0] != "simple" or len(parts) > 2:
            self._send(404, b"not found")
            return
        form = _preferred(self.headers.get("Accept", ""))
        if len(parts) == 1:
            names = sorted({u.project for u in self.upstream.uploads})
            if form == JSON_TYPE:
                body = json.dumps({"meta": {"api-version": "1.1"},
                                   "projects": [{"name": n} for n in names]}).encode()
            else:
                body = "".join(f'<a href="{n}/">{n}</a>\n' for n in names).encode()
            self._send(200, body, form)
            return
        if normalize(parts[1]) != parts[1] or not path.endswith("/"):
            self._send(301, Location=f"/simple/{normalize(parts[1])}/")
            return
        page = self.upstream.page(parts[1], form)
        if page is None:
            self._send(404, b"not found")
        else:
            self._send(200, page[0], page[1])


class _FailingHandler(_Handler):
    def do_GET(self) -> None:
        self._send(500, b"internal server error\n")


@contextlib.contextmanager
def thread_server(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """``handler`` on a free loopback port, in threads; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def serve_upstream(uploads: list[Upload]) -> Iterator[Upstream]:
    """The upstream: its pages on one port, its files on another."""
    upstream = Upstream(uploads)
    handler = type("Handler", (_UpstreamHandler,), {"upstream": upstream})
    with thread_server(handler) as pages, thread_server(handler) as files:
        upstream.url, upstream.files_base = f"{pages}/simple/", files
        yield upstream


@contextlib.contextmanager
def failing_index() -> Iterator[str]:
    """An index URL whose server answers 500 to every request."""
    with thread_server(_FailingHandler) as base:
        yield f"{base}/simple/"

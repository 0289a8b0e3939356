"""An index whose one file arrives slowly: a command is still downloading it while a
journey does something else (kills the fence agent, uses another shell)."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SlowIndex:
    url: str
    hold: float  # seconds the file's second half waits
    started: threading.Event = field(default_factory=threading.Event)


@contextlib.contextmanager
def slow_index(wheel: Path, hold: float) -> Iterator[SlowIndex]:
    """Serve ``wheel`` under /simple/<its name>/: half the file at once, the rest after
    ``hold`` seconds (``started`` is set when the first half has gone out)."""
    data = wheel.read_bytes()
    project = wheel.name.split("-")[0].replace("_", "-")
    digest = hashlib.sha256(data).hexdigest()
    page = (f'<html><body><a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'
            "</body></html>\n").encode()
    index = SlowIndex("", hold)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.path == f"/simple/{project}/":
                self._send(page, "text/html")
            elif self.path == f"/files/{wheel.name}":
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                index.started.set()
                time.sleep(index.hold)
                with contextlib.suppress(OSError):
                    self.wfile.write(data[len(data) // 2:])
            else:
                self._send(b"not here\n", "text/plain", 404)

        def _send(self, body: bytes, kind: str, status: int = 200) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    index.url = f"http://127.0.0.1:{server.server_address[1]}/simple/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield index
    finally:
        server.shutdown()
        server.server_close()

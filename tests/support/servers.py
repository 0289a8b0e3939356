"""Real pypiserver processes on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PyPIServer:
    def __init__(self, root: Path, *, fallback: str | None = None) -> None:
        self.root = root
        self.fallback = fallback
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def start(self) -> None:
        for _ in range(5):
            self.port = free_port()
            argv = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1",
                    "-p", str(self.port), "-a", ".", "-P", ".", "--server", "wsgiref"]
            argv += ["--fallback-url", self.fallback] if self.fallback else ["--disable-fallback"]
            argv.append(str(self.root))
            env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, env=env)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError("pypiserver did not start")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError), urllib.request.urlopen(self.url, timeout=2) as r:
                if r.status == 200:
                    return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def serving(root: Path, *, fallback: str | None = None) -> Iterator[PyPIServer]:
    server = PyPIServer(root, fallback=fallback)
    server.start()
    try:
        yield server
    finally:
        server.stop()

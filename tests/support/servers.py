"""Real pypiserver processes on free loopback ports."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PyPIServer:
    def __init__(self, root: Path, *, fallback: str | None = None,
                 htpasswd: Path | None = None) -> None:
        self.root = root
        self.fallback = fallback
        self.htpasswd = htpasswd
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/simple/"

    def start(self) -> None:
        for _ in range(5):
            self.port = free_port()
            auth = ["-a", "list,download,update", "-P", str(self.htpasswd)] if self.htpasswd \
                else ["-a", ".", "-P", "."]
            argv = [sys.executable, "-m", "pypiserver", "run", "-i", "127.0.0.1",
                    "-p", str(self.port), *auth, "--server", "wsgiref"]
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
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        return True
            except urllib.error.HTTPError as exc:
                if exc.code == 401 and self.htpasswd is not None:
                    return True  # up, and asking for the login as it should
            except OSError:
                pass
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
def serving(root: Path, *, fallback: str | None = None,
            htpasswd: Path | None = None) -> Iterator[PyPIServer]:
    server = PyPIServer(root, fallback=fallback, htpasswd=htpasswd)
    server.start()
    try:
        yield server
    finally:
        server.stop()

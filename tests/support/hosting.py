"""Real servers over a repository tree: `pipwrap serve`, `python -m http.server`, nginx."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.servers import free_port


class Served:
    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process = process
        self.base = base  # http://127.0.0.1:PORT
        self.log = log

    @property
    def url(self) -> str:
        return f"{self.base}/simple/"

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer")


def _stop(process: subprocess.Popen[bytes], how: int = signal.SIGINT) -> None:
    """Ctrl-C for Python servers; nginx stops gracefully on SIGQUIT."""
    if process.poll() is None:
        process.send_signal(how)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def child_env(home: Path) -> dict[str, str]:
    from tests.support import shells

    return {**shells.isolated_env(home), "PATH": os.environ["PATH"]}


@contextlib.contextmanager
def pipwrap_serve(root: Path, log: Path, *extra: str, port: int = 0,
                  env: dict[str, str] | None = None) -> Iterator[Served]:
    port = port or free_port()
    root.mkdir(parents=True, exist_ok=True)  # serve refuses a --repo that does not exist
    argv = [sys.executable, "-m", "pipwrap", "serve", "--repo", str(root), "--port", str(port),
            "-v", *extra]
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink, env=env,
                                   start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/simple/", process)
        yield Served(process, base, log)
    finally:
        _stop(process)


@contextlib.contextmanager
def http_server(root: Path) -> Iterator[str]:
    """The plainest static server there is, rooted at the tree: its URL is the index."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
         "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(f"http://127.0.0.1:{port}/", process)
        yield f"http://127.0.0.1:{port}/"
    finally:
        _stop(process)


@contextlib.contextmanager
def nginx(root: Path, prefix: Path, fallback: str | None, *, user: str | None = None,
          conf_text: str | None = None) -> Iterator[str]:
    """Debian's nginx with the configuration `pipwrap repo nginx-conf` prints.

    ``user``: the workers' user when running as root (default root, who can read a
    private tmp dir; ``nobody`` makes the tree unreadable to them). ``conf_text``: use
    this configuration instead (its listen address is replaced).
    """
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    prefix.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = ["--fallback", fallback] if fallback else ["--no-fallback"]
    conf = subprocess.run(
        [sys.executable, "-m", "pipwrap", "repo", "nginx-conf", "--repo", str(root),
         "--listen", f"127.0.0.1:{port}", "--standalone", str(prefix), *args],
        capture_output=True, text=True, check=True).stdout
    if conf_text is not None:
        import re

        conf = re.sub(r"listen [^;]+;", f"listen 127.0.0.1:{port};", conf_text)
    if os.geteuid() == 0:
        # As root, nginx's workers drop to `nobody`, who cannot read a private tmp dir.
        conf = f"user {user or 'root'};\n" + conf
    (prefix / "nginx.conf").write_text(conf)
    process = subprocess.Popen([binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                                "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    try:
        wait_for(f"http://127.0.0.1:{port}/simple/", process)
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        _stop(process, signal.SIGQUIT)

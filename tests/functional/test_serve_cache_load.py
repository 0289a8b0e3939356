"""`serve --cache` under load (issue 23's goals): what is already cached keeps answering
while an upstream trickles bytes into every fetch, and clients reading a big cached file
slowly cost no memory per byte not yet read. Real servers on 127.0.0.1, raw sockets for
the slow readers."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.functional.test_serve_cache import Trees, make_trees
from tests.functional.test_serve_cache_upstream import (
    Route,
    fetch,
    page,
    rss_peak_mb,
    send,
    trickle,
    upstream,
)
from tests.support import hosting

__all__ = ["upstream"]  # fixture
Upstream = Callable[[dict[str, Route]], tuple[str, list[str]]]


@pytest.fixture
def trees(tmp_path: Path, venv: Path) -> Trees:
    return make_trees(tmp_path, venv)


def test_a_cached_page_answers_while_trickling_fetches_hold_every_fetch_thread(
    trees: Trees, upstream: Upstream
) -> None:
    """Before: answering a fresh cached page went through the pool of page fetches,
    which 12 fetches of a trickling upstream held for --cache-timeout: no answer in 5 s."""
    wheel = b"PK fine"
    name = "fine-1.0-py3-none-any.whl"
    routes = {f"/simple/slow{i}/": trickle() for i in range(12)}
    routes["/simple/fine/"] = send(page("fine", [(name, f"/files/{name}", wheel)]))
    base, _ = upstream(routes)
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                               f"{base}/simple/", "--cache", env=trees.env) as served:
        assert fetch(f"{served.url}fine/")[0] == 200  # cached (fresh for --cache-ttl)
        threads = [threading.Thread(target=fetch, args=(f"{served.url}slow{i}/",),
                                    daemon=True) for i in range(12)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)  # every fetch thread is now waiting on the trickle
        answers = [fetch(f"{served.url}fine/", timeout=5) for _ in range(5)]
        assert all(status == 200 and name.encode() in body for status, body, _ in answers), \
            [(status, body[:100], took) for status, body, took in answers]
        assert any(thread.is_alive() for thread in threads)  # the load was still on


def test_slow_readers_of_a_big_cached_file_cost_no_memory_per_unread_byte(
    trees: Trees, upstream: Upstream
) -> None:
    """Before: each cached file was handed to the engine chunk by chunk as fast as it
    could be read, and granian buffers what it is handed: 20 clients reading a 24 MiB
    file slowly took serve to ~490 MB."""
    big = hashlib.sha512(b"big").digest() * (24 * 2**20 // 64)
    small = b"PK small"
    names = {"big": "big-1.0-py3-none-any.whl", "small": "small-1.0-py3-none-any.whl"}
    routes = {f"/files/{names['big']}": send(big, "application/octet-stream"),
              f"/files/{names['small']}": send(small, "application/octet-stream")}
    for project, data in (("big", big), ("small", small)):
        routes[f"/simple/{project}/"] = send(page(project, [
            (names[project], f"/files/{names[project]}", data)]))
    base, _ = upstream(routes)
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                               f"{base}/simple/", "--cache", env=trees.env) as served:
        paths = {}
        for project, data in (("big", big), ("small", small)):
            assert fetch(f"{served.url}{project}/")[0] == 200
            paths[project] = (f"/simple/{project}/{hashlib.sha256(data).hexdigest()}/"
                              f"{names[project]}")
            status, body, _ = fetch(f"{served.url.removesuffix('/simple/')}{paths[project]}")
            assert status == 200 and body == data  # fetched and cached
        port = int(served.base.rsplit(":", 1)[1])
        readers = []
        try:
            for _ in range(20):
                sock = socket.socket()
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.settimeout(5)
                sock.connect(("127.0.0.1", port))
                sock.sendall(f"GET {paths['big']} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                readers.append(sock)
            peak = 0.0
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline:
                for sock in readers:
                    with contextlib.suppress(OSError):
                        sock.recv(1024)
                peak = max(peak, rss_peak_mb(served.process.pid, "VmRSS"))
                time.sleep(0.2)
            status, body, took = fetch(
                f"{served.url.removesuffix('/simple/')}{paths['small']}", timeout=5)
            assert status == 200 and body == small, (status, body[:100], took)
            peak = max(peak, rss_peak_mb(served.process.pid, "VmRSS"))
            assert peak <= 100, f"serve's RSS {peak:.0f} MB with 20 slow readers"
        finally:
            for sock in readers:
                sock.close()
        assert "Traceback" not in served.log_text()

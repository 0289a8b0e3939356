"""`pipwrap serve --cache`: the fallback fetched and cached by serve itself, with pip and uv
as clients that can reach nothing but serve; the upstream stopped halfway; a staged
dependency confusion; a tampered upstream file; the cold fetch streamed."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.support import hosting
from tests.support.sandbox import installed, uv_dir
from tests.support.uploads import big_wheel
from tests.support.wheels import make_wheel

JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Trees:
    upstream: Path  # pipwrap tree: Foo 9.9.9 (evil), bar-baz 2.0, qux 1.0, late 9.0
    local: Path  # Foo 1.0
    env: dict[str, str]
    python: Path
    base: Path


def pipwrap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture
def trees(tmp_path: Path, venv: Path) -> Trees:
    return make_trees(tmp_path, venv)


def make_trees(tmp_path: Path, venv: Path) -> Trees:
    home = tmp_path / "home"
    home.mkdir()
    env = {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    up, local = tmp_path / "up-dist", tmp_path / "local-dist"
    make_wheel(up, "Foo", "9.9.9", "evil")
    make_wheel(up, "bar-baz", "2.0", "upstream")
    make_wheel(up, "qux", "1.0", "upstream")
    make_wheel(up, "late", "9.0", "evil")
    make_wheel(local, "Foo", "1.0", "local")
    for dist, root in ((up, tmp_path / "upstream"), (local, tmp_path / "repo")):
        done = pipwrap(env, "repo", "add", "--repo", str(root), *map(str, sorted(dist.iterdir())))
        assert done.returncode == 0, done.stderr
    return Trees(tmp_path / "upstream", tmp_path / "repo", env, venv / "bin" / "python",
                 tmp_path)


def pip(trees: Trees, index: str, target: Path, *names: str) -> subprocess.CompletedProcess[str]:
    # No retries: a 502 or a cut-off file is the answer under test, not a glitch.
    return subprocess.run([str(trees.python), "-m", "pip", "install", "--no-cache-dir",
                           "--retries", "0", "--index-url", index, "--target", str(target),
                           *names],
                          env=trees.env, capture_output=True, text=True, check=False)


def uv(trees: Trees, index: str, target: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(uv_dir() / "uv"), "pip", "install", "--no-cache", "--python",
                           str(trees.python), "--index-url", index, "--target", str(target),
                           *names], env={**trees.env, "UV_HTTP_RETRIES": "0"},
                          capture_output=True, text=True, check=False)


def get(url: str, accept: str = JSON) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def cached_blobs(root: Path) -> list[str]:
    files = root / ".pipwrap" / "cache" / "files"
    return sorted(p.name for p in files.rglob("*") if p.is_file()) if files.exists() else []


def test_pip_and_uv_install_through_the_cache_with_the_upstream_stopped_halfway(
    trees: Trees
) -> None:
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                  "--cache", "--cache-ttl", "0", env=trees.env) as served:
        done = pip(trees, served.url, base / "p1", "bar-baz")
        assert done.returncode == 0, done.stderr
        assert installed(base / "p1", "bar_baz") == ("upstream", "2.0")
        # The page names only serve: clients never learn, nor contact, the upstream.
        for accept in (JSON, "text/html"):
            status, body = get(f"{served.url}bar-baz/", accept)
            assert status == 200 and b"bar_baz-2.0" in body
            assert up.base.encode() not in body and b"http" not in body.replace(
                b"pypi:repository-version", b"")
        assert "bar-baz" in up.log_text()  # serve fetched it; pip never saw the upstream
        # PEP 700 as the upstream gave it: uv --exclude-newer works through the cache.
        entry = json.loads(get(f"{served.url}bar-baz/")[1])["files"][0]
        assert entry["upload-time"] and entry["size"] > 0
        done = uv(trees, served.url, base / "old", "--exclude-newer", "2000-01-01", "bar-baz")
        assert done.returncode != 0 and "bar-baz" in done.stderr, done.stderr
        sha = hashlib.sha256((trees.upstream / "bar-baz" / "bar_baz-2.0-py3-none-any.whl")
                             .read_bytes()).hexdigest()
        assert sha in cached_blobs(trees.local)
        assert not (trees.local / "bar-baz").exists()  # the cache is not the tree

        hosting._stop(up.process)  # the upstream goes away halfway
        done = pip(trees, served.url, base / "p2", "bar-baz")
        assert done.returncode == 0, done.stderr
        done = uv(trees, served.url, base / "u2", "bar-baz")
        assert done.returncode == 0, done.stderr
        assert installed(base / "u2", "bar_baz") == ("upstream", "2.0")
        assert "serving the page cached at" in served.log_text()

        done = pip(trees, served.url, base / "p3", "qux")
        assert done.returncode != 0 and "No matching distribution found for qux" in done.stderr
        # pip prints nothing about a failed page but its Content-Type (test_serve_ux.py)
        assert "qux is not cached here" in done.stderr, done.stderr
        assert '"GET /simple/qux/ HTTP/1.1" 200 - (cache: nothing cached, upstream ' \
            'unreachable)' in served.log_text()
        assert "qux" in served.log_text() and "nothing cached for it" in served.log_text()
        done = uv(trees, served.url, base / "u3", "qux")
        assert done.returncode != 0 and "502" in done.stderr, done.stderr
        assert not (base / "p3").exists() or not list((base / "p3").iterdir())


def test_dependency_confusion_through_the_cache_local_wins(trees: Trees) -> None:
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                  "--cache", env=trees.env) as served:
        done = pip(trees, served.url, base / "p", "foo")
        assert done.returncode == 0, done.stderr
        assert installed(base / "p") == ("local", "1.0")
        done = uv(trees, served.url, base / "u", "foo")
        assert done.returncode == 0, done.stderr
        assert installed(base / "u") == ("local", "1.0")
        for accept in (JSON, "text/html"):
            status, body = get(f"{served.url}foo/", accept)
            assert status == 200 and b"9.9.9" not in body
        assert not (trees.local / ".pipwrap" / "cache" / "pages" / "foo").exists()
        assert "/simple/foo/" not in up.log_text()  # never even asked upstream

        # A project cached first, then published here: from then on only ours shows.
        done = pip(trees, served.url, base / "late1", "late")
        assert installed(base / "late1", "late") == ("evil", "9.0"), done.stderr
        evil_sha = hashlib.sha256((trees.upstream / "late" / "late-9.0-py3-none-any.whl")
                                  .read_bytes()).hexdigest()
        assert evil_sha in cached_blobs(trees.local)
        ours = make_wheel(base / "ours", "late", "1.0", "local")
        done = pipwrap(trees.env, "repo", "add", "--repo", str(trees.local), str(ours))
        assert done.returncode == 0, done.stderr
        status, body = get(f"{served.url}late/")
        assert status == 200 and [f["filename"] for f in json.loads(body)["files"]] == [
            "late-1.0-py3-none-any.whl"]
        status, _ = get(f"{served.url}late/{evil_sha}/late-9.0-py3-none-any.whl")
        assert status == 404  # the cached upstream file is gone for a held project
        done = pip(trees, served.url, base / "late2", "late")
        assert installed(base / "late2", "late") == ("local", "1.0"), done.stderr


def test_a_tampered_upstream_file_is_refused_and_not_cached(trees: Trees) -> None:
    """An HTML-only upstream (a static server over a tree) whose qux wheel no longer has
    the bytes its page promises: the client gets a cut-off response, the cache nothing."""
    qux = trees.upstream / "qux" / "qux-1.0-py3-none-any.whl"
    promised = hashlib.sha256(qux.read_bytes()).hexdigest()
    other = make_wheel(trees.base / "tamper", "qux", "1.0", "tampered")
    qux.write_bytes(other.read_bytes())
    base = trees.base
    with hosting.http_server(trees.upstream) as static, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", static,
                                  "--cache", env=trees.env) as served:
        status, body = get(f"{served.url}qux/", "text/html")
        assert status == 200 and promised.encode() in body
        port = int(served.base.rsplit(":", 1)[1])
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", f"/simple/qux/{promised}/qux-1.0-py3-none-any.whl")
        response = connection.getresponse()
        with pytest.raises(http.client.IncompleteRead):
            response.read()
        connection.close()
        assert promised not in cached_blobs(trees.local)
        assert not [b for b in cached_blobs(trees.local) if b.endswith(".tmp")]
        assert "refused qux/qux-1.0-py3-none-any.whl" in served.log_text()
        done = pip(trees, served.url, base / "p", "qux")
        assert done.returncode != 0 and installed(base / "p", "qux") is None
        done = uv(trees, served.url, base / "u", "qux")
        assert done.returncode != 0 and installed(base / "u", "qux") is None
        # An untampered project from the same HTML upstream installs.
        done = pip(trees, served.url, base / "ok", "bar-baz")
        assert installed(base / "ok", "bar_baz") == ("upstream", "2.0"), done.stderr


class _Slow(BaseHTTPRequestHandler):
    """An upstream that sends its one file slowly (8 pieces, 0.25 s apart)."""

    protocol_version = "HTTP/1.1"
    wheel: bytes = b""
    name = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == "/simple/slow/":
            digest = hashlib.sha256(self.wheel).hexdigest()
            page = json.dumps({"meta": {"api-version": "1.0"}, "name": "slow", "files": [
                {"filename": self.name, "url": f"/files/{self.name}",
                 "hashes": {"sha256": digest}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", JSON)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)
            return
        if self.path != f"/files/{self.name}":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.wheel)))
        self.end_headers()
        step = len(self.wheel) // 8 + 1
        for start in range(0, len(self.wheel), step):
            self.wfile.write(self.wheel[start:start + step])
            self.wfile.flush()
            time.sleep(0.25)


@pytest.fixture
def slow_upstream(tmp_path: Path) -> Iterator[tuple[str, bytes]]:
    wheel = big_wheel(tmp_path / "slow", "slow", "1.0", 4 * 1024 * 1024)
    handler = type("Handler", (_Slow,), {"wheel": wheel.read_bytes(), "name": wheel.name})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/simple/", wheel.read_bytes()
    finally:
        server.shutdown()
        server.server_close()


def test_the_cold_fetch_streams_to_the_client_while_it_is_cached(
    trees: Trees, slow_upstream: tuple[str, bytes]
) -> None:
    upstream, data = slow_upstream
    digest = hashlib.sha256(data).hexdigest()
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback", upstream,
                               "--cache", env=trees.env) as served:
        status, body = get(f"{served.url}slow/")
        href = json.loads(body)["files"][0]["url"]
        assert status == 200 and href == f"{digest}/slow-1.0-py3-none-any.whl"
        started = time.monotonic()
        with urllib.request.urlopen(f"{served.url}slow/{href}", timeout=30) as response:
            first = response.read(1)
            first_byte = time.monotonic() - started
            rest = response.read()
        total = time.monotonic() - started
        assert first + rest == data
        assert total >= 1.5  # the upstream's pace
        assert first_byte < 0.75, (first_byte, total)  # not after the whole download
        assert digest in cached_blobs(trees.local)
        started = time.monotonic()
        with urllib.request.urlopen(f"{served.url}slow/{href}", timeout=30) as response:
            assert response.read() == data
        assert time.monotonic() - started < 0.5  # from the cache now


class _Validating(BaseHTTPRequestHandler):
    """An upstream page with an ETag that answers 304 to a matching If-None-Match."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[str | None]] = []
    wheel: bytes = b""
    name = ""

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path != "/simple/valid/":
            self.send_error(404)
            return
        self.seen.append(self.headers.get("If-None-Match"))
        if self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        digest = hashlib.sha256(self.wheel).hexdigest()
        page = (f'<a href="/files/{self.name}#sha256={digest}">{self.name}</a>').encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)


def test_cached_pages_are_revalidated_with_conditional_requests(trees: Trees) -> None:
    wheel = make_wheel(trees.base / "valid", "valid", "1.0", "upstream")
    handler = type("Handler", (_Validating,), {"seen": [], "wheel": wheel.read_bytes(),
                                               "name": wheel.name})
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{upstream.server_address[1]}/simple/"
    try:
        with hosting.pipwrap_serve(trees.local, trees.base / "a.log", "--fallback", url,
                                   "--cache", "--cache-ttl", "0", env=trees.env) as served:
            for _ in range(3):
                status, body = get(f"{served.url}valid/")
                assert status == 200 and wheel.name in body.decode()
        assert handler.seen == [None, '"v1"', '"v1"']  # then 304s: no page re-sent
        handler.seen.clear()
        with hosting.pipwrap_serve(trees.local, trees.base / "b.log", "--fallback", url,
                                   "--cache", "--cache-ttl", "600", env=trees.env) as served:
            for _ in range(3):
                assert get(f"{served.url}valid/")[0] == 200
        assert handler.seen == []  # fresh within the TTL: upstream not asked at all
    finally:
        upstream.shutdown()
        upstream.server_close()


def test_a_killed_downloads_temporary_file_is_removed_at_start(trees: Trees) -> None:
    files = trees.local / ".pipwrap" / "cache" / "files" / "ab"
    files.mkdir(parents=True)
    dead, live = files / ".dead.tmp", files / ".live.tmp"
    dead.write_bytes(b"half a wheel")
    live.write_bytes(b"being written")
    os.utime(dead, (time.time() - 3600, time.time() - 3600))
    with hosting.pipwrap_serve(trees.local, trees.base / "log", "--fallback",
                               "http://127.0.0.1:9/simple/", "--cache", env=trees.env):
        assert not dead.exists() and live.exists()


def test_kill_9_during_a_cold_fetch_never_leaves_a_partial_blob(
    trees: Trees, slow_upstream: tuple[str, bytes]
) -> None:
    import signal

    from tests.support.servers import free_port

    upstream, data = slow_upstream
    digest = hashlib.sha256(data).hexdigest()
    port = free_port()
    log = trees.base / "log"
    argv = [sys.executable, "-m", "pipwrap", "serve", "--repo", str(trees.local), "--port",
            str(port), "--fallback", upstream, "--cache"]
    url = f"http://127.0.0.1:{port}/simple/slow/{digest}/slow-1.0-py3-none-any.whl"
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=sink, env=trees.env)
    hosting.wait_for(f"http://127.0.0.1:{port}/simple/", process)
    response = urllib.request.urlopen(url, timeout=30)
    response.read(1024)  # the download is under way
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    response.close()
    blob = trees.local / ".pipwrap" / "cache" / "files" / digest[:2] / digest
    assert not blob.exists()  # only a temporary file, never served
    with hosting.pipwrap_serve(trees.local, trees.base / "log2", "--fallback", upstream,
                               "--cache", port=port, env=trees.env), \
            urllib.request.urlopen(url, timeout=30) as again:
        assert again.read() == data
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest


def test_a_private_upstream_with_a_login_is_cached_and_the_login_never_shown(
    trees: Trees
) -> None:
    from tests.support.uploads import sha_entry

    logins = trees.base / "htpasswd"
    logins.write_text(f"mirror:{sha_entry('s3cr3t-pw')}\n")
    base = trees.base
    refused = pipwrap(trees.env, "serve", "--repo", str(trees.local), "--fallback",
                      "http://mirror:s3cr3t-pw@127.0.0.1:9/simple/")
    assert refused.returncode != 0 and "serve --cache" in refused.stderr
    assert "s3cr3t-pw" not in refused.stderr
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload", env=trees.env) as up:
        # The password never on the command line (ps shows it): in the environment.
        private = up.url.replace("http://", "http://mirror@")
        with hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", private,
                                   "--cache", env={**trees.env,
                                                   "PIPWRAP_FALLBACK_PASSWORD": "s3cr3t-pw"}
                                   ) as served:
            done = pip(trees, served.url, base / "p", "bar-baz")
            assert done.returncode == 0, done.stderr + served.log_text()
            assert installed(base / "p", "bar_baz") == ("upstream", "2.0")
            for accept in (JSON, "text/html"):
                assert b"s3cr3t" not in get(f"{served.url}bar-baz/", accept)[1]
            assert "s3cr3t-pw" not in served.log_text()
            assert "mirror" not in served.log_text().split("\n")[0]

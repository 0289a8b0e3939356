"""Red-team findings against the hosting half (`pipwrap serve`, `repo nginx-conf`), each
staged with real parts: pip, uv and twine as clients, real servers, a hostile client on a
raw socket where the attack is the client itself. One test per finding; the fix commits
say "(red-team finding N)"."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.functional.test_serve_upload import twine  # --verbose: the refusal's body
from tests.support import hosting
from tests.support.sandbox import installed, uv_dir
from tests.support.uploads import sha_entry
from tests.support.wheels import make_wheel

JSON = "application/vnd.pypi.simple.v1+json"


@dataclass
class Stage:
    base: Path
    env: dict[str, str]
    python: Path


@pytest.fixture
def stage(tmp_path: Path, venv: Path) -> Stage:
    home = tmp_path / "home"
    home.mkdir()
    env = {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return Stage(tmp_path, env, venv / "bin" / "python")


def pipwrap(stage: Stage, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=stage.env,
                          capture_output=True, text=True, check=False)


def repo_with(stage: Stage, name: str, *wheels: tuple[str, str, str]) -> Path:
    """A pipwrap tree holding the given (project, version, origin) wheels."""
    dist = stage.base / f"{name}-dist"
    for project, version, origin in wheels:
        make_wheel(dist, project, version, origin)
    root = stage.base / name
    done = pipwrap(stage, "repo", "add", "--repo", str(root), *map(str, sorted(dist.iterdir())))
    assert done.returncode == 0, done.stderr
    return root


def pip(stage: Stage, index: str, target: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(stage.python), "-m", "pip", "install", "--no-cache-dir",
                           "--retries", "0", "--index-url", index, "--target", str(target),
                           *names], env=stage.env, capture_output=True, text=True, check=False)


def uv(stage: Stage, index: str, target: Path, *names: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(uv_dir() / "uv"), "pip", "install", "--no-cache", "--python",
                           str(stage.python), "--index-url", index, "--target", str(target),
                           *names], env={**stage.env, "UV_HTTP_RETRIES": "0"},
                          capture_output=True, text=True, check=False)


# -- finding 1: request bodies trickled a byte at a time held the connection slots -------


def _trickle(base: str, count: int, auth: str | None) -> list[socket.socket]:
    host, port = base.removeprefix("http://").split(":")
    held = []
    for _ in range(count):
        sock = socket.create_connection((host, int(port)))
        login = f"Authorization: {auth}\r\n" if auth else ""
        sock.sendall(f"POST /legacy/ HTTP/1.1\r\nHost: x\r\n{login}Content-Type: multipart/"
                     "form-data; boundary=B\r\nContent-Length: 1000000\r\n\r\n--B".encode())
        held.append(sock)
    return held


def _keep_trickling(socks: list[socket.socket], seconds: float) -> int:
    """One byte every 0.4 s on each connection (well inside every socket timeout); the
    number of connections the server has not cut by the end."""
    alive = list(socks)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and alive:
        time.sleep(0.4)
        for sock in list(alive):
            try:
                sock.sendall(b"x")
            except OSError:
                alive.remove(sock)
    return len(alive)


@pytest.mark.parametrize("uploads", ["off", "login"])
def test_finding1_trickled_request_bodies_do_not_hold_the_server(stage: Stage,
                                                                 uploads: str) -> None:
    """Four connections (the whole --max-connections) each send a POST's headers and then
    a byte now and then: the header deadline is over, and each read is far within the 60 s
    socket timeout, so before the fix they held every slot as long as they liked and pip
    got 503. Without a login at all (the default serve, uploads off), and with a login
    (the accepted upload's body must keep coming too)."""
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    extra = ["--no-fallback", "--max-connections", "4", "--header-timeout", "2"]
    auth = None
    if uploads == "login":
        htpasswd = stage.base / "htpasswd"
        htpasswd.write_text(f"alice:{sha_entry('a-pw')}\n")
        extra += ["--htpasswd", str(htpasswd)]
        import base64

        auth = "Basic " + base64.b64encode(b"alice:a-pw").decode()
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", *extra,
                               env=stage.env) as served:
        # Two without a login (refused, read away) and two with one (or none, uploads off).
        socks = _trickle(served.base, 2, None) + _trickle(served.base, 2, auth)
        try:
            alive = _keep_trickling(socks, 8)
            done = pip(stage, served.url, stage.base / "t", "foo")
        finally:
            for sock in socks:
                sock.close()
        assert alive == 0, "trickling connections were never cut"
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "t") == ("local", "1.0")
        if uploads == "login":  # a real upload at a real pace is untouched
            wheel = make_wheel(stage.base / "new", "newpkg", "1.0", "local")
            done = twine(stage.env, served.base + "/legacy/", wheel, user="alice",
                         password="a-pw")
            assert done.returncode == 0, done.stdout + done.stderr


# -- finding 2: an emptied or deleted htpasswd file kept every old login ----------------


def test_finding2_emptying_or_deleting_the_htpasswd_file_revokes_every_login(
    stage: Stage
) -> None:
    """A leaked token: the operator empties the login file (or deletes it) to lock
    everyone out at once. Before the fix serve kept "the previous logins", so the leaked
    login still uploaded."""
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    htpasswd = stage.base / "htpasswd"
    htpasswd.write_text(f"__token__:{sha_entry('leaked')}\n")
    wheels = [make_wheel(stage.base / "w", "newpkg", f"1.{n}", "local") for n in range(4)]
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--htpasswd", str(htpasswd),
                               "--no-fallback", env=stage.env) as served:
        url = served.base + "/legacy/"
        done = twine(stage.env, url, wheels[0], user="__token__", password="leaked")
        assert done.returncode == 0, done.stdout + done.stderr
        htpasswd.write_text("# every login revoked: a token leaked\n")
        done = twine(stage.env, url, wheels[1], user="__token__", password="leaked")
        assert done.returncode != 0 and "401" in done.stdout + done.stderr, done.stdout
        htpasswd.unlink()
        done = twine(stage.env, url, wheels[2], user="__token__", password="leaked")
        assert done.returncode != 0 and "401" in done.stdout + done.stderr, done.stdout
        htpasswd.write_text(f"bob:{sha_entry('b-pw')}\n")  # back in business, without it
        done = twine(stage.env, url, wheels[3], user="__token__", password="leaked")
        assert done.returncode != 0
        # newpkg is the revoked token's (its first uploader): bob needs to be an owner.
        assert pipwrap(stage, "repo", "owner", "add", "--repo", str(repo), "newpkg",
                       "bob").returncode == 0
        done = twine(stage.env, url, wheels[3], user="bob", password="b-pw")
        assert done.returncode == 0, done.stdout + done.stderr
        listed = sorted(p.name for p in (repo / "newpkg").glob("*.whl"))
        assert listed == [wheels[0].name, wheels[3].name]
        assert "no login is accepted" in served.log_text()


# -- finding 3: a project directory kept elsewhere behind a symbolic link went upstream --


def test_finding3_a_linked_project_directory_is_never_sent_upstream(stage: Stage) -> None:
    """The operator keeps a big project on another disk and links it into the tree
    (`ln -s /mnt/big/foo REPO/foo`). `repo index` leaves a link out (with a warning), and
    serve (with and without --cache) and nginx then sent `foo` to the fallback, where the
    attacker's Foo 9.9.9 waits: dependency confusion. Held means anything under the name."""
    upstream = repo_with(stage, "upstream", ("Foo", "9.9.9", "evil"))
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"), ("bar", "1.0", "local"))
    elsewhere = stage.base / "big-disk"
    elsewhere.mkdir()
    shutil.move(str(repo / "foo"), str(elsewhere / "foo"))
    (repo / "foo").symlink_to(elsewhere / "foo", target_is_directory=True)
    done = pipwrap(stage, "repo", "index", "--repo", str(repo))
    assert "symbolic link" in done.stderr
    with hosting.pipwrap_serve(upstream, stage.base / "up.log", "--no-fallback",
                               env=stage.env) as up:
        # The staged attack works where nothing is held: the fallback is really reached.
        plain = pip(stage, up.url, stage.base / "direct", "foo")
        assert installed(stage.base / "direct") == ("evil", "9.9.9"), plain.stderr
        with hosting.pipwrap_serve(repo, stage.base / "s1.log", "--fallback", up.url,
                                   env=stage.env) as served:
            pip(stage, served.url, stage.base / "p1", "foo")
            assert installed(stage.base / "p1") != ("evil", "9.9.9")
        with hosting.pipwrap_serve(repo, stage.base / "s2.log", "--fallback", up.url,
                                   "--cache", env=stage.env) as served:
            uv(stage, served.url, stage.base / "p2", "foo")
            assert installed(stage.base / "p2") != ("evil", "9.9.9")
        with hosting.nginx(repo, stage.base / "nginx", up.url) as index:
            pip(stage, index, stage.base / "p3", "foo")
            assert installed(stage.base / "p3") != ("evil", "9.9.9")
            done = pip(stage, index, stage.base / "p4", "bar")  # the tree still serves
            assert done.returncode == 0, done.stderr


# -- finding 4: one upstream page could poison another project's cached metadata --------


class _Upstream(BaseHTTPRequestHandler):
    """An upstream index whose page for `evil` lists bar-baz's wheel by its true sha256,
    with metadata of its own (and its own metadata hash, so it checks out)."""

    routes: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.routes.get(self.path)
        if found is None:
            self.send_error(404)
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def hostile_upstream(stage: Stage) -> Iterator[tuple[str, str, bytes]]:
    wheel = make_wheel(stage.base / "up", "bar-baz", "2.0", "upstream")
    data = wheel.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    meta = zipfile.ZipFile(wheel).read("bar_baz-2.0.dist-info/METADATA")
    evil_meta = meta.replace(b"Version: 2.0\n", b"Version: 2.0\nRequires-Dist: qux\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    base = f"http://127.0.0.1:{server.server_address[1]}"

    def page(project: str, url: str, metadata: bytes) -> tuple[str, bytes]:
        return JSON, json.dumps({"meta": {"api-version": "1.0"}, "name": project, "files": [
            {"filename": wheel.name, "url": url, "hashes": {"sha256": sha},
             "core-metadata": {"sha256": hashlib.sha256(metadata).hexdigest()}}]}).encode()

    _Upstream.routes = {
        "/simple/bar-baz/": page("bar-baz", f"{base}/files/{wheel.name}", meta),
        "/simple/evil/": page("evil", f"{base}/evil/{wheel.name}", evil_meta),
        f"/files/{wheel.name}": ("application/octet-stream", data),
        f"/files/{wheel.name}.metadata": ("text/plain", meta),
        f"/evil/{wheel.name}.metadata": ("text/plain", evil_meta),
    }
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{base}/simple/", sha, meta
    finally:
        server.shutdown()
        server.server_close()


def test_finding4_one_projects_page_cannot_poison_anothers_cached_metadata(
    stage: Stage, hostile_upstream: tuple[str, str, bytes]
) -> None:
    """Cached `.metadata` files were named by their distribution's sha256 but checked
    against the metadata hash of whichever page asked first: `evil`'s page, listing
    bar-baz's wheel by its true hash with metadata of its own, put that metadata where
    every bar-baz client then read it, for good (pip and uv refused bar-baz: hash
    mismatch). Since red-team 3, evil's page cannot list bar-baz's wheel at all: the
    cache leaves out a page's files that name another project."""
    upstream, sha, meta = hostile_upstream
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    name = "bar_baz-2.0-py3-none-any.whl"
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--fallback", upstream,
                               "--cache", env=stage.env) as served:
        with urllib.request.urlopen(f"{served.url}evil/", timeout=10):
            pass
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{served.url}evil/{sha}/{name}.metadata", timeout=10)
        assert refused.value.code == 404  # not on evil's page as served: another project's
        with urllib.request.urlopen(f"{served.url}bar-baz/{sha}/{name}.metadata",
                                    timeout=10) as response:
            assert response.read() == meta
        done = pip(stage, served.url, stage.base / "p", "bar-baz")
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "p", "bar_baz") == ("upstream", "2.0")
        done = uv(stage, served.url, stage.base / "u", "bar-baz")
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "u", "bar_baz") == ("upstream", "2.0")


# -- finding 5: an upload body of many tiny parts cost minutes of CPU ------------------------


def test_finding5_an_upload_of_many_empty_form_parts_is_refused_cheaply(stage: Stage) -> None:
    """200,000 empty form parts (11 MiB, well under --max-upload): each one cost a header
    parse and a dict entry, 23 s of CPU for 16 MiB (minutes for 200 MiB), while every other
    request waited on the GIL. Now a cap on parts (and part headers count against the
    form fields' budget)."""
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    body = b"".join(b'--B\r\nContent-Disposition: form-data; name="f%d"\r\n\r\n\r\n' % n
                    for n in range(200_000)) + b"--B--\r\n"
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--auth", "none",
                               "--no-fallback", env=stage.env) as served:
        host, port = served.base.removeprefix("http://").split(":")
        started = time.monotonic()
        with socket.create_connection((host, int(port)), timeout=60) as sock:
            sock.sendall(b"POST /legacy/ HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
                         b"form-data; boundary=B\r\nContent-Length: %d\r\n\r\n" % len(body))
            sock.sendall(body)
            answer = b""
            while b"more than" not in answer and len(answer) < 4096:
                more = sock.recv(4096)
                if not more:
                    break
                answer += more
        took = time.monotonic() - started
        # The sentence is the body (the reason phrase is the standard one).
        assert answer.startswith(b"HTTP/1.1 400 "), answer
        assert b"\r\n\r\nmore than 10000 parts" in answer, answer
        assert took < 10, took
        # A real upload, with every field twine sends (and a classifier per part), passes.
        wheel = make_wheel(stage.base / "w", "newpkg", "1.0", "local")
        done = twine(stage.env, served.base + "/legacy/", wheel)
        assert done.returncode == 0, done.stdout + done.stderr


# -- finding 6: serve kept up to 4,096 pages in memory, however large --------------------


class _BigPages(BaseHTTPRequestHandler):
    """An upstream whose every project page lists 12,000 files (~2.5 MB of JSON): PyPI
    has such pages (nightly builds, botocore)."""

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "simple":
            self.send_error(404)
            return
        project = parts[1]
        files = [{"filename": f"{project}-1.0.{n}-py3-none-any.whl",
                  "url": f"/files/{project}-1.0.{n}-py3-none-any.whl",
                  "hashes": {"sha256": hashlib.sha256(b"%d" % n).hexdigest()}}
                 for n in range(12_000)]
        body = json.dumps({"meta": {"api-version": "1.0"}, "name": project,
                           "files": files}).encode()
        self.send_response(200)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_finding6_large_pages_do_not_pile_up_in_serves_memory(stage: Stage) -> None:
    """GETs for many large projects through --cache: serve kept every page it answered
    (up to 4,096 of them, HTML and JSON apart) whatever its size, so 60 requests of
    ~2.5 MB pages grew it by ~300 MB, and PyPI's 4,096 largest pages would take
    gigabytes. Now the kept pages have a byte budget."""
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _BigPages)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    fallback = f"http://127.0.0.1:{upstream.server_address[1]}/simple/"

    def read_all(served: hosting.Served) -> None:
        for n in range(30):
            for accept in (JSON, "text/html"):
                request = urllib.request.Request(f"{served.url}big{n}/",
                                                 headers={"Accept": accept})
                with urllib.request.urlopen(request, timeout=60) as response:
                    assert len(response.read()) > 1_000_000

    try:
        # Fetched and cached on disk by a first serve (parsing the upstream costs memory
        # of its own); a second one answers them from the disk cache.
        with hosting.pipwrap_serve(repo, stage.base / "fill.log", "--fallback", fallback,
                                   "--cache", env=stage.env) as served:
            read_all(served)
        with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--fallback", fallback,
                                   "--cache", env=stage.env) as served:
            before = _rss_mb(served.process.pid)
            read_all(served)
            read_all(served)
            grown = _rss_mb(served.process.pid) - before
            done = pip(stage, served.url, stage.base / "t", "foo")  # and it still serves
            assert done.returncode == 0, done.stderr
    finally:
        upstream.shutdown()
        upstream.server_close()
    assert grown < 100, f"serve grew by {grown:.0f} MB keeping pages"


# -- finding 7: an upload of foo 1.0+anything shadowed every `foo==1.0` pin ---------------


def test_finding7_an_uploaded_local_version_cannot_shadow_a_pinned_release(
    stage: Stage
) -> None:
    """`foo==1.0` matches `1.0+evil` (PEP 440 ignores a candidate's local label when the
    pin has none) and pip and uv prefer it: anyone who may upload (a CI token) replaced
    the release every pin names, though published files are immutable. PyPI refuses
    local versions on upload; so does serve now (`repo add` still takes them: the
    operator's own `+cpu` builds)."""
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    evil = make_wheel(stage.base / "evil", "Foo", "1.0+evil", "evil")
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--auth", "none",
                               "--no-fallback", env=stage.env) as served:
        done = twine(stage.env, served.base + "/legacy/", evil)
        assert done.returncode != 0, done.stdout
        assert "local version" in done.stdout + done.stderr
        upload = subprocess.run(
            [str(uv_dir() / "uv"), "publish", "--trusted-publishing", "never",
             "--publish-url", served.base + "/legacy/", "--username", "anonymous",
             "--password", "none", str(evil)], env=stage.env, capture_output=True,
            text=True, check=False, stdin=subprocess.DEVNULL, timeout=120)
        assert upload.returncode != 0, upload.stderr
        done = pip(stage, served.url, stage.base / "p", "foo==1.0")
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "p") == ("local", "1.0")
        done = uv(stage, served.url, stage.base / "u", "foo==1.0")
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "u") == ("local", "1.0")
        assert sorted(p.name for p in (repo / "foo").glob("*.whl")) == [
            "foo-1.0-py3-none-any.whl"]


# -- finding 8: clients reading a large file slowly held the connection slots ------------


def test_finding8_slow_readers_of_a_large_file_do_not_hold_the_server(stage: Stage) -> None:
    """Three clients (then the whole --max-connections of the threaded engine) ask for a
    40 MB wheel and read it at 16 KB/s: never a stall of 60 s, so before the fix each held
    its slot for the 40 min the file takes, and pip got 503. On granian the engine sends
    the file, paced by the client, holding no thread: pip is answered meanwhile."""
    from tests.support.uploads import big_wheel

    wheel = big_wheel(stage.base / "big-dist", "big", "1.0", 40 * 1024 * 1024)
    repo = repo_with(stage, "repo", ("Foo", "1.0", "local"))
    done = pipwrap(stage, "repo", "add", "--repo", str(repo), str(wheel))
    assert done.returncode == 0, done.stderr
    with hosting.pipwrap_serve(repo, stage.base / "serve.log", "--no-fallback",
                               "--header-timeout", "2", env=stage.env) as served:
        host, port = served.base.removeprefix("http://").split(":")
        socks = []
        for _ in range(3):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(f"GET /simple/big/{wheel.name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            socks.append(sock)
        try:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                time.sleep(0.5)
                for sock in socks:
                    with contextlib.suppress(OSError):
                        sock.recv(8192)
            # Still connected: serve has let them go (what it had queued in the kernel
            # still trickles out to them), or they fill every slot.
            done = pip(stage, served.url, stage.base / "t", "foo")
        finally:
            for sock in socks:
                sock.close()
        assert done.returncode == 0, done.stderr
        assert installed(stage.base / "t") == ("local", "1.0")

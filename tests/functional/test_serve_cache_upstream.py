"""`serve --cache` against upstreams that misbehave or want a login: one that trickles a
byte every 5 s, pages far bigger than any real one, a page naming an internal URL or
redirecting there (SSRF with read-back), a login-protected pypiserver (its files too), a
password on the command line, a full disk, a read-only tree. `pipwrap serve` is driven as
a black box; the upstreams are real servers on loopback."""

from __future__ import annotations

import hashlib
import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.functional.test_serve_cache import (
    JSON,
    Trees,
    get,
    make_trees,
    pip,
)
from tests.support import hosting
from tests.support.disk import small_tmpfs
from tests.support.sandbox import PRIVATE_SECRET, installed, private_pypiserver
from tests.support.wheels import make_wheel


@pytest.fixture
def trees(tmp_path: Path, venv: Path) -> Trees:
    return make_trees(tmp_path, venv)


Route = Callable[[BaseHTTPRequestHandler], None]


class _Routes(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict[str, Route] = {}  # noqa: RUF012 (a fresh dict per server, see upstream())
    seen: list[str] = []  # noqa: RUF012

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append(self.path)
        if self.headers.get("Authorization"):
            self.seen.append("(a login)")
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        try:
            route(self)
        except OSError:  # serve hung up: the point of some of these
            self.close_connection = True


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # serve hanging up on a hostile route is the expected end


@pytest.fixture
def upstream() -> Iterator[Callable[[dict[str, Route]], tuple[str, list[str]]]]:
    """Start servers with the given routes: (their base URL, the paths asked)."""
    servers: list[_QuietServer] = []

    def start(routes: dict[str, Route]) -> tuple[str, list[str]]:
        seen: list[str] = []
        handler = type("Handler", (_Routes,), {"routes": routes, "seen": seen})
        server = _QuietServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def send(body: bytes, kind: str = JSON, status: int = 200,
         headers: dict[str, str] | None = None) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
    return route


def trickle(kind: str = JSON, every: float = 5.0) -> Route:
    """Headers at once, then a byte every ``every`` seconds, forever (JSON whitespace)."""
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", kind)
        handler.send_header("Content-Length", str(10**9))
        handler.end_headers()
        handler.wfile.write(b"{")
        for _ in range(1000):
            handler.wfile.flush()
            time.sleep(every)
            handler.wfile.write(b" ")
    return route


def page(name: str, files: list[tuple[str, str, bytes]]) -> bytes:
    """A PEP 691 page: (filename, url, bytes it must have)."""
    return json.dumps({"meta": {"api-version": "1.0"}, "name": name, "files": [
        {"filename": filename, "url": url, "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}
        for filename, url, data in files]}).encode()


def fetch(url: str, timeout: float = 45) -> tuple[int, bytes, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Accept": JSON}),
                                    timeout=timeout) as response:
            return response.status, response.read(), time.monotonic() - started
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), time.monotonic() - started
    except (OSError, http.client.HTTPException) as exc:  # cut off, or timed out
        return -1, str(exc).encode(), time.monotonic() - started


def rss_peak_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's peak RSS (``VmRSS``: now) in MB, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field}")


def test_a_trickling_upstream_is_cut_at_the_deadline_and_local_pages_keep_answering(
    trees: Trees, upstream: Callable[[dict[str, Route]], tuple[str, list[str]]]
) -> None:
    wheel = make_wheel(trees.base / "drip", "drip", "1.0", "upstream").read_bytes()
    name = "drip-1.0-py3-none-any.whl"
    routes = {f"/simple/slow{i}/": trickle() for i in range(6)}
    routes["/simple/drip/"] = send(page("drip", [(name, f"/files/{name}", wheel)]))
    routes[f"/files/{name}"] = trickle("application/octet-stream", every=1.0)
    base, _ = upstream(routes)
    digest = hashlib.sha256(wheel).hexdigest()
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                               f"{base}/simple/", "--cache", env=trees.env) as served:
        assert fetch(f"{served.url}drip/")[0] == 200
        results: dict[str, tuple[int, bytes, float]] = {}
        urls = [f"{served.url}slow{i}/" for i in range(6)]
        urls.append(f"{served.url}drip/{digest}/{name}")
        threads = [threading.Thread(target=lambda u=url: results.__setitem__(u, fetch(u)))
                   for url in urls]
        for thread in threads:
            thread.start()
        worst = 0.0
        while any(thread.is_alive() for thread in threads):
            status, body, took = fetch(f"{served.url}foo/")  # held here: never upstream
            assert status == 200 and b"foo-1.0" in body
            worst = max(worst, took)
            time.sleep(0.2)
        for thread in threads:
            thread.join()
        assert worst < 1.0, worst
        for url in urls[:-1]:  # 20 s for a whole page (--cache-timeout), not forever
            status, body, took = results[url]
            assert status == 502 and took < 30, (url, status, body, took)
        status, body, took = results[urls[-1]]
        assert status == -1 and took < 30, (status, body, took)  # a file is cut, too slow
        log = served.log_text()
        assert "not complete within 20 s" in log and "slower than 32 KiB/s" in log, log


def test_pages_over_the_size_bound_are_refused_with_memory_bounded(
    trees: Trees, upstream: Callable[[dict[str, Route]], tuple[str, list[str]]]
) -> None:
    # ~12 MiB pages of well-formed JSON: six times the biggest on pypi.org (~2 MB).
    wheel = make_wheel(trees.base / "w", "huge", "1.0", "upstream").read_bytes()
    files = [(f"huge-1.0.{i}-py3-none-any.whl", f"/files/huge-1.0.{i}-py3-none-any.whl",
              wheel) for i in range(70_000)]
    big = page("huge", files)
    assert len(big) > 12 * 2**20
    routes = {f"/simple/huge{i}/": send(big) for i in range(3)}
    # ~4 MiB: served (its files named for its own project: a page's files of another
    # project are left out, red-team 3)
    fine = [(name.replace("huge", "fine"), url.replace("huge", "fine"), rest)
            for name, url, rest in files[:20_000]]
    routes["/simple/fine/"] = send(page("fine", fine))
    base, _ = upstream(routes)
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                               f"{base}/simple/", "--cache", env=trees.env) as served:
        results: dict[int, tuple[int, bytes, float]] = {}
        threads = [threading.Thread(target=lambda i=i: results.__setitem__(
            i, fetch(f"{served.url}huge{i}/"))) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for status, body, _ in results.values():
            assert status == 502 and b"larger than 8 MiB" in body, (status, body[:200])
        assert served.log_text().count("larger than 8 MiB; refused") == 3
        status, body, _ = fetch(f"{served.url}fine/")
        assert status == 200 and len(json.loads(body)["files"]) == 20_000
        # A big page is answered from memory, not read again per request (it was, under
        # the server's turnstile, for pages over 4 MiB): gone from disk, still answered.
        for name in ("index.json", "index.html"):
            (trees.local / ".pipwrap" / "cache" / "pages" / "fine" / name).unlink()
        for _ in range(20):
            again = fetch(f"{served.url}fine/")
            assert again[:2] == (200, body)
        peak = rss_peak_mb(served.process.pid)
        print(f"serve's peak RSS: {peak:.0f} MB")
        assert peak < 150, peak
        assert not list((trees.local / ".pipwrap" / "cache" / "pages").glob("huge*"))


def paced(data: bytes, pieces: int = 8, pause: float = 0.25) -> Route:
    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        step = len(data) // pieces + 1
        for start in range(0, len(data), step):
            handler.wfile.write(data[start:start + step])
            handler.wfile.flush()
            time.sleep(pause)
    return route


def test_a_client_gone_midway_does_not_stop_the_file_being_cached(
    trees: Trees, upstream: Callable[[dict[str, Route]], tuple[str, list[str]]]
) -> None:
    from tests.support.uploads import big_wheel

    # Bigger than what the sockets between serve and the client buffer: its writes fail.
    wheel = big_wheel(trees.base / "w", "paced", "1.0", 24 * 1024 * 1024)
    data = wheel.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    base, seen = upstream({"/simple/paced/": send(page("paced", [
        (wheel.name, f"/files/{wheel.name}", data)])), f"/files/{wheel.name}": paced(data)})
    with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                               f"{base}/simple/", "--cache", env=trees.env) as served:
        assert fetch(f"{served.url}paced/")[0] == 200
        with urllib.request.urlopen(f"{served.url}paced/{digest}/{wheel.name}",
                                    timeout=30) as response:
            response.read(1024)  # and gone
        blob = trees.local / ".pipwrap" / "cache" / "files" / digest[:2] / digest
        deadline = time.monotonic() + 15
        while not blob.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert blob.exists() and hashlib.sha256(blob.read_bytes()).hexdigest() == digest
        status, body, _ = fetch(f"{served.url}paced/{digest}/{wheel.name}")
        assert status == 200 and body == data
        assert seen.count(f"/files/{wheel.name}") == 1


class _Listener:
    """A TCP port that counts connections (an internal service, an ftp server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()


def test_a_page_naming_an_internal_url_is_never_fetched(
    trees: Trees, upstream: Callable[[dict[str, Route]], tuple[str, list[str]]]
) -> None:
    secret = make_wheel(trees.base / "s", "evil", "1.0", "internal-secret").read_bytes()
    inside, inside_seen = upstream({"/evil-1.0-py3-none-any.whl": send(secret, "x/y")})
    ftp = _Listener()
    names = [f"evil-1.{i}-py3-none-any.whl" for i in range(3)]
    routes = {
        "/simple/evil/": send(page("evil", [
            ("evil-1.0-py3-none-any.whl", f"{inside}/evil-1.0-py3-none-any.whl", secret),
            (names[1], f"/files/{names[1]}", secret),  # redirects inside
            (names[2], f"/files/{names[2]}", secret),  # redirects to ftp://
        ])),
        f"/files/{names[1]}": send(b"", status=302,
                                   headers={"Location": f"{inside}/evil-1.0-py3-none-any.whl"}),
        f"/files/{names[2]}": send(b"", status=302,
                                   headers={"Location": f"ftp://127.0.0.1:{ftp.port}/x"}),
    }
    base, base_seen = upstream(routes)
    digest = hashlib.sha256(secret).hexdigest()
    try:
        with hosting.pipwrap_serve(trees.local, trees.base / "serve.log", "--fallback",
                                   f"{base}/simple/", "--cache", env=trees.env) as served:
            status, body, _ = fetch(f"{served.url}evil/")
            listed = [f["filename"] for f in json.loads(body)["files"]]
            assert status == 200 and listed == names[1:], listed
            assert "left out 1 file(s) on hosts the cache does not fetch from" in \
                served.log_text()
            status, body, _ = fetch(f"{served.url}evil/{digest}/evil-1.0-py3-none-any.whl")
            assert status == 404 and secret not in body
            for name in names[1:]:
                status, body, _ = fetch(f"{served.url}evil/{digest}/{name}")
                assert status == 502 and secret not in body, (status, body)
            assert inside_seen == [] and ftp.connections == 0
            assert "not an http(s) URL on an allowed host" in served.log_text()
        # The operator may allow a file host, and then it is fetched (and checked), never
        # with the fallback's login, which is for the fallback's own origin only.
        host = inside.removeprefix("http://")
        with hosting.pipwrap_serve(trees.local, trees.base / "allowed.log", "--fallback",
                                   f"{base.replace('http://', 'http://mirror@')}/simple/",
                                   "--cache", "--cache-ttl", "0", "--cache-allow-host", host,
                                   env={**trees.env, "PIPWRAP_FALLBACK_PASSWORD": "pw"}
                                   ) as served:
            assert len(json.loads(fetch(f"{served.url}evil/")[1])["files"]) == 3
            status, body, _ = fetch(f"{served.url}evil/{digest}/evil-1.0-py3-none-any.whl")
            assert status == 200 and body == secret
        assert inside_seen == ["/evil-1.0-py3-none-any.whl"]  # no "(a login)"
        assert "(a login)" in base_seen
    finally:
        ftp.stop.set()


def test_a_login_protected_pypiserver_upstream_serves_its_files_through_the_cache(
    trees: Trees, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-repo"
    empty.mkdir()
    log = tmp_path / "serve.log"
    with private_pypiserver(tmp_path / "private") as private:
        with_user = private.url.replace("http://", "http://alice@")
        # A password on the command line is refused, and not repeated.
        refused = subprocess.run(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(empty), "--cache",
             "--fallback", private.url.replace("http://", f"http://alice:{PRIVATE_SECRET}@")],
            env=trees.env, capture_output=True, text=True, timeout=60, check=False)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert "PIPWRAP_FALLBACK_PASSWORD" in refused.stderr
        assert "--fallback-login-file" in refused.stderr and "ps" in refused.stderr
        assert PRIVATE_SECRET not in refused.stderr

        login_file = tmp_path / "login"
        login_file.write_text(f"alice:{PRIVATE_SECRET}\n")
        login_file.chmod(0o600)
        ways = [("env", with_user, [], {"PIPWRAP_FALLBACK_PASSWORD": PRIVATE_SECRET}),
                ("file", private.url, ["--fallback-login-file", str(login_file)], {})]
        for how, url, extra, env in ways:
            with hosting.pipwrap_serve(empty, log, "--fallback", url, "--cache", *extra,
                                       env={**trees.env, **env}) as served:
                done = pip(trees, served.url, tmp_path / how, "foo")
                assert done.returncode == 0, done.stderr + served.log_text()
                assert installed(tmp_path / how, "foo") == ("local", "1.0")
                cmdline = Path(f"/proc/{served.process.pid}/cmdline").read_bytes()
                assert PRIVATE_SECRET.encode() not in cmdline
                assert PRIVATE_SECRET not in served.log_text()
                assert "(cache: fetched)" in served.log_text()
            shutil.rmtree(empty / ".pipwrap" / "cache")


def test_upstream_login_mistakes_are_one_line_errors(trees: Trees, tmp_path: Path) -> None:
    """Nothing starts, one line names what to fix, and no password is repeated."""
    secret = "s3cr3t-in-a-file"
    bad = tmp_path / "bad-login"
    bad.write_text(f"{secret}\n")  # no USER: and no user in the URL
    empty = tmp_path / "empty-login"
    empty.write_text("\n")
    bad.chmod(0o600)
    empty.chmod(0o600)
    url = "http://127.0.0.1:9/simple/"
    cases = [
        (["--fallback-login-file", str(tmp_path / "missing")], {}, "No such file"),
        (["--fallback-login-file", str(bad)], {}, "expected USER:PASSWORD"),
        (["--fallback-login-file", str(empty)], {}, "no login on its first line"),
        (["--fallback-login-file", str(bad)], {"PIPWRAP_FALLBACK_PASSWORD": secret},
         "keep one"),
        ([], {"PIPWRAP_FALLBACK_PASSWORD": secret}, "names no user"),
        (["--cache-allow-host", "http://x/"], {}, "--cache-allow-host"),
    ]
    for extra, env, said in cases:
        done = subprocess.run(
            [sys.executable, "-m", "pipwrap", "serve", "--repo", str(trees.local), "--port",
             "0", "--cache", "--fallback", url, *extra], env={**trees.env, **env},
            capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 2 and said in done.stderr, (extra, done.stderr)
        assert len(done.stderr.splitlines()) == 1 and secret not in done.stderr, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pipwrap", "serve", "--repo", str(trees.local), "--port", "0",
         "--fallback-login-file", str(bad)], env=trees.env, capture_output=True, text=True,
        timeout=60, check=False)
    assert done.returncode == 2 and "need --cache" in done.stderr, done.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only)."""
    with small_tmpfs(tmp_path / "small", "2m") as target:
        yield target


def test_a_full_disk_during_a_page_fetch_answers_503_and_says_so(
    trees: Trees, small_disk: Path
) -> None:
    root = small_disk / "repo"
    shutil.copytree(trees.local, root)
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(root, base / "serve.log", "--fallback", up.url, "--cache",
                                  env=trees.env) as served:
        filler = small_disk / "filler"

        def fill() -> None:
            with filler.open("wb") as out:
                try:
                    while True:
                        out.write(b"\0" * 65536)
                        out.flush()
                except OSError:
                    pass

        fill()
        status, body = get(f"{served.url}bar-baz/")
        assert status == 503, (status, body)
        assert b"cannot be written" in body and b"No space left" in body
        assert "cannot write the cached page of bar-baz: No space left on device" in \
            served.log_text()
        assert "Traceback" not in served.log_text()
        filler.unlink()
        status, body = get(f"{served.url}bar-baz/")
        assert status == 200 and b"bar_baz-2.0" in body
        # A file fetched while the disk is full still reaches the client, uncached.
        wheel = (trees.upstream / "bar-baz" / "bar_baz-2.0-py3-none-any.whl").read_bytes()
        digest = hashlib.sha256(wheel).hexdigest()
        fill()
        status, body = get(f"{served.url}bar-baz/{digest}/bar_baz-2.0-py3-none-any.whl")
        assert status == 200 and body == wheel
        assert "cannot cache bar-baz/bar_baz-2.0-py3-none-any.whl (No space left on " \
            "device); sending it uncached" in served.log_text()
        assert not (root / ".pipwrap" / "cache" / "files" / digest[:2] / digest).exists()


def test_serve_cache_on_a_read_only_tree_is_a_clear_error(
    trees: Trees, small_disk: Path
) -> None:
    root = small_disk / "repo"
    shutil.copytree(trees.local, root)
    done = subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True,
                          text=True, check=False, timeout=30)
    assert done.returncode == 0, done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "pipwrap", "serve", "--repo", str(root), "--port", "0",
         "--cache", "--fallback", "http://127.0.0.1:9/simple/"],
        env=trees.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "Read-only file system" in done.stderr and "--cache" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_upstream_refusing_the_login_is_named_as_such(trees: Trees, tmp_path: Path) -> None:
    """A wrong password in --fallback-login-file: the log and the 502 say the upstream
    refused serve's login and where that login comes from, not just "HTTP 401"."""
    empty = tmp_path / "empty-repo"
    empty.mkdir()
    log = tmp_path / "serve.log"
    wrong = tmp_path / "login"
    wrong.write_text("alice:not-the-password\n")
    wrong.chmod(0o600)
    with private_pypiserver(tmp_path / "private") as private, \
            hosting.pipwrap_serve(empty, log, "--fallback", private.url, "--cache",
                                  "--fallback-login-file", str(wrong),
                                  env=trees.env) as served:
        request = urllib.request.Request(f"{served.url}foo/", headers={"Accept": JSON})
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=30)
        assert answer.value.code == 502
        body = answer.value.read().decode()  # the reason phrase is the standard one
        for said in (body, served.log_text()):
            assert ": the upstream refused this server's login " \
                   "(--fallback-login-file, PIPWRAP_FALLBACK_PASSWORD)" in said, said
        assert "not-the-password" not in served.log_text()

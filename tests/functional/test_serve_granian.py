"""`pipwrap serve` on granian, its only engine (issue 23): the extra it needs, the options
of the engine it replaced, and the clients a team runs (pip, uv, twine, curl) with the
hostile ones of test_serve_hostile. Each test stages real servers on 127.0.0.1 with free
ports."""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Fixtures shared with the other serve tests: `held` (a tree holding held 1.0), `env`,
# `bcrypt5`, `trees` (an upstream tree and a local one holding Foo 1.0), `venv`.
from tests.functional.test_serve_cache import Trees, get, make_trees, pip, uv
from tests.functional.test_serve_cache_heal import blob_of, curl, damage
from tests.functional.test_serve_hostile import (
    bcrypt5,
    env,
    guess_wrong,
    held,
    port_of,
    reader_and_guessed_token,
    refuses_an_untrusting_client,
    timed_read,
    tls_files,
    tls_serve,
)
from tests.support import hosting
from tests.support.sandbox import installed
from tests.support.sources import thread_server
from tests.support.uploads import sha_entry, twine
from tests.support.wheels import make_wheel

__all__ = ["bcrypt5", "env", "held", "tls_files"]  # fixtures
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("granian") is None,
    reason="granian (pipwrap-cli[serve]) is not installed here; it needs Python 3.10+")
TIMEOUT = 120


@pytest.fixture
def trees(tmp_path: Path, venv: Path) -> Trees:
    return make_trees(tmp_path, venv)


def test_without_granian_the_error_names_the_install_command(tmp_path: Path,
                                                             env: dict[str, str]) -> None:
    """granian hidden from the import system, as in an environment without the extra."""
    port = hosting.free_port()
    root = tmp_path / "repo"
    script = ("import sys; sys.modules['granian'] = None; from pipwrap.cli.main import "
              "main_entry; sys.argv[0] = 'pipwrap'; main_entry()")
    done = subprocess.run([sys.executable, "-c", script, "serve", "--repo", str(root),
                           "--port", str(port)], env=env, capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert "pipwrap-cli[serve]" in lines[0]
    # The command for the way pipwrap was installed (pip here; pipx inject, uv tool ...).
    assert "install it with: " in lines[0] and "'granian>=2.8'" in lines[0], lines
    assert not root.exists()  # nothing ran
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # nothing listens


def test_the_removed_threads_engine_is_refused_with_why(held: Path,
                                                        env: dict[str, str]) -> None:
    port = hosting.free_port()
    done = subprocess.run([sys.executable, "-m", "pipwrap", "serve", "--repo", str(held),
                           "--port", str(port), "--engine", "threads"], env=env,
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1, done.stderr
    assert "--engine threads was removed" in done.stderr and "granian" in done.stderr
    assert "Traceback" not in done.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # nothing listens


def test_engine_granian_and_max_connections_still_serve(held: Path, tmp_path: Path,
                                                        env: dict[str, str]) -> None:
    """Command lines written for the two engines keep working: `--engine granian`, and
    `--max-connections` (now granian's backpressure: requests handled at once; more wait,
    none is refused)."""
    with hosting.pipwrap_serve(held, tmp_path / "log", "--no-fallback", "--engine", "granian",
                               "--max-connections", "1", env=env) as served:
        results: list[int] = []

        def fetch() -> None:
            results.append(get(f"{served.url}held/")[0])

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert results == [200] * 8
    done = subprocess.run([sys.executable, "-m", "pipwrap", "serve", "--repo", str(held),
                           "--port", str(hosting.free_port()), "--max-connections", "0"],
                          env=env, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)
    assert done.returncode == 2 and "--max-connections must be at least 1" in done.stderr


def test_pip_and_uv_install_local_first_with_a_fallback(trees: Trees) -> None:
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up:
        for cache in ((), ("--cache",)):
            with hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                       *cache, env=trees.env) as served:
                for name, client in (("pip", pip), ("uv", uv)):
                    target = base / f"{name}{len(cache)}"
                    done = client(trees, served.url, target, "foo", "bar-baz")
                    assert done.returncode == 0, done.stderr + served.log_text()
                    # Foo is held here: 1.0, never upstream's 9.9.9.
                    assert installed(target, "foo") == ("local", "1.0")
                    assert installed(target, "bar_baz") == ("upstream", "2.0")
                assert "Traceback" not in served.log_text()


def test_twine_uploads_with_a_login(tmp_path: Path, env: dict[str, str]) -> None:
    logins = tmp_path / "htpasswd"
    logins.write_text(f"ci:{sha_entry('ci-pass')}\n")
    wheel = make_wheel(tmp_path / "dist", "Team.Lib", "1.0", "local")
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), env=env) as served:
        done = twine(env, f"{served.base}/", wheel, user="ci", password="nope")
        assert done.returncode != 0 and "401" in done.stdout + done.stderr, done.stdout
        assert not (root / "team-lib").exists()
        done = twine(env, f"{served.base}/", wheel, user="ci", password="ci-pass")
        assert done.returncode == 0, done.stdout + done.stderr
        status, data = get(f"{served.url}team-lib/")
        assert status == 200 and wheel.name.encode() in data
        assert "uploaded team-lib/" in served.log_text() and "by ci" in served.log_text()


@contextlib.contextmanager
def guarded(held: Path, tmp_path: Path, env: dict[str, str], bcrypt5: Path
            ) -> Iterator[tuple[hosting.Served, str, str]]:
    """serve with logins to read and upload: (it, the reader's header, a wrong one for
    the bcrypt token)."""
    logins, good, bad = reader_and_guessed_token(tmp_path, bcrypt5)
    with hosting.pipwrap_serve(held, tmp_path / "log", "--no-fallback", "--htpasswd",
                               str(logins), "--auth", "read,upload",
                               env={**env, "PYTHONPATH": str(bcrypt5)}) as served:
        yield served, good, bad


def test_dribblers_and_wrong_passwords_do_not_stall_a_reader(
    held: Path, tmp_path: Path, env: dict[str, str], bcrypt5: Path
) -> None:
    """The goal of issue 23: 256 connections dribbling header bytes and 16 clients sending
    wrong passwords for a bcrypt (cost 10) entry; a logged-in reader's p99 ≤ 100 ms."""
    with guarded(held, tmp_path, env, bcrypt5) as (served, good, bad):
        port = port_of(served)
        stop = threading.Event()
        refused = [0]
        dribblers: list[socket.socket] = []

        def dribble() -> None:
            for sock in dribblers:
                sock.sendall(b"GET /simple/held/ HTTP/1.1\r\n")
            while not stop.wait(1):
                for sock in dribblers:
                    with contextlib.suppress(OSError):
                        sock.sendall(b"X")

        def read() -> float:
            return timed_read(f"{served.url}held/", good)

        read()
        dribblers.extend(socket.create_connection(("127.0.0.1", port), timeout=10)
                         for _ in range(256))
        threads = [threading.Thread(target=guess_wrong, args=(port, bad, stop, refused),
                                    daemon=True) for _ in range(16)]
        threads.append(threading.Thread(target=dribble, daemon=True))
        for thread in threads:
            thread.start()
        time.sleep(1)
        times = []
        try:
            for _ in range(40):
                times.append(read())
                time.sleep(0.02)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            for sock in dribblers:
                sock.close()
        p99 = statistics.quantiles(times, n=100)[98]
        assert refused[0] > 16, refused[0]  # the guessing went on throughout
        assert p99 < 0.1, f"reader p99 {p99 * 1000:.0f} ms under 256 dribblers and 16 guessers"


def test_a_first_login_answers_within_a_second_behind_wrong_password_clients(
    held: Path, tmp_path: Path, env: dict[str, str], bcrypt5: Path
) -> None:
    """Before: every password check waited its turn in one queue, so a first login (a
    header never proven) waited 1-3 s behind 16 clients' wrong guesses for a bcrypt
    (cost 10) token. Now a name that failed recently is checked in a lane of its own."""
    with guarded(held, tmp_path, env, bcrypt5) as (served, good, bad):
        stop = threading.Event()
        refused = [0]
        threads = [threading.Thread(target=guess_wrong, args=(port_of(served), bad, stop,
                                                              refused), daemon=True)
                   for _ in range(16)]
        for thread in threads:
            thread.start()
        try:
            time.sleep(2)  # the guesses have failed, and more are queued
            took = timed_read(f"{served.url}held/", good)  # the reader's first login
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
        assert refused[0] > 16, refused[0]
        assert took < 1.0, f"a first login took {took:.2f} s behind 16 wrong-password clients"


def test_a_damaged_cached_file_is_cut_and_fetched_again(trees: Trees) -> None:
    wheel = trees.upstream / "qux" / "qux-1.0-py3-none-any.whl"
    good = wheel.read_bytes()
    digest = hashlib.sha256(good).hexdigest()
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                  "--cache", env=trees.env) as served:
        url = f"{served.url}qux/{digest}/{wheel.name}"
        assert get(f"{served.url}qux/")[0] == 200
        out = base / "out.whl"
        first = curl(url, out)
        assert (first.returncode, first.stdout) == (0, "200"), first.stderr
        damage(blob_of(trees.local, digest), "flip")
        # Checked before a byte goes out (once per change of the file): a 503 saying so,
        # never the damaged bytes with a 200 (before: a 200 cut mid-way).
        refused = curl(url, out)
        assert (refused.returncode, refused.stdout) == (0, "503"), refused.stderr
        assert out.read_bytes() != good and b"damaged" in out.read_bytes()
        assert f"damaged cached file qux/{wheel.name}" in served.log_text()
        again = curl(url, out)
        assert (again.returncode, again.stdout) == (0, "200"), again.stderr
        assert out.read_bytes() == good


class _ChunkedUpstream(http.server.BaseHTTPRequestHandler):
    """An upstream sending files chunked, without a length; ``bodies``: what each file's
    URL sends (the page lists every file with the sha256 of ``good``)."""

    protocol_version = "HTTP/1.1"
    good = b""
    bodies: dict[str, bytes] = {}  # noqa: RUF012 (set per test on a subclass)

    def do_GET(self) -> None:
        digest = hashlib.sha256(self.good).hexdigest()
        if self.path == "/simple/chunky/":
            links = "".join(f'<a href="/files/{name}#sha256={digest}">{name}</a>\n'
                            for name in sorted(self.bodies))
            data = f"<!DOCTYPE html><html><body>\n{links}</body></html>\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        body = self.bodies.get(self.path.rsplit("/", 1)[-1])
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(body), 65536):
            piece = body[start:start + 65536]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def chunked_upstream() -> Iterator[tuple[str, bytes]]:
    good = os.urandom(300 * 1024)
    bad = bytearray(good)
    bad[-1] ^= 0xFF  # damaged at the very end: all but the last bytes already went out
    handler = type("Handler", (_ChunkedUpstream,), {"good": good, "bodies": {
        "chunky-1.0-py3-none-any.whl": good, "chunky-2.0-py3-none-any.whl": bytes(bad)}})
    with thread_server(handler) as base:
        yield f"{base}/simple/", good


def test_a_file_of_unknown_length_never_completes_a_200_when_its_hash_differs(
    tmp_path: Path, env: dict[str, str], chunked_upstream: tuple[str, bytes]
) -> None:
    """Before, on granian: sent chunked, a mismatch found at the end was ended cleanly by
    the engine (curl: 200, exit 0, wrong bytes); now the body is checked whole first."""
    upstream, good = chunked_upstream
    digest = hashlib.sha256(good).hexdigest()
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--fallback", upstream, "--cache",
                               env=env) as served:
        assert get(f"{served.url}chunky/", "text/html")[0] == 200
        out = tmp_path / "out.whl"
        # First (the cache keeps files by sha256: the good one would be served from it).
        done = curl(f"{served.url}chunky/{digest}/chunky-2.0-py3-none-any.whl", out)
        assert done.stdout != "200" or done.returncode != 0, "a damaged file completed a 200"
        assert done.stdout == "502", (done.returncode, done.stdout, out.read_bytes()[:200])
        assert "refused chunky/chunky-2.0-py3-none-any.whl" in served.log_text()
        for _ in range(2):  # fetched, then from the cache
            done = curl(f"{served.url}chunky/{digest}/chunky-1.0-py3-none-any.whl", out)
            assert (done.returncode, done.stdout) == (0, "200"), done.stderr
            assert out.read_bytes() == good
        assert "Traceback" not in served.log_text()


def test_tls(held: Path, tmp_path: Path, env: dict[str, str], venv: Path,
             tls_files: tuple[Path, Path]) -> None:
    pem, ca = tls_files
    log = tmp_path / "log"
    with tls_serve(held, log, pem, ca, env) as (port, _):
        assert f"https://127.0.0.1:{port}/simple/" in log.read_text()
        done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install",
                               "--no-cache-dir", "--retries", "0", "--target",
                               str(tmp_path / "t"), "--cert", str(ca), "--index-url",
                               f"https://127.0.0.1:{port}/simple/", "held"],
                              env={**env, "PIP_CONFIG_FILE": os.devnull},
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
        assert done.returncode == 0, done.stderr
        assert installed(tmp_path / "t", "held") == ("local", "1.0")
        refuses_an_untrusting_client(port)
    assert "Traceback" not in log.read_text()


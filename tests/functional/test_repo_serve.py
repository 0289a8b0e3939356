"""The hosted index with real clients: pip and uv over file://, http.server, serve, nginx.

One tree is built once (`pipwrap repo add`) and served four ways; the trap is foo-bar,
whose newest release (1.7.0) requires Python >= 3.99: every client, with and without
--no-deps, must install 1.6.0. `serve` and nginx fall back to a loopback pypiserver that
holds the attacker's Foo 9.9.9 and an upstream-only bar-baz.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.pips import pip_python
from tests.support.sandbox import Indexes, installed, uv_dir
from tests.support.wheels import make_wheel

PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; "
              "q=0.1, text/html; q=0.01")
JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@dataclass
class Hosted:
    root: Path
    serve: hosting.Served
    static: str  # python -m http.server rooted at the tree
    nginx: str
    env: dict[str, str]
    python: Path  # a venv with pip

    def url(self, transport: str) -> str:
        return {"file": self.root.as_uri() + "/", "http.server": self.static,
                "serve": self.serve.url, "nginx": self.nginx}[transport]


def pipwrap(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def hosted(tmp_path_factory: pytest.TempPathFactory, indexes: Indexes,
           venv: Path) -> Iterator[Hosted]:
    base = tmp_path_factory.mktemp("hosted")
    home = base / "home"
    home.mkdir()
    env = {**hosting.child_env(home), "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1"}
    dist = base / "dist"
    make_wheel(dist, "Foo_Bar", "1.5.0", "local")
    make_wheel(dist, "foo-bar", "1.6.0", "local")
    make_wheel(dist, "foo.bar", "1.7.0", "local", requires_python=">=3.99")
    make_wheel(dist, "Foo", "1.0", "local")
    root = base / "repo"
    done = pipwrap(env, "repo", "add", "--repo", str(root), *map(str, sorted(dist.iterdir())))
    assert done.returncode == 0, done.stderr
    with hosting.pipwrap_serve(root, base / "serve.log", "--fallback", indexes.upstream.url,
                               env=env) as served, \
            hosting.http_server(root) as static, \
            hosting.nginx(root, base / "nginx", indexes.upstream.url) as nginx:
        yield Hosted(root, served, static, nginx, env, venv / "bin" / "python")


def pip_install(hosted: Hosted, index: str, target: Path, *args: str
                ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(hosted.python), "-m", "pip", "install", "--no-cache-dir", "--index-url", index,
         "--target", str(target), *args], env=hosted.env, capture_output=True, text=True,
        check=False)


def uv_install(hosted: Hosted, index: str, target: Path, *args: str
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(uv_dir() / "uv"), "pip", "install", "--no-cache", "--python", str(hosted.python),
         "--index-url", index, "--target", str(target), *args], env=hosted.env,
        capture_output=True, text=True, check=False)


def fetch(url: str, accept: str | None = None, method: str = "GET"
          ) -> tuple[int, Message, bytes]:
    """The status, the headers (names case-insensitive, as in HTTP: granian sends them in
    lower case) and the body."""
    request = urllib.request.Request(url, method=method)
    if accept is not None:
        request.add_header("Accept", accept)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:  # type: ignore[override]
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.parametrize("client", ["pip", "pip --no-deps", "uv", "uv --no-deps"])
@pytest.mark.parametrize("transport", ["file", "http.server", "serve", "nginx"])
def test_every_client_and_transport_skips_the_incompatible_newest(
    hosted: Hosted, tmp_path: Path, transport: str, client: str
) -> None:
    if client.startswith("uv") and transport == "file":
        pass  # uv reads the same HTML pages over file://
    install = pip_install if client.startswith("pip") else uv_install
    extra = ["--no-deps"] if "--no-deps" in client else []
    done = install(hosted, hosted.url(transport), tmp_path / "t", *extra, "foo-bar")
    assert done.returncode == 0, done.stderr
    init = tmp_path / "t" / "foo_bar" / "__init__.py"
    assert "VERSION = '1.6.0'" in init.read_text()


def test_pip_resolves_from_the_metadata_file_without_downloading_the_wheel(
    hosted: Hosted, tmp_path: Path
) -> None:
    # pip 23.2 downloads the chosen wheel even in a dry run; pip 24.1+ does not.
    python = pip_python("==26.3", "26.3")
    mark = len(hosted.serve.log_text())
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "--no-cache-dir", "--dry-run",
         "--index-url", hosted.serve.url, "--report", str(tmp_path / "r.json"), "foo-bar"],
        env=hosted.env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert [i["metadata"]["version"] for i in report["install"]] == ["1.6.0"]
    done = subprocess.run(
        [str(uv_dir() / "uv"), "pip", "compile", "--no-cache", "--python", str(hosted.python),
         "--index-url", hosted.serve.url, "-"], input="foo-bar\n", env=hosted.env,
        capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "foo-bar==1.6.0" in done.stdout, done.stderr
    requests = hosted.serve.log_text()[mark:]
    assert requests.count("GET /simple/foo-bar/foo_bar-1.6.0-py3-none-any.whl.metadata") == 2
    assert ".whl HTTP" not in requests  # neither client downloaded a wheel to resolve


def test_clients_check_the_hashes_the_index_publishes(hosted: Hosted, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    shutil.copytree(hosted.root, root)
    wheel = root / "foo-bar" / "foo_bar-1.6.0-py3-none-any.whl"
    stat = wheel.stat()
    data = bytearray(wheel.read_bytes())
    data[-30] ^= 0xFF  # same size, same mtime: only the hash can tell
    wheel.write_bytes(bytes(data))
    os.utime(wheel, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    done = pip_install(hosted, root.as_uri() + "/", tmp_path / "t", "foo-bar")
    assert done.returncode != 0
    assert "HASHES" in done.stderr or "hash" in done.stderr.lower()
    assert not (tmp_path / "t" / "foo_bar").exists()


@pytest.mark.parametrize("where", ["serve", "nginx"])
def test_negotiation_honours_q_values(hosted: Hosted, where: str) -> None:
    base = hosted.url(where)
    cases = {
        PIP_ACCEPT: JSON_TYPE,
        "application/vnd.pypi.simple.v1+json": JSON_TYPE,
        "text/html": "text/html",
        "*/*": "text/html",
    }
    if where == "serve":
        cases["text/html;q=0.9, application/vnd.pypi.simple.v1+json;q=0.5"] = "text/html"
        cases["application/vnd.pypi.simple.latest+html"] = "application/vnd.pypi.simple.v1+html"
    for accept, expected in cases.items():
        status, headers, body = fetch(base + "foo-bar/", accept)
        assert status == 200, accept
        assert headers["Content-Type"].split(";")[0] == expected, accept
        if expected == JSON_TYPE:
            assert json.loads(body)["name"] == "foo-bar"
        else:
            assert body.startswith(b"<!DOCTYPE html>")
    status, _, body = fetch(base, PIP_ACCEPT)
    assert status == 200 and {"name": "foo-bar"} in json.loads(body)["projects"]
    if where == "serve":
        assert fetch(base + "foo-bar/", "application/xml")[0] == 406
        status, headers, body = fetch(base + "foo-bar/", PIP_ACCEPT, method="HEAD")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


@pytest.mark.parametrize("where", ["serve", "nginx"])
def test_local_projects_hide_upstream_and_missing_ones_fall_back(
    hosted: Hosted, indexes: Indexes, tmp_path: Path, where: str
) -> None:
    # The attack, staged: with upstream beside ours, pip takes the attacker's 9.9.9.
    bare = pip_install(hosted, indexes.upstream.url, tmp_path / "bare",
                       "--extra-index-url", hosted.url(where), "foo")
    assert bare.returncode == 0, bare.stderr
    assert installed(tmp_path / "bare") == ("evil", "9.9.9")
    # Through the local-first index alone, ours wins and upstream is never asked for it.
    done = pip_install(hosted, hosted.url(where), tmp_path / "ours", "foo", "bar-baz")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "ours") == ("local", "1.0")
    assert installed(tmp_path / "ours", "bar_baz") == ("upstream", "2.0")
    done = uv_install(hosted, hosted.url(where), tmp_path / "uv", "foo", "bar-baz")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "uv") == ("local", "1.0")
    # A name spelled otherwise is never sent upstream.
    status, headers, _ = fetch(hosted.url(where) + "FOO/", PIP_ACCEPT)
    if where == "serve":
        assert (status, headers["Location"]) == (301, "/simple/foo/")
    else:
        assert status == 404
    status, headers, _ = fetch(hosted.url(where) + "bar-baz/", PIP_ACCEPT)
    assert status == 303 and headers["Location"] == indexes.upstream.url + "bar-baz/"


def test_uv_exclude_newer_reads_upload_times_from_serve(hosted: Hosted, tmp_path: Path) -> None:
    done = uv_install(hosted, hosted.serve.url, tmp_path / "old", "--exclude-newer",
                      "2001-01-01T00:00:00Z", "foo-bar")
    assert done.returncode != 0  # every file was uploaded after that date
    done = uv_install(hosted, hosted.serve.url, tmp_path / "new", "--exclude-newer",
                      "2999-01-01T00:00:00Z", "foo-bar")
    assert done.returncode == 0, done.stderr
    assert "VERSION = '1.6.0'" in (tmp_path / "new" / "foo_bar" / "__init__.py").read_text()


def test_yanked_releases_are_skipped_unless_pinned(
    hosted: Hosted, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(hosted.root, root)
    assert pipwrap(hosted.env, "repo", "yank", "--repo", str(root), "foo-bar==1.6.0",
                   "--reason", "broken").returncode == 0
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback",
                               env=hosted.env) as served:
        done = pip_install(hosted, served.url, tmp_path / "a", "foo-bar")
        assert "VERSION = '1.5.0'" in (tmp_path / "a/foo_bar/__init__.py").read_text()
        done = pip_install(hosted, served.url, tmp_path / "b", "foo-bar==1.6.0")
        assert done.returncode == 0 and "broken" in done.stderr  # pip warns with the reason
        done = uv_install(hosted, served.url, tmp_path / "c", "foo-bar")
        assert "VERSION = '1.5.0'" in (tmp_path / "c/foo_bar/__init__.py").read_text()


def test_serve_keeps_up_with_the_tree(hosted: Hosted, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback",
                               env=hosted.env) as served:
        assert fetch(served.url + "late/", PIP_ACCEPT)[0] == 404
        wheel = make_wheel(tmp_path / "d", "late", "1.0", "local")
        assert pipwrap(hosted.env, "repo", "add", "--repo", str(root),
                       str(wheel)).returncode == 0
        assert fetch(served.url + "late/", PIP_ACCEPT)[0] == 200
        # Dropped in by hand: the watcher re-indexes within a couple of seconds.
        make_wheel(root / "by-hand", "by-hand", "1.0", "local")
        deadline = time.monotonic() + 10
        while fetch(served.url + "by-hand/", PIP_ACCEPT)[0] != 200:
            assert time.monotonic() < deadline, served.log_text()
            time.sleep(0.2)


def test_serve_refuses_what_it_must(hosted: Hosted, tmp_path: Path) -> None:
    base = hosted.serve.base
    for path in ("/simple/../index.html", "/simple/foo/..%2f..%2fetc%2fpasswd",
                 "/simple/foo/.hidden", "/simple/foo-bar/%2e%2e/index.html", "/etc/passwd"):
        assert fetch(base + path)[0] == 404, path
    assert fetch(base + "/simple")[1]["Location"] == "/simple/"
    port = int(base.rsplit(":", 1)[1])
    busy = pipwrap(hosted.env, "serve", "--repo", str(tmp_path), "--port", str(port))
    assert busy.returncode == 2 and f"port {port} on 127.0.0.1 is already in use" in busy.stderr
    bad = pipwrap(hosted.env, "serve", "--repo", str(tmp_path), "--fallback", "ftp://x/")
    assert bad.returncode == 2 and "--fallback" in bad.stderr
    login = pipwrap(hosted.env, "serve", "--repo", str(tmp_path), "--fallback",
                    "https://u:secret@example.com/simple/")
    assert login.returncode == 2 and "secret" not in login.stderr


def test_ctrl_c_stops_serve_cleanly(hosted: Hosted, tmp_path: Path) -> None:
    with hosting.pipwrap_serve(tmp_path / "repo", tmp_path / "log", "--no-fallback",
                               env=hosted.env) as served:
        served.process.send_signal(signal.SIGINT)
        assert served.process.wait(timeout=10) == 0
        assert "stopped" in served.log_text() and "Traceback" not in served.log_text()
        port = int(served.base.rsplit(":", 1)[1])
        with socket.socket() as sock:  # the port is free again (for a restarted server)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen()


def test_a_real_build_goes_in_and_installs(hosted: Hosted, tmp_path: Path) -> None:
    project = tmp_path / "tiny"
    (project / "tiny_pkg").mkdir(parents=True)
    (project / "tiny_pkg" / "__init__.py").write_text("ORIGIN = 'built'\nVERSION = '0.3'\n")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "Tiny.Pkg"\nversion = "0.3"\nrequires-python = ">=3.8"\n'
        '[tool.setuptools]\npackages = ["tiny_pkg"]\n')
    done = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir",
                           str(tmp_path / "dist"), str(project)], env=hosted.env,
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    built = sorted(p.name for p in (tmp_path / "dist").iterdir())
    assert built == ["tiny_pkg-0.3-py3-none-any.whl", "tiny_pkg-0.3.tar.gz"]
    root = tmp_path / "repo"
    done = pipwrap(hosted.env, "repo", "add", "--repo", str(root),
                   *map(str, (tmp_path / "dist").iterdir()))
    assert done.returncode == 0, done.stderr
    page = json.loads((root / "tiny-pkg" / "index.json").read_text())
    assert sorted(f["filename"] for f in page["files"]) == built
    assert all(f["requires-python"] == ">=3.8" for f in page["files"])
    done = pip_install(hosted, root.as_uri() + "/", tmp_path / "t", "tiny-pkg")
    assert done.returncode == 0, done.stderr
    assert installed(tmp_path / "t", "tiny_pkg") == ("built", "0.3")


def test_a_directory_being_filled_is_never_sent_upstream(
    hosted: Hosted, indexes: Indexes, tmp_path: Path
) -> None:
    """Between `repo add` copying a file in and its page being written, the name is ours."""
    root = tmp_path / "repo"
    pending = root / "foo"
    pending.mkdir(parents=True)
    (pending / "notes.txt").write_text("a file that is not a distribution keeps it here")
    with hosting.pipwrap_serve(root, tmp_path / "log", "--fallback", indexes.upstream.url,
                               env=hosted.env) as served:
        assert fetch(served.url + "foo/", PIP_ACCEPT)[0] == 404
        assert fetch(served.url + "bar-baz/", PIP_ACCEPT)[0] == 303
    with hosting.nginx(root, tmp_path / "nginx", indexes.upstream.url) as nginx_url:
        assert fetch(nginx_url + "foo/", PIP_ACCEPT)[0] == 404
        assert fetch(nginx_url + "bar-baz/", PIP_ACCEPT)[0] == 303


@pytest.mark.parametrize("where", ["serve", "nginx"])
def test_redirects_cannot_be_split(hosted: Hosted, where: str) -> None:
    base = hosted.url(where).removesuffix("/simple/")
    for path in ("/simple/a%0d%0aX-Evil:%201", "/simple/A%0d%0aX-Evil:%201/",
                 "/simple/A%20B/", "/simple/a%09b/"):
        status, headers, _ = fetch(base + path, PIP_ACCEPT)
        assert status in (400, 404), path
        assert not any(name.lower() == "x-evil" for name in headers), path


def test_serve_publishes_only_distributions_and_follows_no_links(
    hosted: Hosted, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    shutil.copytree(hosted.root, root)
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    (root / "foo" / "notes").symlink_to(secret)
    (root / "foo" / "x-1.0-py3-none-any.whl").symlink_to(secret)
    (root / "outside").symlink_to(tmp_path)
    (root / "foo" / "plain.txt").write_text("not published")
    with hosting.pipwrap_serve(root, tmp_path / "log", "--no-fallback",
                               env=hosted.env) as served:
        for path in ("foo/notes", "foo/x-1.0-py3-none-any.whl", "outside/secret.txt",
                     "foo/plain.txt", "foo/" + "a" * 300 + ".whl"):
            status, _, body = fetch(served.url + path)
            assert status == 404 and b"TOPSECRET" not in body, path
        assert fetch(served.url + "foo/foo-1.0-py3-none-any.whl")[0] == 200
        with socket.create_connection(("127.0.0.1", int(served.base.rsplit(":", 1)[1]))) as s:
            s.sendall(b"GET * HTTP/1.1\r\nHost: x\r\n\r\n")
            assert s.recv(100).startswith(b"HTTP/1.1 404")
        assert "Traceback" not in served.log_text()


def test_debian_12s_pip_installs_from_serves_json_pages(tmp_path: Path) -> None:
    """`python3 -m venv` on Debian 12 gives pip 23.0.1, which asks for JSON pages and
    crashed on a dict under PEP 658's old "dist-info-metadata" key (the reason PEP 714
    renamed it): the quick start's `wrap pip install` ended in a traceback there."""
    from tests.support import hosting, pips
    from tests.support.sandbox import installed

    python = pips.pip_python("==23.0.1", "23.0.1")
    home = tmp_path / "home"
    home.mkdir()
    env = hosting.child_env(home)
    wheel = make_wheel(tmp_path / "dist", "Foo", "1.0", "local")
    repo = tmp_path / "repo"
    added = subprocess.run([sys.executable, "-m", "pipwrap", "repo", "add", "--repo", str(repo),
                            str(wheel)], env=env, capture_output=True, text=True, timeout=60,
                           check=False)
    assert added.returncode == 0, added.stderr
    with hosting.pipwrap_serve(repo, tmp_path / "log", "--no-fallback", env=env) as served:
        done = subprocess.run([str(python), "-m", "pip", "install", "--target",
                               str(tmp_path / "t"), "--index-url", f"{served.url}", "foo"],
                              env=pips.clean_env(), capture_output=True, text=True,
                              timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert installed(tmp_path / "t") == ("local", "1.0")

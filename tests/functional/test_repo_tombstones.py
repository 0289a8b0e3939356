"""A held name stays held (issue 23): after its last file is removed (a tombstone, until
`repo release`), under another spelling (`foo--bar` for `foo-bar`), in serve, serve
--cache and the generated nginx configuration; and the tree's smaller rows: two
spellings of one release in one `repo add`, pages written JSON first, `repo yank` on a
full disk, upload times kept through a restore without file times."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import select
import struct
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import hosting
from tests.support.disk import small_tmpfs
from tests.support.publishing import client_env, pip_install, pipwrap
from tests.support.sandbox import installed
from tests.support.wheels import make_wheel


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return client_env(tmp_path)


def repo_with(env: dict[str, str], root: Path, work: Path,
              *wheels: tuple[str, str, str]) -> Path:
    for project, version, origin in wheels:
        wheel = make_wheel(work / f"{project}-{version}-{origin}", project, version, origin)
        done = pipwrap(env, "repo", "add", "--repo", str(root), str(wheel))
        assert done.returncode == 0, done.stderr
    return root


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def status(url: str) -> tuple[int, str, bytes]:
    """(status, Location, body) without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=20) as response:
            return response.status, response.headers.get("Location", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read()


def test_removing_a_projects_last_version_keeps_its_name_held(tmp_path: Path,
                                                              env: dict[str, str],
                                                              venv: Path) -> None:
    """On main `repo remove foo` of the last version silently handed the name to the
    fallback: the next `pip install foo` got the attacker's 9.9.9 from upstream. The name
    now stays held (serve and nginx) until `repo release foo`."""
    upstream = repo_with(env, tmp_path / "upstream", tmp_path / "u", ("foo", "9.9.9", "evil"))
    root = repo_with(env, tmp_path / "repo", tmp_path / "r", ("foo", "1.0", "local"),
                     ("bar", "1.0", "local"))
    with hosting.pipwrap_serve(upstream, tmp_path / "up.log", "--no-fallback",
                               env=env) as up, \
            hosting.pipwrap_serve(root, tmp_path / "s.log", "--fallback", up.url,
                                  env=env) as served, \
            hosting.nginx(root, tmp_path / "nginx", up.url) as front:
        done = pipwrap(env, "repo", "remove", "--repo", str(root), "foo")
        assert done.returncode == 0, done.stderr
        assert "stays held" in done.stdout and "pipwrap repo release foo" in done.stdout
        assert "(no files" in pipwrap(env, "repo", "list", "--repo", str(root)).stdout
        for number, index in enumerate((served.url, front)):
            got = pip_install(env, venv, index, tmp_path / f"t{number}", "foo")
            assert installed(tmp_path / f"t{number}") is None, got.stdout
            assert got.returncode != 0
            assert status(f"{index}foo/")[0] == 200  # an empty page: held, no files
        # Releasing needs no file left, then the name goes to the fallback again.
        refused = pipwrap(env, "repo", "release", "--repo", str(root), "bar")
        assert refused.returncode == 2 and "remove its files first" in refused.stderr
        done = pipwrap(env, "repo", "release", "--repo", str(root), "foo")
        assert done.returncode == 0, done.stderr
        assert not (root / "foo").exists()
        got = pip_install(env, venv, served.url, tmp_path / "after", "foo")
        assert installed(tmp_path / "after") == ("evil", "9.9.9"), got.stderr  # staged


def test_another_spelling_of_a_held_name_never_reaches_upstream(tmp_path: Path,
                                                                env: dict[str, str]) -> None:
    """On main nginx sent `/simple/foo--bar/` upstream (the public index reads it as
    `foo-bar`), and `serve --cache` fetched and served the upstream's evil wheel under
    `/simple/foo--bar/<sha256>/...` while `foo-bar` is held here."""
    upstream = repo_with(env, tmp_path / "upstream", tmp_path / "u",
                         ("foo-bar", "9.9.9", "evil"))
    evil = next((upstream / "foo-bar").glob("*.whl"))
    sha = hashlib.sha256(evil.read_bytes()).hexdigest()
    root = repo_with(env, tmp_path / "repo", tmp_path / "r", ("foo-bar", "1.0", "local"))
    with hosting.pipwrap_serve(upstream, tmp_path / "up.log", "--no-fallback",
                               env=env) as up:
        # The upstream answers the other spelling, as the public index does.
        assert status(f"{up.url}foo--bar/")[0] in (200, 301)
        with hosting.nginx(root, tmp_path / "nginx", up.url) as front:
            code, location, _ = status(f"{front}foo--bar/")
            assert up.url not in location and code == 404, (code, location)
            assert status(f"{front}foo-bar/")[0] == 200
        with hosting.pipwrap_serve(root, tmp_path / "c.log", "--fallback", up.url, "--cache",
                                   env=env) as cached:
            code, location, body = status(f"{cached.url}foo--bar/{sha}/{evil.name}")
            assert code == 404 and body != evil.read_bytes(), code
            code, location, _ = status(f"{cached.url}foo--bar/")
            assert (code, location) == (301, "/simple/foo-bar/")


def test_repo_add_refuses_two_spellings_of_one_release_in_one_command(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """On main `repo add Qux-1.0-… qux-1.0.0-…` published both: one release, two files an
    installer could take for `qux==1.0`."""
    first = make_wheel(tmp_path / "a", "qux", "1.0", "one")
    spelled = first.with_name("Qux-1.0-py3-none-any.whl")
    first.rename(spelled)
    second = make_wheel(tmp_path / "b", "qux", "1.0.0", "two")
    root = tmp_path / "repo"
    done = pipwrap(env, "repo", "add", "--repo", str(root), str(spelled), str(second))
    assert done.returncode == 2, done.stdout
    assert "under two names" in done.stderr and "nothing was added" in done.stderr
    assert not (root / "qux").exists()
    assert "Traceback" not in done.stderr


# -- inotify: the order in which pages are renamed into place ----------------------------

IN_MOVED_TO = 0x80


class Watch:
    """The names renamed into one directory, in order (Linux inotify, IN_MOVED_TO)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = int(self.libc.inotify_init1(os.O_NONBLOCK))

    def add(self, path: Path) -> None:
        assert self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_MOVED_TO) >= 0

    def names(self) -> list[str]:
        seen = []
        while select.select([self.fd], [], [], 0.2)[0]:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            offset = 0
            while offset < len(data):
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data, offset)
                seen.append(data[offset + 16:offset + 16 + length].rstrip(b"\0").decode())
                offset += 16 + length
        return seen


@pytest.fixture
def watch() -> Iterator[Watch]:
    watcher = Watch()
    if watcher.fd < 0:
        pytest.skip("no inotify here")
    try:
        yield watcher
    finally:
        os.close(watcher.fd)


def test_a_page_never_lists_a_file_before_index_json_does(tmp_path: Path,
                                                          env: dict[str, str],
                                                          watch: Watch) -> None:
    """serve sends only the files `index.json` lists; on main `index.html` was renamed
    into place first, so an HTML client could read a link and get 404 for it."""
    root = repo_with(env, tmp_path / "repo", tmp_path / "w", ("paged", "1.0", "local"))
    watch.add(root / "paged")
    newer = make_wheel(tmp_path / "n", "paged", "2.0", "local")
    assert pipwrap(env, "repo", "add", "--repo", str(root), str(newer)).returncode == 0
    assert pipwrap(env, "repo", "remove", "--repo", str(root), "paged==1.0").returncode == 0
    seen = watch.names()
    pages = [name for name in seen if name in ("index.html", "index.json")]
    assert pages == ["index.json", "index.html"] * 2, seen


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs (root only)."""
    with small_tmpfs(tmp_path / "small", "4m") as target:
        yield target


def test_yank_and_remove_on_a_full_disk_say_so(tmp_path: Path, env: dict[str, str],
                                               small_disk: Path) -> None:
    """On main `repo yank` on a full disk ended in a traceback."""
    root = repo_with(env, small_disk / "repo", tmp_path / "w", ("full", "1.0", "local"))
    filler = small_disk / "filler"
    with filler.open("wb") as handle, pytest.raises(OSError):
        while True:
            handle.write(b"x" * 65536)
            handle.flush()
    before = (root / "full" / "index.json").read_bytes()
    done = pipwrap(env, "repo", "yank", "--repo", str(root), "full==1.0", "--reason", "bad")
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr and "no space left" in done.stderr, done.stderr
    assert (root / "full" / "index.json").read_bytes() == before
    filler.unlink()
    done = pipwrap(env, "repo", "yank", "--repo", str(root), "full==1.0")
    assert done.returncode == 0, done.stderr


def test_a_restore_without_file_times_keeps_every_upload_time(tmp_path: Path,
                                                              env: dict[str, str]) -> None:
    """On main, a tree copied back without its files' times (`cp -r`, an object store)
    had `repo index --full` rewrite every upload-time to the restore's time, which
    `uv --exclude-newer` reads."""
    root = repo_with(env, tmp_path / "repo", tmp_path / "w", ("kept", "1.0", "local"),
                     ("kept", "1.1", "local"))

    def times(tree: Path) -> dict[str, str]:
        files = json.loads((tree / "kept" / "index.json").read_text())["files"]
        return {f["filename"]: f["upload-time"] for f in files}

    original = times(root)
    time.sleep(1.2)  # upload times have a resolution of one second
    for name, keep_manifest in (("with-manifest", True), ("pages-only", False)):
        copy = tmp_path / name
        subprocess.run(["cp", "-r", str(root), str(copy)], check=True, timeout=60)
        if not keep_manifest:
            (copy / ".pipwrap" / "manifest.json").unlink()
        done = pipwrap(env, "repo", "index", "--full", "--repo", str(copy))
        assert done.returncode == 0, done.stderr
        assert times(copy) == original, name

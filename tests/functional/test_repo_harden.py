"""Issue 17, part 1: the repository tree under faults and hostile input.

Each test first reproduced its defect against the code before the fix: hostile archives
(generated here, cheaply), over-long names, kills at random points, a full disk.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from email.message import Message
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.disk import small_tmpfs
from tests.support.hostile import (
    metadata_bomb_wheel,
    peak_rss_mb,
    stored,
    write_zip,
    zeros_before_pkg_info_sdist,
)
from tests.support.wheels import make_wheel


def repo_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                          capture_output=True, text=True, check=False, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return shells.isolated_env(home)


def pages_of(root: Path, project: str) -> str:
    page = root / project / "index.html"
    return page.read_text() if page.exists() else ""


# -- archives read with budgets ---------------------------------------------------------


def test_a_metadata_bomb_is_refused_cheaply(env: dict[str, str], tmp_path: Path) -> None:
    """A 0.5 MB wheel whose METADATA inflates to 512 MiB while declaring 100 bytes."""
    bomb = metadata_bomb_wheel(tmp_path / "bad")
    assert bomb.stat().st_size < 1024 * 1024
    root = tmp_path / "repo"
    start = time.monotonic()
    done, peak = peak_rss_mb([sys.executable, "-m", "pipwrap", "repo", "add", "--repo",
                              str(root), str(bomb)], env)
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and bomb.name in done.stderr, done.stderr
    assert peak < 120, f"peak RSS {peak:.0f} MB"
    assert elapsed < 10
    # Dropped into the tree by hand: a warning for that file, the rest is indexed.
    make_wheel(root / "good", "good", "1.0", "local")
    (root / "bomb").mkdir(parents=True)
    os.link(bomb, root / "bomb" / bomb.name)
    done, peak = peak_rss_mb([sys.executable, "-m", "pipwrap", "repo", "index", "--repo",
                              str(root)], env)
    assert done.returncode == 0, done.stderr
    assert "warning" in done.stderr and bomb.name in done.stderr
    assert peak < 120, f"peak RSS {peak:.0f} MB"
    assert "good-1.0-py3-none-any.whl" in pages_of(root, "good")


def test_zeros_before_pkg_info_stop_the_scan_early(env: dict[str, str],
                                                   tmp_path: Path) -> None:
    """An 8 MB sdist holding 8 GiB of zeros before its PKG-INFO (16-24 s, twice, before)."""
    sdist = zeros_before_pkg_info_sdist(tmp_path / "bad")
    assert sdist.stat().st_size < 16 * 1024 * 1024
    root = tmp_path / "repo"
    start = time.monotonic()
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(sdist))
    elapsed = time.monotonic() - start
    assert done.returncode == 2, done.stderr
    assert "no PKG-INFO within the first" in done.stderr and "Traceback" not in done.stderr
    assert elapsed < 6, f"{elapsed:.1f} s"


def test_a_wheel_needs_exactly_its_own_dist_info(env: dict[str, str], tmp_path: Path) -> None:
    metadata = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n"
    stray = write_zip(tmp_path / "a" / "foo-1.0-py3-none-any.whl", [
        stored("foo/__init__.py", b""),
        stored("foo-1.0.dist-info/METADATA", metadata),
        stored("foo-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\n"),
        stored("other-9.9.dist-info/RECORD", b""),
    ])
    wrong = write_zip(tmp_path / "b" / "foo-1.0-py3-none-any.whl", [
        stored("foo/__init__.py", b""),
        stored("bar-1.0.dist-info/METADATA", metadata),
    ])
    root = tmp_path / "repo"
    for bad, expected in ((stray, "found 2"), (wrong, "bar-1.0.dist-info does not match")):
        done = repo_cli(env, "repo", "add", "--repo", str(root), str(bad))
        assert done.returncode == 2 and expected in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    good = make_wheel(tmp_path / "c", "foo", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(good)).returncode == 0


def test_a_zip_with_too_many_members_is_refused_before_it_is_parsed(
    env: dict[str, str], tmp_path: Path
) -> None:
    wheel = tmp_path / "a" / "many-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel.parent.mkdir() or wheel, "w") as archive:
        archive.writestr("many-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nName: many\nVersion: 1.0\n\n")
        for i in range(100_001):
            archive.writestr(f"many/{i}", b"")
    done = repo_cli(env, "repo", "add", "--repo", str(tmp_path / "repo"), str(wheel))
    assert done.returncode == 2 and "archive members" in done.stderr, done.stderr


def test_names_longer_than_the_file_system_allows(env: dict[str, str], tmp_path: Path) -> None:
    """A 240-byte name: its .metadata (and any temporary name) would not fit in 255."""
    root = tmp_path / "repo"
    long_name = "a" * 230
    wheel = make_wheel(tmp_path / "d", long_name, "1.0", "local")
    assert len(wheel.name) > 240
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(wheel))
    assert done.returncode == 2, done.stderr
    assert "name is too long" in done.stderr and "Traceback" not in done.stderr
    assert not (root / long_name).exists()
    # Dropped in by hand: a warning, and the rest of the repo is indexed.
    make_wheel(root / "good", "good", "1.0", "local")
    (root / long_name).mkdir()
    os.link(wheel, root / long_name / wheel.name)
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0, done.stderr
    assert "name is too long" in done.stderr and "Traceback" not in done.stderr
    assert "good-1.0-py3-none-any.whl" in pages_of(root, "good")
    assert long_name not in (root / "index.html").read_text()


# -- crash safety ------------------------------------------------------------------------


def lock_is_free(root: Path) -> bool:
    import fcntl

    lock = root / ".pipwrap" / "lock"
    if not lock.exists():
        return True
    fd = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment carries ``mark`` (ours and the pool's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if mark.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def check_consistent(root: Path, by_hand: str = "drop") -> None:
    """What a reader may see at any moment: pages list only whole files that exist, and
    no temporary file sits where a page or a static listing could show it. Directories
    named ``by_hand...`` were dropped in by the test, pages or not."""
    import json

    for project in root.iterdir():
        if project.name.startswith(".") or not project.is_dir():
            continue
        strays = [p.name for p in project.iterdir() if p.name.endswith(".tmp")]
        assert not strays, strays
        page = project / "index.json"
        if project.name.startswith(by_hand) and not page.exists():
            continue
        assert page.exists(), f"{project.name} is in the tree without its page"
        for entry in json.loads(page.read_text())["files"]:
            path = project / entry["filename"]
            assert path.is_file(), f"{project.name}/{entry['filename']} listed, missing"
            assert path.stat().st_size == entry["size"]
    assert not [p.name for p in root.iterdir() if p.name.endswith(".tmp")]


def test_kill_9_at_random_points_never_wedges_the_lock(env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """13 of 23 random kills wedged the lock before: forked pool workers inherited it."""
    import random
    import signal
    import uuid

    rng = random.Random(17)  # noqa: S311 - reproducible kill times
    root = tmp_path / "repo"
    seed = make_wheel(tmp_path / "seed", "seed", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(seed)).returncode == 0
    batches = [[make_wheel(tmp_path / f"b{b}", f"p{b}-{i % 3}", f"1.{i}", "local")
                for i in range(12)] for b in range(4)]
    for attempt in range(8):
        mark = uuid.uuid4().hex
        if attempt % 2 == 0:
            batch = batches[attempt // 2]
            argv = ["repo", "add", "--repo", str(root), *map(str, batch)]
        else:
            # A cold index of 240 files dropped in by hand: the process pool's case.
            drop = root / f"drop{attempt}"
            for i in range(240):
                make_wheel(drop, f"drop{attempt}", f"0.{i}", "local")
            argv = ["repo", "index", "--repo", str(root), "--full"]
        process = subprocess.Popen([sys.executable, "-m", "pipwrap", *argv],
                                   env={**env, "PIPWRAP_TEST_MARK": mark},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.15, 0.9))
        process.send_signal(signal.SIGKILL)
        process.wait()
        deadline = time.monotonic() + 5
        while marked_processes(mark) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert marked_processes(mark) == [], f"attempt {attempt}: orphaned workers"
        assert lock_is_free(root), f"attempt {attempt}: the lock is still held"
        check_consistent(root)
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0, done.stderr
    assert os.listdir(root / ".pipwrap" / "tmp") == []  # stale staging removed under lock
    check_consistent(root)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (root only)."""
    with small_tmpfs(tmp_path / "small", "2m") as target:
        yield target


def test_a_full_disk_adds_nothing_and_says_so(env: dict[str, str], tmp_path: Path,
                                              small_disk: Path) -> None:
    root = small_disk / "repo"
    dist = tmp_path / "dist"
    seed = make_wheel(dist / "seed", "seed", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(seed)).returncode == 0
    before = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    wheels = []
    for i in range(30):
        wheel = make_wheel(dist, "big", f"1.{i}", "local")
        with zipfile.ZipFile(wheel, "a") as archive:
            archive.writestr("big/blob.bin", os.urandom(100 * 1024))
        wheels.append(wheel)
    done = repo_cli(env, "repo", "add", "--repo", str(root), *map(str, wheels))
    assert done.returncode == 2, done.stdout
    assert "Traceback" not in done.stderr
    assert "not enough free space" in done.stderr and "nothing was added" in done.stderr
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == before
    # The space check passes, the disk fills during the copies: rolled back, said clearly.
    filler = small_disk / "filler"
    done = repo_cli(env, "repo", "add", "--repo", str(root), *map(str, wheels[:3]))
    assert done.returncode == 0, done.stderr  # fits
    removed = repo_cli(env, "repo", "remove", "--repo", str(root), "big")
    assert removed.returncode == 0, removed.stderr
    released = repo_cli(env, "repo", "release", "--repo", str(root), "big")  # not held
    assert released.returncode == 0, released.stderr
    probe = subprocess.run(
        [sys.executable, "-c",
         "import os, sys, threading, time\n"
         "sys.argv = ['pipwrap', *sys.argv[1:]]\n"
         "from pipwrap.repo import store\n"
         "real = store._check_space\n"
         f"def fill(root, items):\n    real(root, items)\n"
         f"    with open({str(filler)!r}, 'wb') as f:\n"
         "        try:\n            f.write(b'x' * (4 << 20))\n"
         "        except OSError:\n            pass\n"
         "store._check_space = fill\n"
         "from pipwrap.cli import main_entry\nmain_entry()\n",
         "repo", "add", "--repo", str(root), *map(str, wheels[:3])],
        env=env, capture_output=True, text=True, check=False)
    filler.unlink()
    assert probe.returncode == 2, probe.stdout
    assert "no space left" in probe.stderr and "nothing was added" in probe.stderr
    assert "Traceback" not in probe.stderr
    assert not (root / "big").exists()
    assert os.listdir(root / ".pipwrap" / "tmp") == []
    check_consistent(root)


# -- ordering ----------------------------------------------------------------------------


def test_pages_stop_listing_a_file_before_it_is_unlinked(env: dict[str, str],
                                                         tmp_path: Path) -> None:
    import json
    import threading

    root = tmp_path / "repo"
    wheels = [make_wheel(tmp_path / "d", "foo", f"1.{i}", "local") for i in range(12)]
    assert repo_cli(env, "repo", "add", "--repo", str(root), *map(str, wheels)).returncode == 0
    project = root / "foo"
    bad: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            # Files only go: listed now must have existed just before.
            existing = {p.name for p in project.iterdir()} if project.exists() else set()
            try:
                listed = [f["filename"] for f in
                          json.loads((project / "index.json").read_text())["files"]]
            except FileNotFoundError:
                continue
            bad.extend(name for name in listed if name not in existing)
            bad.extend(name + ".metadata" for name in listed
                       if name + ".metadata" not in existing)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 12):
            done = repo_cli(env, "repo", "remove", "--repo", str(root), f"foo==1.{i}")
            assert done.returncode == 0, done.stderr
    finally:
        stop.set()
        reader.join()
    assert bad == []


def test_a_new_project_appears_with_its_first_page(env: dict[str, str], tmp_path: Path) -> None:
    """`serve` answered 404 between the copy and the first page (and the tree showed an
    empty directory); it must go from 'not held' (303) to the page (200), nothing else."""
    import urllib.error
    import urllib.request

    from tests.support import hosting

    root = tmp_path / "repo"
    seed = make_wheel(tmp_path / "seed", "seed", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(seed)).returncode == 0
    wheels = [make_wheel(tmp_path / f"n{i}", f"new{i}", "1.0", "local") for i in range(6)]
    seen: dict[int, int] = {}
    with hosting.pipwrap_serve(root, tmp_path / "log", "--fallback",
                               "http://127.0.0.1:9/simple/", env=env) as served:
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object) -> None:  # type: ignore[override]
                return None

        opener = urllib.request.build_opener(NoRedirect)
        for i, wheel in enumerate(wheels):
            process = subprocess.Popen([sys.executable, "-m", "pipwrap", "repo", "add",
                                        "--repo", str(root), str(wheel)], env=env)
            while True:
                finished = process.poll() is not None
                try:
                    with opener.open(f"{served.url}new{i}/", timeout=5) as response:
                        status = response.status
                except urllib.error.HTTPError as exc:
                    status = exc.code
                seen[status] = seen.get(status, 0) + 1
                if finished:
                    break
            assert process.returncode == 0
            assert status == 200
    assert set(seen) <= {200, 303}, seen


# -- nginx: held decided fail-closed -------------------------------------------------------

PIP_ACCEPT = ("application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; "
              "q=0.1, text/html; q=0.01")


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """The status, the headers (names case-insensitive) and the body."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:  # type: ignore[override]
            return None

    request = urllib.request.Request(url, headers={"Accept": PIP_ACCEPT, **(headers or {})})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture
def nginx_tree(env: dict[str, str], tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    wheel = make_wheel(tmp_path / "d", "foo", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(wheel)).returncode == 0
    return root


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run nginx's workers as nobody")
def test_nginx_never_redirects_a_held_project_its_workers_cannot_read(
    nginx_tree: Path, tmp_path: Path
) -> None:
    """The README's setup with the repo under a 0700 directory: the workers (nobody)
    cannot stat the tree; `/simple/foo/` went 303 to the public index."""
    from tests.support import hosting

    parent = tmp_path.parent
    assert parent.stat().st_mode & 0o077 == 0 or tmp_path.stat().st_mode & 0o077 == 0
    with hosting.nginx(nginx_tree, tmp_path / "nginx", "http://127.0.0.1:9/simple/",
                       user="nobody nogroup") as url:
        for name in ("foo", "absent"):
            status, headers, _ = fetch(url + f"{name}/")
            assert status in (403, 404, 503), (name, status, headers)
            assert "Location" not in headers
        assert fetch(url + "foo/foo-1.0-py3-none-any.whl")[0] in (403, 404)


def test_nginx_serves_only_listed_kinds_of_files_and_no_links(
    nginx_tree: Path, env: dict[str, str], tmp_path: Path
) -> None:
    from tests.support import hosting

    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    (nginx_tree / "foo" / "x-1.0-py3-none-any.whl").symlink_to(secret)
    (nginx_tree / "foo" / "notes.txt").write_text("not published")
    (nginx_tree / "foo" / ".foo-1.1-py3-none-any.whl.99.tmp").write_text("half a copy")
    (nginx_tree / "linked").symlink_to(nginx_tree / "foo")
    with hosting.nginx(nginx_tree, tmp_path / "nginx", "http://127.0.0.1:9/simple/") as url:
        for path in ("foo/x-1.0-py3-none-any.whl", "foo/notes.txt",
                     "foo/.foo-1.1-py3-none-any.whl.99.tmp", "linked/foo-1.0-py3-none-any.whl",
                     "foo/index.html"):
            status, headers, body = fetch(url + path)
            assert status in (403, 404) and b"TOPSECRET" not in body, (path, status)
            assert b"half a copy" not in body and b"not published" not in body
        assert fetch(url + "foo/foo-1.0-py3-none-any.whl")[0] == 200
        assert fetch(url + "foo/foo-1.0-py3-none-any.whl.metadata")[0] == 200
        # The request's Host never reaches Location.
        status, headers, _ = fetch(url.removesuffix("/") , {"Host": "evil.example"})
        assert status == 301 and headers["Location"] == "/simple/", headers
        status, headers, _ = fetch(url + "foo", {"Host": "evil.example"})
        assert status == 301 and headers["Location"] == "/simple/foo/", headers
        # A project added after nginx read its map is held too (its directory exists).
        wheel = make_wheel(tmp_path / "late", "late", "1.0", "local")
        assert repo_cli(env, "repo", "add", "--repo", str(nginx_tree), str(wheel)).returncode == 0
        assert fetch(url + "late/")[0] == 200
        assert fetch(url + "absent/")[0] == 303
    assert "late 1;" in (nginx_tree / ".pipwrap" / "nginx-held.map").read_text()


# -- serve: what it serves, limits, revalidation ---------------------------------------------


@pytest.fixture
def served_tree(env: dict[str, str], tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    wheel = make_wheel(tmp_path / "d", "foo", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(wheel)).returncode == 0
    return root


def test_serve_serves_only_what_the_index_lists(env: dict[str, str], served_tree: Path,
                                               tmp_path: Path) -> None:
    """`/simple//Foo-1.0-...whl` served a rejected top-level upload; a wheel the index
    refused inside a project directory was served too."""
    from tests.support import hosting

    rejected = make_wheel(served_tree, "Foo", "2.0", "attacker", metadata_name="evil")
    refused = make_wheel(tmp_path / "r", "foo", "3.0", "attacker", metadata_name="evil")
    (served_tree / "foo" / refused.name).write_bytes(refused.read_bytes())
    with hosting.pipwrap_serve(served_tree, tmp_path / "log", "--no-fallback",
                               env=env) as served:
        deadline = time.monotonic() + 10  # the watcher's pass has reported both
        while "evil" not in served.log_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert rejected.exists()  # refused: left where it was, with a warning
        for path in (f"/simple//{rejected.name}", f"/simple/{rejected.name}",
                     f"/simple/foo/{refused.name}", f"/simple/foo/{refused.name}.metadata",
                     "/simple/Foo/foo-1.0-py3-none-any.whl", "/simple/-/x-1.0.tar.gz"):
            status, _, body = fetch(served.base + path)
            assert status in (301, 404) and b"attacker" not in body, (path, status)
        assert fetch(served.url + "foo/foo-1.0-py3-none-any.whl")[0] == 200


def test_serve_revalidates_with_etag_and_last_modified(env: dict[str, str],
                                                       served_tree: Path,
                                                       tmp_path: Path) -> None:
    from tests.support import hosting

    with hosting.pipwrap_serve(served_tree, tmp_path / "log", "--no-fallback",
                               env=env) as served:
        for url in (served.url, served.url + "foo/", served.url + "foo/foo-1.0-py3-none-any.whl",
                    served.url + "foo/foo-1.0-py3-none-any.whl.metadata"):
            status, headers, _ = fetch(url)
            assert status == 200 and headers.get("ETag") and headers.get("Last-Modified"), url
            etag, modified = headers["ETag"], headers["Last-Modified"]
            status, again, body = fetch(url, {"If-None-Match": etag})
            assert (status, body) == (304, b"") and again["ETag"] == etag, url
            assert fetch(url, {"If-None-Match": f'W/"x", {etag}'})[0] == 304
            assert fetch(url, {"If-Modified-Since": modified})[0] == 304
            assert fetch(url, {"If-None-Match": '"other"'})[0] == 200
            assert fetch(url, {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})[0] == 200
        # The HTML and JSON forms are different representations: different tags.
        json_tag = fetch(served.url + "foo/")[1]["ETag"]
        html_tag = fetch(served.url + "foo/", {"Accept": "text/html"})[1]["ETag"]
        assert json_tag != html_tag
        # A new release changes the page and its tag at once.
        wheel = make_wheel(tmp_path / "d2", "foo", "1.1", "local")
        assert repo_cli(env, "repo", "add", "--repo", str(served_tree), str(wheel)).returncode == 0
        status, headers, body = fetch(served.url + "foo/", {"If-None-Match": json_tag})
        assert status == 200 and headers["ETag"] != json_tag and b"1.1" in body


def raw_exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks):
                break
        return b"".join(chunks)


def test_serve_limits_header_bytes_time_and_connections(env: dict[str, str],
                                                        served_tree: Path,
                                                        tmp_path: Path) -> None:
    """256 clients holding 64 KiB header lines took serve to 1.6 GB; no limit on header
    bytes, time or connections. Now (granian): the header budget answers 431, and 256 slow
    clients hold nothing a real request needs (the threaded engine answered 503 beyond
    its connection cap)."""
    import resource
    import socket

    from tests.support import hosting

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    with hosting.pipwrap_serve(served_tree, tmp_path / "log", "--no-fallback",
                               "--header-timeout", "3", env=env) as served:
        port = int(served.base.rsplit(":", 1)[1])
        big = b"GET /simple/ HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"a" * 20000 + b"\r\n\r\n"
        assert raw_exchange(port, big).startswith(b"HTTP/1.1 431")
        many = b"GET /simple/ HTTP/1.1\r\n" + b"X-A: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\r\n" * 600
        assert raw_exchange(port, many + b"\r\n").startswith(b"HTTP/1.1 431")
        # 256 hostile clients: each sends 12 KB of a header line (under the budget), then
        # trickles.
        hostile = []
        for _ in range(256):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.send(b"GET /simple/ HTTP/1.1\r\nX-Slow: " + b"a" * 12000)
            hostile.append(sock)
        time.sleep(0.5)
        # A real request still gets its page, at once, while they hold their connections.
        started = time.monotonic()
        answer = raw_exchange(port, b"GET /simple/ HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
        assert time.monotonic() - started < 2
        rss = int(next(line for line in Path(f"/proc/{served.process.pid}/status")
                       .read_text().splitlines() if line.startswith("VmHWM:")).split()[1])
        assert rss / 1024 <= 100, f"peak RSS {rss / 1024:.0f} MB"
        # The deadline cuts slow clients (one byte a second never finishes in time).
        for _ in range(5):
            for sock in hostile:
                with contextlib.suppress(OSError):
                    sock.send(b"a")
            time.sleep(1)
        status, _, _ = fetch(served.url + "foo/")
        assert status == 200
        for sock in hostile:
            sock.close()
        assert "Traceback" not in served.log_text()


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("setpriv"),
                    reason="needs root and setpriv to take away serve's DAC override")
def test_serve_never_redirects_a_project_it_cannot_stat(env: dict[str, str],
                                                       served_tree: Path,
                                                       tmp_path: Path) -> None:
    """`os.path.isdir` reads a permission error as 'not held': a redirect upstream."""
    from tests.support import hosting

    port = hosting.free_port()
    argv = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", sys.executable,
            "-m", "pipwrap", "serve", "--repo", str(served_tree), "--port", str(port),
            "--fallback", "http://127.0.0.1:9/simple/"]
    log = (tmp_path / "log").open("wb")
    process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    try:
        hosting.wait_for(f"http://127.0.0.1:{port}/simple/", process)
        base = f"http://127.0.0.1:{port}/simple/"
        assert fetch(base + "foo/")[0] == 200
        assert fetch(base + "absent/")[0] == 303
        served_tree.chmod(0)
        try:
            for name in ("foo", "absent"):
                status, headers, _ = fetch(base + f"{name}/")
                assert status == 503 and "Location" not in headers, (name, status)
        finally:
            served_tree.chmod(0o755)
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()

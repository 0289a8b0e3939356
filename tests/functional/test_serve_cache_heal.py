"""`serve --cache` heals: a cached file whose bytes were damaged on disk is found before it
is sent (hashed once per change of the file), answers 503 (never a 200 of wrong bytes),
the copy is dropped, the log says so, and the next request fetches it again. curl and pip
as the clients."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from tests.functional.test_serve_cache import (
    Trees,
    get,
    make_trees,
    pip,
    pipwrap,
)
from tests.support import hosting
from tests.support.sandbox import installed
from tests.support.uploads import big_wheel


@pytest.fixture
def trees(tmp_path: Path, venv: Path) -> Trees:
    return make_trees(tmp_path, venv)


def curl(url: str, out: Path) -> subprocess.CompletedProcess[str]:
    out.write_bytes(b"")  # curl leaves the file alone when no byte came
    return subprocess.run(["curl", "-sS", "--max-time", "30", "-o", str(out), "-w",
                           "%{http_code}", url], capture_output=True, text=True, check=False,
                          timeout=60)


def blob_of(root: Path, digest: str) -> Path:
    return root / ".pipwrap" / "cache" / "files" / digest[:2] / digest


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    if how == "flip":  # a bad sector: same size, one byte changed
        data[len(data) // 2] ^= 0xFF
    elif how == "truncate":
        del data[len(data) // 2:]
    else:  # bytes appended
        data += b"appended"
    path.write_bytes(bytes(data))


def test_a_damaged_cached_file_is_refused_dropped_and_fetched_again_with_curl(
    trees: Trees
) -> None:
    # Several chunks (the first ones go out before the damage can be known) and one.
    big = big_wheel(trees.base / "big", "big", "1.0", 3 * 1024 * 1024)
    done = pipwrap(trees.env, "repo", "add", "--repo", str(trees.upstream), str(big))
    assert done.returncode == 0, done.stderr
    small = trees.upstream / "qux" / "qux-1.0-py3-none-any.whl"
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                  "--cache", env=trees.env) as served:
        for project, wheel, how in (("big", big, "flip"), ("qux", small, "flip"),
                                    ("big", big, "truncate"), ("qux", small, "append")):
            good = wheel.read_bytes()
            digest = hashlib.sha256(good).hexdigest()
            url = f"{served.url}{project}/{digest}/{wheel.name}"
            assert get(f"{served.url}{project}/")[0] == 200
            out = base / "out.whl"
            first = curl(url, out)
            assert (first.returncode, first.stdout) == (0, "200"), first.stderr
            assert out.read_bytes() == good
            damage(blob_of(trees.local, digest), how)

            refused = curl(url, out)
            # A 503 saying why, never a 200 that a CDN or a mirror would keep.
            assert (refused.returncode, refused.stdout) == (0, "503"), (how, refused.stderr)
            assert out.read_bytes() != good and b"damaged" in out.read_bytes()
            assert f"damaged cached file {project}/{wheel.name}" in served.log_text()
            assert "dropped" in served.log_text()
            assert not blob_of(trees.local, digest).exists()

            again = curl(url, out)
            assert (again.returncode, again.stdout) == (0, "200"), again.stderr
            assert out.read_bytes() == good
            assert hashlib.sha256(blob_of(trees.local, digest).read_bytes()).hexdigest() \
                == digest  # healed: cached again, good bytes
        assert "Traceback" not in served.log_text()


def test_pip_never_installs_a_damaged_cached_file_and_the_next_install_works(
    trees: Trees
) -> None:
    wheel = trees.upstream / "bar-baz" / "bar_baz-2.0-py3-none-any.whl"
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    base = trees.base
    with hosting.pipwrap_serve(trees.upstream, base / "up.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve.log", "--fallback", up.url,
                                  "--cache", env=trees.env) as served:
        done = pip(trees, served.url, base / "p1", "bar-baz")
        assert done.returncode == 0, done.stderr
        damage(blob_of(trees.local, digest), "flip")
        hosting._stop(up.process)  # not even the upstream: the refusal is the server's own
        done = pip(trees, served.url, base / "p2", "bar-baz")
        assert done.returncode != 0 and installed(base / "p2", "bar_baz") is None
        assert "damaged cached file bar-baz/bar_baz-2.0-py3-none-any.whl" in \
            served.log_text()
    with hosting.pipwrap_serve(trees.upstream, base / "up2.log", "--no-fallback",
                               env=trees.env) as up, \
            hosting.pipwrap_serve(trees.local, base / "serve2.log", "--fallback", up.url,
                                  "--cache", "--cache-ttl", "0", env=trees.env) as served:
        done = pip(trees, served.url, base / "p3", "bar-baz")
        assert done.returncode == 0, done.stderr + served.log_text()
        assert installed(base / "p3", "bar_baz") == ("upstream", "2.0")
        assert hashlib.sha256(blob_of(trees.local, digest).read_bytes()).hexdigest() == digest

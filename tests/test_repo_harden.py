"""Issue 17, part 1: the repository tree under faults and hostile input.

Each test first reproduced its defect against the code before the fix: hostile archives
(generated here, cheaply), over-long names, kills at random points, a full disk.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.support import shells
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

"""`pipwrap repo`: the tree, its static index, and what it refuses (no network here)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from tests.support import shells
from tests.support.wheels import make_sdist, make_wheel


def repo_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipwrap", *args], env=env,
                          capture_output=True, text=True, check=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return shells.isolated_env(home)


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    out = tmp_path / "dist"
    make_wheel(out, "Foo_Bar", "1.5.0", "local")
    make_wheel(out, "foo-bar", "1.6.0", "local")
    make_wheel(out, "foo.bar", "1.7.0", "local", requires_python=">=3.99")
    make_sdist(out, "foo-bar", "1.6.0", metadata_name="FOO-bar")
    make_wheel(out, "Some.Thing", "2.0", "local")
    return out


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under root (the manifest aside) with its mtime and bytes."""
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() and ".pipwrap" not in p.parts}


def test_add_puts_files_under_normalized_names_with_a_complete_index(
    env: dict[str, str], dists: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    done = repo_cli(env, "repo", "add", "--repo", str(root), *map(str, sorted(dists.iterdir())))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "foo-bar", "index.html", "index.json", "some-thing"]
    root_page = (root / "index.html").read_text()
    assert re.findall(r'href="([^"]+)"', root_page) == ["foo-bar/", "some-thing/"]
    assert json.loads((root / "index.json").read_text())["projects"] == [
        {"name": "foo-bar"}, {"name": "some-thing"}]

    page = (root / "foo-bar" / "index.html").read_text()
    assert 'name="pypi:repository-version" content="1.1"' in page
    wheel = root / "foo-bar" / "foo_bar-1.7.0-py3-none-any.whl"
    sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("foo_bar-1.7.0.dist-info/METADATA")
    metadata_sha = hashlib.sha256(metadata).hexdigest()
    # PEP 658/714: the metadata file sits exactly at <file URL>.metadata.
    assert (root / "foo-bar" / f"{wheel.name}.metadata").read_bytes() == metadata
    link = next(line for line in page.splitlines() if f">{wheel.name}<" in line)
    assert f'href="{wheel.name}#sha256={sha}"' in link
    assert 'data-requires-python="&gt;=3.99"' in link
    assert f'data-core-metadata="sha256={metadata_sha}"' in link
    assert f'data-dist-info-metadata="sha256={metadata_sha}"' in link

    data = json.loads((root / "foo-bar" / "index.json").read_text())
    assert data["meta"] == {"api-version": "1.1"}
    assert data["name"] == "foo-bar"
    assert data["versions"] == ["1.5.0", "1.6.0", "1.7.0"]
    entry = next(f for f in data["files"] if f["filename"] == wheel.name)
    assert entry["hashes"] == {"sha256": sha}
    assert entry["requires-python"] == ">=3.99"
    assert entry["core-metadata"] == {"sha256": metadata_sha}
    assert "dist-info-metadata" not in entry  # pip 22.3-23.0 crash on it (PEP 714)
    assert entry["size"] == wheel.stat().st_size
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry["upload-time"])
    assert entry["yanked"] is False
    sdist = next(f for f in data["files"] if f["filename"].endswith(".tar.gz"))
    assert "core-metadata" not in sdist  # metadata files are served for wheels only
    listed = repo_cli(env, "repo", "list", "--repo", str(root))
    assert listed.stdout.splitlines() == ["foo-bar  1.5.0, 1.6.0, 1.7.0", "some-thing  2.0"]


def test_published_files_are_immutable(env: dict[str, str], dists: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    wheel = dists / "foo_bar-1.6.0-py3-none-any.whl"
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(wheel)).returncode == 0
    again = repo_cli(env, "repo", "add", "--repo", str(root), str(wheel))
    assert again.returncode == 0 and "already present: foo-bar/" in again.stdout
    before = snapshot(root)

    other = make_wheel(tmp_path / "other", "foo-bar", "1.6.0", "attacker")
    fresh = dists / "some_thing-2.0-py3-none-any.whl"
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(fresh), str(other))
    assert done.returncode == 2
    assert "different contents" in done.stderr and "nothing was added" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(root) == before  # not even the good file of the batch went in


@pytest.mark.parametrize("case", ["not a dist", "bad name", "name mismatch",
                                  "version mismatch", "not a zip", "missing"])
def test_bad_files_are_refused_and_nothing_changes(
    env: dict[str, str], tmp_path: Path, case: str
) -> None:
    root = tmp_path / "repo"
    good = make_wheel(tmp_path / "good", "good", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(good)).returncode == 0
    before = snapshot(root)
    bad_dir = tmp_path / "bad"
    bad_dir.mkdir()
    if case == "not a dist":
        bad = bad_dir / "README.md"
        bad.write_text("hi")
        expected = "not a distribution"
    elif case == "bad name":
        bad = bad_dir / "foo-1.0-py3.whl"
        bad.write_bytes(good.read_bytes())
        expected = "not a valid distribution file name"
    elif case == "name mismatch":
        bad = make_wheel(bad_dir, "foo", "1.0", "x", metadata_name="evil-twin")
        expected = "names project 'evil-twin'"
    elif case == "version mismatch":
        bad = make_wheel(bad_dir, "foo", "1.0", "x", metadata_version="2.0")
        expected = "says version '2.0'"
    elif case == "not a zip":
        bad = bad_dir / "foo-1.0-py3-none-any.whl"
        bad.write_text("not a zip")
        expected = "not a readable archive"
    else:
        bad = bad_dir / "foo-1.0-py3-none-any.whl"
        expected = "no such file"
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(bad))
    assert done.returncode == 2
    assert str(bad.name) in done.stderr and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(root) == before


def test_an_unchanged_tree_is_not_rewritten_and_a_change_touches_only_its_project(
    env: dict[str, str], dists: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    repo_cli(env, "repo", "add", "--repo", str(root), *map(str, dists.iterdir()))
    before = snapshot(root)
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0 and "0 index files updated" in done.stdout, done.stdout
    assert snapshot(root) == before  # bytes and mtimes

    # The manifest is a cache: without it the same bytes come out and nothing is rewritten.
    (root / ".pipwrap" / "manifest.json").unlink()
    assert repo_cli(env, "repo", "index", "--repo", str(root)).returncode == 0
    assert snapshot(root) == before

    new = make_wheel(tmp_path / "new", "foo-bar", "1.8.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(new)).returncode == 0
    after = snapshot(root)
    changed = {name for name in after if before.get(name) != after[name]}
    assert changed == {"foo-bar/index.html", "foo-bar/index.json", f"foo-bar/{new.name}",
                       f"foo-bar/{new.name}.metadata"}


def test_files_dropped_in_by_hand_are_indexed_and_strays_are_reported(
    env: dict[str, str], tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    make_wheel(root / "foo", "foo", "1.0", "local")
    make_wheel(root / "wrong-dir", "bar", "1.0", "local")
    # At the top of the tree, where pypiserver puts uploads: moved into place.
    loose = make_wheel(root, "loose", "1.0", "local")
    make_wheel(root, "broken", "1.0", "local", metadata_name="other")
    (root / "foo" / "notes.txt").write_text("x")
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0, done.stderr
    assert "2 projects, 2 files" in done.stdout
    assert "belongs to project 'bar', not 'wrong-dir'" in done.stderr
    assert "moved into its project directory: loose/loose-1.0-py3-none-any.whl" in done.stderr
    assert (root / "loose" / loose.name).is_file() and not loose.exists()
    assert "broken-1.0-py3-none-any.whl: its metadata names project 'other'" in done.stderr
    assert "notes.txt: not a distribution" in done.stderr
    assert re.findall(r'href="([^"]+)"', (root / "index.html").read_text()) == [
        "foo/", "loose/"]


def test_yank_and_remove(env: dict[str, str], dists: Path, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo_cli(env, "repo", "add", "--repo", str(root), *map(str, dists.iterdir()))
    done = repo_cli(env, "repo", "yank", "--repo", str(root), "Foo_Bar==1.6", "--reason",
                    "broken <build>")
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == [
        "yanked: foo-bar/foo_bar-1.6.0-py3-none-any.whl", "yanked: foo-bar/foo_bar-1.6.0.tar.gz"]
    page = (root / "foo-bar" / "index.html").read_text()
    assert page.count('data-yanked="broken &lt;build&gt;"') == 2
    files = json.loads((root / "foo-bar" / "index.json").read_text())["files"]
    assert {f["filename"]: f["yanked"] for f in files} == {
        "foo_bar-1.5.0-py3-none-any.whl": False, "foo_bar-1.6.0-py3-none-any.whl": "broken <build>",
        "foo_bar-1.6.0.tar.gz": "broken <build>", "foo_bar-1.7.0-py3-none-any.whl": False}
    assert "1.6.0 (yanked)" in repo_cli(env, "repo", "list", "--repo", str(root)).stdout
    assert repo_cli(env, "repo", "yank", "--repo", str(root), "foo-bar==1.6.0",
                    "--undo").returncode == 0
    assert "data-yanked" not in (root / "foo-bar" / "index.html").read_text()

    missing = repo_cli(env, "repo", "yank", "--repo", str(root), "foo-bar==9")
    assert missing.returncode == 2 and "no version 9 of 'foo-bar'" in missing.stderr
    assert repo_cli(env, "repo", "yank", "--repo", str(root), "foo-bar").returncode == 2

    done = repo_cli(env, "repo", "remove", "--repo", str(root), "foo-bar==1.7.0")
    assert done.returncode == 0 and "removed: foo-bar/foo_bar-1.7.0" in done.stdout
    assert not list((root / "foo-bar").glob("*1.7.0*"))  # the .metadata file went too
    assert "1.7.0" not in (root / "foo-bar" / "index.json").read_text()
    assert repo_cli(env, "repo", "rm", "--repo", str(root), "FOO.BAR").returncode == 0
    # The name stays held (issue 23: a tombstone) until released.
    assert json.loads((root / "foo-bar" / "index.json").read_text())["files"] == []
    assert repo_cli(env, "repo", "release", "--repo", str(root), "FOO.BAR").returncode == 0
    assert not (root / "foo-bar").exists()
    assert "foo-bar" not in (root / "index.html").read_text()


def test_list_json_and_the_default_repo(env: dict[str, str], dists: Path) -> None:
    wheel = dists / "some_thing-2.0-py3-none-any.whl"
    done = repo_cli(env, "repo", "add", str(wheel))
    assert done.returncode == 0, done.stderr
    default = Path(env["XDG_DATA_HOME"]) / "pipwrap" / "repo"
    assert repo_cli(env, "repo", "path").stdout.strip() == str(default)
    assert (default / "some-thing" / wheel.name).is_file()
    data = json.loads(repo_cli(env, "repo", "list", "--json").stdout)
    assert data["repo"] == str(default)
    assert data["projects"][0]["name"] == "some-thing"
    assert data["projects"][0]["files"][0]["sha256"] == hashlib.sha256(
        wheel.read_bytes()).hexdigest()
    moved = {**env, "PIPWRAP_REPO": str(default.parent / "elsewhere")}
    assert repo_cli(moved, "repo", "path").stdout.strip() == str(default.parent / "elsewhere")
    empty = repo_cli(moved, "repo", "list")
    assert empty.returncode == 2 and "no repository at" in empty.stderr


def test_readers_never_see_half_a_page(env: dict[str, str], tmp_path: Path) -> None:
    """Pages are renamed into place: a reader racing the writer sees old or new, whole."""
    root = tmp_path / "repo"
    first = [make_wheel(tmp_path / "d", "foo", f"1.{i}", "local") for i in range(40)]
    repo_cli(env, "repo", "add", "--repo", str(root), str(first[0]))
    page = root / "foo" / "index.html"
    torn: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            text = page.read_text()
            if not text.rstrip().endswith("</html>"):
                torn.append(len(text))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for wheel in first[1:]:
            repo_cli(env, "repo", "add", "--repo", str(root), str(wheel))
    finally:
        stop.set()
        reader.join()
    assert torn == []
    assert page.read_text().count("<a ") == 40
    assert not [p for p in root.rglob("*.tmp")]


def test_nginx_conf_refuses_what_could_inject_directives(env: dict[str, str],
                                                         tmp_path: Path) -> None:
    bad_root = tmp_path / "a;b"
    done = repo_cli(env, "repo", "nginx-conf", "--repo", str(bad_root))
    assert done.returncode == 2 and "cannot go into an nginx configuration" in done.stderr
    done = repo_cli(env, "repo", "nginx-conf", "--repo", str(tmp_path),
                    "--fallback", "https://x/simple/;return 200")
    assert done.returncode == 2
    ok = repo_cli(env, "repo", "nginx-conf", "--repo", str(tmp_path), "--no-fallback")
    assert ok.returncode == 0 and "return 404;" in ok.stdout and "303" not in ok.stdout


def test_repo_errors_are_clear(env: dict[str, str], tmp_path: Path) -> None:
    done = repo_cli(env, "repo")
    assert done.returncode == 2 and "an action is needed" in done.stderr
    done = repo_cli(env, "repo", "remove", "--repo", str(tmp_path), "nothing")
    assert done.returncode == 2 and "no project 'nothing'" in done.stderr
    assert "Traceback" not in done.stderr
    absent = tmp_path / "absent"
    for action in (["remove", "x"], ["yank", "x==1"], ["index"], ["list"]):
        done = repo_cli(env, "repo", action[0], "--repo", str(absent), *action[1:])
        assert done.returncode == 2 and f"no repository at {absent}" in done.stderr
    assert not absent.exists()  # a typo in --repo creates nothing


def test_a_symlinked_project_directory_is_not_followed(env: dict[str, str],
                                                       tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "index.html").write_text("not ours to delete")
    root = tmp_path / "repo"
    make_wheel(root / "foo", "foo", "1.0", "local")
    (root / "elsewhere").symlink_to(outside)
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0 and "elsewhere: a symbolic link" in done.stderr
    assert (outside / "index.html").read_text() == "not ours to delete"
    assert sorted(p.name for p in outside.iterdir()) == ["index.html"]


def test_red_team_archives_and_names_are_refused_cleanly(env: dict[str, str],
                                                         tmp_path: Path) -> None:
    """Findings of the red-team pass: each is refused with a message, never a traceback."""
    root = tmp_path / "repo"
    first = make_wheel(tmp_path / "a", "foo", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(first)).returncode == 0
    # The same release under another spelling of its file name.
    respelled = make_wheel(tmp_path / "b", "foo", "1.0.0", "attacker")
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(respelled))
    assert done.returncode == 2 and "already published as foo-1.0-py3-none-any.whl" in done.stderr
    # A Name hidden behind a character splitlines() breaks at but email does not.
    hidden = tmp_path / "c" / "bar-1.0-py3-none-any.whl"
    hidden.parent.mkdir()
    with zipfile.ZipFile(hidden, "w") as archive:
        archive.writestr("bar-1.0.dist-info/METADATA",
                         "Metadata-Version: 2.1\nSummary: x\x1cName: bar\x1cVersion: 1.0\n"
                         "Name: evil\nVersion: 6.6.6\n\n")
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(hidden))
    assert done.returncode == 2 and "'evil'" in done.stderr, done.stderr
    # Corrupt compressed metadata: an error for add, a warning for index, never a traceback.
    corrupt = tmp_path / "d" / "baz-1.0-py3-none-any.whl"
    corrupt.parent.mkdir()
    with zipfile.ZipFile(corrupt, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("baz-1.0.dist-info/METADATA", "Name: baz\nVersion: 1.0\n\n" * 50)
    data = bytearray(corrupt.read_bytes())
    data[60:80] = b"\xff" * 20
    corrupt.write_bytes(bytes(data))
    done = repo_cli(env, "repo", "add", "--repo", str(root), str(corrupt))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (root / "baz").mkdir()
    (root / "baz" / corrupt.name).write_bytes(corrupt.read_bytes())
    (root / "foo" / "loop").symlink_to(root / "foo" / "loop")
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert "baz-1.0-py3-none-any.whl" in done.stderr
    # Names that normalize to no valid project.
    for bad in (".pipwrap-1.0.tar.gz", "..-1.0.tar.gz"):
        path = tmp_path / "e" / bad
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"")
        done = repo_cli(env, "repo", "add", "--repo", str(root), str(path))
        assert done.returncode == 2 and "not a valid" in done.stderr, (bad, done.stderr)


def test_a_tree_written_by_an_earlier_pipwrap_gets_its_pages_rewritten(
        env: dict[str, str], tmp_path: Path) -> None:
    """Pages of an earlier page format (JSON with PEP 658's old "dist-info-metadata" dict,
    on which pip 22.3-23.0 crash) are rewritten by the next index run, not only by --full,
    and the files' records are kept."""
    root = tmp_path / "repo"
    wheel = make_wheel(tmp_path / "dist", "Foo", "1.0", "local")
    assert repo_cli(env, "repo", "add", "--repo", str(root), str(wheel)).returncode == 0
    page = root / "foo" / "index.json"
    data = json.loads(page.read_text())
    for entry in data["files"]:
        entry["dist-info-metadata"] = entry["core-metadata"]  # as the earlier pages had it
    page.write_text(json.dumps(data))
    manifest = root / ".pipwrap" / "manifest.json"
    state = json.loads(manifest.read_text())
    del state["pages"]  # an earlier pipwrap's manifest
    manifest.write_text(json.dumps(state))
    done = repo_cli(env, "repo", "index", "--repo", str(root))
    assert done.returncode == 0, done.stderr
    assert "dist-info-metadata" not in page.read_text()
    assert json.loads(page.read_text())["files"][0]["core-metadata"]
    again = repo_cli(env, "repo", "index", "--repo", str(root))
    assert "0 index files updated" in again.stdout, again.stdout

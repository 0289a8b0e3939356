"""A `pipwrap env` session's check of the files it was made from (fence/session.py), on
real files; tests/functional/test_env_session.py runs it through pip."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pipwrap.fence.agent import _made_from
from pipwrap.fence.policy import Policy
from pipwrap.fence.session import MADE_FROM_RECHECK, Session
from pipwrap.paths import FileIdentity, file_identity


def _session(made_from: tuple[tuple[str, FileIdentity | None], ...] | None) -> Session:
    return Session("t", Policy("https://repo.example/simple/"), profile="corp",
                   made_from=made_from)


def _later() -> None:
    """Past the time a look at the files stands (they are not looked at again before)."""
    time.sleep(MADE_FROM_RECHECK * 1.5)


def test_unchanged_files_serve_and_each_change_refuses(tmp_path: Path) -> None:
    config, project = tmp_path / "config.toml", tmp_path / ".pipwrap.toml"
    config.write_text('default = "corp"\n')
    session = _session(((str(config), file_identity(str(config))), (str(project), None)))
    assert session.made_from_changed() is None
    _later()
    assert session.made_from_changed() is None

    project.write_text('profile = "corp"\n')
    _later()
    reason = session.made_from_changed() or ""
    assert reason.startswith(f"{project} appeared since `pipwrap env` made this session for "
                             "profile 'corp'"), reason
    assert "run `pipwrap env` again" in reason
    project.unlink()
    _later()
    assert session.made_from_changed() is None

    stamp = config.stat().st_mtime_ns
    os.utime(config, ns=(stamp + 10**9, stamp + 10**9))
    _later()
    assert (session.made_from_changed() or "").startswith(f"{config} changed since")
    config.unlink()
    _later()
    assert (session.made_from_changed() or "").startswith(f"{config} was removed since")


def test_a_session_of_wrap_checks_no_file(tmp_path: Path) -> None:
    """`wrap`'s shell resolves again itself: its session never refuses for this."""
    assert _session(None).made_from_changed() is None


def test_a_change_that_keeps_the_mtime_refuses(tmp_path: Path) -> None:
    """Red-team 3: `cp -p`, `rsync -t`, `touch -r` put the old mtime back; the ctime (and
    the size, the inode of a file replaced) still tell."""
    config = tmp_path / "config.toml"
    config.write_text('default = "corp"\n')
    stamp = config.stat().st_mtime_ns
    session = _session(((str(config), file_identity(str(config))),))
    assert session.made_from_changed() is None
    time.sleep(0.01)  # a ctime of its own, on a file system with coarse times too
    with config.open("a") as handle:
        handle.write('reserved = ["foo"]\n')
    os.utime(config, ns=(stamp, stamp))
    assert config.stat().st_mtime_ns == stamp
    _later()
    assert (session.made_from_changed() or "").startswith(f"{config} changed since")
    # The same size and mtime, rewritten in place: the ctime alone tells.
    same = _session(((str(config), file_identity(str(config))),))
    time.sleep(0.01)
    config.write_text(config.read_text().replace("foo", "bar"))
    os.utime(config, ns=(stamp, stamp))
    assert (same.made_from_changed() or "").startswith(f"{config} changed since")


def test_the_open_request_carries_paths_and_identities() -> None:
    assert _made_from(None) is None
    assert _made_from([["/c", [1, 2, 3, 4]], ["/d", None]]) == (("/c", (1, 2, 3, 4)),
                                                                ("/d", None))
    # The former [path, mtime_ns] is refused: it cannot see a change that keeps the mtime.
    for bad in ("/c", [["/c"]], [["/c", "12"]], [[1, 2]], [["/c", True]], {"/c": 1},
                [["c", 12]], [["/c", 12]], [["/c", [1, 2, 3]]], [["/c", [1, 2, 3, True]]]):
        with pytest.raises(ValueError, match="malformed made_from"):
            _made_from(bad)

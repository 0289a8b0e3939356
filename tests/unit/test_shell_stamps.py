"""The shell's stamp files under two ``wrap``s started at once from one shell."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from pipwrap.paths import Watched
from pipwrap.shell import state


def _write_many(pid: int, watched: list[Watched], rounds: int) -> None:
    for _ in range(rounds):
        state.write_stamps(pid, watched)


def test_two_wraps_of_one_shell_writing_stamps_at_once_never_fail(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``wrap a & wrap b &``: both subshells have the shell's ``$$``, so both write and
    sweep the same stamp names. A stamp made in place could be swept between its creation
    and its utime: FileNotFoundError, a traceback in the user's terminal (seen once in the
    suite). Each writer must finish; what is left is whole stamps carrying the mtimes."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = [tmp_path / f"watched-{number}" for number in range(6)]
    for path in files:
        path.write_text("x")
    watched = [Watched.now(str(path)) for path in files]
    shell_pid = os.getpid()  # alive, so the sweep keeps only its own rule: same pid
    context = multiprocessing.get_context("fork")
    writers = [context.Process(target=_write_many, args=(shell_pid, watched, 300))
               for _ in range(3)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(120)
    assert [writer.exitcode for writer in writers] == [0, 0, 0]
    flat = state.write_stamps(shell_pid, watched)
    for path, stamp in zip(flat[0::2], flat[1::2]):
        assert os.stat(stamp).st_mtime_ns == os.stat(path).st_mtime_ns

"""The repository tree's shared state: its lock, its scratch directory, atomic writes,
and the yanks (``DIR/.pipwrap/``). Every writer (the index, ``repo add``, uploads, the
cache, owners) goes through these."""

from __future__ import annotations

import contextlib
import json
import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

STATE_DIR = ".pipwrap"
YANKED = "yanked.json"
LOCK = "lock"
# Temporary files and staged additions live here, never in a project directory, so no
# page or static listing can show one; whatever is here when the lock is taken is stale.
SCRATCH = "tmp"


@contextlib.contextmanager
def repo_lock(root: str) -> Iterator[None]:
    """One writer at a time per tree (``repo add`` and ``serve``'s re-index may race)."""
    import fcntl

    state = os.path.join(root, STATE_DIR)
    os.makedirs(state, exist_ok=True)
    fd = os.open(os.path.join(state, LOCK), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        clear_scratch(root)
        yield
    finally:
        os.close(fd)


def scratch_dir(root: str) -> str:
    return os.path.join(root, STATE_DIR, SCRATCH)


def clear_scratch(root: str) -> None:
    """Remove what a killed writer left in the scratch directory (under the lock only:
    every writer holds it while it has files there)."""
    import shutil

    scratch = scratch_dir(root)
    try:
        names = os.listdir(scratch)
    except FileNotFoundError:
        os.makedirs(scratch, exist_ok=True)
        return
    for name in names:
        path = os.path.join(scratch, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def write_if_changed(path: str, data: bytes, scratch: str) -> bool:
    """Atomically put ``data`` at ``path`` unless it already holds exactly that.

    The temporary file is made in ``scratch`` (the tree's ``.pipwrap/tmp``, same file
    system), so its name is short whatever ``path``'s is, and nothing that lists the
    directory ever sees it.
    """
    import tempfile

    try:
        with open(path, "rb") as handle:
            if handle.read(len(data) + 1) == data:
                return False
    except FileNotFoundError:
        pass
    fd, temporary = tempfile.mkstemp(dir=scratch, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return True


def load_json(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}  # a damaged cache is rebuilt, never trusted
    return data if isinstance(data, dict) else {}


def load_yanked(root: str) -> dict[str, str]:
    data = load_json(os.path.join(root, STATE_DIR, YANKED))
    return {str(k): str(v) for k, v in data.items()}


def save_yanked(root: str, yanked: dict[str, str]) -> None:
    os.makedirs(os.path.join(root, STATE_DIR), exist_ok=True)
    data = json.dumps(dict(sorted(yanked.items())), indent=1) + "\n"
    write_if_changed(os.path.join(root, STATE_DIR, YANKED), data.encode(), scratch_dir(root))

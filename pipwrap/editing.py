"""Edit config.toml in place: keep the user's comments and layout, never half-write it.

tomlkit (style-preserving) is imported only here, so reading commands stay fast. Each edit
holds an exclusive lock on a sibling lock file, re-reads the file under it, validates
before and after, and replaces the file atomically (write temp, fsync, rename), so two
concurrent `pipwrap add` calls both land and a crash leaves the old file whole.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pipwrap import config as config_mod
from pipwrap import schema
from pipwrap.errors import PipwrapError


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = path.with_name(f".{path.name}.lock")
    try:
        import fcntl
    except ImportError:  # Windows and other platforms without flock
        with _locked_portably(lock):
            yield
        return
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked_portably(lock: Path, timeout: float = 30.0) -> Iterator[None]:
    """A lock made of a file that only one process can create (O_EXCL works everywhere).

    Unlike flock it survives a crash of its holder, so a lock older than ``timeout`` is
    reported with the file to delete rather than waited on forever.
    """
    import time

    marker = lock.with_name(lock.name + ".held")
    deadline = time.monotonic() + timeout
    while True:
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            break
        except FileExistsError:
            if time.monotonic() > deadline:
                raise PipwrapError(
                    f"{marker} has been held for {timeout:g} s; if no other pipwrap is "
                    "editing the config, delete that file and try again"
                ) from None
            time.sleep(0.02)
    try:
        os.close(fd)
        yield
    finally:
        with contextlib.suppress(OSError):
            marker.unlink()


def _write_atomic(path: Path, text: str, mode: int) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        temporary.chmod(mode)
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


# For the other modules that write pipwrap's files the same way.
locked = _locked
write_atomic = _write_atomic


def edit(mutate: Callable[[Any], None], path: Path | None = None) -> config_mod.Config:
    import tomlkit

    path = Path(config_mod.config_path()) if path is None else path
    with _locked(path):
        try:
            text = config_mod.read_text(str(path))
            old_mode = stat.S_IMODE(path.stat().st_mode)
        except PipwrapError:
            if path.exists():
                raise
            text, old_mode = "", 0o644
        # Refuse to rewrite a file the user has broken: they would lose their text.
        schema.parse(text, str(path))
        document = tomlkit.parse(text)
        mutate(document)
        new_text = tomlkit.dumps(document)
        new = schema.parse(new_text, str(path))
        mode = 0o600 if any(p.holds_credential for p in new.profiles.values()) else old_mode
        _write_atomic(path, new_text, mode)
        from pipwrap import snapshot

        snapshot.store(str(path), new_text.encode("utf-8"), new)
        return new


def profiles_table(document: Any) -> Any:
    import tomlkit

    if "profiles" not in document:
        document["profiles"] = tomlkit.table(is_super_table=True)
    return document["profiles"]


def check_name(name: str) -> None:
    if not schema.PROFILE_NAME.fullmatch(name):
        raise PipwrapError(f"invalid profile name {name!r}: use letters, digits, '-' and '_' only")

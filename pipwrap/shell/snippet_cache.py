"""The rendered ``pipwrap init`` code, kept so that a new shell does not pay for rendering.

Every new interactive shell runs ``pipwrap init SHELL``. Rendering imports argparse (for
completion, from the whole CLI), the templates and the guard's tables: about 100 ms, where
zoxide and direnv take 5. So the rendered code is kept in
``$XDG_CACHE_HOME/pipwrap/init/``, and ``pipwrap``'s entry point serves it while importing
nothing but ``os`` and ``sys`` (see ``cli.main._cached_init``).

A kept file is used only when its first line is exactly the key of this call: pipwrap's
version, the interpreter (its path and version), where the package lives, a fingerprint of
every file of the package (an edit in an editable install, an upgrade in place), and the
render's inputs (shell, ``--cmd``, completion or not). Rendering reads no environment
variable, so nothing else can change its output. Like the config snapshot, the file is
ignored unless the user owns it and nobody else can write it: the shell evaluates it.
"""

from __future__ import annotations

import os
import sys

from pipwrap import __version__
from pipwrap.errors import PipwrapError

SHELLS = ("bash", "zsh", "fish")
_LIMIT = 1 << 20  # the code is ~16 KB; anything far larger is not ours


# os.path, not pathlib, throughout: this runs on a new shell's path, where importing
# pathlib would cost more than the whole lookup.
def _package_dir() -> str:
    return os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # noqa: PTH120


def _fingerprint(package: str) -> str:
    """Counts and sums of every package file's size, mtime and inode: any edit, upgrade
    or replacement moves at least one of them. ~0.4 ms for the ~90 files."""
    count = size = mtime = inode = 0
    pending = [package]
    while pending:
        with os.scandir(pending.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        pending.append(entry.path)
                    continue
                info = entry.stat(follow_symlinks=False)
                count += 1
                size += info.st_size
                mtime += info.st_mtime_ns
                inode += info.st_ino
    return f"{count}:{size}:{mtime}:{inode}"


def valid_command(command: str) -> bool:
    """A name ``--cmd`` may give (letters, digits, ``_``; not starting with a digit)."""
    return (command.isascii() and command.replace("_", "a").isalnum()
            and not command[0].isdigit())  # isalnum(): not empty either


def key(shell: str, command: str, completion: bool) -> str | None:
    """One line that changes whenever the rendered code could; None when the package's
    files cannot be listed (a zip import): nothing is kept then."""
    package = _package_dir()
    try:
        fingerprint = _fingerprint(package)
    except OSError:
        return None
    parts = (__version__, sys.executable, sys.hexversion, sys.implementation.cache_tag,
             package, fingerprint, shell, command, completion)
    return "# pipwrap init " + repr(parts)


def _path(shell: str, command: str, completion: bool) -> str:
    from pipwrap import paths

    name = f"{shell}-{command}{'' if completion else '-no-completion'}"
    return os.path.join(paths.user_cache_dir(), "init", name)  # noqa: PTH118


def lookup(shell: str, command: str, completion: bool) -> bytes | None:
    """The kept code for these inputs, or None (absent, stale, or not safely ours)."""
    try:
        fd = os.open(_path(shell, command, completion), os.O_RDONLY | os.O_NONBLOCK)
    except (OSError, ValueError, PipwrapError):  # none kept; no usable HOME: render
        return None
    try:
        info = os.fstat(fd)
        getuid = getattr(os, "getuid", None)  # POSIX owners and modes; not on Windows
        if (info.st_mode & 0o170000) != 0o100000 or info.st_size > _LIMIT or (
                getuid is not None and (info.st_uid != getuid() or info.st_mode & 0o022)):
            return None
        data = b""
        while chunk := os.read(fd, 1 << 16):
            data += chunk
    except OSError:
        return None
    finally:
        os.close(fd)
    first, _, body = data.partition(b"\n")
    expected = key(shell, command, completion)
    if expected is None or first != expected.encode():
        return None
    return body


def store(cache_key: str | None, shell: str, command: str, completion: bool,
          code: str) -> None:
    """Keep ``code`` under ``cache_key`` (taken before rendering); best effort, silent."""
    from pipwrap import files, paths

    if cache_key is None:
        return
    try:
        target = _path(shell, command, completion)
        paths.private_dir(os.path.dirname(target))  # noqa: PTH120
        files.write_atomic(target, f"{cache_key}\n{code}", 0o600, durable=False)
    except (OSError, PipwrapError):
        return

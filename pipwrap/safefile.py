"""Read a small file that a user or a cloned repository controls, without hanging.

``open().read()`` on a FIFO blocks until a writer comes, and on a device it may never
end. Every file pipwrap reads for a decision is opened non-blocking, must be a regular
file, and has a size limit, so bad input gives a clear error at once.
"""

from __future__ import annotations

import os
import stat

from pipwrap.errors import PipwrapError

CONFIG_LIMIT = 1024 * 1024


class UnreadableFile(PipwrapError):
    """The path exists but is not a small regular file pipwrap can read."""


def read_regular(path: str, limit: int = CONFIG_LIMIT) -> bytes:
    """The bytes of ``path``. FileNotFoundError passes through for callers to word."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(f"{path}: cannot read: {exc.strerror}") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableFile(f"{path}: is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise UnreadableFile(f"{path}: is not a regular file (a FIFO, socket or device)")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise UnreadableFile(f"{path}: larger than {limit // 1024} KiB; not a file "
                                 "pipwrap reads")
        return data
    finally:
        os.close(fd)

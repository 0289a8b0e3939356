"""pipwrap's one way to read, write and lock its files.

Reading: ``open().read()`` on a FIFO blocks until a writer comes, and on a device it may
never end. Every file pipwrap reads for a decision is opened non-blocking, must be a
regular file, and has a size limit, so bad input gives a clear error at once.

Writing: a temporary file beside the target, flushed, then renamed over it, so a reader
or a crash sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import stat

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Union

    StrPath = Union[str, "os.PathLike[str]"]

CONFIG_LIMIT = 1024 * 1024


class UnreadableFile(PipwrapError):
    """The path exists but is not a small regular file pipwrap can read.

    ``why`` says it without the path, for callers that word the error themselves.
    """

    def __init__(self, path: str, why: str, kind: str) -> None:
        super().__init__(f"{path}: {why}")
        self.why = why
        self.kind = kind  # "unreadable", "directory", "special" or "too-large"


def read_regular(path: str, limit: int = CONFIG_LIMIT) -> bytes:
    """The bytes of ``path``. FileNotFoundError passes through for callers to word."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise UnreadableFile(path, f"cannot read: {exc.strerror}", "unreadable") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise UnreadableFile(path, "is a directory, not a file", "directory")
        if not stat.S_ISREG(mode):
            raise UnreadableFile(path, "is not a regular file (a FIFO, socket or device)",
                                 "special")
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise UnreadableFile(path, f"larger than {limit // 1024} KiB; not a file "
                                 "pipwrap reads", "too-large")
        return data
    finally:
        os.close(fd)


def write_atomic(path: StrPath, data: str | bytes, mode: int = 0o600, *,
                 durable: bool = True) -> None:
    """Put ``data`` at ``path`` whole or not at all, with permissions ``mode``.

    ``durable``: fsync before the rename (the config: an edit must survive a power cut;
    a cache may skip it).
    """
    directory, name = os.path.split(os.fspath(path))
    temporary = os.path.join(directory, f".{name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode("utf-8") if isinstance(data, str) else data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # the umask may have narrowed os.open's mode
        os.replace(temporary, path)
    except BaseException:
        try:  # noqa: SIM105 - contextlib stays off the reading commands' imports
            os.unlink(temporary)
        except OSError:
            pass
        raise


class locked:
    """Hold an exclusive lock on a sibling ``.NAME.lock`` of ``path`` while in the block.

    flock where there is one: the kernel drops it when the holder dies. Elsewhere a file
    only one process can create (O_EXCL), which survives a crash of its holder, so one
    older than ``timeout`` is reported with the file to delete rather than waited on.
    """

    def __init__(self, path: StrPath, timeout: float = 30.0) -> None:
        directory, name = os.path.split(os.fspath(path))
        self.directory = directory
        self.lock = os.path.join(directory, f".{name}.lock")
        self.timeout = timeout
        self.fd = -1
        self.marker = ""

    def __enter__(self) -> None:
        os.makedirs(self.directory or ".", exist_ok=True)
        try:
            import fcntl
        except ImportError:  # Windows and other platforms without flock
            self._enter_portably()
            return
        self.fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def _enter_portably(self) -> None:
        import time

        self.marker = self.lock + ".held"
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                os.close(os.open(self.marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
                return
            except FileExistsError:
                if time.monotonic() > deadline:
                    raise PipwrapError(
                        f"{self.marker} has been held for {self.timeout:g} s; if no other "
                        "pipwrap is editing the config, delete that file and try again"
                    ) from None
                time.sleep(0.02)

    def __exit__(self, *exc_info: object) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.marker:
            try:  # noqa: SIM105 - as above
                os.unlink(self.marker)
            except OSError:
                pass

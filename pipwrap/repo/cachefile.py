"""A cached file's body for ``serve --cache``, checked against its sha256.

- :class:`Stored`: a file from ``cache/files``, hashed once per change of the file
  (inode, size, mtime, ctime: any rewrite or damage through the file system). Bytes found
  damaged (a hand edit, a truncation, a read error) answer 503; the copy is dropped, the
  log says so, and the next request fetches it again from upstream: the cache heals.
- :class:`Fetched`: a file streamed from upstream to the client and into the cache at once,
  the last chunk held back until the whole body has hashed right (a mismatch: the server
  cuts the connection, so no client takes it as whole); written under its hash name only
  when the hash matches. A client that goes away does not stop the download (the next
  one finds it cached); a full disk does not stop the client's copy (it is sent uncached).
  Streamed, not fetched whole first: a big file from a slow upstream would otherwise give
  its client no byte for longer than pip's 15 s timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from email.utils import formatdate

from pipwrap.repo import upstream as upstream_http

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterator

CHUNK = 256 * 1024


class Interrupted(Exception):
    """The body cannot be sent, or completed: the server answers an error, or cuts the
    connection mid-way (already logged)."""


class Mismatch(Interrupted):
    """The bytes are not the ones the page promised."""


class Body:
    """What the server sends: ``size`` (None: not known, send it chunked), ``etag``,
    ``mtime``, ``last_modified``, ``content_type``."""

    fetched = False  # from upstream now, not from the cache

    def __init__(self, name: str, expected: str, size: int | None, mtime: float,
                 log: Callable[[str], None]) -> None:
        self.name = name  # project/filename, for the log
        self.expected = expected
        self.size = size
        self.mtime = int(mtime)
        self.last_modified = formatdate(self.mtime, usegmt=True)
        self.etag = f'"{expected}"'  # content-addressed: the hash is the version
        self.content_type = ("text/plain; charset=utf-8" if name.endswith(".metadata")
                             else "application/octet-stream")
        self.log = log

    def close(self) -> None:
        pass

    def __enter__(self) -> Body:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Stored(Body):
    def __init__(self, name: str, expected: str, path: str, handle: int,
                 log: Callable[[str], None]) -> None:
        status = os.fstat(handle)
        super().__init__(name, expected, status.st_size, status.st_mtime, log)
        self.path = path
        self.handle = open(handle, "rb", buffering=0)  # noqa: SIM115 (closed by close())
        self.inode = (status.st_dev, status.st_ino)
        # What any change of the file through the file system changes: a rewrite, a
        # truncation, a rename over it; the ctime cannot be set back by a user.
        self.key = (status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns)

    def verify(self) -> None:
        """Hash the whole file: :class:`Mismatch` (the copy dropped, logged) when it is not
        the promised bytes."""
        digest = hashlib.sha256()
        total = 0
        try:
            while data := self.handle.read(CHUNK):
                digest.update(data)
                total += len(data)
        except OSError as exc:  # an I/O error is damage too
            self._drop(f"reading it failed ({exc.strerror or exc})")
        if total != self.size or digest.hexdigest() != self.expected:
            self._drop(f"{total} bytes that hash to {digest.hexdigest()}, not the "
                       f"{self.size} bytes of {self.expected}")

    def _drop(self, what: str) -> None:
        with contextlib.suppress(OSError):
            status = os.stat(self.path)
            # A fresh copy fetched meanwhile has another inode: only the damaged one goes.
            if (status.st_dev, status.st_ino) == self.inode:
                os.unlink(self.path)
        self.log(f"damaged cached file {self.name} ({self.path}): {what}; dropped, "
                 "answered 503; the next request fetches it again")
        raise Mismatch(f"{self.name}: its cached copy was damaged and is dropped; the next "
                       "request fetches it again")

    def close(self) -> None:
        self.handle.close()


class Fetched(Body):
    fetched = True

    def __init__(self, name: str, expected: str, response: upstream_http.Response,
                 target: str, log: Callable[[str], None]) -> None:
        super().__init__(name, expected, response.size, time.time(), log)
        self.response = response
        self.target = target
        self.digest = hashlib.sha256()
        self.temporary = ""
        self.out: int | None = None
        self._chunks: Generator[bytes, None, None] | None = None
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            self.out, self.temporary = tempfile.mkstemp(prefix=".", suffix=".tmp",
                                                        dir=os.path.dirname(target))
        except OSError as exc:
            self._uncached(exc)

    def _uncached(self, exc: OSError) -> None:
        self.log(f"cannot cache {self.name} ({exc.strerror or exc}); sending it uncached")
        self._discard()

    def _discard(self) -> None:
        if self.out is not None:
            with contextlib.suppress(OSError):
                os.close(self.out)
            self.out = None
        if self.temporary:
            with contextlib.suppress(OSError):
                os.unlink(self.temporary)
            self.temporary = ""

    def _pull(self) -> bytes:
        try:
            data = self.response.chunk()
        except upstream_http.Failed as exc:
            self.log(f"upstream broke off {self.name} ({exc}); not cached")
            raise Interrupted(str(exc)) from None
        self.digest.update(data)
        return data

    def _keep(self, data: bytes) -> None:
        if self.out is None or not data:
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.out, view):]
        except OSError as exc:
            self._uncached(exc)

    def _verify(self) -> None:
        """The whole body has hashed to what the page said, or :class:`Mismatch`."""
        actual = self.digest.hexdigest()
        if actual != self.expected:
            self._discard()
            self.log(f"refused {self.name}: upstream bytes hash to {actual}, its page said "
                     f"{self.expected}; not cached")
            raise Mismatch(self.name)

    def _commit(self) -> None:
        if self.out is None:
            return
        try:
            os.close(self.out)
            self.out = None
            os.chmod(self.temporary, 0o644)
            os.replace(self.temporary, self.target)  # the same bytes from any racing writer
            self.temporary = ""
        except OSError as exc:
            self._uncached(exc)

    def chunks(self) -> Iterator[bytes]:
        self._chunks = self._stream()
        return self._chunks

    def _stream(self) -> Generator[bytes, None, None]:
        pending = self._pull()
        while pending:
            data = self._pull()
            if not data:
                break
            self._keep(pending)
            try:
                yield pending
            except GeneratorExit:  # the client went away: the cache still gets the file
                with contextlib.suppress(Interrupted):
                    while data:
                        self._keep(data)
                        data = self._pull()
                    self._verify()
                    self._commit()
                raise
            pending = data
        self._verify()
        self._keep(pending)
        self._commit()
        if pending:
            yield pending

    def close(self) -> None:
        if self._chunks is not None:
            self._chunks.close()  # a client gone midway: the download still ends cached
        self.response.close()
        self._discard()

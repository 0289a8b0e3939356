"""The legacy upload API (``:action=file_upload``) that twine, ``uv publish``, hatch, flit
and poetry publish with, on top of :func:`pipwrap.repo.store.add`.

The body is a ``multipart/form-data`` POST. It is parsed as it arrives, 1 MiB at a time:
the distribution goes straight to a temporary file in the tree's ``.pipwrap/uploads/``
(hashed on the way), small form fields are kept, large ones (a long description) are
dropped, and the whole body is capped. Nothing is ever held whole in memory. The file then
goes through exactly what ``repo add`` does (the same name and metadata checks, the same
immutability, the same lock and atomic rename, the index written before the answer), so
the project is in the pages by the time the client hears 200.

Answers follow PyPI's: 200 for a new file and for the same bytes again, 409 for other
bytes under a name already held (``twine --skip-existing`` understands it), 400 for a file
``repo add`` would refuse, with the reason in the status line where twine prints it.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from email.parser import BytesHeaderParser

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pipwrap.repo.permissions import Policy

CHUNK = 1 << 20
UPLOADS = "uploads"  # under the tree's .pipwrap/
MAX_HEADER = 16 * 1024  # one part's headers
MAX_FIELD = 64 * 1024  # a form field we keep; longer ones (descriptions) are dropped
MAX_FIELDS = 4 * 1024 * 1024  # all form fields together, their part headers included
# Parts in one upload (twine sends one per field and per classifier: a few dozen). Each
# part costs a header parse: 200 MiB of empty parts took minutes of CPU (red-team
# finding 5).
MAX_PARTS = 10_000
DEFAULT_MAX_UPLOAD = 200 * 1024 * 1024


class UploadError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Body:
    """The request body as a stream: by Content-Length or chunked, never past ``limit``."""

    def __init__(self, rfile: io.BufferedIOBase, length: int | None, chunked: bool,
                 limit: int) -> None:
        self.rfile = rfile
        self.left = length
        self.chunked = chunked
        self.limit = limit
        self.taken = 0
        self._chunk_left = 0
        self._done = False
        # Called with the bytes taken so far, and with None once the body has ended: the
        # server's deadline for the body follows it (a trickling client is cut).
        self.progress: Callable[[int | None], None] | None = None

    def read(self, size: int = CHUNK) -> bytes:
        if self._done:
            return b""
        if self.chunked:
            data = self._read_chunked(size)
        else:
            left = self.left or 0
            data = self.rfile.read(min(size, left)) if left > 0 else b""
            self.left = left - len(data)
            if not data and self.left > 0:
                raise UploadError(400, "the upload ended early (connection closed)")
        if not data:
            self._done = True
        self.taken += len(data)
        if self.progress is not None:
            self.progress(None if self._done else self.taken)
        if self.taken > self.limit:
            raise UploadError(413, f"the upload is larger than this server's limit "
                              f"({self.limit // (1024 * 1024)} MiB, serve --max-upload)")
        return data

    def _read_chunked(self, size: int) -> bytes:
        if self._chunk_left == 0:
            line = self.rfile.readline(1024)
            self.taken += len(line)  # chunk-size lines and trailers count, too
            try:
                self._chunk_left = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise UploadError(400, "malformed chunked body") from None
            if self._chunk_left == 0:
                while (line := self.rfile.readline(1024)) not in (b"\r\n", b"\n", b""):
                    self.taken += len(line)  # trailers
                    if self.taken > self.limit:
                        raise UploadError(400, "malformed chunked body")
                return b""
        data = self.rfile.read(min(size, self._chunk_left))
        if not data:
            raise UploadError(400, "the upload ended early (connection closed)")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            self.rfile.readline(1024)  # the CRLF after the chunk
        return data

    def drain(self) -> None:
        while self.read():
            pass


class Received:
    """The form fields and the distribution, spooled to ``path`` (named as uploaded)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.path: str | None = None
        self.sha256 = ""
        self.size = 0


def boundary_of(content_type: str | None) -> bytes:
    if not content_type:
        raise UploadError(400, "expected a multipart/form-data body")
    message = BytesHeaderParser().parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode(
        "latin-1", "replace"))
    if message.get_content_type() != "multipart/form-data":
        raise UploadError(400, "expected a multipart/form-data body")
    boundary = message.get_param("boundary")
    if not isinstance(boundary, str) or not 0 < len(boundary) <= 200:
        raise UploadError(400, "multipart body without a boundary")
    return boundary.encode("latin-1", "replace")


class _Field:
    """One form field's bytes: kept when small, counted (and dropped) when not."""

    def __init__(self, parser: _Parser, keep: bool) -> None:
        self.parser = parser
        self.keep = keep
        self.kept: list[bytes] = []
        self.size = 0

    def __call__(self, piece: bytes) -> None:
        self.size += len(piece)
        self.parser.field_bytes += len(piece)
        if self.parser.field_bytes > MAX_FIELDS:
            raise UploadError(400, "the form fields are too large")
        if self.keep and self.size <= MAX_FIELD:
            self.kept.append(piece)


class _Parser:
    def __init__(self, body: Body, boundary: bytes, spool: str) -> None:
        self.body = body
        self.buf = b""
        self.delimiter = b"\r\n--" + boundary
        self.boundary = boundary
        self.spool = spool
        self.field_bytes = 0
        self.parts = 0

    def _fill(self) -> bool:
        data = self.body.read(CHUNK)
        if not data:
            return False
        self.buf += data
        return True

    def _until(self, marker: bytes, sink: object, cap: int | None = None) -> None:
        """Feed everything before ``marker`` to ``sink`` (a callable or None), consume it."""
        fed = 0
        while True:
            at = self.buf.find(marker)
            if at >= 0:
                piece, self.buf = self.buf[:at], self.buf[at + len(marker):]
            else:
                keep = len(marker) - 1
                piece = self.buf[:-keep] if len(self.buf) > keep else b""
                self.buf = self.buf[len(piece):]
            if piece:
                fed += len(piece)
                if cap is not None and fed > cap:
                    raise UploadError(400, "a multipart header is too long")
                if callable(sink):
                    sink(piece)
            if at >= 0:
                return
            if not self._fill():
                raise UploadError(400, "the multipart body ended early")

    def parse(self, got: Received) -> Received:
        # The preamble, then the first boundary line.
        self.buf = b"\r\n"
        self._until(b"\r\n--" + self.boundary, None, cap=MAX_HEADER)
        while True:
            while len(self.buf) < 2 and self._fill():
                pass
            if self.buf.startswith(b"--"):
                return got  # the closing delimiter
            self._until(b"\r\n", None, cap=MAX_HEADER)  # rest of the boundary line
            self.parts += 1
            if self.parts > MAX_PARTS:
                raise UploadError(400, f"more than {MAX_PARTS} parts in the multipart body")
            raw: list[bytes] = []
            self._until(b"\r\n\r\n", raw.append, cap=MAX_HEADER)
            self.field_bytes += sum(map(len, raw))
            if self.field_bytes > MAX_FIELDS:
                raise UploadError(400, "the form fields are too large")
            headers = BytesHeaderParser().parsebytes(b"".join(raw) + b"\r\n\r\n")
            name = headers.get_param("name", header="content-disposition")
            filename = headers.get_filename()
            if name == "content" and filename is not None and got.path is None:
                self._file(got, filename)
                continue
            field = _Field(self, keep=filename is None)
            self._until(self.delimiter, field)
            if isinstance(name, str) and filename is None and field.size <= MAX_FIELD:
                got.fields[name] = b"".join(field.kept).decode("utf-8", "replace")

    def _file(self, got: Received, filename: str) -> None:
        base = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if (not base or base.startswith(".") or len(base.encode()) > 240
                or any(ord(c) < 32 or c == "\x7f" for c in base)):
            raise UploadError(400, f"{filename!r} is not a distribution file name")
        directory = tempfile.mkdtemp(prefix="upload-", dir=self.spool)
        path = os.path.join(directory, base)
        got.path = path  # from here on, receive() removes the directory whatever happens
        sha256 = hashlib.sha256()
        got.filename = base
        with open(path, "wb") as out:
            def write(piece: bytes) -> None:
                out.write(piece)
                sha256.update(piece)
                got.size += len(piece)

            self._until(self.delimiter, write)
        got.sha256 = sha256.hexdigest()


def _file_digest(path: str | None, algorithm: str) -> str:
    digest = (hashlib.blake2b(digest_size=32) if algorithm == "blake2b"
              else hashlib.new(algorithm, usedforsecurity=False))
    with open(path or "", "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def spool_dir(root: str) -> str:
    """This process's own directory for uploads in progress (``.pipwrap/uploads/<pid>``)."""
    path = os.path.join(root, ".pipwrap", UPLOADS, str(os.getpid()))
    os.makedirs(path, exist_ok=True)
    return path


def clear_spool(root: str) -> None:
    """Remove what killed servers left (never in a project directory); a directory of a
    server still running on the same tree is left alone."""
    spool = os.path.join(root, ".pipwrap", UPLOADS)
    try:
        names = os.listdir(spool)
    except OSError:
        return
    for name in names:
        if name.isdigit() and int(name) != os.getpid():
            try:
                os.kill(int(name), 0)
                continue  # alive
            except ProcessLookupError:
                pass
            except PermissionError:
                continue  # alive, someone else's
        shutil.rmtree(os.path.join(spool, name), ignore_errors=True)


def _public(message: str, path: str, filename: str, root: str) -> str:
    """store's message without the server's own paths."""
    return message.replace(path, filename).replace(f" in {root} ", " in this index ").replace(
        root, "the index")


class Outcome:
    """What an accepted upload did: ``state`` is "added", or "present" (the same bytes
    were already published: a re-run of twine, nothing changed)."""

    __slots__ = ("filename", "project", "state")

    def __init__(self, project: str, filename: str, state: str) -> None:
        self.project = project
        self.filename = filename
        self.state = state

    def log_line(self, user: str | None) -> str:
        by = f" by {user}" if user else ""
        if self.state == "present":
            return f"upload of {self.project}/{self.filename}{by}: already present (same " \
                   "bytes), nothing changed"
        return f"uploaded {self.project}/{self.filename}{by}"


def refusal_line(status: int, message: str, user: str | None) -> str:
    """The log's line for a refused upload (always logged, -v or not)."""
    by = f" from {user}" if user else ""
    return f"upload refused ({status}){by}: {message}"


def receive(root: str, body: Body, content_type: str | None, *, user: str | None = None,
            policy: Policy | None = None) -> Outcome:
    """Parse, check and add one upload by ``user`` (None: no login) under ``policy``
    (who may publish what: pipwrap.repo.permissions); :class:`UploadError` if refused."""
    from pipwrap.repo import permissions, store
    from pipwrap.repo.distfile import normalize

    rules = policy or permissions.Policy()

    boundary = boundary_of(content_type)
    got = Received()
    try:
        _Parser(body, boundary, spool_dir(root)).parse(got)
        body.drain()  # an epilogue: the body ends here (and its deadline with it)
        action = got.fields.get(":action", "")
        if action != "file_upload":
            raise UploadError(400, f"unsupported :action {action!r} (only file_upload)")
        if got.path is None or got.filename is None:
            raise UploadError(400, "no distribution in the upload (the 'content' part)")
        from pipwrap.repo.distfile import parse_filename

        claimed_name = got.fields.get("name")
        try:
            dist = parse_filename(got.filename)
        except PipwrapError as exc:
            raise UploadError(400, str(exc)) from None
        project = dist.project
        if "+" in dist.version:
            # `foo==1.0` matches `1.0+anything`, and installers prefer it: an upload could
            # replace the release every pin names (red-team finding 7). PyPI refuses them.
            public = dist.version.split("+", 1)[0]
            raise UploadError(400, f"{got.filename}: a local version ({dist.version}) "
                              f"cannot be uploaded: it would satisfy every pin of "
                              f"{project}=={public} (the operator can add it with "
                              "pipwrap repo add)")
        if claimed_name and normalize(claimed_name) != project:
            raise UploadError(400, f"{got.filename}: the form's name {claimed_name!r} is not "
                              "the file's project")
        # sha256 is hashed on the way in; md5/blake2 only when no sha256 came (they cost a
        # second read, and twine and uv publish always send sha256).
        checks: list[tuple[str, Callable[[], str]]] = [("sha256_digest", lambda: got.sha256)]
        if not got.fields.get("sha256_digest"):
            checks += [("md5_digest", lambda: _file_digest(got.path, "md5")),
                       ("blake2_256_digest", lambda: _file_digest(got.path, "blake2b"))]
        for field, actual in checks:
            claimed = got.fields.get(field, "").strip().lower()
            if claimed and claimed != actual():
                raise UploadError(400, f"{got.filename}: the {field} sent does not match the "
                                  "bytes received (corrupted in transit?)")
        def admit(plan: list[store.Added]) -> Callable[[], None] | None:
            return permissions.admit(root, plan[0].dist, user, rules,
                                     present=plan[0].state == "present")

        try:
            rules.check_upstream(root, project, user)  # outside the lock: it may wait
            added, _ = store.add(root, [got.path], admit)
        except permissions.Refusal as exc:
            raise UploadError(exc.status, exc.message) from None
        except store.Conflict as exc:
            raise UploadError(409, _public(str(exc), got.path, got.filename, root)) from None
        except PipwrapError as exc:
            raise UploadError(400, _public(str(exc), got.path, got.filename, root)) from None
        dist = added[0].dist
        return Outcome(dist.project, dist.filename, added[0].state)
    finally:
        if got.path is not None:
            shutil.rmtree(os.path.dirname(got.path), ignore_errors=True)

"""``pipwrap serve``'s uploads (twine, uv publish, hatch, flit, poetry POST to ``/`` or
``/legacy/``): who may, the body read as it arrives under a deadline that follows the
bytes, and every refusal said twice: in the response body (twine shows it with
``--verbose``; uv prints it) and in serve's log. Storing is :mod:`pipwrap.repo.upload`'s.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sys
import time
from http import HTTPStatus
from typing import Any

from pipwrap.repo import upload
from pipwrap.repo.request import Request, Server

UPLOAD_BODY_RATE = 1024  # bytes a second on average after the grace (docs/hosting.md)


async def receive(app: Server, request: Request) -> None:
    access = app.access
    refusal: tuple[HTTPStatus, str] | None = None
    challenge = False
    if request.scope.path not in ("/", "/legacy", "/legacy/"):
        refusal = HTTPStatus.NOT_FOUND, "uploads go to / or /legacy/"
    elif not access.uploads:
        # Both ways on: a laptop's anonymous upload (the `local` profile has no login)
        # needs --auth none; --htpasswd alone would refuse it again, with a 401.
        refusal = (HTTPStatus.METHOD_NOT_ALLOWED, "uploads are off on this server "
                   "(pipwrap serve --auth none turns them on without a login, "
                   "--htpasswd FILE with logins)")
    user = None
    if refusal is None and access.login_to_upload:
        user = await app.login(request.header("authorization"))
        if user is None:
            refusal, challenge = (HTTPStatus.UNAUTHORIZED,
                                  "a valid login is needed to upload"), True
    if refusal is None:
        refused = access.policy.before_body(user)  # a read-only login
        if refused is not None:
            refusal = HTTPStatus(refused.status), refused.message
    length = request.header("content-length")
    if refusal is None and length is not None and length.isdigit() \
            and int(length) > access.max_upload:
        refusal = (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the upload is larger than this "
                   f"server's limit ({access.max_upload // (1024 * 1024)} MiB, serve "
                   "--max-upload)")
    if refusal is not None:
        status, message = refusal
        sys.stderr.write(f"pipwrap serve: {upload.refusal_line(status, message, user)}\n")
        # Answered at once, the body left unread: granian then closes the connection. A
        # client still sending may see the close before the answer (twine: "Connection
        # aborted" for a big file with a wrong password). Reading the body away first
        # was tried: once its body is being read, the engine keeps a connection open
        # after the answer until the body ends, so a client trickling a refused body
        # held it for as long as it liked (red-team 4).
        request.plain(status, message + "\n", close=True, headers=[
            ("WWW-Authenticate", 'Basic realm="pipwrap"')] if challenge else None)
        return
    body = _StreamedBody(request.protocol, asyncio.get_running_loop(), access.max_upload,
                         app.header_timeout)
    try:
        outcome = await app.in_pool(
            lambda: upload.receive(app.root, body, request.header("content-type"),
                                   user=user, policy=access.policy))
    except upload.UploadError as exc:
        line = upload.refusal_line(exc.status, exc.message, user)
        sys.stderr.write(f"pipwrap serve: {line}\n")
        await body.read_away()  # the client, still sending, hears why
        request.plain(HTTPStatus(exc.status), exc.message + "\n", close=True)
        return
    except OSError as exc:
        sys.stderr.write(f"pipwrap serve: upload failed: {exc}\n")
        request.plain(HTTPStatus.INTERNAL_SERVER_ERROR, "the upload could not be stored\n",
                      close=True)
        return
    sys.stderr.write(f"pipwrap serve: {outcome.log_line(user)}\n")
    request.plain(HTTPStatus.OK, "OK\n")


# How much of a refused body is read away before the answer, and for how long at most.
REFUSED_BODY_CAP = 64 * 1024 * 1024
REFUSED_BODY_SECONDS = 5.0


class _StreamedBody(upload.Body):
    """The request body as upload.receive reads it (in a pool thread): chunks the engine
    has de-chunked, pulled from the event loop one at a time, each under a deadline that
    follows the bytes taken (1 KiB/s on average after a grace): a client trickling a byte
    now and then holds nothing for long."""

    def __init__(self, protocol: Any, loop: asyncio.AbstractEventLoop, limit: int,
                 grace: float) -> None:
        super().__init__(io.BytesIO(), None, False, limit)
        self._chunks = protocol.__aiter__()
        self._loop = loop
        self._pending = b""
        self._ended = False
        self._start = time.monotonic() + grace

    async def read_away(self, cap: int = REFUSED_BODY_CAP,
                        seconds: float = REFUSED_BODY_SECONDS) -> None:
        """The rest of a refused body, up to ``cap`` bytes and ``seconds`` in all (nginx's
        lingering close): enough for a client on a LAN to finish sending and read why;
        never a way for anyone to hold a connection at the upload's slow pace (64 MiB at
        1 KiB/s is 18 hours: red-team 4)."""
        async def drain(left: int) -> None:
            while not self._ended and left > 0:
                chunk = await self._next()
                if not chunk:
                    return
                left -= len(chunk)
                self.taken += len(chunk)

        with contextlib.suppress(Exception):  # a deadline, a closed connection: done
            await asyncio.wait_for(drain(cap), seconds)

    async def _next(self) -> bytes:
        deadline = self._start + self.taken / UPLOAD_BODY_RATE
        try:
            chunk: bytes = await asyncio.wait_for(self._chunks.__anext__(),
                                                  max(0.0, deadline - time.monotonic()))
        except StopAsyncIteration:
            return b""
        except asyncio.TimeoutError:
            raise upload.UploadError(408, "the upload came too slowly") from None
        return chunk

    def read(self, size: int = upload.CHUNK) -> bytes:
        if self._ended:
            return b""
        if not self._pending:
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            self._pending = future.result()
            if not self._pending:
                self._ended = True
                return b""
        data, self._pending = self._pending[:size], self._pending[size:]
        self.taken += len(data)
        if self.taken > self.limit:
            raise upload.UploadError(413, f"the upload is larger than this server's limit "
                                     f"({self.limit // (1024 * 1024)} MiB, serve "
                                     "--max-upload)")
        return data

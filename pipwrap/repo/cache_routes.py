"""``pipwrap serve --cache``'s requests: a page of the fallback's, fetched and kept here,
and a fallback file by the sha256 its page gave, checked before or as it is sent.

The mirror (:mod:`pipwrap.repo.mirror`) fetches and checks; this module only answers:
404, 502 (503: a damaged cached copy, dropped) with the reason as the body, or the
bytes. A file being fetched whose bytes turn out wrong mid-way is cut (the connection
closes before the response is complete), so no client takes it as whole.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import IO, Any, cast

from pipwrap.repo import pages, serving, upload
from pipwrap.repo.request import SERVER, TEXT, Headers, Request, Server

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.repo.cachefile import Stored
    from pipwrap.repo.mirror import Mirror

SPOOL_IN_MEMORY = 1024 * 1024  # a fetched file of unknown length: kept in memory up to this


async def _ask(app: Server, request: Request, cache: Mirror, call: Callable[..., Any],
               *args: Any, page: bool = False) -> Any:
    """``call(*args)`` in a pool (``page``: the page fetches' own); None once a 404 or
    502 has answered for it."""
    try:
        return await app.in_pool(call, *args, page_fetch=page)
    except cache.NotFound:
        request.not_found()
    except cache.Unwritable as exc:
        request.plain(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}\n")
    except cache.Unavailable as exc:
        message = str(exc)
        user_agent = request.header("user-agent") or ""
        if page and user_agent.startswith("pip/"):
            # pip logs a failed index page at debug level only; the one thing it prints
            # about a page is a Content-Type it cannot use: a 200 nothing may cache.
            said = serving.printable(message).replace("\\", "/").replace('"', "'") \
                .encode("latin-1", "replace").decode("latin-1")
            request.chosen = " (cache: nothing cached, upstream unreachable)"
            request.send(200, [("Content-Type", f'{TEXT}; error="{said[:300]}"'),
                               ("Cache-Control", "no-store")], f"{message}\n".encode())
        else:
            request.plain(HTTPStatus.BAD_GATEWAY, f"{message}\n")
    return None


async def mirrored_page(app: Server, request: Request, cache: Mirror, project: str) -> None:
    chosen = serving.negotiate(request.header("accept"))
    if chosen is None:
        request.not_acceptable()
        return
    json_form = chosen == pages.JSON_TYPE
    # A fresh page in memory is answered here, on the loop: never behind the fetches.
    page = cache.fresh_page(project, json_form) or await _ask(
        app, request, cache, cache.page, project, json_form, page=True)
    if page is None:
        return
    request.chosen = " (cache)"
    # The mark of a page taken upstream (indexpage.UPSTREAM_MARK, in page.headers): the
    # fence refuses a reserved name on it.
    request.page(chosen, page.etag, page.mtime, page.last_modified, page.data, page.headers)


async def cached_file(app: Server, request: Request, cache: Mirror, project: str, sha256: str,
                      filename: str) -> None:
    """A fallback file by the hash its page gave. A cached copy is hashed before a byte
    goes out (once per change of the file), then sent by the engine from disk, paced by
    the client; a file fetched now streams as it comes, checked on the way (the mirror
    raises before the last chunk when the bytes are wrong)."""
    try:
        os.lstat(os.path.join(app.root, project))
    except OSError as exc:
        if not serving.absent(exc):
            request.unavailable()
            return
    else:
        request.not_found()  # held here: upstream files never show (local-first)
        return
    try:
        found = await app.in_pool(cache.file, project, sha256, filename)
    except cache.NotFound:
        request.not_found()
        return
    except (cache.Unavailable, cache.Unwritable) as exc:
        request.plain(HTTPStatus.BAD_GATEWAY, f"{exc}\n")
        return
    validators = [("ETag", found.etag), ("Last-Modified", found.last_modified)]
    if not found.fetched:  # (cachefile is imported only with --cache)
        await _stored(app, request, cache, cast("Stored", found), validators)
        return
    request.chosen = " (cache: fetched)"
    size, body = found.size, found
    if size is None:  # cut, a chunked stream ends cleanly (a 200): checked whole first
        if (spooled := await _ask(app, request, cache, _spool, found)) is None:
            return
        size, body = spooled

    chunks = found.chunks() if body is found else iter(lambda: body.read(upload.CHUNK), b"")
    try:
        await _stream(app, request, found.content_type, size, chunks, validators)
    finally:
        await app.in_pool(body.close)


async def _stored(app: Server, request: Request, cache: Mirror, found: Stored,
                  validators: Headers) -> None:
    """A cached copy: checked, then sent from disk by the engine (granian buffers bytes
    it is handed without waiting for the client: 20 slow readers of a 24 MiB file
    held ~500 MB that way)."""
    try:
        if request.not_modified(found.etag, found.mtime):
            request.send(304, validators)
            return
        path = await app.in_pool(cache.verified, found)
    except cache.Mismatch as exc:  # dropped: the next request fetches it again
        request.plain(HTTPStatus.SERVICE_UNAVAILABLE, f"{exc}\n")
        return
    finally:
        await app.in_pool(found.close)
    request.status = 200
    request.protocol.response_file(200, [("Content-Type", found.content_type), *validators,
                                         ("Server", SERVER)], path)


async def _stream(app: Server, request: Request, kind: str, size: int | None,
                  chunks: Iterator[bytes], extra: Headers) -> None:
    """Send ``chunks`` of a file being fetched: each one read (and hash-checked) in the
    pool, then handed to the engine from the event loop (a thread per chunk read, never
    per transfer). An exception mid-way (a hash mismatch) cuts the connection before the
    response is complete, so no client takes it as whole. Unpaced (granian buffers what
    it is handed), but at the upstream's pace, and only the first time: the file is
    cached, and sent from disk after."""
    headers = [("Content-Type", kind), *extra, ("Server", SERVER)]
    if size is not None:
        headers.append(("Content-Length", str(size)))
    request.status = 200
    transport = request.protocol.response_stream(200, headers)
    head = request.scope.method == "HEAD"
    while (chunk := await app.in_pool(next, chunks, None)) is not None:
        if not head:
            await transport.send_bytes(chunk)


def _spool(found: Any) -> tuple[int, IO[bytes]]:
    """``found``'s bytes, hash-checked whole into a spooled file (then sent with their
    length); a mismatch or a broken upstream: the cache's Unavailable, a 502."""
    from pipwrap.repo.cachefile import Interrupted
    from pipwrap.repo.mirror import Unavailable

    spooled = tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY)  # noqa: SIM115 (closed by produce)
    try:
        with found:
            for data in found.chunks():
                spooled.write(data)
    except BaseException as exc:
        spooled.close()
        if isinstance(exc, Interrupted):
            raise Unavailable(f"{found.name}: the upstream's bytes were refused") from None
        raise
    size = spooled.tell()
    spooled.seek(0)
    return size, spooled

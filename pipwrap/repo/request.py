"""One request as ``pipwrap serve``'s app sees it on granian (RSGI): its headers, the
status it got, what the log adds, and one-call answers (a page with its validators, a
plain-text sentence, a redirect). A refusal's reason is its body, in plain text: the
engine (hyper) sends only the standard reason phrase, which HTTP/2 drops and RFC 9110
tells clients to ignore; twine shows the body with ``--verbose``, uv prints it."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

from pipwrap import __version__
from pipwrap.repo import pages, serving

SERVER = f"pipwrap/{__version__}"
TEXT = "text/plain; charset=utf-8"

Headers = list[tuple[str, str]]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pipwrap.repo.access import Access


class Server(Protocol):
    """What the upload and cache routes use of :class:`pipwrap.repo.app.App` (so that
    they need not import it)."""

    root: str
    access: Access
    header_timeout: float

    async def login(self, authorization: str | None) -> str | None: ...

    async def in_pool(self, call: Callable[..., Any], *args: Any, page_fetch: bool = False
                      ) -> Any: ...


class Request:
    """One request's answer: the status sent, what the log adds, one-call responses."""

    __slots__ = ("chosen", "protocol", "scope", "status")

    def __init__(self, scope: Any, protocol: Any) -> None:
        self.scope = scope
        self.protocol = protocol
        self.status = 0
        self.chosen = ""

    def header(self, name: str) -> str | None:
        value = self.scope.headers.get(name)
        return None if value is None else str(value)

    def not_modified(self, tag: str, mtime: int) -> bool:
        return serving.not_modified(tag, mtime, self.header("if-none-match"),
                                    self.header("if-modified-since"))

    def send(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status = status
        headers = [*headers, ("Server", SERVER)]
        if status == 304:
            self.protocol.response_empty(status, headers)
        else:
            self.protocol.response_bytes(status, headers, body)

    def page(self, chosen: str, tag: str, mtime: int, last_modified: str, data: bytes,
             extra: tuple[tuple[str, str], ...] = ()) -> None:
        """A project or root page of the ``chosen`` type, with validators (304);
        ``extra``: headers sent with it, on a 304 too (the cache's upstream mark)."""
        kind = f"{chosen}; charset=utf-8" if chosen == "text/html" else chosen
        validators = [("ETag", tag), ("Last-Modified", last_modified), ("Vary", "Accept"),
                      *extra]
        if self.not_modified(tag, mtime):
            self.send(304, validators)
            return
        self.send(200, [("Content-Type", kind), *validators], data)

    def plain(self, status: HTTPStatus, text: str, *, close: bool = False,
              headers: Headers | None = None) -> None:
        """``text``, the sentence saying why, as the body (the only place it can go)."""
        extra = list(headers or [])
        if close:
            extra.append(("Connection", "close"))
        self.send(status.value, [("Content-Type", TEXT), *extra], text.encode())

    def not_acceptable(self) -> None:
        self.plain(HTTPStatus.NOT_ACCEPTABLE,
                   f"acceptable: {pages.JSON_TYPE}, {pages.HTML_TYPE}, text/html\n")

    def redirect(self, status: HTTPStatus, location: str) -> None:
        self.send(status.value, [("Location", quote(location, safe="/:@!$&()*+,;=%~?"))])

    def not_found(self) -> None:
        self.plain(HTTPStatus.NOT_FOUND, "not found\n")

    def unavailable(self) -> None:
        # Fail closed: the tree could not be read, so whether the name is held is unknown.
        self.plain(HTTPStatus.SERVICE_UNAVAILABLE,
                   "the repository cannot be read here; not sent upstream\n")

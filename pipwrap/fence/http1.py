"""HTTP/1.x framing for the fence: a request or response head, and a body's chunks.

Strict where being lax would let a peer smuggle a second message past the policy: a
header line without a colon or with white space before it, an over-long head, an unknown
transfer-coding each end the connection (:class:`Closed`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

BLOCK = 256 * 1024
MAX_HEAD = 64 * 1024
HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "proxy-authorization",
    "proxy-authenticate", "te", "trailer", "transfer-encoding", "upgrade", "expect",
})


class Closed(Exception):
    """The peer went away, or sent something that is not HTTP/1.x."""


class Headers:
    def __init__(self, items: list[tuple[str, str]]) -> None:
        self.items = items

    def get(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.items:
            if key.lower() == name:
                return value
        return None

    def without(self, names: frozenset[str] | set[str]) -> list[tuple[str, str]]:
        dropped = set(names)
        connection = self.get("connection")
        if connection:
            dropped |= {token.strip().lower() for token in connection.split(",")}
        return [(k, v) for k, v in self.items if k.lower() not in dropped]


def read_head(rfile: BinaryIO) -> tuple[str, Headers] | None:
    line = rfile.readline(MAX_HEAD)
    while line in (b"\r\n", b"\n"):  # tolerated before a request (RFC 9112 2.2)
        line = rfile.readline(MAX_HEAD)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise Closed("over-long start line")
    items: list[tuple[str, str]] = []
    total = len(line)
    while True:
        header = rfile.readline(MAX_HEAD)
        total += len(header)
        if not header or total > MAX_HEAD:
            raise Closed("truncated or over-long header")
        if header in (b"\r\n", b"\n"):
            break
        name, colon, value = header.decode("latin-1").partition(":")
        if not colon or not name or name != name.strip():
            raise Closed("malformed header line")
        items.append((name, value.strip()))
    return line.decode("latin-1").rstrip("\r\n"), Headers(items)


def _chunked(rfile: BinaryIO) -> Iterator[bytes]:
    while True:
        size_line = rfile.readline(MAX_HEAD)
        if not size_line:
            raise Closed("truncated chunked body")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise Closed("bad chunk size") from None
        if size == 0:
            while rfile.readline(MAX_HEAD) not in (b"\r\n", b"\n", b""):
                pass  # trailers are dropped
            return
        while size:
            data = rfile.read(min(size, BLOCK))
            if not data:
                raise Closed("truncated chunk")
            size -= len(data)
            yield data
        rfile.readline(MAX_HEAD)


def _sized(rfile: BinaryIO, length: int) -> Iterator[bytes]:
    read1 = getattr(rfile, "read1", rfile.read)
    while length > 0:
        data = read1(min(length, BLOCK))
        if not data:
            raise Closed("truncated body")
        length -= len(data)
        yield data


def _until_eof(rfile: BinaryIO) -> Iterator[bytes]:
    read1 = getattr(rfile, "read1", rfile.read)
    while True:
        data = read1(BLOCK)
        if not data:
            return
        yield data


def body(rfile: BinaryIO, headers: Headers, *,
          response: bool) -> tuple[Iterator[bytes], int | None]:
    """The body's chunks and its length when known; None with an iterator that reads to EOF."""
    encoding = headers.get("transfer-encoding")
    if encoding and encoding.lower().strip() != "identity":
        if not encoding.lower().replace(" ", "").endswith("chunked"):
            raise Closed("unsupported transfer-encoding")
        return _chunked(rfile), None
    length = headers.get("content-length")
    if length is not None:
        try:
            size = int(length.split(",")[0].strip())
        except ValueError:
            raise Closed("bad content-length") from None
        if size < 0:
            raise Closed("bad content-length")
        return _sized(rfile, size), size
    if response:
        return _until_eof(rfile), None
    return iter(()), 0

"""What a request to the upload URL may be: a package upload, and nothing else.

The fence adds the profile's login to a POST to the upload URL. The same URL takes other
actions on the servers pipwrap talks to (pypiserver's ``:action=remove_pkg`` deletes a
release; the legacy upload API has ``doc_upload``...), and a wrapped command is not
trusted: a build script must not delete the team's ``foo 1.0`` so that the fallback's
``foo 9.9.9`` wins next time. So an upload is a ``multipart/form-data`` body whose every
``:action`` field says ``file_upload`` (twine and uv publish send exactly that).

Every field is checked, not the first: bottle (pypiserver) takes the *last* value of a
repeated field. Parsers differ on line ends (Python's cgi, under bottle 0.12, takes a
boundary after a bare LF and a header block ended by LF LF), so the scan takes the most
lenient reading of each. The body is scanned as it streams, and only bytes already
scanned are forwarded; a body found bad is never sent whole, so the server never acts
on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

UPLOAD_ACTION = b"file_upload"
# A part's header block, and a field's value that must be read whole, stay under this.
MAX_PART_HEAD = 16 * 1024
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_DISPOSITION = re.compile(rb"^content-disposition:(.*)$", re.IGNORECASE | re.MULTILINE)


class NotAnUpload(Exception):
    """The body is not a plain package upload; the message says why (for people)."""


def form_boundary(content_type: str | None) -> bytes:
    """The multipart boundary of a ``multipart/form-data`` content type."""
    kind, _, params = (content_type or "").partition(";")
    if kind.strip().lower() != "multipart/form-data":
        raise NotAnUpload(f"an upload is multipart/form-data, not {kind.strip() or 'no type'!r}")
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "boundary":
            value = value.strip().strip('"')
            if value and len(value) <= 200:
                return value.encode("latin-1")
    raise NotAnUpload("a multipart upload without a usable boundary")


def _field_name(head: bytes) -> bytes | None:
    """The form field's name from a part's headers (None for no disposition)."""
    found = _DISPOSITION.search(head)
    if found is None:
        return None
    params = found.group(1).split(b";")
    names = []
    for param in params[1:]:
        key, _, value = param.strip().partition(b"=")
        key = key.strip().lower()
        if key.endswith(b"*"):
            # RFC 2231/5987 encoded parameters: servers disagree on them; nobody needs one.
            raise NotAnUpload("an encoded (name*=) form parameter")
        if key == b"name":
            names.append(value.strip().strip(b'"'))
    if len(names) != 1:
        raise NotAnUpload("a form part without exactly one name")
    return names[0]


def _check_part(head: bytes, value: bytes | None) -> bool:
    """True when the part is an ``:action`` field whose value is needed (not yet read)."""
    name = _field_name(head)
    if name is None or b"action" not in name.lower():
        return False
    if name != b":action":
        raise NotAnUpload(f"a form field named {name.decode('latin-1')!r}")
    if value is None:
        return True
    if value != UPLOAD_ACTION:
        raise NotAnUpload(f":action={value[:40].decode('latin-1')!r} (only file_upload passes)")
    return False


def scanned(content_type: str | None, body: Iterator[bytes]) -> Iterator[bytes]:
    """The body's bytes, each piece yielded only after the scan has passed it.

    Raises :class:`NotAnUpload` at once for a body that is not multipart, and while
    iterating (before the bytes that make the body bad are yielded, and always before its
    end) for one that is not a package upload.
    """
    return _scanned(b"\n--" + form_boundary(content_type), body)


def _scanned(delimiter: bytes, body: Iterator[bytes]) -> Iterator[bytes]:
    # The body starts with "--boundary": seen as if a line end came before it.
    pending = b"\n"
    offset = 0  # where in `pending` the scan goes on
    skipped_prefix = 1
    ended = False
    for chunk in body:
        if ended:  # after the closing boundary (an epilogue): no server reads it
            yield chunk
            continue
        pending += chunk
        offset, ended = _scan(pending, offset, delimiter, complete=False)
        # Everything before the scan point is checked: send it on (never the CRLF we added).
        ready, pending, offset = pending[:offset], pending[offset:], 0
        if ready[skipped_prefix:]:
            yield ready[skipped_prefix:]
        skipped_prefix = max(0, skipped_prefix - len(ready))
    if not ended:
        _, ended = _scan(pending, offset, delimiter, complete=True)
    if not ended:
        raise NotAnUpload("the multipart body does not end with its closing boundary")
    if pending[skipped_prefix:]:
        yield pending[skipped_prefix:]


def _scan(data: bytes, offset: int, delimiter: bytes, *, complete: bool) -> tuple[int, bool]:
    """Check every part that starts in ``data[offset:]``; (where the scan stopped, whether
    the closing delimiter was reached). Stops early before a part whose headers (or an
    ``:action`` value) are not all in ``data`` yet, unless ``complete``."""
    while True:
        start = data.find(delimiter, offset)
        if start < 0:
            # Keep what could be the start of a delimiter split across two chunks.
            return max(offset, len(data) - len(delimiter) - 4), False
        after = start + len(delimiter)
        if data[after:after + 2] == b"--":
            return len(data), True  # the closing delimiter: nothing after it is read
        head_end = _HEAD_END.search(data, after)
        if head_end is None:
            if complete or len(data) - after > MAX_PART_HEAD:
                raise NotAnUpload("a form part's headers are cut short or too long")
            return start, False
        head = data[after:head_end.start()]
        value_start = head_end.end()
        if _check_part(head, None):
            value_end = data.find(delimiter, value_start)
            if value_end < 0:
                if complete or len(data) - value_start > MAX_PART_HEAD:
                    raise NotAnUpload("an :action field that does not end")
                return start, False
            _check_part(head, data[value_start:value_end].removesuffix(b"\r"))
        offset = value_start

"""What the fence passes to the upload URL: a package upload, never another action.

The bodies are built as twine and uv publish build them (metadata fields, ``:action``,
then the file), and as an attacker would: pypiserver's ``remove_pkg``, a second
``:action`` after the file (bottle takes the last value), a boundary after a bare LF
(Python's cgi under bottle reads it).
"""

from __future__ import annotations

import pytest

from pipwrap.fence.upload import NotAnUpload, scanned

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def form(*fields: tuple[str, bytes], file: bytes | None = b"PK\x03\x04" + b"x" * 5000,
         newline: bytes = b"\r\n") -> bytes:
    out = b""
    for name, value in fields:
        out += (b"--" + BOUNDARY.encode() + newline
                + f'Content-Disposition: form-data; name="{name}"'.encode() + newline
                + newline + value + newline)
    if file is not None:
        out += (b"--" + BOUNDARY.encode() + b"\r\n"
                b'Content-Disposition: form-data; name="content"; filename="foo-1.0.whl"\r\n'
                b"Content-Type: application/octet-stream\r\n\r\n" + file + b"\r\n")
    return out + b"--" + BOUNDARY.encode() + b"--\r\n"


def passed(body: bytes, piece: int, content_type: str = CONTENT_TYPE) -> bytes:
    """What the fence sends on, the body arriving in pieces of ``piece`` bytes."""
    chunks = iter([body[i:i + piece] for i in range(0, len(body), piece)])
    return b"".join(scanned(content_type, chunks))


def sent_before_refusal(body: bytes, piece: int) -> bytes:
    chunks = iter([body[i:i + piece] for i in range(0, len(body), piece)])
    sent = b""
    with pytest.raises(NotAnUpload):
        for data in scanned(CONTENT_TYPE, chunks):
            sent += data
    return sent


TWINE = form(("name", b"foo"), ("version", b"1.0"), ("description", b"long " * 3000),
             (":action", b"file_upload"), ("protocol_version", b"1"))
UV = form((":action", b"file_upload"), ("protocol_version", b"1"), ("name", b"foo"))


@pytest.mark.parametrize("piece", [1, 7, 64, 4096, 1 << 20])
@pytest.mark.parametrize("body", [TWINE, UV], ids=["twine", "uv"])
def test_a_package_upload_passes_unchanged(body: bytes, piece: int) -> None:
    assert passed(body, piece) == body


@pytest.mark.parametrize("piece", [1, 13, 4096, 1 << 20])
@pytest.mark.parametrize("body", [
    form(("name", b"foo"), ("version", b"1.0"), (":action", b"remove_pkg"), file=None),
    form((":action", b"doc_upload")),
    # bottle takes the last value of a repeated field: the one after the file counts.
    form((":action", b"file_upload")) .removesuffix(b"--" + BOUNDARY.encode() + b"--\r\n")
    + form((":action", b"remove_pkg"), file=None),
    # Python's cgi takes a boundary after a bare LF and a header block ended by LF LF.
    form((":action", b"file_upload"), ("x", b"y"), newline=b"\n")[:-len(BOUNDARY) - 6]
    + b"\n--" + BOUNDARY.encode() + b'\nContent-Disposition: form-data; name=":action"\n\n'
    + b"remove_pkg\n--" + BOUNDARY.encode() + b"--\n",
    form(("%3Aaction", b"remove_pkg")),
    form((":action", b"file_upload\r\n")),
], ids=["remove", "doc-upload", "second-action", "bare-lf", "encoded-name", "trailing-crlf"])
def test_anything_else_is_refused_before_its_end_is_sent(body: bytes, piece: int) -> None:
    sent = sent_before_refusal(body, piece)
    assert body.startswith(sent)
    # The closing boundary never reaches the server: it acts on no incomplete form.
    assert b"--" + BOUNDARY.encode() + b"--" not in sent


@pytest.mark.parametrize("content_type", [
    "application/x-www-form-urlencoded", None, "multipart/form-data",
    "multipart/mixed; boundary=b0undary",
])
def test_a_body_that_is_not_a_multipart_form_is_refused_at_once(content_type: str | None) -> None:
    with pytest.raises(NotAnUpload):
        scanned(content_type, iter([b":action=remove_pkg&name=foo&version=1.0"]))


def test_an_encoded_parameter_and_a_cut_body_are_refused() -> None:
    encoded = form((":action", b"file_upload")).replace(
        b'name=":action"', b"name*=utf-8''%3Aaction")
    with pytest.raises(NotAnUpload):
        passed(encoded, 100)
    with pytest.raises(NotAnUpload):
        passed(UV[:-12], 100)  # no closing boundary

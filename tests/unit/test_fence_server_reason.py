"""The server's refusal text the fence repeats on the user's terminal is one printable line,
never the profile's password, and nothing when it is too long to be a reason."""

from __future__ import annotations

from pipwrap.fence.session import SERVER_REASON_MAX, server_reason


def test_a_reason_is_one_printable_line_without_the_password() -> None:
    said = server_reason(b"bob is not\r\nan owner \x1b[31mof foo; you sent s3cret\x07\n",
                         ("bob", "s3cret"))
    assert said == "bob is not an owner [31mof foo; you sent ****"


def test_a_long_body_is_no_reason() -> None:
    assert server_reason(b"x" * (SERVER_REASON_MAX + 1), None) == ""
    assert server_reason(b"x" * SERVER_REASON_MAX, None) == "x" * SERVER_REASON_MAX

"""Hide credentials in URLs before anything is printed."""

from __future__ import annotations

import re

# The password runs to the "@" that a host (and port) follows: a raw "@", "/", ":" or "#"
# in a password must not end the mask early (over-masking is the safe side). A host is a
# name or a bracketed IPv6 literal, whose colons a name does not have.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@:\s]*)(?::\S*?)?@"
                       r"(?=(?:\[[0-9A-Za-z:.%_~-]*\]|[A-Za-z0-9._~-]+)(?::\d*)?"
                       r"(?:[/?#\s\"']|$))")
_SECRET_QUERY = re.compile(
    r"(?P<key>[?&;](?:[^=&;#\s]*(?:token|secret|password|passwd|pwd|key|auth|signature|sig|"
    r"credential)[^=&;#\s]*)=)[^&;#\s]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """Mask passwords in ``user:pass@`` and secret-looking query values, like pip does.

    The username stays visible (pip shows it too); a token given as the username alone
    (``https://TOKEN@host``) is masked, since it is the secret.
    """

    def _userinfo(match: re.Match[str]) -> str:
        user = match.group("user")
        has_password = ":" in match.group(0)[len(match.group("scheme")) :].rstrip("@")
        if has_password:
            return f"{match.group('scheme')}{user}:****@"
        return f"{match.group('scheme')}****@"

    text = _USERINFO.sub(_userinfo, text)
    return _SECRET_QUERY.sub(lambda m: f"{m.group('key')}****", text)

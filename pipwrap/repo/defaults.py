"""Where ``pipwrap serve`` listens and falls back to unless told otherwise.

Kept apart from :mod:`.hosting` so that building the command line does not import the HTTP
server. The client's built-in ``local`` profile (:data:`pipwrap.config.BUILTIN_URL`)
points at this address; a test keeps the two in step.
"""

from __future__ import annotations

from pipwrap.errors import PipwrapError

HOST = "127.0.0.1"
PORT = 8080
FALLBACK = "https://pypi.org/simple/"
# serve's limits against hostile clients (docs/hosting.md).
HEADER_TIMEOUT = 15.0
CACHE_TIMEOUT = 20.0  # serve --cache: a whole page fetch from the upstream (--cache-timeout)


def check_fallback(url: str, *, login_allowed: bool = False) -> str:
    """``login_allowed``: with ``serve --cache`` the server itself fetches the fallback,
    so a login in its URL never reaches a client."""
    from urllib.parse import urlsplit

    from pipwrap.redact import redact

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PipwrapError(f"--fallback {redact(url)!r}: expected an http(s) index URL such "
                           f"as {FALLBACK}")
    if (parts.username or parts.password) and not login_allowed:
        raise PipwrapError("--fallback: a URL with a login would hand it to every client "
                           "in the redirect; use a public index (or serve --cache, which "
                           "fetches it itself)")
    return url if url.endswith("/") else url + "/"

"""What every part of the guard shares: the command's world, and how to refuse.

A :class:`Context` is built once per checked command. Each reader (pip's grammar, uv's,
requirement files, lock files, project settings) reports through it, so the rules for
"a URL under the profile's index" and the wording of a refusal live in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pipwrap.errors import RefusedError
from pipwrap.redact import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

_HOW_TO_PROCEED = (
    "wrap makes the profile's index the only package source. Remove it, choose another "
    "profile with PIPWRAP_PROFILE=NAME, or run the command without wrap if you mean it."
)


def refusal(where: str, what: str, why: str) -> RefusedError:
    """The one shape of every refusal: where it was seen, what, why, how to proceed."""
    return RefusedError(f"refused: {where}: {redact(what)} {why}.\n{_HOW_TO_PROCEED}")


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _origin_and_path(url: str) -> tuple[str, str, str, str]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(_without_credentials(url))
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    host = (parts.hostname or "").lower()
    return parts.scheme.lower(), host, str(port), unquote(parts.path)


class Context:
    """The checked command's environment, working directory and the profile's index.

    ``environ`` is the environment the tool will see (after pipwrap's scrub and
    additions); ``cwd`` is where relative paths start; ``index_url`` is the profile's
    index without credentials, or None when the caller has no profile (then every
    direct URL is refused, which is the safe reading).
    """

    def __init__(
        self, environ: Mapping[str, str], cwd: str | None = None, index_url: str | None = None,
        upload_url: str | None = None,
    ) -> None:
        self.environ = environ
        self.cwd = cwd if cwd is not None else os.getcwd()
        self.index_url = index_url
        self.upload_url = upload_url  # the profile's, for twine
        self._seen_files: set[str] = set()
        # Interpreter prefixes that will run pip: their own pip.conf is a config layer.
        self.prefixes: list[str] = []

    def refuse(self, where: str, what: str, why: str) -> NoReturn:
        raise refusal(where, what, why)

    def first_visit(self, path: str) -> bool:
        """True the first time a file is seen in this check (includes may form cycles)."""
        key = os.path.realpath(path)
        if key in self._seen_files:
            return False
        self._seen_files.add(key)
        return True

    def under_index(self, url: str) -> bool:
        """Whether ``url`` is served by the profile's index: same scheme, host and port,
        and under the index's path or its host's file paths (``/packages/...``).

        A PEP 503 index may link files anywhere on its own host (pypiserver serves them
        under ``/packages/``), so the host is what identifies the source; a URL on the
        same host is the same server the profile already trusts.
        """
        if self.index_url is None:
            return False
        scheme, host, port, path = _origin_and_path(url)
        i_scheme, i_host, i_port, i_path = _origin_and_path(self.index_url)
        if scheme == "file" and i_scheme == "file":
            root = os.path.dirname(i_path.rstrip("/"))
            return os.path.normpath(path).startswith(os.path.normpath(root) + os.sep)
        return (scheme, host, port) == (i_scheme, i_host, i_port) and ".." not in path.split("/")

    def is_profile_index(self, value: str | None) -> bool:
        """Whether ``value`` names the profile's own index (logins and a trailing slash
        aside): as pip-compile writes it, it is not a second source."""
        if value is None or self.index_url is None:
            return False
        def bare(url: str) -> str:
            return _without_credentials(url.strip()).rstrip("/")
        return bare(value) == bare(self.index_url)

    def check_url(self, url: str, where: str, what: str = "") -> None:
        """Refuse a download URL that is not under the profile's index."""
        if self.under_index(url):
            return
        shown = what or url
        self.refuse(where, shown, f"downloads from {redact(_without_credentials(url))}, "
                    "which is not the profile's index")

"""What every part of the guard shares: the command's world, and how to refuse.

A :class:`Context` is built once per checked command. Each reader (pip's grammar, uv's,
requirement files, lock files, project settings) reports through it, so the rules for
"a URL under the profile's index" and the wording of a refusal live in one place.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

from pipwrap.errors import RefusedError
from pipwrap.redact import redact

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn, Protocol

    class CommandChecker(Protocol):
        def __call__(self, argv: Sequence[str], ctx: Context, depth: int = 0) -> None: ...

    class FileScanner(Protocol):
        def __call__(self, reference: str, kind: str, origin: str, ctx: Context,
                     base: str | None = None) -> None: ...

# Large enough for any real requirement, lock or project file; a bigger one is refused.
MAX_BYTES = 16 * 1024 * 1024

_HOW_TO_PROCEED = (
    "wrap makes the profile's index the only package source. Remove it, choose another "
    "profile with PIPWRAP_PROFILE=NAME, or run the command without wrap if you mean it."
)


def refusal(where: str, what: str, why: str, how: str = _HOW_TO_PROCEED) -> RefusedError:
    """The one shape of every refusal: where it was seen, what, why, how to proceed
    (``how`` empty: ``why`` says it)."""
    return RefusedError(f"refused: {where}: {redact(what)} {why}." + (f"\n{how}" if how else ""))


# What a WHATWG URL parser (uv's, a browser's) reads differently from urlsplit: it takes
# `\` for `/` in http(s) URLs, drops tabs and newlines, maps full-width and other
# non-ASCII host characters to ASCII. A URL holding any of them could be "the profile's
# index" to the guard and another host to the tool, so it is never the profile's.
_AMBIGUOUS = re.compile(r"[\\\s\x00-\x1f\x7f]")


def readable_url(url: str) -> bool:
    """Whether ``url`` parses (brackets, port) and every URL parser reads it alike."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
    except ValueError:
        return False
    if parts.scheme.lower() == "file":
        return True
    return _AMBIGUOUS.search(url) is None and parts.netloc.isascii()


def _without_credentials(url: str) -> str:
    from urllib.parse import urlsplit

    if not readable_url(url):
        return url  # shown as given (redact() still hides a login): it matches nothing
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def _bare(url: str) -> str | None:
    """The URL without login and trailing slash, or None when it cannot be read alike."""
    if not readable_url(url):
        return None
    return _without_credentials(url.strip()).rstrip("/")


def _origin_and_path(url: str) -> tuple[str, str, str, str] | None:
    from urllib.parse import unquote, urlsplit

    if not readable_url(url):
        return None
    parts = urlsplit(_without_credentials(url))
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower(), 0)
    host = (parts.hostname or "").lower()
    return parts.scheme.lower(), host, str(port), unquote(parts.path)


class Context:
    """The checked command's environment, working directory and the profile's index.

    ``environ`` is the environment the tool will see (after pipwrap's scrub and
    additions); ``cwd`` is where relative paths start; ``index_url`` is the profile's
    index without credentials, or None when the caller has no profile (then every
    direct URL is refused, which is the safe reading). ``has_fallback``: the profile has
    ``fallback`` sources, whose files a lock names by their own URLs (lockfiles.py).
    """

    def __init__(
        self, environ: Mapping[str, str], cwd: str | None = None, index_url: str | None = None,
        upload_url: str | None = None, profile: str | None = None, *,
        has_fallback: bool = False,
    ) -> None:
        self.environ = environ
        self.cwd = cwd if cwd is not None else os.getcwd()
        self.index_url = index_url
        self.upload_url = upload_url  # the profile's, for twine
        self.profile = profile  # its name, for a refusal that says what to change
        self.has_fallback = has_fallback
        self._seen_files: set[str] = set()
        # Interpreter prefixes that will run pip: their own pip.conf is a config layer.
        self.prefixes: list[str] = []
        # The readers' way back to the top: a command found inside a command (hatch run,
        # uv run, a script) and a requirement file named inside a file are checked by
        # these, which api.check sets. Passed as parameters, not imported, so the readers
        # form no import circle; unset, they refuse (fail closed).
        self.check_command: CommandChecker = _no_command_checker
        self.scan_file: FileScanner = _no_file_scanner

    def refuse(self, where: str, what: str, why: str, how: str = _HOW_TO_PROCEED) -> NoReturn:
        raise refusal(where, what, why, how)

    def read_file(self, path: str, where: str) -> bytes | None:
        """The bytes of a file a reader must check, or None when it does not exist (the
        tool reports that itself).

        Only regular files are read: a FIFO or device could hang the check or answer
        differently when the tool reads it.
        """
        from pipwrap.files import UnreadableFile, read_regular

        try:
            return read_regular(path, MAX_BYTES)
        except FileNotFoundError:
            return None
        except UnreadableFile as exc:
            if exc.kind == "unreadable":
                why = f"cannot be read for checking ({exc.why.removeprefix('cannot read: ')})"
            elif exc.kind == "too-large":
                why = f"is larger than {MAX_BYTES // (1024 * 1024)} MiB"
            else:
                why = ("is not a regular file; pipwrap checks only files whose content "
                       "cannot change between the check and the tool reading it")
            self.refuse(where, path, why)

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
        mine, theirs = _origin_and_path(url), _origin_and_path(self.index_url)
        if mine is None or theirs is None:
            return False  # unreadable, or read otherwise by the tool: not the index
        scheme, host, port, path = mine
        i_scheme, i_host, i_port, i_path = theirs
        if scheme == "file" and i_scheme == "file":
            root = os.path.dirname(i_path.rstrip("/"))
            return os.path.normpath(path).startswith(os.path.normpath(root) + os.sep)
        return (scheme, host, port) == (i_scheme, i_host, i_port) and ".." not in path.split("/")

    def is_profile_index(self, value: str | None) -> bool:
        """Whether ``value`` names the profile's own index (logins and a trailing slash
        aside): as pip-compile writes it, it is not a second source."""
        if value is None or self.index_url is None:
            return False
        return _bare(value) is not None and _bare(value) == _bare(self.index_url)

    def is_upload_url(self, value: str | None) -> bool:
        """Whether ``value`` names the profile's own upload URL (logins and a trailing
        slash aside): a release script's ``--repository-url`` sends nowhere else."""
        if value is None or self.upload_url is None:
            return False
        return _bare(value) is not None and _bare(value) == _bare(self.upload_url)

    def check_url(self, url: str, where: str, what: str = "") -> None:
        """Refuse a download URL that is not under the profile's index."""
        if self.under_index(url):
            return
        shown = what or url
        if not readable_url(url):
            self.refuse(where, shown, "is not a URL every tool reads alike (a bad host or "
                        "port, or a `\\`, space or control character), so pipwrap cannot "
                        "tell where it downloads from")
        self.refuse(where, shown, f"downloads from {redact(_without_credentials(url))}, "
                    "which is not the profile's index")


def _no_command_checker(argv: Sequence[str], ctx: Context, depth: int = 0) -> None:
    ctx.refuse("command line", " ".join(argv), "runs another command, which this check "
               "cannot follow")


def _no_file_scanner(reference: str, kind: str, origin: str, ctx: Context,
                     base: str | None = None) -> None:
    ctx.refuse(origin, f"{kind} file {reference}", "cannot be checked here")

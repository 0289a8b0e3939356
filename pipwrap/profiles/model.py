"""The profile model: named indexes and the config that holds them.

Imports nothing beyond ``pipwrap.errors``: the reading commands build these from a
snapshot without loading a TOML parser.
"""

from __future__ import annotations

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable


class Profile:
    """One named index. ``shown_url`` is ``index_url`` with any credential masked.

    ``holds_credential`` covers the fallback URLs too: such a profile is kept out of the
    config snapshot and its file is written 0600."""

    __slots__ = (
        "ca_file",
        "cooldown",
        "cooldown_exempt",
        "fallback",
        "index_url",
        "isolation",
        "keyring",
        "name",
        "password_command",
        "password_env",
        "password_ttl",
        "reserved",
        "shown_fallback",
        "shown_url",
        "trusted_host",
        "upload_url",
        "username",
    )

    def __init__(
        self,
        name: str,
        index_url: str,
        shown_url: str,
        trusted_host: bool = False,
        username: str | None = None,
        password_env: str | None = None,
        password_command: str | None = None,
        password_ttl: int = 0,
        keyring: bool = False,
        upload_url: str | None = None,
        ca_file: str | None = None,
        isolation: str = "auto",
        fallback: tuple[str, ...] = (),
        shown_fallback: tuple[str, ...] = (),
        reserved: tuple[str, ...] = (),
        cooldown: str | None = None,
        cooldown_exempt: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.index_url = index_url
        self.shown_url = shown_url
        self.trusted_host = trusted_host
        self.username = username
        self.password_env = password_env
        self.password_command = password_command
        self.password_ttl = password_ttl
        self.keyring = keyring
        # Where `wrap twine upload` sends distributions (no credential in it: the login is
        # the profile's own).
        self.upload_url = upload_url
        # CA certificates the fence trusts for this profile's servers, besides the system's.
        self.ca_file = ca_file
        # Whether a wrapped command runs in a network namespace whose only way out is the
        # fence: "auto" (where the system allows it), "required" (refuse elsewhere), "off".
        self.isolation = isolation
        # Further sources, tried in order per project after the index (the fence composes
        # them: docs/fence.md); ``shown_fallback`` is the same with credentials masked.
        self.fallback = tuple(fallback)
        self.shown_fallback = tuple(shown_fallback) or self.fallback
        # PEP 503-normalized fnmatch patterns never taken from a fallback.
        self.reserved = tuple(reserved)
        # As written ("7 days", "P7D"); pipwrap.sourcerules.duration_seconds reads it.
        self.cooldown = cooldown
        self.cooldown_exempt = tuple(cooldown_exempt)

    @property
    def has_source_rules(self) -> bool:
        """Whether the fence composes this profile's pages (fallback, reserved or cooldown);
        a profile without any is fenced exactly as before these keys existed. ``reserved``
        alone counts: a local-first first source (``serve --cache``, ``--fallback``, nginx
        with a fallback) answers names it does not hold from its own upstream, and only a
        composed page looks at its mark or its redirect (red-team 3, finding 1)."""
        return bool(self.fallback or self.reserved or self.cooldown)

    @property
    def holds_credential(self) -> bool:
        """Whether ``index_url`` or a ``fallback`` URL holds a secret: ``user:pass@``,
        ``TOKEN@``, ``?token=``."""
        return self.shown_url != self.index_url or self.shown_fallback != self.fallback

    def fields(self) -> tuple[str, str, str, bool, str | None, str | None, str | None, int, bool,
                              str | None, str | None, str, tuple[str, ...], tuple[str, ...],
                              tuple[str, ...], str | None, tuple[str, ...]]:
        """The constructor's arguments, in order: ``Profile(*p.fields())`` is a copy."""
        return (
            self.name, self.index_url, self.shown_url, self.trusted_host, self.username,
            self.password_env, self.password_command, self.password_ttl, self.keyring,
            self.upload_url, self.ca_file, self.isolation, self.fallback, self.shown_fallback,
            self.reserved, self.cooldown, self.cooldown_exempt,
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Profile) and self.fields() == other.fields()

    def __hash__(self) -> int:
        return hash(self.fields())

    def __repr__(self) -> str:
        # Never the raw URL: a repr can end up in a log or a traceback.
        return f"Profile({self.name!r}, {self.shown_url!r})"


# The embedded default: `pipwrap serve`'s own address, so that `pipwrap repo add`,
# `pipwrap serve` and `wrap pip install NAME` work before any config file exists.
BUILTIN_NAME = "local"
BUILTIN_URL = "http://127.0.0.1:8080/simple/"
# serve's upload endpoint (twine, uv publish); open only when serve is started with uploads.
BUILTIN_UPLOAD_URL = "http://127.0.0.1:8080/"


class Config:
    __slots__ = ("builtin", "default", "path", "profiles")

    def __init__(self, path: str, default: str | None, profiles: dict[str, Profile],
                 builtin: frozenset[str] = frozenset()) -> None:
        self.path = path
        self.default = default
        self.profiles = profiles
        # Names in ``profiles`` that come from pipwrap itself, not from the file.
        self.builtin = builtin

    def __repr__(self) -> str:
        return f"Config({self.path!r}, default={self.default!r}, profiles={sorted(self.profiles)})"

    def profile(self, name: str, *, origin: str = "") -> Profile:
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "(none)"
            how = f" (from {origin})" if origin else ""
            raise PipwrapError(
                f"unknown profile {name!r}{how} in {self.path}; known profiles: {known}"
                + did_you_mean(name, self.profiles)
            ) from None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """"; did you mean 'x'?" for a near miss among ``choices``, else ""."""
    import difflib  # only on this error path: reading commands stay within os and sys

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""

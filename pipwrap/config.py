"""The profiles in config.toml, and how to find and read that file.

Reading is split so that ``pipwrap list`` and ``pipwrap current`` stay close to the
interpreter's own start-up: this module imports nothing beyond ``os``. A file whose bytes
match the snapshot of its last parse (:mod:`pipwrap.snapshot`) is not parsed again; any
other is parsed and validated by :mod:`pipwrap.schema`.
"""

from __future__ import annotations

import os
import sys

from pipwrap.errors import PipwrapError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

CONFIG_ENV = "PIPWRAP_CONFIG"

EXAMPLE = """\
default = "local"

[profiles.local]
index-url = "http://127.0.0.1:8080/simple/"
"""


class Profile:
    """One named index. ``shown_url`` is ``index_url`` with any credential masked."""

    __slots__ = (
        "ca_file", "index_url", "keyring", "name", "password_command", "password_env",
        "password_ttl", "shown_url", "trusted_host", "upload_url", "username",
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

    @property
    def holds_credential(self) -> bool:
        """Whether ``index_url`` itself holds a secret: ``user:pass@``, ``TOKEN@``, ``?token=``."""
        return self.shown_url != self.index_url

    def fields(self) -> tuple[str, str, str, bool, str | None, str | None, str | None, int, bool,
                              str | None, str | None]:
        """The constructor's arguments, in order: ``Profile(*p.fields())`` is a copy."""
        return (
            self.name, self.index_url, self.shown_url, self.trusted_host, self.username,
            self.password_env, self.password_command, self.password_ttl, self.keyring,
            self.upload_url, self.ca_file,
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


def default_config_path() -> str:
    from pipwrap.paths import user_config_dir

    return os.path.join(user_config_dir(), "config.toml")


def config_path(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    override = env.get(CONFIG_ENV)
    if override:
        return os.path.expanduser(override)
    return default_config_path()


def read_bytes(path: str) -> bytes:
    from pipwrap.safefile import read_regular

    try:
        return read_regular(path)
    except FileNotFoundError:
        raise PipwrapError(
            f"no config file at {path}\n"
            "Create it with: pipwrap add NAME URL   (or pipwrap import, to start from pip's "
            f"own settings; or pipwrap edit; or point {CONFIG_ENV} at a file). A minimal "
            f"config:\n\n{EXAMPLE}"
        ) from None


def decode(data: bytes, path: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PipwrapError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise PipwrapError(f"{path}: holds a NUL byte; not a text file")
    return text


def read_text(path: str) -> str:
    return decode(read_bytes(path), path)


def builtin_profile() -> Profile:
    return Profile(BUILTIN_NAME, BUILTIN_URL, BUILTIN_URL)


def _with_builtin(config: Config) -> Config:
    if BUILTIN_NAME in config.profiles:
        return config  # an explicit [profiles.local] overrides the built-in one
    profiles = dict(config.profiles)
    profiles[BUILTIN_NAME] = builtin_profile()
    return Config(config.path, config.default, profiles, frozenset({BUILTIN_NAME}))


def load(path: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The config at ``path`` (default: :func:`config_path`) with the built-in profile.

    With no file at the default location, the built-in ``local`` profile is the default,
    so a new user's first ``wrap`` works. A missing file that ``PIPWRAP_CONFIG`` names
    is an error: a typo there must not fall back to something else silently.
    """
    from pipwrap import snapshot

    env = os.environ if environ is None else environ
    path = config_path(env) if path is None else path
    try:
        data = read_bytes(path)
    except PipwrapError:
        if env.get(CONFIG_ENV) or os.path.lexists(path):
            raise
        return Config(path, BUILTIN_NAME, {BUILTIN_NAME: builtin_profile()},
                      frozenset({BUILTIN_NAME}))
    cached = snapshot.lookup(path, data)
    if cached is not None:
        return _with_builtin(cached)
    from pipwrap import schema

    config = schema.parse(decode(data, path), path)
    snapshot.store(path, data, config)
    _warn_if_exposed(config)
    return _with_builtin(config)


def readable_by_others(path: str) -> bool:
    try:
        return bool(os.stat(path).st_mode & 0o044)
    except OSError:
        return False


def _warn_if_exposed(config: Config) -> None:
    """Like ssh with a private key: say so when a password sits in a file others can read."""
    exposed = sorted(p.name for p in config.profiles.values() if p.holds_credential)
    if exposed and readable_by_others(config.path):
        sys.stderr.write(
            f"pipwrap: warning: {config.path} holds a credential in the index-url of "
            f"{', '.join(repr(n) for n in exposed)} and other users can read it; "
            f"run: chmod 600 {config.path}   (or use password-env / password-command)\n"
        )

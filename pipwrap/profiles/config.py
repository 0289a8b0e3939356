"""How to find and read config.toml into the profile model (:mod:`.model`).

Reading is split so that ``pipwrap list`` and ``pipwrap current`` stay close to the
interpreter's own start-up: this module imports nothing beyond ``os``. A file whose bytes
match the snapshot of its last parse (:mod:`.snapshot`) is not parsed again; any
other is parsed and validated by :mod:`.schema`.
"""

from __future__ import annotations

import os
import sys

from pipwrap.errors import PipwrapError
from pipwrap.profiles.model import (
    BUILTIN_NAME,
    BUILTIN_UPLOAD_URL,
    BUILTIN_URL,
    Config,
    Profile,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

CONFIG_ENV = "PIPWRAP_CONFIG"

# The built-in `local` as it is: a [profiles.local] table replaces it whole, so a copy
# without its upload-url would lose `wrap twine upload` to serve.
EXAMPLE = f"""\
default = "local"

[profiles.local]
index-url = "{BUILTIN_URL}"
upload-url = "{BUILTIN_UPLOAD_URL}"
"""


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
    from pipwrap.files import read_regular

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
    return Profile(BUILTIN_NAME, BUILTIN_URL, BUILTIN_URL, upload_url=BUILTIN_UPLOAD_URL)


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
    from pipwrap.profiles import snapshot

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
    from pipwrap.profiles import schema

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
            f"pipwrap: warning: {config.path} holds a credential in the index-url (or a "
            f"fallback) of "
            f"{', '.join(repr(n) for n in exposed)} and other users can read it; "
            f"run: chmod 600 {config.path}   (or use password-env / password-command)\n"
        )

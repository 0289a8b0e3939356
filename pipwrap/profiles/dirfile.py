"""Per-directory profile choice: `.pipwrap.toml` holding `profile = "NAME"`.

A cloned repository must not be able to redirect your installs silently, so a directory
file applies only after `pipwrap allow`, which records the SHA-256 of its content (as
direnv does); a new or changed file is refused until allowed again.

The allow store is a text file under the user data dir, one line per allowed file:
``SHA256 PROFILE PATH``; a denied file has ``- !denied PATH`` and is ignored from then on.
Trust belongs to the file where the user approved it: a ``.pipwrap.toml`` that is a
symbolic link is never used (it could point at a file approved in another directory).

The store records the profile the file names, so the lookup on every
`pipwrap current` (and every shell re-resolve) hashes the file and reads one small text
file, without a TOML or JSON parser: the hash pins the content the profile was read from.
"""

from __future__ import annotations

import os

from pipwrap import tomlfile
from pipwrap.errors import PipwrapError
from pipwrap.paths import Watched

FILENAME = ".pipwrap.toml"
DENIED = "!denied"
_STORE_HEADER = "# pipwrap allow store: SHA256 PROFILE PATH (edit with pipwrap allow/deny)\n"


class NotAllowed(PipwrapError):
    """A directory file that is new, changed or never allowed: ``path`` is blocked."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class Found:
    __slots__ = ("path", "profile")

    def __init__(self, path: str, profile: str) -> None:
        self.path = path
        self.profile = profile


def store_path() -> str:
    from pipwrap.paths import user_data_dir

    return os.path.join(user_data_dir(), "allowed")


def _load_store() -> dict[str, tuple[str, str]]:
    """{real path: (sha256, profile)}; lines that do not parse are ignored."""
    try:
        with open(store_path(), encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except (OSError, ValueError):
        return {}
    store = {}
    for line in lines:
        fields = line.split(" ", 2)
        if len(fields) == 3 and not line.startswith("#"):
            digest, profile, path = fields
            store[path] = (digest, profile)
    return store


def _save_store(store: dict[str, tuple[str, str]]) -> None:
    from pathlib import Path

    from pipwrap.files import locked, write_atomic

    path = Path(store_path())
    text = _STORE_HEADER + "".join(
        f"{digest} {profile} {where}\n" for where, (digest, profile) in sorted(store.items())
    )
    with locked(path):
        write_atomic(path, text, 0o600)


def _digest(data: bytes) -> str:
    # hashlib loads OpenSSL before anything else, which costs milliseconds on every
    # `pipwrap current`; CPython's builtin module hashes one small file just as well.
    try:
        from _sha2 import sha256  # type: ignore[import-not-found,unused-ignore]  # 3.12+
    except ImportError:
        try:
            from _sha256 import sha256  # type: ignore[import-not-found,no-redef,unused-ignore]
        except ImportError:
            from hashlib import sha256  # type: ignore[assignment,unused-ignore]
    hexdigest: str = sha256(data).hexdigest()
    return hexdigest


def nearest(start: str) -> tuple[str | None, list[str]]:
    """The nearest directory file at or above ``start``, and the candidates passed."""
    passed: list[str] = []
    directory = start
    while True:
        candidate = os.path.join(directory, FILENAME)
        if os.path.isfile(candidate):
            return candidate, passed
        passed.append(candidate)
        parent = os.path.dirname(directory)
        if parent == directory:
            return None, passed
        directory = parent


def profile_in(path: str, data: bytes) -> str:
    from pipwrap.profiles import schema

    text = data.decode("utf-8", errors="replace")
    parsed = tomlfile.loads(text, path)
    unknown = sorted(set(parsed) - {"profile"})
    if unknown:
        raise PipwrapError(f"{path}: unknown key {unknown[0]!r} (expected: profile = \"NAME\")")
    name = parsed.get("profile")
    if not isinstance(name, str) or not schema.PROFILE_NAME.fullmatch(name):
        raise PipwrapError(f"{path}: expected profile = \"NAME\" (letters, digits, '-', '_')")
    return name


def find(here: str) -> tuple[Found | None, tuple[Watched, ...]]:
    """The allowed directory file governing ``here`` (absolute), if any, and what to watch.

    Without a file, the watch list holds every place one could appear (each must still
    not exist), so creating one is noticed on the next `wrap` even without a `cd`.
    """
    found, passed = nearest(here)
    absent = tuple(Watched(p, None) for p in passed)
    if found is None:
        return None, absent
    watched = (Watched.now(store_path()), *absent, Watched.now(found))  # stat, then read
    _refuse_link(found)
    digest, profile = _load_store().get(os.path.realpath(found), ("", ""))
    if profile == DENIED:
        return None, watched
    data = _read(found)
    if digest != _digest(data):
        state = "changed since it was allowed" if digest else "not allowed yet"
        raise NotAllowed(
            f"{found} is {state}; a directory file chooses your package index, so review "
            f"it, then run: pipwrap allow {os.path.dirname(found)}   (or `pipwrap deny "
            f"{os.path.dirname(found)}` to ignore it from now on)", found
        )
    return Found(found, profile), watched


def allow(directory: str) -> str:
    start = os.path.realpath(directory)
    found, _ = nearest(start)
    if found is None:
        raise PipwrapError(f"no {FILENAME} in {start} or above")
    if "\n" in found or "\r" in found:
        raise PipwrapError(f"cannot allow {found!r}: its path holds a line break")
    _refuse_link(found)
    data = _read(found)
    profile = profile_in(found, data)  # refuse to trust a file that cannot work
    store = _load_store()
    store[os.path.realpath(found)] = (_digest(data), profile)
    _save_store(store)
    return found


def deny(directory: str) -> str:
    """Ignore the nearest directory file from now on, whatever it holds."""
    start = os.path.realpath(directory)
    found, _ = nearest(start)
    if found is None:
        raise PipwrapError(f"no {FILENAME} in {start} or above")
    if "\n" in found or "\r" in found:
        raise PipwrapError(f"cannot deny {found!r}: its path holds a line break")
    store = _load_store()
    store[os.path.realpath(found)] = ("-", DENIED)
    _save_store(store)
    return found


def _refuse_link(found: str) -> None:
    if os.path.islink(found):
        raise PipwrapError(
            f"{found} is a symbolic link; pipwrap trusts only a regular {FILENAME} in the "
            "directory where you allowed it. Replace the link with a copy and allow it."
        )


def _read(found: str) -> bytes:
    from pipwrap.files import read_regular

    return read_regular(found, limit=64 * 1024)

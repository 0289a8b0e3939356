"""A memo of parsed config files, so reading commands skip the TOML parser.

Parsing and validating config.toml is a pure function of its bytes, and it is most of the
cost of ``pipwrap list``: the TOML parser and the regular expressions it needs take longer
to import than the interpreter takes to start. So the result is kept in one ``marshal``
file under the user cache dir, keyed by the exact bytes it was parsed from. No timestamp
decides anything: a file whose bytes differ in any way is parsed again.

The snapshot is written 0600 in a 0700 directory and read only if this user owns it and
nobody else can write it. A config whose index URLs hold a credential is never copied into
it (such a config is simply parsed each time).
"""

from __future__ import annotations

import marshal
import os
import sys

from pipwrap import __version__, files, paths
from pipwrap.errors import PipwrapError
from pipwrap.profiles.model import Config, Profile

# Anything that can change what a parse returns; a snapshot made under another is ignored.
_HEADER = ("pipwrap-config-snapshot", 3, __version__, tuple(sys.version_info[:2]))
_KEEP = 8  # config files remembered at once ($PIPWRAP_CONFIG may point at several)

_Entry = tuple[bytes, "str | None", list[tuple[object, ...]]]


def snapshot_path() -> str:
    return os.path.join(paths.user_cache_dir(), "config.snapshot")


def _read_entries() -> dict[str, _Entry]:
    try:
        fd = os.open(snapshot_path(), os.O_RDONLY)
    except (OSError, PipwrapError):  # no snapshot, or no cache dir to keep one in
        return {}
    try:
        info = os.fstat(fd)
        getuid = getattr(os, "getuid", None)  # POSIX owners and modes; not on Windows
        if getuid is not None and (info.st_uid != getuid() or info.st_mode & 0o022):
            return {}
        with os.fdopen(fd, "rb", closefd=False) as handle:
            header, entries = marshal.loads(handle.read())  # noqa: S302 - own 0600 file, checked above
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    finally:
        os.close(fd)
    if header != _HEADER or not isinstance(entries, dict):
        return {}
    return entries


def lookup(path: str, data: bytes) -> Config | None:
    """The config parsed from exactly ``data``, if a snapshot of it exists."""
    entry = _read_entries().get(path)
    if entry is None:
        return None
    try:
        saved, default, rows = entry
        if saved != data:
            return None
        profiles = {str(row[0]): Profile(*row) for row in rows}  # type: ignore[arg-type]
    except (TypeError, ValueError, IndexError):
        return None
    return Config(path, default, profiles)


def store(path: str, data: bytes, config: Config) -> None:
    """Remember ``config`` as the parse of ``data``; best effort, never an error."""
    entries = _read_entries()
    had_entry = entries.pop(path, None) is not None  # re-added last: oldest dropped first
    # A credential in a URL is never copied: that config is parsed every time instead.
    if not any(p.holds_credential for p in config.profiles.values()):
        entries[path] = (data, config.default, [p.fields() for p in config.profiles.values()])
        while len(entries) > _KEEP:
            del entries[next(iter(entries))]
    elif not had_entry:
        return
    try:
        target = snapshot_path()
    except PipwrapError:
        return
    try:
        paths.private_dir(os.path.dirname(target))
        # A cache: losing it to a power cut only costs one parse, so no fsync.
        files.write_atomic(target, marshal.dumps((_HEADER, entries)), 0o600, durable=False)
    except OSError:
        return

"""Edit config.toml in place: keep the user's comments and layout, never half-write it.

tomlkit (style-preserving) is imported only here, so reading commands stay fast. Each edit
holds an exclusive lock on a sibling lock file, re-reads the file under it, validates
before and after, and replaces the file atomically (write temp, fsync, rename), so two
concurrent `pipwrap add` calls both land and a crash leaves the old file whole.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pipwrap.errors import PipwrapError
from pipwrap.files import locked, write_atomic
from pipwrap.profiles import config as config_mod
from pipwrap.profiles import schema
from pipwrap.profiles.model import Config


def edit(mutate: Callable[[Any], None], path: Path | None = None) -> Config:
    import tomlkit

    path = Path(config_mod.config_path()) if path is None else path
    with locked(path):
        try:
            text = config_mod.read_text(str(path))
            old_mode = stat.S_IMODE(path.stat().st_mode)
        except PipwrapError:
            if path.exists():
                raise
            text, old_mode = "", 0o644
        # Refuse to rewrite a file the user has broken: they would lose their text.
        schema.parse(text, str(path))
        document = tomlkit.parse(text)
        mutate(document)
        new_text = tomlkit.dumps(document)
        new = schema.parse(new_text, str(path))
        mode = 0o600 if any(p.holds_credential for p in new.profiles.values()) else old_mode
        write_atomic(path, new_text, mode)
        from pipwrap.profiles import snapshot

        snapshot.store(str(path), new_text.encode("utf-8"), new)
        return new


def profiles_table(document: Any) -> Any:
    import tomlkit

    if "profiles" not in document:
        document["profiles"] = tomlkit.table(is_super_table=True)
    return document["profiles"]


def check_name(name: str) -> None:
    if not schema.PROFILE_NAME.fullmatch(name):
        raise PipwrapError(f"invalid profile name {name!r}: use letters, digits, '-' and '_' only")

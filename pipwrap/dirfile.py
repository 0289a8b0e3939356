"""Per-directory profile choice: `.pipwrap.toml` holding `profile = "NAME"`.

A cloned repository must not be able to redirect your installs silently, so a directory
file applies only after `pipwrap allow`, which records the hash of its content (as direnv
does); a new or changed file is refused until allowed again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pipwrap import config as config_mod
from pipwrap.errors import PipwrapError
from pipwrap.state import Watched

FILENAME = ".pipwrap.toml"


@dataclass(frozen=True)
class Found:
    path: Path
    profile: str
    watched: tuple[Watched, ...]


def store_path() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("pipwrap", appauthor=False)) / "allowed.json"


def _load_store() -> dict[str, str]:
    try:
        data = json.loads(store_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _save_store(store: dict[str, str]) -> None:
    from pipwrap.editing import _locked, _write_atomic

    path = store_path()
    with _locked(path):
        _write_atomic(path, json.dumps(store, indent=2, sort_keys=True) + "\n", 0o600)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def nearest(start: Path) -> tuple[Path | None, list[Path]]:
    """The nearest directory file at or above ``start``, and the candidates passed."""
    passed: list[Path] = []
    for directory in (start, *start.parents):
        candidate = directory / FILENAME
        if candidate.is_file():
            return candidate, passed
        passed.append(candidate)
    return None, passed


def _profile_in(path: Path, data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    parsed = config_mod.load_toml_text(text, path)
    unknown = sorted(set(parsed) - {"profile"})
    if unknown:
        raise PipwrapError(f"{path}: unknown key {unknown[0]!r} (expected: profile = \"NAME\")")
    name = parsed.get("profile")
    if not isinstance(name, str) or not config_mod.PROFILE_NAME.fullmatch(name):
        raise PipwrapError(f"{path}: expected profile = \"NAME\" (letters, digits, '-', '_')")
    return name


def find(here: Path, environ: Mapping[str, str]) -> Found | None:
    del environ  # the store location comes from platformdirs (XDG_DATA_HOME)
    store_file = store_path()
    store_watch = Watched.now(store_file)
    found, passed = nearest(here)
    watched = [store_watch, *(Watched(p, None) for p in passed)]
    if found is None:
        return None
    file_watch = Watched.now(found)
    data = found.read_bytes()
    watched.append(file_watch)
    allowed = _load_store().get(str(found.resolve()))
    if allowed != _digest(data):
        state = "changed since it was allowed" if allowed else "not allowed yet"
        raise PipwrapError(
            f"{found} is {state}; a directory file chooses your package index, so review "
            f"it, then run: pipwrap allow {found.parent}   (or pipwrap deny to ignore it)"
        )
    return Found(found, _profile_in(found, data), tuple(watched))


def allow(directory: Path) -> Path:
    found, _ = nearest(directory.resolve())
    if found is None:
        raise PipwrapError(f"no {FILENAME} in {directory.resolve()} or above")
    data = found.read_bytes()
    _profile_in(found, data)  # refuse to trust a file that cannot work
    store = _load_store()
    store[str(found.resolve())] = _digest(data)
    _save_store(store)
    return found


def deny(directory: Path) -> Path:
    found, _ = nearest(directory.resolve())
    target = found if found is not None else directory.resolve() / FILENAME
    store = _load_store()
    if store.pop(str(target.resolve()), None) is None and found is None:
        raise PipwrapError(f"no {FILENAME} in {directory.resolve()} or above")
    _save_store(store)
    return target

"""The resolved state a shell caches so that `wrap` runs without starting Python.

The shell re-runs ``pipwrap _state`` only when its inputs change: the variables it keys
on (PIPWRAP_PROFILE, PIPWRAP_CONFIG, HOME, PWD, ...) or one of the watched files. A
file change is detected with builtin ``-nt``/``-ot`` tests against a stamp file that
carries the watched file's mtime as it was *before* it was read, so an edit racing with
the read is still seen on the next call. A watched file that did not exist gets an empty
stamp: it must still not exist.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipwrap import paths
from pipwrap.paths import Watched
from pipwrap.shell.dialect import dialect


def stamp_dir() -> Path:
    cache = Path(paths.private_dir(paths.user_cache_dir()))
    return Path(paths.private_dir(str(cache / "stamps")))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep(directory: Path, pid: int) -> None:
    for entry in directory.iterdir():
        owner, _, _ = entry.name.partition(".")
        if not owner.isdigit():
            continue
        if int(owner) == pid or not _alive(int(owner)):
            with contextlib.suppress(OSError):
                entry.unlink()


def write_stamps(pid: int, watched: Sequence[Watched]) -> list[str]:
    """Return the flat (file, stamp) list for the shell's ``__pipwrap_watch``."""
    directory = stamp_dir()
    _sweep(directory, pid)
    flat: list[str] = []
    for index, item in enumerate(watched):
        flat.append(str(item.path))
        if item.mtime_ns is None:
            flat.append("")
            continue
        stamp = directory / f"{pid}.{index}"
        stamp.touch(mode=0o600)
        os.utime(stamp, ns=(item.mtime_ns, item.mtime_ns))
        flat.append(str(stamp))
    return flat


def _fish_watch_test(flat: Sequence[str]) -> list[str]:
    """One ``test`` expression for every watched file: a builtin runs once per call instead
    of several commands per file (each fish command costs microseconds on every wrap)."""
    words = ["-n", "1"]  # true, so an empty watch list is fresh
    for path, stamp in zip(flat[0::2], flat[1::2]):
        # Never a word test could read as an operator ("!", "-a", "(").
        path = path if path.startswith("/") else f"./{path}"
        if not stamp:
            words += ["-a", "!", "-e", path]
        else:
            words += ["-a", "-e", stamp, "-a", "!", path, "-nt", stamp,
                      "-a", "!", path, "-ot", stamp]
    return words


def render(shell: str, pid: int, environ: Mapping[str, str]) -> str:
    from pipwrap import guard, pipconfig
    from pipwrap.guard import scrub
    from pipwrap.profiles import config as config_mod
    from pipwrap.profiles import credentials, environment
    from pipwrap.profiles.resolve import resolve

    # Stat before reading, so an edit racing with the read is seen next time.
    watched = [Watched.now(config_mod.config_path(environ))]
    watched += [Watched.now(str(path)) for path in pipconfig.watched_files(environ)]
    resolution = resolve(environ=environ)
    watched += resolution.watched
    secret = credentials.password(resolution.profile, environ)
    child_env = environment.build(resolution.profile, secret.value)
    flat = write_stamps(pid, watched)
    # A file variable that is set but empty scans nothing today, but the shell's key holds
    # only variable names: a value given to it later must not slip past the fast path.
    scan_always = guard.config_sources_need_scan(environ) or any(
        scrub.pip_option_name(name) in scrub.PIP_FILE_OPTIONS for name in environ)
    # Every other spelling of a source variable is removed for the call; the shell's key
    # holds the names of all PIP_*/UV_* variables, so a new one makes it ask again.
    unset = [name for name in scrub.unset_names(environ) if name not in child_env]
    # A password-env secret lives in the user's variable; reading it again on every call
    # (instead of keeping a copy in the shell) is what makes a rotated secret take effect.
    refresh_always = "1" if resolution.profile.password_env else ""
    speak = dialect(shell)
    if shell == "fish":
        # fish spends tens of microseconds on each command substitution, so its snippet
        # gets parallel lists it can walk with plain builtins instead of splitting pairs.
        lines = [
            speak.assign_list("__pipwrap_env_names", list(child_env)),
            speak.assign_list("__pipwrap_env_values", list(child_env.values())),
            speak.assign_list("__pipwrap_watch_test", _fish_watch_test(flat)),
        ]
    else:
        lines = [
            speak.assign_list("__pipwrap_env", [f"{k}={v}" for k, v in child_env.items()]),
            speak.assign_list("__pipwrap_watch", flat),
        ]
    lines += [
        speak.assign_list("__pipwrap_unset", unset),
        speak.assign("__pipwrap_refresh_always", refresh_always),
        speak.assign("__pipwrap_scan", "1" if scan_always else ""),
        speak.assign("__pipwrap_profile", resolution.profile.name),
        speak.assign("__pipwrap_expires", str(secret.expires or "")),
    ]
    return "\n".join(lines) + "\n"

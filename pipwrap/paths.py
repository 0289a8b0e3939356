"""Where pipwrap keeps its files, and the file stamps the shell watches.

On Linux and the BSDs the directories follow the XDG base-directory spec, computed here
with ``os`` alone: importing platformdirs (and the pathlib, typing and re it pulls in)
costs more than the whole budget of a reading command such as ``pipwrap list``. The
answers are the ones ``platformdirs.user_*_dir("pipwrap")`` gives (tests compare them);
other platforms ask platformdirs itself.
"""

from __future__ import annotations

import os
import sys

APP = "pipwrap"


def _xdg_platform() -> bool:
    if sys.platform in ("win32", "darwin", "ios") or hasattr(sys, "getandroidapilevel"):
        return False
    # platformdirs treats this pair as Android; leave that to it.
    android = (os.environ.get("ANDROID_DATA"), os.environ.get("ANDROID_ROOT"))
    return android != ("/data", "/system")


def _home() -> str:
    home = os.environ.get("HOME", "")
    if os.path.isabs(home):
        return home
    # A relative or missing HOME is ignored, as platformdirs does: ask the password database.
    import pwd

    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        home = ""
    if not os.path.isabs(home):
        from pipwrap.errors import PipwrapError

        raise PipwrapError(
            "cannot tell where your home directory is: set HOME (or PIPWRAP_CONFIG and "
            "the XDG_*_HOME variables) to an absolute path"
        )
    return home


def _xdg(variable: str, fallback: str) -> str:
    # The spec says a relative path in these variables is invalid and must be ignored.
    value = os.environ.get(variable, "")
    base = value if os.path.isabs(value) else os.path.join(_home(), fallback)
    return os.path.join(base, APP)


def user_config_dir() -> str:
    if _xdg_platform():
        return _xdg("XDG_CONFIG_HOME", ".config")
    from platformdirs import user_config_dir as platform_dir

    return platform_dir(APP, appauthor=False)


def user_cache_dir() -> str:
    if _xdg_platform():
        return _xdg("XDG_CACHE_HOME", ".cache")
    from platformdirs import user_cache_dir as platform_dir

    return platform_dir(APP, appauthor=False)


def user_data_dir() -> str:
    if _xdg_platform():
        return _xdg("XDG_DATA_HOME", os.path.join(".local", "share"))
    from platformdirs import user_data_dir as platform_dir

    return platform_dir(APP, appauthor=False)


def private_dir(path: str) -> str:
    """Create ``path`` (mode 0700) if needed and return it."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


# What tells a file's version apart: (inode, size, mtime, ctime), all in ns where a time.
# The mtime alone is the writer's to set (touch -r/-d, cp -p, rsync -t, tar x, an editor
# keeping times); the ctime is set by the kernel on every write and utime and cannot be
# set back, and a file replaced by rename has another inode.
FileIdentity = tuple[int, int, int, int]


def file_identity(path: str) -> FileIdentity | None:
    """``path``'s :data:`FileIdentity` (following symlinks), None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class Watched:
    """A file whose change must make the shell resolve again, with its identity (see
    :data:`FileIdentity`) when read."""

    __slots__ = ("identity", "path")

    def __init__(self, path: str, identity: FileIdentity | None) -> None:
        self.path = path
        self.identity = identity  # None: the file did not exist

    @property
    def mtime_ns(self) -> int | None:
        """What a shell's builtin ``-nt``/``-ot`` tests can compare (see shell/state.py)."""
        return None if self.identity is None else self.identity[2]

    def __repr__(self) -> str:
        return f"Watched({self.path!r}, {self.identity!r})"

    @classmethod
    def now(cls, path: str) -> Watched:
        return cls(path, file_identity(path))

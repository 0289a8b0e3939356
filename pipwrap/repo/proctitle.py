"""How ``pipwrap serve`` shows itself: its name in ``ps``, and how to stop it.

The shell line runs pipwrap as ``python -I -c "import sys;sys.path.insert(...)..." DIR
serve ...`` (so that a shell runs exactly the pipwrap that wrote its snippet), and that is
what ``ps``, ``top`` and serve's own "port already in use by ..." message showed for a
server that may run for months. No dependency (``setproctitle``) for this: Linux exposes
both the process name (``/proc/self/comm``) and the memory ``/proc/PID/cmdline`` is read
from (``arg_start``..``arg_end`` of ``/proc/self/stat``, written through
``/proc/self/mem``), which is what ``setproctitle`` itself rewrites. Elsewhere, or when
either is refused, the title stays as it was: it is cosmetic.
"""

from __future__ import annotations

import contextlib
import os
import signal

from pipwrap.redact import redact

# /proc/self/stat fields 48 and 49 (proc(5)), counted from the first field after
# "(comm)", which is field 3.
_ARG_START = 48 - 3
_ARG_END = 49 - 3
COMM_MAX = 15  # bytes of a task's name, without its NUL (TASK_COMM_LEN - 1)


def set_title(words: list[str]) -> None:
    """Make ``ps`` show ``words`` (a login in a URL masked) as this process's command line."""
    shown = [redact(word) for word in words]
    try:
        with open("/proc/self/comm", "w", encoding="utf-8") as comm:
            comm.write(" ".join(shown[:2])[:COMM_MAX])
    except OSError:
        pass
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
        start, end = int(fields[_ARG_START]), int(fields[_ARG_END])
    except (OSError, IndexError, ValueError):
        return
    room = end - start
    if room < 2:
        return
    title = b"\0".join(word.encode(errors="replace") for word in shown)[:room - 1]
    # Padded with NULs up to the old end, the last byte NUL: the kernel then reads exactly
    # this area (a non-NUL last byte would make it read on into the environment).
    try:
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(title.ljust(room, b"\0"))
    except (OSError, OverflowError, ValueError):
        pass


def how_to_stop() -> str:
    """"Ctrl-C stops" only where Ctrl-C reaches this process: the terminal's foreground
    job (``pipwrap serve &`` is not, and neither is a service); otherwise the pid.

    fish cannot put a function in the background: there ``pipwrap serve &`` (pipwrap is a
    function after the init line) runs in the foreground with SIGINT and SIGQUIT blocked,
    and the terminal is stuck. Unblocked here, Ctrl-C stops it as this line says.
    """
    if hasattr(signal, "pthread_sigmask"):
        with contextlib.suppress(OSError, ValueError):
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGQUIT})
    try:
        foreground = os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        foreground = False
    return "Ctrl-C stops" if foreground else f"stop it with: kill {os.getpid()}"
